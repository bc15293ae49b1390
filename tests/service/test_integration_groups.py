"""Defining the first integration of a group creates the group in the definition's own transaction: one that
fails (the store busy, the process killed) leaves no group behind."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from hub.config import Settings
from hub.errors import Unavailable
from hub.service import integrations
from hub.store.base import Transaction
from hub.store.sqlite import SQLiteStore
from hub.store.sqlite_tx import SQLiteTransaction

T = TypeVar("T")
GROUP = "cld-new"
DEFINITION = {"name": "crm", "entity": "people", "direction": "outbound", "provider": "crm", "realm": "1"}


class FailingCommits(SQLiteStore):
    """A store whose write transactions fail once their work is done, as if the process died before the commit
    (or another process held the write lock past the busy timeout), whether the work runs in one go or not."""

    @asynccontextmanager
    async def transaction(self, group_id: str) -> AsyncIterator[SQLiteTransaction]:
        async with super().transaction(group_id) as tx:
            yield tx
            raise Unavailable("the SQLite file is busy")

    async def run_transaction(self, group_id: str, work: Callable[[Transaction], Awaitable[T]]) -> T:
        async with self.transaction(group_id) as tx:
            return await work(tx)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = FailingCommits(str(tmp_path / "hub.db"))
    await opened.open()
    yield opened
    await opened.close()


async def test_a_failed_first_definition_leaves_no_group(store: SQLiteStore) -> None:
    with pytest.raises(Unavailable):
        await integrations.create(store, Settings(), GROUP, DEFINITION, operator=True)
    assert await store.group(GROUP) is None, "the group was committed apart from the integration that made it"
