"""The indexes a MongoDB store makes as it opens or is asked to, and those it drops."""

from __future__ import annotations

from typing import Any, cast
from unittest.mock import AsyncMock

import pytest
from mongomock_motor import AsyncMongoMockClient
from pymongo.errors import OperationFailure

from hub.model.change import Change
from hub.model.field_index import FieldIndex
from hub.model.ids import ExternalId
from hub.model.record import Group, Record
from hub.store.mongo import MongoStore

BY_TYPE = [("group", 1), ("collection", 1)]
REPLACED = [("apps", "apps"), ("updated", "updated_at"), ("created", "created_at")]
"""The indexes by (group, collection, key) that (group, collection, key, seq) replaced: (name's end, key)."""
ID = ExternalId("sf", "r1", "1")


async def test_an_index_a_newer_one_replaced_is_dropped_as_the_store_opens() -> None:
    """An app's records were found by (group, collection, apps), and pages by a time by (group, collection, time),
    and sorted by code; the code is now in the indexes."""
    database = cast(Any, AsyncMongoMockClient()["hub"])
    for name, last in REPLACED:
        await database["records"].create_index([*BY_TYPE, (last, 1)], name=f"group_collection_{name}")
    store = MongoStore(database=database, transactions=False)
    await store.open()
    present = await database["records"].index_information()
    await store.close()
    for name, last in REPLACED:
        assert f"group_collection_{name}" not in present
        assert present[f"group_collection_{name}_seq"]["key"] == [*BY_TYPE, (last, 1), ("seq", 1)]
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


async def test_the_store_makes_every_collection_as_it_opens_and_no_write_makes_one() -> None:
    """mongod makes a collection inside a transaction only under restrictions (never in a cross-shard one), and a
    transaction whose snapshot predates a collection's creation may not read it. A group's first write stores the
    group, and its first id of an app notes the provider: neither makes a collection."""
    database = cast(Any, AsyncMongoMockClient()["hub"])
    store = MongoStore(database=database, transactions=False)
    await store.open()
    made = set(await database.list_collection_names())
    async with store.transaction("cld-1") as tx:
        await tx.ensure_group(Group("cld-1", "org-1", new=True))
        await tx.insert(Record("h1", "cld-1", "people", await tx.next_seq("people"), "ACTIVE", "t", "t", {}, [ID]))
        await tx.add_change(Change("cld-1", "create", "people", "h1", [ID], "t"))
    assert set(await database.list_collection_names()) == made
    await store.close()


async def test_what_another_hub_made_or_dropped_as_both_opened_is_no_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hubs opening one database at once each list what exists, then make what is missing and drop what is retired:
    mongod before 7.0 refuses to make a collection made meanwhile (NamespaceExists, which PyMongo passes on: its
    CollectionInvalid comes from its own listing first), and any refuses to drop an index dropped meanwhile
    (IndexNotFound)."""
    database = cast(Any, AsyncMongoMockClient()["hub"])
    await MongoStore(database=database, transactions=False).open()
    await database["records"].create_index([*BY_TYPE, ("apps", 1)], name="group_collection_apps")

    async def made_meanwhile(name: str, **options: Any) -> None:
        raise OperationFailure(f"Collection hub.{name} already exists.", code=48)

    async def dropped_meanwhile(self: Any, name: str) -> None:
        raise OperationFailure(f"index not found with name [{name}]", code=27)

    monkeypatch.setattr(database, "list_collection_names", AsyncMock(return_value=[]))
    monkeypatch.setattr(database, "create_collection", made_meanwhile)
    monkeypatch.setattr(type(database["records"]), "drop_index", dropped_meanwhile)
    store = MongoStore(database=database, transactions=False)
    await store.open()
    await store.close()

    async def refused(name: str, **options: Any) -> None:
        raise OperationFailure("not authorized on hub to execute command", code=13)

    monkeypatch.setattr(database, "create_collection", refused)
    with pytest.raises(OperationFailure, match="not authorized"):
        await MongoStore(database=database, transactions=False).open()
