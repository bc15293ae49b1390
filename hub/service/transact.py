"""Running a use case in one write transaction, again when a concurrent writer took an id first."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from hub.errors import Conflict, HubError
from hub.store.base import IdTaken, RunsBatches, RunsTransactions, Store, Transaction, offers

T = TypeVar("T")

RETRIES = 8
"""How often a use case is re-run after a concurrent writer took one of its ids first."""
BACKOFF = 0.005
"""Seconds of the first pause between runs; each later pause may be twice as long, jittered so that
racing writers (several processes on one MongoDB) stop colliding."""


async def once(store: Store, group_id: str, work: Callable[[Transaction], Awaitable[T]]) -> T:
    """`work` in a transaction of the group: committed if it returns, rolled back if it raises.

    The work awaits nothing but its transaction, so a store may run it in one go
    (`RunsTransactions`); the outcome is the same as with `store.transaction`.
    """
    if offers(store, RunsTransactions):
        return await store.run_transaction(group_id, work)
    async with store.transaction(group_id) as tx:
        return await work(tx)


def _kept_changing() -> Conflict:
    """What a write that lost every try answers: to races with concurrent writes (the ids it named moved, the group's
    turn held elsewhere), or, on MongoDB, to a connection lost mid-write each time; whatever it wrote (an integration
    holds no ids)."""
    return Conflict("the write met concurrent writes (or lost the store) on every try; try again")


async def each(
    store: Store, group_id: str, works: Sequence[Callable[[Transaction], Awaitable[T]]]
) -> list[T | HubError]:
    """Each work in order, as `transact` would run it alone: its result, or the HubError that refused it.

    A store that can (`RunsBatches`) runs them all in one transaction, each undone alone
    if it fails; otherwise each gets a transaction of its own. Either way a refused item
    leaves no trace and does not stop the others.
    """
    if offers(store, RunsBatches):
        ran = await store.run_each(group_id, works, RETRIES)
        return [_kept_changing() if isinstance(result, IdTaken) else result for result in ran]
    results: list[T | HubError] = []
    for work in works:
        try:
            results.append(await transact(store, group_id, work))
        except HubError as error:
            results.append(error)
    return results


async def transact(store: Store, group_id: str, work: Callable[[Transaction], Awaitable[T]]) -> T:
    """`work` in a transaction of the group; re-run from the start (on fresh reads) after IdTaken."""
    for attempt in range(RETRIES):
        try:
            return await once(store, group_id, work)
        except IdTaken:
            if attempt == RETRIES - 1:
                raise _kept_changing() from None
            await asyncio.sleep(random.uniform(0, BACKOFF * 2**attempt))
    raise AssertionError("unreachable")
