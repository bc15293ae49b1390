"""A progress line for long jobs (import, export, benchmarks) on standard error."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Call it with the count done so far; it redraws at most every `every` seconds.

    On a terminal it redraws one line in place; otherwise (a log, a pipe) it prints a line now and then.
    """

    def __init__(self, label: str, total: int | None = None, stream: TextIO | None = None, every: float = 0.2) -> None:
        self.label = label
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every = every if self.tty else max(every, 5.0)
        self.start = time.monotonic()
        self.shown = self.start
        self.done = 0

    def __call__(self, done: int) -> None:
        self.done = done
        now = time.monotonic()
        if now - self.shown >= self.every:
            self.shown = now
            self._draw(now)

    def finish(self) -> None:
        self._draw(time.monotonic())
        if self.tty:
            self.stream.write("\n")
        self.stream.flush()

    def _draw(self, now: float) -> None:
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        if self.total:
            share = min(self.done / self.total, 1.0)
            bar = "#" * int(share * 30)
            left = (self.total - self.done) / rate if rate else 0.0
            text = (
                f"{self.label} [{bar:<30}] {share:4.0%} {self.done:,}/{self.total:,}"
                f"  {rate:,.0f}/s  {elapsed:.0f}s, ~{left:.0f}s left"
            )
        else:
            text = f"{self.label} {self.done:,}  {rate:,.0f}/s  {elapsed:.0f}s"
        self.stream.write(f"\r{text}\033[K" if self.tty else f"{text}\n")
        self.stream.flush()
