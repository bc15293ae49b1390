"""The benchmark runs end to end (two tiny data sets, two rounds; skipped only without wrk) and shows median rounds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import report, scenarios, wrk
from bench.__main__ import sizes

ROOT = Path(__file__).parent.parent.parent


def test_bench_measures_every_operation(tmp_path: Path) -> None:
    try:
        wrk.ensure_wrk()
    except wrk.WrkMissing as error:
        pytest.skip(str(error))
    figures = tmp_path / "figures.json"
    command = [sys.executable, "-m", "bench", "--sizes", "200,300", "--rounds", "2", "--duration", "1"]
    command += ["--warmup", "0", "--connections", "1", "--cache", str(tmp_path / "cache"), "--json", str(figures)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "whole run" in done.stdout
    operations = ["ceiling", "get", "list", "page", "upsert", "batch100", "batch1000"]
    measured = {(f["round"], f["operation"], f["size"]): f for f in json.loads(figures.read_text())["figures"]}
    # in the order measured: operation after operation, each at both sizes, the first size flipping by round
    turns = ((0, (200, 300)), (1, (300, 200)))
    assert list(measured) == [(round_, name, size) for round_, sizes in turns for name in operations for size in sizes]
    for figure in measured.values():
        assert figure["requests"] > 0 and figure["peak_rss"] > 0, figure
        assert figure["errors"] == 0 and figure["failed_items"] == 0, (figure, done.stderr[-3000:])
    table = [line.split() for line in done.stdout.splitlines() if line.lstrip().startswith(("200 ", "300 "))]
    assert [row[0] for row in table] == ["200"] * 7 + ["300"] * 7  # one median line per size and operation


def test_sizes_are_counts_and_may_be_spelled_in_thousands_or_millions() -> None:
    assert sizes("10k,1M") == [10_000, 1_000_000]
    assert sizes(" 10_000, 250 ,") == [10_000, 250]


@pytest.mark.parametrize("text", ["ten", "10x", "0", "", "k", "1.5M"])
def test_a_size_that_is_not_a_count_is_refused_before_anything_runs(text: str) -> None:
    done = subprocess.run([sys.executable, "-m", "bench", "--sizes", text], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "--sizes" in done.stderr and "Traceback" not in done.stderr, done.stderr


def _row(size: int, name: str, rps: int, round_: int) -> scenarios.Row:
    scenario = next(s for s in (scenarios.CEILING, *scenarios.HUB_SCENARIOS) if s.name == name)
    peak = (3 if rps == 300 else 1) * 1024 * 1024
    return scenarios.Row(size, scenario, wrk.Result(rps, 1.0, 1000 + round_, 2000, 3000, 0, 0), peak, peak, round_)


def test_the_table_shows_each_figure_of_its_median_round() -> None:
    rows = [_row(1000, "ceiling", rps, r) for r, rps in enumerate((1000, 800, 900))]
    rows += [_row(1000, "get", rps, r) for r, rps in enumerate((300, 400, 600))]
    rows += [_row(10, "get", rps, r) for r, rps in enumerate((70, 40, 60, 50))]
    chosen = report.medians(rows)
    assert [(r.size, r.scenario.name, r.result.rps, r.round) for r in chosen] == [
        (10, "get", 50, 3),  # of four rounds, the slower middle one
        (1000, "ceiling", 900, 2),
        (1000, "get", 400, 1),
    ]
    assert chosen[2].result.p50_us == 1001  # the whole row of that round
    verdicts = {t.text: t for t in report.targets(chosen, rows)}
    share = verdicts["get at 1,000 ≥ 40% of the ceiling"]
    assert share.measured == "400 of 900 req/s = 44%" and share.met
    assert verdicts["hub memory at 1,000 < 500 MB"].measured == "peak RSS 3 MB"  # the highest peak of any round


@pytest.mark.parametrize(("answered", "durations"), [([0, 0, 5], [1, 2, 4]), ([0, 0, 0], [1, 2, 4]), ([3], [1])])
def test_a_run_that_completed_no_request_is_run_again_for_longer(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, answered: list[int], durations: list[int]
) -> None:
    """A batch of 1,000 on a loaded machine can take longer than a one-second run: it had no figures at all. Each
    run again lasts twice as long, up to four times the duration asked for."""
    ran: list[int] = []

    def run(*args: object, **kwargs: object) -> wrk.Result:
        ran.append(int(str(args[3])))
        return wrk.Result(answered[len(ran) - 1], 1.0, 1000, 2000, 3000, 0, 0)

    class Up:
        url = "http://127.0.0.1:1"

        def memory(self) -> tuple[int, int]:
            return 1, 2

    monkeypatch.setattr(wrk, "run", run)
    options = scenarios.Options("wrk", 1, 0, 1, 1, tmp_path, ("ceiling",), 1)
    row = scenarios.measure(options, Up(), scenarios.CEILING, 10, "r", {}, 0)  # type: ignore[arg-type]
    assert ran == durations and row.result.requests == answered[-1]
