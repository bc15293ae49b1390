"""Running a use case in one write transaction, again when a concurrent writer took an id first."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from hub.errors import Conflict
from hub.store.base import IdTaken, Store, Transaction

T = TypeVar("T")

RETRIES = 8
"""How often a use case is re-run after a concurrent writer took one of its ids first."""
BACKOFF = 0.005
"""Seconds of the first pause between runs; each later pause may be twice as long, jittered so that
racing writers (several processes on one MongoDB) stop colliding."""


async def transact(store: Store, group_id: str, work: Callable[[Transaction], Awaitable[T]]) -> T:
    """`work` in a transaction of the group; re-run from the start (on fresh reads) after IdTaken."""
    for attempt in range(RETRIES):
        try:
            async with store.transaction(group_id) as tx:
                return await work(tx)
        except IdTaken:
            if attempt == RETRIES - 1:
                raise Conflict("the ids of these records kept changing under concurrent writes; try again") from None
            await asyncio.sleep(random.uniform(0, BACKOFF * 2**attempt))
    raise AssertionError("unreachable")
