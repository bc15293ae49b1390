"""Run the hub as a real process on a free loopback port, for tests that race or crash it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_hub(db: Path, *extra: str) -> Iterator[str]:
    """Start `hub serve` on `db`; yield its base URL; stop it (SIGKILL if it does not stop)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "serve", "--port", str(port), "--store", f"sqlite:///{db}", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx2.get(f"{base}/api/v2/none/people", timeout=1)
                break
            except httpx2.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"hub did not start: {process.stderr.read() if process.stderr else ''}"
                    ) from None
                time.sleep(0.05)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()
