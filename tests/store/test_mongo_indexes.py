"""The indexes a MongoDB store makes as it opens or is asked to, and those it drops."""

from __future__ import annotations

from typing import Any, cast
from unittest.mock import AsyncMock

import mongomock_motor
import pytest
from mongomock_motor import AsyncMongoMockClient
from pymongo.errors import OperationFailure

from hub.model.change import Change
from hub.model.field_index import FieldIndex
from hub.model.history import HistoryPage, MergeEntry, Snapshot
from hub.model.ids import ExternalId
from hub.model.query import parse_list
from hub.model.record import Group, Record
from hub.store.mongo import MongoStore
from tests.store.contract import PEOPLE, G, at, insert, rec

BY_TYPE = [("group", 1), ("collection", 1)]
REPLACED = [("apps", "apps"), ("updated", "updated_at"), ("created", "created_at")]
"""The indexes by (group, collection, key) that (group, collection, key, seq) replaced: (name's end, key)."""
NEWEST_FIRST = [("updated_desc_seq", "updated_at"), ("created_desc_seq", "created_at")]
"""The indexes of a page newest first while its ties came by code ascending, which (…, time, seq) read backward gives
now that they come descending."""
ID = ExternalId("sf", "r1", "1")


async def test_an_index_a_newer_one_replaced_is_dropped_as_the_store_opens() -> None:
    """An app's records were found by (group, collection, apps), and pages by a time by (group, collection, time),
    and sorted by code; the code is now in the indexes."""
    database = cast(Any, AsyncMongoMockClient()["hub"])
    for name, last in REPLACED:
        await database["records"].create_index([*BY_TYPE, (last, 1)], name=f"group_collection_{name}")
    for name, last in NEWEST_FIRST:
        await database["records"].create_index([*BY_TYPE, (last, -1), ("seq", 1)], name=f"group_collection_{name}")
    store = MongoStore(database=database, transactions=False)
    await store.open()
    present = await database["records"].index_information()
    await store.close()
    assert not {f"group_collection_{name}" for name, _ in NEWEST_FIRST} & set(present)
    for name, last in REPLACED:
        assert f"group_collection_{name}" not in present
        assert present[f"group_collection_{name}_seq"]["key"] == [*BY_TYPE, (last, 1), ("seq", 1)]
    assert present["group_collection_archived"]["partialFilterExpression"] == {"status": "ARCHIVED"}
    assert present["group_collection_inactive"]["partialFilterExpression"] == {"status": "INACTIVE"}


async def test_the_index_of_merge_members_alone_gives_way_to_the_one_in_history_order() -> None:
    database = cast(Any, AsyncMongoMockClient()["hub"])
    await database["merges"].create_index([("members", 1)], name="members")
    store = MongoStore(database=database, transactions=False)
    await store.open()
    present = await database["merges"].index_information()
    await store.close()
    assert "members" not in present and present["members_at"]["key"] == [("members", 1), ("at", -1), ("_id", -1)]


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


@pytest.mark.parametrize("after", [None, "m-2"], ids=["first", "after-token"])
async def test_a_page_of_merge_history_is_read_in_the_order_of_the_members_index(
    monkeypatch: pytest.MonkeyPatch, after: str | None
) -> None:
    """mongod reads a record's merges from `members_at` in the history's order, each hub id's from where the page
    starts (`at` bounded), merging them and stopping at the page's end; then the page's entries alone, by id. The
    `members` index it replaced gave them unordered: the sort read every merge, each entry up to 14 MiB. mongomock
    plans nothing, so the queries are checked against the index."""
    database = cast(Any, AsyncMongoMockClient()["hub"])
    store = MongoStore(database=database, transactions=False)
    await store.open()
    survivor, *merged = rec(1), rec(2), rec(3)
    await insert(store, survivor, *merged)
    async with store.transaction(G) as tx:
        for n, other in enumerate(merged, 1):
            before = [Snapshot.of(survivor), Snapshot.of(other)]
            await tx.put_merge(MergeEntry(f"m-{n}", G, "people", at(n), "tester", "request", [], {}, before, before[0]))
    asked: list[tuple[Any, ...]] = []
    find, sort = type(database["merges"]).find, mongomock_motor.AsyncCursor.sort

    def finding(self: Any, *args: Any, **options: Any) -> Any:
        if self.name == "merges":
            asked.append(args)
        return find(self, *args, **options)

    def sorting(self: Any, *keys: Any) -> Any:
        asked.append(keys)
        return sort(self, *keys)

    monkeypatch.setattr(type(database["merges"]), "find", finding)
    monkeypatch.setattr(mongomock_motor.AsyncCursor, "sort", sorting)
    entries, more = await store.merges(G, "people", survivor.hub_id, HistoryPage(1, after))
    index = (await database["merges"].index_information())["members_at"]["key"]
    await store.close()
    assert ([e.merge_id for e in entries], more) == ((["m-1"], False) if after else (["m-2"], True))
    page, (order,), (fetched,) = asked[asked.index(("seq", 1)) + 1 :]  # after the aliases, sorted by code
    where, shown = page
    assert index == [("members", 1), *order] and set(where["members"]) == {"$in"} and shown == {"_id": 1}
    assert ("at" in where) == bool(after)  # after a token, from its place in the index
    assert fetched == {"_id": {"$in": [e.merge_id for e in entries]}}


@pytest.mark.parametrize(
    "key", ["code", "updated_at", "created_at", "email/address", "organization_id", "code, updated_at desc"]
)
@pytest.mark.parametrize("desc", [False, True], ids=["asc", "desc"])
async def test_a_page_in_one_key_s_order_is_read_in_the_order_of_an_index(
    monkeypatch: pytest.MonkeyPatch, key: str, desc: bool
) -> None:
    """mongod reads a page in an index's order (forward or backward) only if the index holds the page's sort keys, in
    their directions or all reversed, after the group (and collection): ties by code come in the direction of the
    key, so that a time's, a field index's or a reference's index read backward gives a page in descending order,
    where mongod sorted every record of the group's type for each page of a field's. mongomock plans nothing, so
    the sort is checked against the indexes."""
    database = cast(Any, AsyncMongoMockClient()["hub"])
    store = MongoStore(database=database, transactions=False)
    await store.open()
    await store.add_field_index(FieldIndex("people", ("email", "address")))
    await insert(store, rec(1), rec(2))
    asked: list[list[tuple[str, int]]] = []
    sort = mongomock_motor.AsyncCursor.sort

    def sorting(self: Any, keys: Any, *more: Any) -> Any:
        asked.append(list(keys))
        return sort(self, keys, *more)

    monkeypatch.setattr(mongomock_motor.AsyncCursor, "sort", sorting)
    first, *more = key.split(",")
    orderby = ",".join([f"{first} {'desc' if desc else 'asc'}", *more])  # keys after the code order nothing
    records, _ = await store.list(G, PEOPLE, parse_list(PEOPLE, {"$orderby": orderby}, 100, 1000)[0])
    indexes = [info["key"] for info in (await database["records"].index_information()).values()]
    await store.close()
    assert len(records) == 2
    [order] = asked
    reversed_order = [(name, -direction) for name, direction in order]
    served = [[*by, *keys] for by in (BY_TYPE, BY_TYPE[:1]) for keys in (order, reversed_order)]
    assert any(keys in served for keys in indexes), order
