"""The indexes a MongoDB store makes as it opens, and those it drops."""

from __future__ import annotations

from typing import Any, cast

from mongomock_motor import AsyncMongoMockClient

from hub.store.mongo import MongoStore


async def test_an_index_a_newer_one_replaced_is_dropped_as_the_store_opens() -> None:
    """An app's records were found by (group, collection, apps) and sorted by code; the code is now in the index."""
    database = cast(Any, AsyncMongoMockClient()["hub"])
    await database["records"].create_index([("group", 1), ("collection", 1), ("apps", 1)], name="group_collection_apps")
    store = MongoStore(database=database, transactions=False)
    await store.open()
    present = await database["records"].index_information()
    await store.close()
    assert "group_collection_apps" not in present
    assert present["group_collection_apps_seq"]["key"] == [("group", 1), ("collection", 1), ("apps", 1), ("seq", 1)]
