"""The change feed while writers are busy: a reader paging concurrently sees every change once, in commit order."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from hub.config import Settings
from hub.model.collections import COLLECTIONS
from hub.model.ids import ExternalId
from hub.model.record import Write
from hub.service import changes, upsert
from hub.store.base import Store
from hub.store.mongo import MongoStore
from hub.store.sqlite import SQLiteStore
from tests.conftest import with_database

GROUP = "cld-1"
PEOPLE = COLLECTIONS["people"]
MONGODB_URL = os.environ.get("HUB_TEST_MONGODB_URL")


@pytest.fixture(params=["sqlite", *(["mongodb"] if MONGODB_URL else [])])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[list[Store]]:
    """Two stores on one backing stand for two hub processes: on SQLite their writers contend for the
    write lock; on MongoDB their transactions overlap (mongomock, without transactions, cannot show this)."""
    database = f"hub_test_{uuid.uuid4().hex[:12]}"
    if request.param == "sqlite":
        opened: list[Store] = [SQLiteStore(str(tmp_path / "hub.db")), SQLiteStore(str(tmp_path / "hub.db"))]
    else:
        url = with_database(str(MONGODB_URL), database)
        opened = [MongoStore(url), MongoStore(url)]
    for store in opened:
        await store.open()
    yield opened
    for store in opened:
        await store.close()
    if request.param == "mongodb":
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(str(MONGODB_URL))
        await client.drop_database(database)
        await client.close()


async def test_a_reader_paging_during_concurrent_writes_sees_each_change_exactly_once(stores: list[Store]) -> None:
    settings = Settings()
    await stores[0].ensure_group(GROUP, "channel-1")  # the feed of a group that exists reads from its start
    writers, writes = 8, 15
    done = asyncio.Event()

    async def write(n: int) -> None:
        store = stores[n % 2]
        for i in range(writes):
            ids = [ExternalId("crm", "1", f"{n}-{i % 5}")]  # every fifth write updates an earlier record
            await upsert.upsert(store, settings, GROUP, PEOPLE, Write(ids, [], {"notes": f"{n}/{i}"}, {}))

    async def read() -> list[int]:
        seen: list[int] = []
        since = None
        while True:
            finished = done.is_set()
            page = await changes.page(stores[1], GROUP, since, 7)
            seen += [c.seq for c in page.changes]
            since = page.cursor
            if finished and not page.more:
                return seen
            await asyncio.sleep(0)

    reader = asyncio.create_task(read())
    await asyncio.gather(*(write(n) for n in range(writers)))
    done.set()
    seen = await reader
    _, everything = await stores[0].changes(GROUP, 0, 10_000)

    assert len(everything) == writers * writes
    assert seen == [c.seq for c in everything]  # none skipped, none repeated, in order
    assert [c.kind for c in everything].count("create") == writers * 5
