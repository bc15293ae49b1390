"""The checked mongomock sessions the suites run the MongoDB store on refuse what a real server's transaction would."""

from __future__ import annotations

from typing import Any, cast

import pytest
from pymongo.errors import DocumentTooLarge, WriteError

from hub.store.mongo import MongoStore
from tests.store.contract import G, ext, rec
from tests.store.sessions import MAX_BSON_SIZE, Fault, SessionChecked


@pytest.fixture
async def checked() -> tuple[MongoStore, SessionChecked]:
    database = SessionChecked()
    store = MongoStore(database=cast(Any, database))
    await store.open()
    return store, database


async def test_a_use_case_s_writes_pass_the_check(checked: tuple[MongoStore, SessionChecked]) -> None:
    store, database = checked
    async with store.transaction(G) as tx:
        await tx.insert(rec(1, [ext("sf", "1")]))
        assert [r.seq for r in await tx.match("people", [ext("sf", "1")])] == [1]
    assert await store.find(G, "people", ext("sf", "1")) is not None and database.faults == []


async def test_an_operation_without_the_transaction_s_session_is_refused(
    checked: tuple[MongoStore, SessionChecked],
) -> None:
    store, database = checked
    with pytest.raises(Fault, match=r"records\.find_one ran outside the open transaction"):
        async with store.transaction(G):
            await database["records"].find_one({})


async def test_a_read_of_the_store_inside_a_write_transaction_is_refused(
    checked: tuple[MongoStore, SessionChecked],
) -> None:
    """Its own read-only transaction would not see the write transaction's records."""
    store, _ = checked
    with pytest.raises(Fault, match="started inside another"):
        async with store.transaction(G) as tx:
            await tx.insert(rec(1, [ext("sf", "1")]))
            await store.find(G, "people", ext("sf", "1"))


async def test_what_a_transaction_may_not_run_is_refused(checked: tuple[MongoStore, SessionChecked]) -> None:
    store, database = checked
    with pytest.raises(Fault, match="create_index inside a transaction"):
        async with store.transaction(G) as tx:
            await database["records"].create_index([("x", 1)], session=tx._session)
    with pytest.raises(Fault, match="made the collection inside a transaction"):
        async with store.transaction(G) as tx:
            await database["unmade"].insert_one({"x": 1}, session=tx._session)
    assert len(database.faults) == 2


async def test_a_write_leaving_a_document_over_16_mib_is_refused_whole(
    checked: tuple[MongoStore, SessionChecked],
) -> None:
    """As mongod refuses it (PyMongo itself, for an insert), in a transaction or not; nothing of it stays."""
    store, database = checked
    big = "x" * MAX_BSON_SIZE
    merges = database["merges"]
    with pytest.raises(DocumentTooLarge, match="BSON document too large"):
        await merges.insert_one({"_id": 1, "big": big})
    await merges.insert_one({"_id": 1, "small": "y"})
    with pytest.raises(WriteError, match="after update is larger") as error:
        await merges.update_one({"_id": 1}, {"$set": {"big": big}})
    assert error.value.code == 17419
    with pytest.raises(WriteError, match="to upsert is larger") as error:
        async with store.transaction(G) as tx:
            await merges.replace_one({"_id": 2}, {"big": big}, upsert=True, session=tx._session)
    assert error.value.code == 17420
    assert await merges.find({}).to_list(None) == [{"_id": 1, "small": "y"}]
    assert database.faults == []
