"""What one round of a run measures: the ceiling, then each hub operation under wrk, at every size.

The sizes are measured side by side, operation after operation, each on a hub of its own
that stays up for the round: this machine's speed drifts by 10-25 % within minutes, and
measuring every operation at 10k and then every one at 1M minutes later let that drift
into the comparison of the two (a run showed a p50 of single upserts at 1M 1.6x the one
at 10k; measured in turns, 0.9x and 1.2x). Each round alternates which size goes first.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench import dataset, wrk
from bench.server import Server

ROOT = Path(__file__).parent.parent


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    script: str
    records_per_request: int = 1


HUB_SCENARIOS = (
    Scenario("get", "GET one by app id", "get"),
    Scenario("list", "GET a page, $filter updated_at", "list"),
    Scenario("page", "GET a page anywhere, by next", "page"),
    Scenario("upsert", "POST one (½ new, ½ update)", "upsert"),
    Scenario("batch100", "POST batches of 100", "batch", 100),
    Scenario("batch1000", "POST batches of 1000", "batch", 1000),
)
CEILING = Scenario("ceiling", "bare Starlette (ceiling)", "ceiling")


@dataclass
class Row:
    size: int
    scenario: Scenario
    result: wrk.Result
    rss: int
    """Resident memory of the server after the run, in bytes."""
    peak_rss: int
    round: int

    @property
    def records_per_second(self) -> float:
        return self.result.rps * self.scenario.records_per_request


@dataclass
class Options:
    wrk: str
    seconds: int
    warmup: int
    connections: int
    threads: int
    workdir: Path
    scenarios: tuple[str, ...]
    rounds: int
    profile: Path | None = None
    """Where to write a py-spy flame graph of the server for each measured run, if anywhere."""


def admin_key(store: Path) -> str:
    """A new admin key of the store, made with `hub keys create --admin`: its bearer token."""
    command = [sys.executable, "-m", "hub.cli", "keys", "create", "--admin", "--store", f"sqlite:///{store}"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    found = re.search(r"Authorization: Bearer (\S+)", done.stdout)
    if found is None:
        raise RuntimeError(f"`hub keys create --admin` printed no key: {done.stdout} {done.stderr}")
    return found.group(1)


def since(url: str, token: str, count: int) -> str:
    """An updated_at that about 1,000 stored records (a tenth of a small set) are newer than."""
    skip = max(1, min(1000, count // 10))
    query = urllib.parse.urlencode({"$orderby": "updated_at desc", "$top": 1, "$skip": skip})
    ask = urllib.request.Request(
        f"{url}/api/v2/{dataset.GROUP}/people?{query}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(ask, timeout=600) as answer:
        page = json.loads(answer.read())
    return str(page["people"][0]["updated_at"])


def settle(url: str, env: dict[str, str]) -> None:
    """Wait for the hub to finish what the warm-up left in flight (up to 16 batches of 1,000: seconds of work).

    Writes take the write lock in arrival order, so one more write is answered after them. Without a warm-up it
    is the run's first write, whatever that costs the first time: the smoke test's one-second runs once measured
    no upsert at all.
    """
    person = {"id": [{"provider": env["BENCH_PROVIDER"], "realm": env["BENCH_REALM"], "id": "p0"}]}
    ask = urllib.request.Request(
        url + env["BENCH_PATH"],
        data=json.dumps({"people": person}).encode(),
        headers={"Authorization": env["BENCH_AUTH"], "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(ask, timeout=600) as answer:
        answer.read()


LONGEST = 4
"""How many times its duration a run that completed no request is stretched to, doubling it each time."""


def measure(
    options: Options, server: Server, scenario: Scenario, size: int, run: str, env: dict[str, str], round_: int
) -> Row:
    url = server.url + ("/" if scenario is CEILING else "")
    common = {"BENCH_RECORDS": str(size), "BENCH_BATCH": str(scenario.records_per_request), **env}
    load = (options.wrk, url, scenario.script)
    if options.warmup:
        wrk.run(*load, options.warmup, options.connections, options.threads, {**common, "BENCH_RUN": f"{run}w"})
    if scenario is not CEILING:
        settle(server.url, env)
    name = f"{size}-{scenario.name}" + (f"-round{round_ + 1}" if options.rounds > 1 else "")
    spy = _profile(options, server, name) if options.profile else None
    seconds = options.seconds
    result = wrk.run(*load, seconds, options.connections, options.threads, {**common, "BENCH_RUN": run})
    while result.requests == 0 and seconds < LONGEST * options.seconds:
        seconds *= 2  # no request came back within the run (a batch of 1,000 on a loaded machine): no figures
        result = wrk.run(*load, seconds, options.connections, options.threads, {**common, "BENCH_RUN": run})
    if spy is not None:
        spy.wait(60)
    rss, peak = server.memory()
    return Row(size, scenario, result, rss, peak, round_)


def _profile(options: Options, server: Server, name: str) -> subprocess.Popen[bytes]:
    """py-spy sampling the server while wrk runs (it needs ptrace: root, or CAP_SYS_PTRACE)."""
    assert options.profile is not None and server.process is not None
    options.profile.mkdir(parents=True, exist_ok=True)
    command = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(server.process.pid)]
    command += ["--duration", str(options.seconds), "--nonblocking", "--output", str(options.profile / f"{name}.svg")]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def one_round(options: Options, data: Mapping[int, Path], round_: int, say: Callable[[Row], None]) -> list[Row]:
    """Measure the ceiling and every hub operation at every size, on fresh copies of the data sets."""
    log = options.workdir / "servers.log"
    sizes = list(data)
    if round_ % 2:
        sizes.reverse()
    report: list[Row] = []
    stores: dict[int, Path] = {}
    try:
        for size, path in data.items():
            stores[size] = dataset.copy_for_run(path, options.workdir)
        tokens = {size: admin_key(store) for size, store in stores.items()}
        with ExitStack() as servers:
            hubs: dict[int, Server] = {}
            for size, store in stores.items():
                hub = Server("hub.cli", ["serve", "--store", f"sqlite:///{store}"], log, cwd=ROOT)
                hubs[size] = servers.enter_context(hub)
            envs = {
                size: {
                    "BENCH_AUTH": f"Bearer {tokens[size]}",
                    "BENCH_PATH": f"/api/v2/{dataset.GROUP}/people",
                    "BENCH_PROVIDER": dataset.PROVIDER,
                    "BENCH_REALM": dataset.REALM,
                    "BENCH_SINCE": since(hub.url, tokens[size], size),
                }
                for size, hub in hubs.items()
            }
            if "ceiling" in options.scenarios:
                ceiling = servers.enter_context(Server("bench.ceiling", [], log, cwd=ROOT))
                for size in sizes:
                    env = {"BENCH_AUTH": envs[size]["BENCH_AUTH"]}
                    report.append(measure(options, ceiling, CEILING, size, f"c{size}r{round_}", env, round_))
                    say(report[-1])
            for scenario in HUB_SCENARIOS:
                if scenario.name in options.scenarios:
                    for size in sizes:
                        run = f"{scenario.name}{size}r{round_}"
                        report.append(measure(options, hubs[size], scenario, size, run, envs[size], round_))
                        say(report[-1])
    finally:
        for store in stores.values():
            for leftover in options.workdir.glob(f"{store.name}*"):
                leftover.unlink()
    return report
