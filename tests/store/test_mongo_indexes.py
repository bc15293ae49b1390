"""The indexes a MongoDB store makes as it opens or is asked to, and those it drops."""

from __future__ import annotations

from typing import Any, cast

from mongomock_motor import AsyncMongoMockClient

from hub.model.field_index import FieldIndex
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
    assert present["group_collection_archived"]["partialFilterExpression"] == {"status": "ARCHIVED"}
    assert present["group_collection_inactive"]["partialFilterExpression"] == {"status": "INACTIVE"}


async def test_a_field_index_covers_the_records_of_its_entity_type_by_group_then_code() -> None:
    database = cast(Any, AsyncMongoMockClient()["hub"])
    store = MongoStore(database=database, transactions=False)
    await store.open()
    await store.add_field_index(FieldIndex("people", ("email", "address")))
    present = await database["records"].index_information()
    await store.close()
    made = present["field__people__email__address"]
    assert made["key"] == [("group", 1), ("fields.email.address", 1), ("seq", 1)]
    assert made["partialFilterExpression"] == {"collection": "people"}
