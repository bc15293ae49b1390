"""Calls that queue up while their thread is busy, handed to it together.

Each hand-off to a thread and back costs the event loop a submission, a wake-up through
its self-pipe and a chain of futures: under load, more than a point lookup itself. So
the calls that arrive while a thread is busy wait in a queue, and the next hand-off takes
all of them (up to a limit): one trip there and back for the lot, each caller told its
own outcome.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

A = TypeVar("A")


@dataclass
class Raised:
    """What one call raised, in the place of its outcome."""

    error: Exception


class Grouped(Generic[A]):
    """Queues calls (`A`, what each call hands over) and runs them a group at a time.

    `run` takes a group and returns one outcome per call, a `Raised` for a call that
    failed; it runs on as many `lanes` at once (groups in flight) as its threads serve.
    """

    def __init__(self, run: Callable[[list[A]], Awaitable[list[Any]]], most: int, lanes: int = 1) -> None:
        self._run = run
        self._most = most
        self._lanes = lanes
        self._queued: list[tuple[A, asyncio.Future[Any]]] = []
        self._busy = 0
        """Lanes draining the queue: counted down by the lane itself as it finds the queue empty, in the same
        step, so that a call queued after that starts a lane (a task's done callback would come a turn late)."""
        self._lanes_running: set[asyncio.Task[None]] = set()

    async def __call__(self, call: A) -> Any:
        """The outcome of `call` once its group has run (what it raised, raised here).

        A call runs once queued, even if its caller stops waiting.
        """
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queued.append((call, answer))
        if self._busy < self._lanes:
            self._busy += 1
            lane = asyncio.create_task(self._drain())
            self._lanes_running.add(lane)
            lane.add_done_callback(self._lanes_running.discard)
        return await answer

    async def _drain(self) -> None:
        """Run what is queued, a group at a time, until nothing is, telling each group's callers their outcomes as
        soon as it has run."""
        try:
            await self._run_queued()
        finally:
            self._busy -= 1

    async def _run_queued(self) -> None:
        while self._queued:
            group, self._queued = self._queued[: self._most], self._queued[self._most :]
            try:
                outcomes = await self._run([call for call, _ in group])
            except asyncio.CancelledError:  # the event loop is closing
                for _, answer in [*group, *self._queued]:
                    answer.cancel()
                raise
            except Exception as error:  # the thread is gone: its store was closed
                outcomes = [Raised(error)] * len(group)
            for (_, answer), outcome in zip(group, outcomes, strict=True):
                if answer.done():  # its caller stopped waiting
                    continue
                if isinstance(outcome, Raised):
                    answer.set_exception(outcome.error)
                else:
                    answer.set_result(outcome)

    async def settle(self) -> None:
        """Wait until every call queued so far has run."""
        while self._lanes_running:
            await asyncio.gather(*self._lanes_running, return_exceptions=True)
