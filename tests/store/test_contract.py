"""The storage port's promises on records, checked against every adapter: SQLite, MongoDB on mongomock, a real MongoDB.

The stores are made in conftest.py (HUB_TEST_MONGODB_URL adds a real server). What mongomock
cannot show (unique multikey indexes, concurrent writers) is skipped for the
mock only, saying so. The id map's promises are in test_contract_idmap.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from hub.model.filter import Comparison, Not
from hub.model.list_query import ListQuery
from hub.model.matching import matches
from hub.model.query import parse_list
from hub.model.record import Record
from hub.store.base import IdTaken, Store
from tests.store.contract import (
    FILTERS,
    ORDERS,
    PEOPLE,
    G,
    OpenStore,
    at,
    codes,
    ext,
    insert,
    mock_cannot_show,
    one,
    rec,
)

# Groups


async def test_a_group_exists_once_written_and_the_first_channel_wins(store: Store) -> None:
    assert await store.group(G) is None
    first = await store.ensure_group(G, "org-first")
    again = await store.ensure_group(G, "org-second")
    assert first == again == await store.group(G)
    assert first.channel_id == "org-first"
    assert await store.group("cld-2") is None


# Records by hub id and by an app's id


async def test_an_inserted_record_reads_back_whole_by_hub_id_and_by_each_of_its_ids(store: Store) -> None:
    person = rec(1, [ext("sf", "1"), ext("hs", "A", realm="r2")], first_name="Ann", email={"address": "a@x.io"})
    person.placeholder = True
    await insert(store, person)
    assert await one(store, person) == person
    assert await store.find(G, "people", ext("hs", "A", realm="r2")) == person
    assert await store.find(G, "people", ext("sf", "1")) == person
    async with store.transaction(G) as tx:
        assert await tx.get("people", [person.hub_id]) == {person.hub_id: person}


async def test_lookups_stay_inside_their_group_and_collection(store: Store) -> None:
    person = rec(1, [ext("sf", "1")])
    await insert(store, person)
    assert await store.get("cld-2", "people", [person.hub_id]) == {}
    assert await store.get(G, "organizations", [person.hub_id]) == {}
    assert await store.find("cld-2", "people", ext("sf", "1")) is None
    assert await store.find(G, "organizations", ext("sf", "1")) is None
    assert await store.find(G, "people", ext("sf", "1", realm="other")) is None
    assert await store.get(G, "people", ["no-such-id"]) == {}


async def test_the_same_external_id_may_live_in_another_group_or_collection(store: Store) -> None:
    shared = ext("sf", "1")
    records = [rec(1, [shared]), rec(1, [shared], group="cld-2"), rec(1, [shared], collection="organizations")]
    await insert(store, *records)
    assert await store.find(G, "people", shared) == records[0]
    assert await store.find("cld-2", "people", shared) == records[1]
    assert await store.find(G, "organizations", shared) == records[2]


async def test_match_gives_each_holder_once_oldest_code_first(store: Store) -> None:
    ann, bob = rec(1, [ext("sf", "1"), ext("hs", "1")]), rec(2, [ext("zd", "2")])
    await insert(store, bob, ann)
    async with store.transaction(G) as tx:
        assert await tx.match("people", [ext("sf", "1"), ext("hs", "1")]) == [ann]
        assert await tx.match("people", [ext("zd", "2"), ext("sf", "1"), ext("xx", "9")]) == [ann, bob]
        assert await tx.match("people", [ext("xx", "9")]) == []
        assert await tx.match("people", []) == []


# Codes


async def test_next_seq_counts_per_group_and_collection(store: Store) -> None:
    async with store.transaction(G) as tx:
        assert [await tx.next_seq("people") for _ in range(3)] == [1, 2, 3]
        assert await tx.next_seq("organizations") == 1
    async with store.transaction(G) as tx:
        assert await tx.next_seq("people") == 4
    async with store.transaction("cld-2") as tx:
        assert await tx.next_seq("people") == 1


# Saving


async def test_save_writes_status_fields_and_placeholder_and_appends_new_ids(store: Store) -> None:
    person = rec(1, [ext("sf", "1")], first_name="Ann", last_name="Lee")
    person.placeholder = True
    await insert(store, person)
    person.fields = {"first_name": "Anne"}
    person.status, person.placeholder, person.updated_at = "INACTIVE", False, at(9)
    async with store.transaction(G) as tx:
        await tx.save(person, [ext("hs", "H"), ext("zd", "Z")])
    saved = await one(store, person)
    assert saved.fields == {"first_name": "Anne"}
    assert (saved.status, saved.placeholder, saved.updated_at, saved.created_at) == ("INACTIVE", False, at(9), at(1))
    assert saved.ids == [ext("sf", "1"), ext("hs", "H"), ext("zd", "Z")]
    assert await store.find(G, "people", ext("zd", "Z")) == saved


async def test_a_second_holder_of_an_external_id_is_refused_with_id_taken(kind: str, store: Store) -> None:
    mock_cannot_show(kind, "a unique multikey index refusing a duplicate")
    ann, bob = rec(1, [ext("sf", "1")]), rec(2, [ext("hs", "2")])
    await insert(store, ann, bob)
    with pytest.raises(IdTaken):
        await insert(store, rec(3, [ext("zd", "3"), ext("sf", "1")]))
    with pytest.raises(IdTaken):
        async with store.transaction(G) as tx:
            await tx.save(bob, [ext("sf", "1")])
    assert await one(store, bob) == bob
    assert (await store.list(G, PEOPLE, ListQuery()))[1] == 2


async def test_a_record_never_holds_two_ids_of_one_app(store: Store) -> None:
    with pytest.raises(IdTaken):
        await insert(store, rec(1, [ext("sf", "1"), ext("sf", "2")]))
    ann = rec(2, [ext("sf", "1")])
    await insert(store, ann)
    for new in ([ext("sf", "2")], [ext("sf", "1")], [ext("hs", "1"), ext("hs", "2")]):
        with pytest.raises(IdTaken):
            async with store.transaction(G) as tx:
                await tx.save(ann, new)
    assert await one(store, ann) == ann
    bob = rec(3, [ext("sf", "3")])
    await insert(store, bob)
    with pytest.raises(IdTaken):
        async with store.transaction(G) as tx:
            await tx.merge(ann, [bob])


# Merging


async def test_merge_moves_ids_to_the_survivor_and_hub_ids_resolve_through_tombstones(store: Store) -> None:
    a, b, c = rec(1, [ext("sf", "a")]), rec(2, [ext("hs", "b")]), rec(3, [ext("zd", "c")], first_name="Cy")
    await insert(store, a, b, c)
    a.updated_at = at(10)
    async with store.transaction(G) as tx:
        await tx.merge(a, [b])
        assert (await tx.get("people", [b.hub_id]))[b.hub_id].hub_id == a.hub_id
    survivor = await one(store, b)
    assert survivor.hub_id == a.hub_id
    assert survivor.ids == [ext("sf", "a"), ext("hs", "b")]
    assert await store.find(G, "people", ext("hs", "b")) == survivor
    # Merged again: the earlier tombstone now resolves to the new survivor too.
    c.updated_at = at(11)
    async with store.transaction(G) as tx:
        await tx.merge(c, [survivor])
    found = await store.get(G, "people", [a.hub_id, b.hub_id, c.hub_id, "unknown"])
    assert set(found) == {a.hub_id, b.hub_id, c.hub_id}
    assert {r.hub_id for r in found.values()} == {c.hub_id}
    assert found[c.hub_id].ids == [ext("sf", "a"), ext("hs", "b"), ext("zd", "c")]  # in the order they were linked
    assert found[c.hub_id].fields == {"first_name": "Cy"}
    async with store.transaction(G) as tx:
        assert await tx.match("people", [ext("sf", "a"), ext("hs", "b")]) == [found[c.hub_id]]
    records, total = await store.list(G, PEOPLE, ListQuery())
    assert [r.hub_id for r in records] == [c.hub_id] and total == 1


# Transactions


async def test_a_transaction_that_raises_writes_nothing(kind: str, store: Store) -> None:
    ann, bob = rec(1, [ext("sf", "1")], first_name="Ann"), rec(2, [ext("hs", "2")])
    await insert(store, ann, bob)
    new = rec(3, [ext("zd", "3")])
    with pytest.raises(RuntimeError, match="boom"):
        async with store.transaction(G) as tx:
            await tx.insert(new)
            changed = rec(1, first_name="Changed")
            changed.hub_id = ann.hub_id
            await tx.save(changed, [ext("xx", "9")])
            await tx.merge(bob, [ann])
            raise RuntimeError("boom")
    assert await store.get(G, "people", [new.hub_id]) == {}
    assert await one(store, ann) == ann
    assert await one(store, bob) == bob
    assert await store.find(G, "people", ext("xx", "9")) is None
    assert await store.find(G, "people", ext("zd", "3")) is None


async def test_id_taken_rolls_back_the_whole_transaction(kind: str, store: Store) -> None:
    mock_cannot_show(kind, "a unique multikey index refusing a duplicate, or a rollback")
    ann = rec(1, [ext("sf", "1")])
    await insert(store, ann)
    first = rec(2, [ext("hs", "2")])
    with pytest.raises(IdTaken):
        async with store.transaction(G) as tx:
            await tx.insert(first)
            await tx.insert(rec(3, [ext("sf", "1")]))
    assert await store.get(G, "people", [first.hub_id]) == {}
    assert await store.find(G, "people", ext("hs", "2")) is None


async def test_racing_writers_of_one_external_id_make_one_record(kind: str, open_store: OpenStore) -> None:
    mock_cannot_show(kind, "concurrent writers: it has no unique multikey index and no transactions")
    stores = [await open_store(), await open_store()]
    wanted = ext("sf", "shared")

    async def create_or_find(store: Store, n: int) -> str:
        for _ in range(10):
            try:
                async with store.transaction(G) as tx:
                    if await tx.match("people", [wanted]):
                        return "found"
                    await tx.insert(rec(100 + n, [wanted]))
                    return "created"
            except IdTaken:
                await asyncio.sleep(0.01)
        return "gave up"

    outcomes = await asyncio.gather(*(create_or_find(stores[n % 2], n) for n in range(8)))
    assert sorted(outcomes) == ["created"] + ["found"] * 7
    assert (await stores[0].list(G, PEOPLE, ListQuery()))[1] == 1


async def test_concurrent_numbering_from_several_stores_never_repeats(open_store: OpenStore) -> None:
    stores = [await open_store(), await open_store()]

    async def number(store: Store) -> int:
        async with store.transaction(G) as tx:
            return await tx.next_seq("people")

    numbers = await asyncio.gather(*(number(stores[n % 2]) for n in range(20)))
    assert sorted(numbers) == list(range(1, 21))  # none repeated, none skipped


async def test_a_rolled_back_number_is_given_back(kind: str, store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with store.transaction(G) as tx:
            assert await tx.next_seq("people") == 1
            raise RuntimeError("the use case failed")
    async with store.transaction(G) as tx:
        assert await tx.next_seq("people") == 1


# Lists


@pytest.mark.parametrize(("expression", "expected"), FILTERS)
async def test_list_filters(store: Store, people: dict[str, Record], expression: str, expected: list[str]) -> None:
    assert await codes(store, {"$filter": expression}) == expected


@pytest.mark.parametrize("expression", [expression for expression, _ in FILTERS])
async def test_a_filter_and_its_not_split_the_records_as_matching_says(
    store: Store, people: dict[str, Record], expression: str
) -> None:
    """Every filter is true or false of a record, never unknown (a missing field included): `not` of it lists
    exactly what it leaves out, their totals add up, and an integration's filter (`matches`) picks the same."""
    query, _ = parse_list(PEOPLE, {"$filter": expression}, 100, 1000)
    assert query.filter is not None
    every, whole = await store.list(G, PEOPLE, replace(query, filter=None))
    found, total = await store.list(G, PEOPLE, query)
    others, rest = await store.list(G, PEOPLE, replace(query, filter=Not(query.filter)))
    assert sorted(r.seq for r in found + others) == [r.seq for r in every]
    assert total is not None and rest is not None and total + rest == whole
    assert [r for r in every if matches(PEOPLE, r, query.filter)] == found


async def test_list_filters_by_hub_id(store: Store, people: dict[str, Record]) -> None:
    assert await codes(store, {"$filter": f"id eq '{people['PE2'].hub_id}'"}) == ["PE2"]
    assert await codes(store, {"$filter": f"id eq '{people['PE5'].hub_id}'"}) == []  # tombstones are not listed


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("number_of_employees gt 5", ["OR2"]),
        ("number_of_employees in (3, 10)", ["OR1", "OR2"]),
        ("number_of_employees ge 3.0", ["OR1", "OR2"]),
        ("annual_revenue le 10.5", ["OR1"]),
        ("is_customer eq true", ["OR1"]),
        ("is_customer eq false", ["OR2"]),
        ("is_customer ne true", ["OR2", "OR3"]),
        ("not (is_customer eq true) and number_of_employees eq null", ["OR3"]),
    ],
)
async def test_list_filters_numbers_and_booleans(store: Store, expression: str, expected: list[str]) -> None:
    await insert(
        store,
        rec(1, collection="organizations", name="One", annual_revenue=10.5, number_of_employees=3, is_customer=True),
        rec(2, collection="organizations", name="Two", number_of_employees=10, is_customer=False),
        rec(3, collection="organizations", name="Three"),
    )
    assert await codes(store, {"$filter": expression}, "organizations") == expected


@pytest.mark.parametrize(("orderby", "expected"), ORDERS)
async def test_list_orders_then_by_code(
    store: Store, people: dict[str, Record], orderby: str, expected: list[str]
) -> None:
    assert await codes(store, {"$orderby": orderby}) == expected


async def test_list_pages_with_skip_and_top_and_counts_all_matches(store: Store, people: dict[str, Record]) -> None:
    query, _ = parse_list(PEOPLE, {"$skip": "1", "$top": "1"}, 100, 1000)
    records, total = await store.list(G, PEOPLE, query)
    assert [r.seq for r in records] == [2] and total == 3
    records, total = await store.list(G, PEOPLE, ListQuery(skip=5))
    assert records == [] and total == 3
    records, total = await store.list(G, PEOPLE, ListQuery(top=2, count=False))
    assert [r.seq for r in records] == [1, 2] and total is None
    # A page of none still counts its total (MongoDB reads `limit(0)` as no limit).
    assert await store.list(G, PEOPLE, ListQuery(top=0)) == ([], 3)
    assert await store.list(G, PEOPLE, ListQuery(top=0, filter=Comparison(("first_name",), "ne", "Bob"))) == ([], 2)
    records, _ = await store.list(G, PEOPLE, ListQuery())
    assert records[0] == await one(store, people["PE1"])


@pytest.mark.parametrize(
    ("app", "linked", "expected"),
    [
        (("sf", "r1"), True, ["PE1"]),
        (("sf", "r1"), False, ["PE2", "PE3"]),
        (("hs", "r1"), True, ["PE2"]),
        (("zd", "r1"), True, ["PE1"]),  # moved to PE1 by the merge
        (("zd", "r1"), False, ["PE2", "PE3"]),
        (("sf", "other realm"), True, []),
        (("sf", "other realm"), False, ["PE1", "PE2", "PE3"]),
    ],
)
async def test_list_the_records_an_app_does_or_does_not_hold(
    store: Store, people: dict[str, Record], app: tuple[str, str], linked: bool, expected: list[str]
) -> None:
    records, total = await store.list(G, PEOPLE, ListQuery(app=app, linked=linked))
    assert [PEOPLE.code(r.seq) for r in records] == expected and total == len(expected)


async def test_archived_records_are_listed_only_when_asked(store: Store, people: dict[str, Record]) -> None:
    records, _ = await store.list(G, PEOPLE, ListQuery(include_archived=True))
    assert [r.seq for r in records] == [1, 2, 3, 4]
    records, _ = await store.list(G, PEOPLE, ListQuery(include_archived=True, app=("hs", "r1")))
    assert [r.seq for r in records] == [2, 4]
