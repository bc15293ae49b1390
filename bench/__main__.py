"""`python -m bench`: measure the hub against its ceiling at each data set size, print the table."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from bench import dataset, report, scenarios, wrk

ALL = ("ceiling", *(s.name for s in scenarios.HUB_SCENARIOS))
_SUFFIXES = {"k": 1_000, "m": 1_000_000}


def sizes(text: str) -> list[int]:
    """Data set sizes as `--sizes` takes them: comma-separated counts such as 10000, 10_000, 10k or 1M."""
    found = []
    for part in (p.strip().replace("_", "") for p in text.split(",")):
        if not part:
            continue
        scale = _SUFFIXES.get(part[-1].lower(), 1)
        digits = part[:-1] if scale > 1 else part
        if not digits.isdigit() or int(digits) == 0:
            raise argparse.ArgumentTypeError(f"{part!r} is not a count of records (such as 10000, 10k or 1M)")
        found.append(int(digits) * scale)
    if not found:
        raise argparse.ArgumentTypeError("no size given")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--sizes", type=sizes, default="10k,1M", help="stored records, comma-separated: 10000, 10k, 1M (default 10k,1M)"
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per operation (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured load before each (default 2)")
    parser.add_argument("--connections", type=int, default=16, help="open connections (default 16)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure everything this many times; show the median (default 1)"
    )
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1: the server gets a core)")
    parser.add_argument("--only", default=",".join(ALL), help=f"operations to run (default all: {','.join(ALL)})")
    parser.add_argument("--cache", type=Path, default=Path(".bench"), help="where data sets are kept (.bench)")
    parser.add_argument("--rebuild", action="store_true", help="build the data sets again even if cached")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--profile", type=Path, help="write a py-spy flame graph of the hub per operation here")
    args = parser.parse_args(argv)
    only = tuple(s.strip() for s in args.only.split(",") if s.strip())
    unknown = set(only) - set(ALL)
    if args.rounds < 1:
        parser.error("--rounds: at least 1")
    if unknown:
        parser.error(f"unknown operation(s) {', '.join(sorted(unknown))}; they are {', '.join(ALL)}")
    try:
        found = wrk.ensure_wrk()
    except wrk.WrkMissing as error:
        print(f"cannot benchmark: {error}", file=sys.stderr)
        return 3
    started = time.monotonic()
    rows: list[scenarios.Row] = []
    builds: dict[int, float | None] = {}
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as work:
        options = scenarios.Options(
            found,
            args.duration,
            args.warmup,
            args.connections,
            args.threads,
            Path(work),
            only,
            args.rounds,
            args.profile,
        )
        print(
            f"{os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()};"
            f" wrk -t{args.threads} -c{args.connections}, {args.duration} s per operation",
            file=sys.stderr,
        )
        print(report.HEADER, file=sys.stderr)
        shown: list[scenarios.Row] = []

        def say(row: scenarios.Row) -> None:
            shown.append(row)
            print(report.line(row, report.ceiling_of(shown, row.size, row.round)), file=sys.stderr)

        data: dict[int, Path] = {}
        for size in args.sizes:
            data[size], builds[size] = dataset.prepare(size, args.cache.resolve(), args.rebuild)
        for round_ in range(args.rounds):
            rows += scenarios.one_round(options, data, round_, say)
    medians = report.medians(rows)
    if args.rounds > 1:
        print(f"each line: the round (of {args.rounds}) with the median req/s")
    print(report.table(medians))
    print()
    print(report.verdicts(report.targets(medians, rows)))
    for size, took in builds.items():
        if took is not None:
            print(f"data set of {size:,} records built by `hub import` in {took:.1f} s")
    print(f"whole run: {time.monotonic() - started:.0f} s")
    if args.json:
        figures = [
            {
                "size": r.size,
                "operation": r.scenario.name,
                "round": r.round,
                **asdict(r.result),
                "rps": r.result.rps,
                "records_per_second": r.records_per_second,
                "rss": r.rss,
                "peak_rss": r.peak_rss,
            }
            for r in rows
        ]
        args.json.write_text(json.dumps({"builds": builds, "figures": figures}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
