"""wrk, the load generator: installed from Debian if missing, run with a scenario's Lua script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).parent / "lua"


class WrkMissing(Exception):
    """wrk is not installed and could not be."""


def ensure_wrk() -> str:
    """The path of wrk, installing Debian's package first if needed (apt-get update only when it must)."""
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get") is None:
        raise WrkMissing("wrk is not installed and there is no apt-get to install it")
    print("installing wrk (apt-get install -y wrk)…", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        done = subprocess.run(install, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise WrkMissing(f"apt-get install wrk failed: {done.stderr.strip()[-500:]}")
    found = shutil.which("wrk")
    if found is None:
        raise WrkMissing("wrk is still not on PATH after installing it")
    return found


@dataclass
class Result:
    """One wrk run: throughput, latency percentiles (microseconds) and every kind of failure."""

    requests: int
    seconds: float
    p50_us: int
    p99_us: int
    max_us: int
    errors: int
    """Socket errors, timeouts and non-2xx/3xx answers."""
    failed_items: int
    """Items of batch answers that carried an error."""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run(
    wrk: str,
    url: str,
    scenario: str,
    seconds: int,
    connections: int,
    threads: int = 1,
    env: dict[str, str] | None = None,
) -> Result:
    """Run wrk against `url` with `lua/<scenario>.lua` (after `lua/common.lua`) for `seconds`."""
    script = (LUA / "common.lua").read_text() + "\n" + (LUA / f"{scenario}.lua").read_text()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    try:
        done = subprocess.run(
            [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", file.name, url],
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            timeout=seconds + 60,
        )
    finally:
        os.unlink(file.name)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout[-1000:]} {done.stderr[-1000:]}")
    raw = json.loads(line.removeprefix("BENCH_RESULT "))
    return Result(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        p50_us=raw["p50_us"],
        p99_us=raw["p99_us"],
        max_us=raw["max_us"],
        errors=sum(raw[k] for k in ("connect", "read", "write", "status", "timeout")),
        failed_items=raw["failed_items"],
    )
