"""The benchmark still runs end to end (tiny data set, a few seconds per operation); skipped only without wrk."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import wrk

ROOT = Path(__file__).parent.parent.parent


def test_bench_measures_every_operation(tmp_path: Path) -> None:
    try:
        wrk.ensure_wrk()
    except wrk.WrkMissing as error:
        pytest.skip(str(error))
    figures = tmp_path / "figures.json"
    command = [sys.executable, "-m", "bench", "--sizes", "300", "--duration", "4", "--warmup", "0"]
    command += ["--connections", "1", "--cache", str(tmp_path / "cache"), "--json", str(figures)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "whole run" in done.stdout
    measured = {f["operation"]: f for f in json.loads(figures.read_text())["figures"]}
    assert set(measured) == {"ceiling", "get", "list", "upsert", "batch100", "batch1000"}
    for name, figure in measured.items():
        assert figure["requests"] > 0, name
        assert figure["errors"] == 0 and figure["failed_items"] == 0, name
        assert figure["peak_rss"] > 0, name
