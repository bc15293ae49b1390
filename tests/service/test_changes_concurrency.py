"""The change feed while writers are busy: a reader paging concurrently sees every change once, in commit order."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hub.config import Settings
from hub.model.collections import COLLECTIONS
from hub.model.ids import ExternalId
from hub.model.record import Write
from hub.service import changes, upsert
from hub.store.sqlite import SQLiteStore

GROUP = "cld-1"
PEOPLE = COLLECTIONS["people"]


async def test_a_reader_paging_during_concurrent_writes_sees_each_change_exactly_once(tmp_path: Path) -> None:
    settings = Settings(store=f"sqlite:///{tmp_path / 'hub.db'}")
    # Two stores on one file stand for two hub processes: their writers contend for SQLite's write lock.
    stores = [SQLiteStore(str(tmp_path / "hub.db")), SQLiteStore(str(tmp_path / "hub.db"))]
    for store in stores:
        await store.open()
    await upsert.group_for_write(stores[0], GROUP)
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
    for store in stores:
        await store.close()

    assert len(everything) == writers * writes
    assert seen == [c.seq for c in everything]  # none skipped, none repeated, in order
    assert [c.kind for c in everything].count("create") == writers * 5
