"""How the MongoDB store prunes the change feed: in transactions of a bounded size.

mongod aborts a transaction that outgrows 5% of its WiredTiger cache (with a write conflict, which
is retried, and aborted again) or runs past a minute: a group's changes of a busy day, or of an
import, dropped in one transaction would never be dropped at all.
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from mongomock_motor import AsyncMongoMockClient

from hub.store import mongo_sync
from hub.store.mongo import MongoStore
from tests.store.contract import at
from tests.store.test_contract_sync import change, feed, record


async def test_a_group_s_old_changes_go_a_bounded_number_per_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    store = MongoStore(database=cast(Any, AsyncMongoMockClient()["hub"]), transactions=False)
    await store.open()
    seqs = await record(store, *(change(n, day=1) for n in range(7)), change(7, day=5))
    monkeypatch.setattr(mongo_sync, "PRUNE_CHUNK", 3)
    dropped: list[int] = []
    prune_group = mongo_sync.prune_group

    async def counted(*args: Any, **kwargs: Any) -> int:
        dropped.append(await prune_group(*args, **kwargs))
        return dropped[-1]

    monkeypatch.setattr(mongo_sync, "prune_group", counted)
    assert await store.prune_changes(at(4)) == 7
    assert dropped == [3, 3, 1]
    assert await feed(store) == (seqs[6], seqs[7:])
    await store.close()
