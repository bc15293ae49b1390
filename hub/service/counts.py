"""The counts a store keeps for the totals of pages and key link searches, counted again by an operator
(`hub recount`): each write keeps them, but a hub from before one was kept, writing the same database, does not."""

from __future__ import annotations

from hub.store.base import Store


async def recount(store: Store) -> None:
    """Count again every kept count from the records and their ids, in one transaction."""
    await store.recount()
