"""The figures as a table, and the targets each is held to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.scenarios import HUB_SCENARIOS, Row

MB = 1024 * 1024
HEADER = (
    f"{'records':>9}  {'operation':<32} {'req/s':>8} {'records/s':>10} {'vs ceiling':>10}"
    f" {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'RSS MB':>7}"
)


def line(row: Row, ceiling: float | None) -> str:
    r = row.result
    share = f"{r.rps / ceiling:.0%}" if ceiling and row.scenario.name != "ceiling" else ""
    records = f"{row.records_per_second:,.0f}" if row.scenario.records_per_request > 1 else ""
    errors = r.errors + r.failed_items
    return (
        f"{row.size:>9,}  {row.scenario.label:<32} {r.rps:>8,.0f} {records:>10} {share:>10}"
        f" {r.p50_us / 1000:>8.2f} {r.p99_us / 1000:>8.2f} {errors:>6} {row.rss / MB:>7.0f}"
    )


def ceiling_of(rows: Sequence[Row], size: int, round_: int | None = None) -> float | None:
    """The ceiling measured for `size` (in that round, if one is given)."""
    found = (r for r in rows if r.size == size and round_ in (None, r.round) and r.scenario.name == "ceiling")
    return next((r.result.rps for r in found), None)


def medians(rows: Sequence[Row]) -> list[Row]:
    """Per size and operation, the round with the median req/s (of an even number, the slower middle one).

    A whole row is kept, so its latencies and memory are those of one measurement, and a share
    of the ceiling compares medians. Sorted by size, in the order the operations run.
    """
    order = {name: index for index, name in enumerate(dict.fromkeys(r.scenario.name for r in rows))}
    grouped: dict[tuple[int, str], list[Row]] = {}
    for row in rows:
        grouped.setdefault((row.size, row.scenario.name), []).append(row)
    keys = sorted(grouped, key=lambda key: (key[0], order[key[1]]))
    return [sorted(grouped[key], key=lambda r: r.result.rps)[(len(grouped[key]) - 1) // 2] for key in keys]


def table(rows: Sequence[Row]) -> str:
    """The table of one row per size and operation (`medians`)."""
    return "\n".join([HEADER, *(line(r, ceiling_of(rows, r.size)) for r in rows)])


@dataclass
class Target:
    text: str
    measured: str
    met: bool


def targets(rows: Sequence[Row], measured: Sequence[Row] = ()) -> list[Target]:
    """The targets, judged on `rows` (one per size and operation) at the largest size (p50 growth
    against the smallest); memory on the highest peak of every round `measured`, if given."""
    sizes = sorted({r.size for r in rows})
    if not sizes:
        return []
    big, small = sizes[-1], sizes[0]
    at = {(r.size, r.scenario.name): r for r in rows}
    out: list[Target] = []
    ceiling = ceiling_of(rows, big)
    for name, share in (("get", 0.40), ("upsert", 0.20)):
        row = at.get((big, name))
        if row and ceiling:
            got = row.result.rps / ceiling
            out.append(
                Target(
                    f"{name} at {big:,} ≥ {share:.0%} of the ceiling",
                    f"{row.result.rps:,.0f} of {ceiling:,.0f} req/s = {got:.0%}",
                    got >= share,
                )
            )
    for name in ("batch100", "batch1000"):
        row = at.get((big, name))
        if row:
            rate = row.records_per_second
            out.append(Target(f"{name} at {big:,} ≥ 20,000 records/s", f"{rate:,.0f} records/s", rate >= 20_000))
    if big != small:
        for name in (scenario.name for scenario in HUB_SCENARIOS):  # every operation of the hub
            a, b = at.get((small, name)), at.get((big, name))
            if a and b and not (a.result.requests and b.result.requests):
                out.append(Target(f"{name} p50 at {big:,} ≤ 1.5x at {small:,}", "no request completed", False))
            elif a and b:
                growth = b.result.p50_us / max(a.result.p50_us, 1)
                out.append(
                    Target(
                        f"{name} p50 at {big:,} ≤ 1.5x at {small:,}",
                        f"{b.result.p50_us / 1000:.2f} vs {a.result.p50_us / 1000:.2f} ms = {growth:.2f}x",
                        growth <= 1.5,
                    )
                )
    peak = max((r.peak_rss for r in (*rows, *measured) if r.size == big and r.scenario.name != "ceiling"), default=0)
    if peak:
        out.append(Target(f"hub memory at {big:,} < 500 MB", f"peak RSS {peak / MB:,.0f} MB", peak < 500 * MB))
    return out


def verdicts(found: Sequence[Target]) -> str:
    return "\n".join(f"{'MET    ' if t.met else 'NOT MET'}  {t.text}: {t.measured}" for t in found)
