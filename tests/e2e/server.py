"""Running the hub for end-to-end tests: as a real process on a free loopback port, or as uvicorn on a thread."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import uvicorn

from hub.app import create_app
from hub.config import Settings
from hub.service import access
from hub.store import store_from_url

TOKEN = re.compile(r"Authorization: Bearer (\S+)")


@dataclass
class Server:
    url: str
    admin: str
    """The admin key's bearer token."""
    logged: list[str] = field(default_factory=list)
    """What `running_hub`'s process printed so far, a line an item (its access log among it)."""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, seconds: float = 15, process: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the hub exited with {process.returncode}")
        try:
            if httpx2.get(f"{url}/openapi.json", timeout=1).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the hub did not answer at {url} within {seconds} s")


@contextmanager
def start_in_thread(db: Path) -> Iterator[Server]:
    """uvicorn serving the app on a free loopback port, with an admin key made beforehand."""
    settings = Settings(store=f"sqlite:///{db}")

    async def admin_key() -> str:
        store = store_from_url(settings.store)
        await store.open()
        try:
            return (await access.create_key(store, None, settings.hub_provider)).token
        finally:
            await store.close()

    token = asyncio.run(admin_key())
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url)
        yield Server(url, token)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class Process:
    """`python -m hub.cli serve` on a SQLite file; `start` reads the admin key it prints on first start."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin: str | None = None
        self.process: subprocess.Popen[str] | None = None
        self.output = ""
        """What the last run printed after the admin key (if it printed one)."""
        self._printed: list[str] = []
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "hub.cli",
            "serve",
            "--port",
            str(self.port),
            "--store",
            f"sqlite:///{self.db}",
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=self.db.parent
        )
        assert self.process.stdout is not None
        if self.admin is None:
            for line in self.process.stdout:
                found = TOKEN.search(line)
                if found:
                    self.admin = found.group(1)
                    break
        # read to its end as it comes: left full (64 KiB, an access log line a request), the pipe blocked the hub
        self._printed = []
        self._reader = threading.Thread(target=self._printed.extend, args=(self.process.stdout,), daemon=True)
        self._reader.start()
        wait_until_up(self.url, process=self.process)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, as a power cut looks to the process."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)
        if self._reader is not None:
            self._reader.join(10)
        self.output = "".join(self._printed)
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextmanager
def running_hub(db: Path, *extra: str, admin: str | None = None) -> Iterator[Server]:
    """Start `hub serve` on a fresh `db`; yield its URL and admin key; stop it (SIGKILL if it does not stop).

    `admin` is the admin key of a `db` served already (a second hub on the file): it prints none to be read."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "serve", "--port", str(port), "--store", f"sqlite:///{db}", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        text=True,
    )
    assert process.stdout is not None
    token = admin or next((found.group(1) for line in process.stdout if (found := TOKEN.search(line))), "")
    # Both pipes are read to their end: left full (64 KiB, an access log line a request: about 500 requests), one
    # blocked the hub on its next write to it until the test's client timed out.
    logged: list[str] = []
    readers = [
        threading.Thread(target=logged.extend, args=(stream,), daemon=True)
        for stream in (process.stdout, process.stderr)
    ]
    for reader in readers:
        reader.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx2.get(f"{base}/api/v2/none/people", timeout=1)
                break
            except httpx2.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"hub did not start: {''.join(logged)}") from None
                time.sleep(0.05)
        yield Server(base, token, logged)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for reader in readers:
            reader.join(10)
        for stream in (process.stdout, process.stderr):
            stream.close()
