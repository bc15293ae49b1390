"""Grouped hand-offs: calls that queue while a group runs go together next, each caller told its own outcome."""

from __future__ import annotations

import asyncio

import pytest

from hub.store.grouped import Grouped, Raised


class Held:
    """A `run` that records each group and holds it until let go; call n answers n * 10, or fails if negative."""

    def __init__(self) -> None:
        self.groups: list[list[int]] = []
        self.go = asyncio.Event()
        self.running = 0
        self.most_running = 0

    async def __call__(self, group: list[int]) -> list[int | Raised]:
        self.groups.append(group)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        await self.go.wait()
        self.running -= 1
        return [Raised(ValueError(n)) if n < 0 else n * 10 for n in group]


async def test_calls_queued_while_a_group_runs_go_together_next_each_told_its_own() -> None:
    run = Held()
    grouped: Grouped[int] = Grouped(run, most=64)
    calls = [asyncio.create_task(grouped(n)) for n in (1, 2, -3, 4)]
    await asyncio.sleep(0)
    later = [asyncio.create_task(grouped(n)) for n in (5, -6, 7)]
    await asyncio.sleep(0.01)
    assert run.groups == [[1, 2, -3, 4]]
    run.go.set()
    outcomes = await asyncio.gather(*calls, *later, return_exceptions=True)
    assert run.groups == [[1, 2, -3, 4], [5, -6, 7]]
    assert [o if isinstance(o, int) else ("raised", o.args[0]) for o in outcomes] == [
        10,
        20,
        ("raised", -3),
        40,
        50,
        ("raised", -6),
        70,
    ]


async def test_a_call_made_as_the_one_before_is_answered_runs_too() -> None:
    """The caller of a group's last call may call again before the lane that answered it has ended."""
    run = Held()
    run.go.set()
    grouped: Grouped[int] = Grouped(run, most=64)
    assert [await grouped(n) for n in range(5)] == [0, 10, 20, 30, 40]
    assert run.groups == [[0], [1], [2], [3], [4]]


async def test_a_group_holds_at_most_most_calls_and_lanes_run_side_by_side() -> None:
    run = Held()
    grouped: Grouped[int] = Grouped(run, most=3, lanes=2)
    calls = [asyncio.create_task(grouped(n)) for n in range(8)]
    await asyncio.sleep(0.01)
    assert run.groups == [[0, 1, 2], [3, 4, 5]] and run.running == 2
    run.go.set()
    assert await asyncio.gather(*calls) == [n * 10 for n in range(8)]
    assert run.groups == [[0, 1, 2], [3, 4, 5], [6, 7]] and run.most_running == 2


async def test_a_caller_that_stops_waiting_leaves_the_others_their_outcomes() -> None:
    run = Held()
    grouped: Grouped[int] = Grouped(run, most=64)
    calls = [asyncio.create_task(grouped(n)) for n in range(3)]
    await asyncio.sleep(0.01)
    calls[1].cancel()
    run.go.set()
    assert await asyncio.gather(calls[0], calls[2]) == [0, 20]
    with pytest.raises(asyncio.CancelledError):
        await calls[1]
    assert run.groups == [[0, 1, 2]]  # it ran all the same


async def test_a_run_that_fails_whole_fails_each_call_of_its_group_and_settle_waits_for_all() -> None:
    async def broken(group: list[int]) -> list[int]:
        await asyncio.sleep(0.01)
        raise RuntimeError("the thread is gone")

    grouped: Grouped[int] = Grouped(broken, most=64)
    calls = [asyncio.create_task(grouped(n)) for n in range(3)]
    await asyncio.sleep(0)
    await grouped.settle()
    assert all(call.done() for call in calls)
    for call in calls:
        with pytest.raises(RuntimeError, match="the thread is gone"):
            await call
