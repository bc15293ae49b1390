"""The SQLite adapter's threads and connections: whole transactions on the writer, groups read once, and
stores on one file (each with its own threads, as processes would be) racing for the first admin key."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.model.collections import COLLECTIONS
from hub.model.ids import ExternalId
from hub.model.record import Record
from hub.service import access
from hub.store.base import RunsTransactions, Transaction
from hub.store.sqlite import SQLiteStore

PEOPLE = COLLECTIONS["people"]
APP = ExternalId("app", "r1", "p1")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = SQLiteStore(str(tmp_path / "hub.db"))
    await opened.open()
    await opened.ensure_group("g", "org-1")
    yield opened
    await opened.close()


def person(hub_id: str = "h1") -> Record:
    return Record(hub_id, "g", "people", 1, "ACTIVE", "t", "t", {"first_name": "Ada"}, [APP])


async def test_a_transaction_runs_whole_on_the_writer_thread_and_commits(store: SQLiteStore) -> None:
    assert isinstance(store, RunsTransactions)
    loop_thread = threading.get_ident()
    seen: list[int] = []

    async def work(tx: Transaction) -> int:
        seen.append(threading.get_ident())
        await tx.insert(person())
        seen.append(threading.get_ident())
        return await tx.next_seq("people")

    assert await store.run_transaction("g", work) == 1
    assert len(set(seen)) == 1 and seen[0] != loop_thread
    assert (await store.find("g", "people", APP)) is not None


async def test_a_work_that_raises_leaves_nothing(store: SQLiteStore) -> None:
    async def work(tx: Transaction) -> None:
        await tx.insert(person())
        raise ValueError("changed my mind")

    with pytest.raises(ValueError):
        await store.run_transaction("g", work)
    assert await store.find("g", "people", APP) is None


async def test_a_work_that_awaits_anything_else_is_refused_and_leaves_nothing(store: SQLiteStore) -> None:
    async def work(tx: Transaction) -> None:
        await tx.insert(person())
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="awaited something besides its transaction"):
        await store.run_transaction("g", work)
    assert await store.find("g", "people", APP) is None


async def test_a_transaction_used_after_its_work_is_refused(store: SQLiteStore) -> None:
    kept: list[Transaction] = []

    async def work(tx: Transaction) -> None:
        kept.append(tx)

    await store.run_transaction("g", work)
    with pytest.raises(RuntimeError, match="outside its work"):
        await kept[0].insert(person())


async def test_groups_are_read_once_but_a_missing_one_is_asked_again(store: SQLiteStore, tmp_path: Path) -> None:
    other = SQLiteStore(str(tmp_path / "hub.db"))  # another process on the same file
    await other.open()
    try:
        assert await store.group("late") is None
        await other.ensure_group("late", "org-2")
        found = await store.group("late")
        assert found is not None and found.channel_id == "org-2"
        assert await store.group("late") is found
    finally:
        await other.close()


async def test_first_starts_racing_on_one_file_make_one_admin_key(tmp_path: Path) -> None:
    """Stores on one file, each with its own connections and threads, race as hub processes would."""
    stores = [SQLiteStore(str(tmp_path / "fresh.db")) for _ in range(6)]
    for opened in stores:
        await opened.open()
    try:
        made = await asyncio.gather(*(access.first_admin_key(opened) for opened in stores))
        assert sum(key is not None for key in made) == 1
        assert len([k for k in await stores[0].keys() if k.admin]) == 1
    finally:
        for opened in stores:
            await opened.close()
