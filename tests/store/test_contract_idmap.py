"""The storage port's promises on the id map, checked against every adapter: key links, moved and unlinked ids,
restored tombstones, the merge history and the providers."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from hub.errors import BadRequest
from hub.model.history import HistoryPage, Match, MergeEntry, Snapshot, Undo
from hub.model.key_link import KeyLink, LinkQuery
from hub.model.list_query import ListQuery
from hub.model.query import parse_list
from hub.model.record import Record
from hub.store.base import IdTaken, Store
from tests.store.contract import PEOPLE, G, OpenStore, at, ext, insert, one, rec


async def ids_of(store: Store, record: Record) -> list[tuple[str, str, str]]:
    return [(e.provider, e.realm, e.id) for e in (await one(store, record)).ids]


async def links(store: Store, group: str = G, **query: Any) -> tuple[list[tuple[str, str, str]], int]:
    """(collection, hub id, provider/realm/id) of a page of links, and the total."""
    found, total = await store.links(group, LinkQuery(**query))
    return [(k.collection, k.hub_id, f"{k.ext.provider}/{k.ext.realm}/{k.ext.id}") for k in found], total


async def created(store: Store) -> dict[str, str]:
    """When each link of the group was made, by provider/realm/id."""
    found, _ = await store.links(G, LinkQuery(collection="people"))
    return {f"{k.ext.provider}/{k.ext.realm}/{k.ext.id}": k.created_at for k in found}


def entry(merge_id: str, when: int, survivor: Record, *merged: Record, aliases: tuple[str, ...] = ()) -> MergeEntry:
    return MergeEntry(
        merge_id,
        survivor.group_id,
        survivor.collection,
        at(when),
        "tester",
        "request",
        [Match(r.hub_id, list(r.ids[:1])) for r in (survivor, *merged)],
        {"first_name": "Ann", "email": {"address": "a@x.io"}, "score": 1.5, "vip": True},
        [Snapshot.of(survivor, aliases), *(Snapshot.of(r) for r in merged)],
        Snapshot.of(survivor),
    )


# Key links


@pytest.fixture
async def linked(store: Store) -> dict[str, Record]:
    """Links made in this order: ann sf/1 and hs/1, the org sf/1, bob sf/2 (realm r2) and zd/2; one in cld-2."""
    made = {
        "ann": rec(1, [ext("sf", "1"), ext("hs", "1")]),
        "org": rec(1, [ext("sf", "1")], collection="organizations"),
        "bob": rec(2, [ext("sf", "2", realm="r2"), ext("zd", "2")]),
        "far": rec(1, [ext("sf", "1")], group="cld-2"),
    }
    await insert(store, *made.values())
    return made


async def test_key_links_are_the_id_arrays_in_the_order_they_were_made(store: Store, linked: dict[str, Record]) -> None:
    ann, org, bob = linked["ann"], linked["org"], linked["bob"]
    found, total = await store.links(G, LinkQuery())
    assert total == 5
    assert [(k.collection, k.hub_id, k.ext) for k in found] == [
        ("people", ann.hub_id, ext("sf", "1")),
        ("people", ann.hub_id, ext("hs", "1")),
        ("organizations", org.hub_id, ext("sf", "1")),
        ("people", bob.hub_id, ext("sf", "2", realm="r2")),
        ("people", bob.hub_id, ext("zd", "2")),
    ]
    times = [k.created_at for k in found]
    assert times == sorted(times) and times[0] == times[1] and times[3] == times[4]  # one write, one time
    assert found[0] == KeyLink("people", ann.hub_id, ext("sf", "1"), times[0])
    assert await links(store, "cld-2") == ([("people", linked["far"].hub_id, "sf/r1/1")], 1)
    assert await links(store, "cld-none") == ([], 0)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"collection": "organizations"}, [("org", "sf/r1/1")]),
        ({"collection": "people"}, [("ann", "sf/r1/1"), ("ann", "hs/r1/1"), ("bob", "sf/r2/2"), ("bob", "zd/r1/2")]),
        ({"provider": "sf"}, [("ann", "sf/r1/1"), ("org", "sf/r1/1"), ("bob", "sf/r2/2")]),
        ({"provider": "sf", "realm": "r2"}, [("bob", "sf/r2/2")]),
        ({"realm": "r1"}, [("ann", "sf/r1/1"), ("ann", "hs/r1/1"), ("org", "sf/r1/1"), ("bob", "zd/r1/2")]),
        ({"ext_id": "1"}, [("ann", "sf/r1/1"), ("ann", "hs/r1/1"), ("org", "sf/r1/1")]),
        ({"ext_id": "2", "realm": "r1"}, [("bob", "zd/r1/2")]),
        ({"collection": "people", "provider": "sf", "realm": "r1", "ext_id": "1"}, [("ann", "sf/r1/1")]),
        ({"collection": "people", "provider": "sf", "realm": "r1", "ext_id": "2"}, []),
        ({"provider": "xx"}, []),
        ({"provider": "sf", "ext_id": "2"}, [("bob", "sf/r2/2")]),
    ],
)
async def test_key_links_are_searched_by_any_part(
    store: Store, linked: dict[str, Record], query: dict[str, str], expected: list[tuple[str, str]]
) -> None:
    names = {r.hub_id: name for name, r in linked.items()}
    found, total = await links(store, **query)
    assert [(names[hub_id], link) for _, hub_id, link in found] == expected
    assert total == len(expected)


async def test_key_links_are_searched_by_record_and_by_when_they_were_made(
    store: Store, linked: dict[str, Record]
) -> None:
    ann, org, bob = linked["ann"], linked["org"], linked["bob"]
    assert (await links(store, hub_id=bob.hub_id))[0] == [
        ("people", bob.hub_id, "sf/r2/2"),
        ("people", bob.hub_id, "zd/r1/2"),
    ]
    assert (await links(store, hub_id=bob.hub_id, provider="zd"))[0] == [("people", bob.hub_id, "zd/r1/2")]
    assert await links(store, hub_id=org.hub_id, collection="people") == ([], 0)
    org_made = (await store.links(G, LinkQuery(collection="organizations")))[0][0].created_at
    after = await links(store, created_after=org_made)
    assert [link for _, h, link in after[0]] == ["sf/r2/2", "zd/r1/2"] and after[1] == 2
    before = await links(store, created_before=org_made)
    assert [(h, link) for _, h, link in before[0]] == [(ann.hub_id, "sf/r1/1"), (ann.hub_id, "hs/r1/1")]
    assert await links(store, created_after=org_made, created_before=org_made) == ([], 0)


async def test_key_links_page_with_skip_and_top_and_count_every_match(store: Store, linked: dict[str, Record]) -> None:
    page, total = await links(store, skip=1, top=2)
    assert [link for _, _, link in page] == ["hs/r1/1", "sf/r1/1"] and total == 5
    assert await links(store, skip=5) == ([], 5)
    page, total = await links(store, provider="sf", skip=2, top=5)
    assert [link for _, _, link in page] == ["sf/r2/2"] and total == 3


async def test_a_search_finding_the_links_of_many_apps_lists_them_all_in_link_order(store: Store) -> None:
    """70 apps in one realm, each linked to a person and then to an organization, in turns: a store may read a
    search by app from each app's links apart, and those of many apps otherwise (SQLite: past 64)."""
    apps = [f"app{n:02}" for n in range(70)]
    await insert(store, *(rec(n + 1, [ext(app, "p")]) for n, app in enumerate(apps)))
    await insert(store, *(rec(n + 1, [ext(app, "o")], collection="organizations") for n, app in enumerate(apps)))
    people, organizations = [f"{app}/r1/p" for app in apps], [f"{app}/r1/o" for app in apps]
    for search, expected in (
        ({"realm": "r1"}, people + organizations),
        ({"realm": "r1", "collection": "organizations"}, organizations),
        ({"provider": "app07"}, ["app07/r1/p", "app07/r1/o"]),
    ):
        page, total = await links(store, **search, top=200)
        assert [link for _, _, link in page] == expected and total == len(expected), search
        pages = [await links(store, **search, top=9, skip=skip) for skip in range(0, len(expected), 9)]
        assert [link for page, _ in pages for _, _, link in page] == expected, search


# Moving and unlinking ids


async def test_moved_ids_keep_when_they_were_linked_and_their_place_in_link_order(store: Store) -> None:
    ann, bob = rec(1, [ext("sf", "1"), ext("hs", "1")]), rec(2, [ext("zd", "2")])
    await insert(store, ann, bob)
    made = await created(store)
    order = await links(store)
    async with store.transaction(G) as tx:
        await tx.move_ids("people", [ext("sf", "1")], bob.hub_id)
    assert await ids_of(store, ann) == [("hs", "r1", "1")]
    assert await ids_of(store, bob) == [("sf", "r1", "1"), ("zd", "r1", "2")]
    assert (await store.find(G, "people", ext("sf", "1"))) == await one(store, bob)
    assert await created(store) == made
    assert [link for _, _, link in (await links(store))[0]] == [link for _, _, link in order[0]]
    async with store.transaction(G) as tx:  # back, before the id linked in the same write
        await tx.move_ids("people", [ext("sf", "1")], ann.hub_id)
    assert await ids_of(store, ann) == [("sf", "r1", "1"), ("hs", "r1", "1")]
    assert await links(store) == order and await created(store) == made


async def test_moving_an_id_nobody_holds_or_to_its_holder_changes_nothing(store: Store) -> None:
    ann = rec(1, [ext("sf", "1")])
    await insert(store, ann)
    async with store.transaction(G) as tx:
        await tx.move_ids("people", [ext("sf", "1")], ann.hub_id)
        await tx.move_ids("people", [ext("xx", "9")], ann.hub_id)
        await tx.move_ids("organizations", [ext("sf", "1")], ann.hub_id)
    assert await one(store, ann) == ann


async def test_moving_a_second_id_of_one_app_to_a_record_is_refused_with_id_taken(store: Store) -> None:
    ann, bob = rec(1, [ext("sf", "1")]), rec(2, [ext("sf", "2"), ext("hs", "2")])
    await insert(store, ann, bob)
    with pytest.raises(IdTaken):
        async with store.transaction(G) as tx:
            await tx.move_ids("people", [ext("sf", "2")], ann.hub_id)
    assert await one(store, ann) == ann and await one(store, bob) == bob
    async with store.transaction(G) as tx:  # an id of another app moves
        await tx.move_ids("people", [ext("hs", "2")], ann.hub_id)
    assert await ids_of(store, ann) == [("sf", "r1", "1"), ("hs", "r1", "2")]


async def test_unlinked_ids_leave_their_records_and_may_be_linked_again(store: Store) -> None:
    ann, bob, cy = rec(1, [ext("sf", "1"), ext("hs", "1")]), rec(2, [ext("zd", "2")]), rec(3)
    await insert(store, ann, bob, cy)
    async with store.transaction(G) as tx:
        await tx.unlink("people", [ext("hs", "1"), ext("zd", "2"), ext("xx", "9")])
        await tx.unlink("organizations", [ext("sf", "1")])
    assert await ids_of(store, ann) == [("sf", "r1", "1")]
    assert await one(store, bob) == replace(bob, ids=[])  # bob and cy both hold no ids now
    assert await store.find(G, "people", ext("hs", "1")) is None
    assert await store.find(G, "people", ext("zd", "2")) is None
    assert await links(store) == ([("people", ann.hub_id, "sf/r1/1")], 1)
    await insert(store, rec(4))
    async with store.transaction(G) as tx:
        await tx.save(cy, [ext("zd", "2")])
    assert await store.find(G, "people", ext("zd", "2")) == await one(store, cy)
    assert (await store.list(G, PEOPLE, ListQuery()))[1] == 4


# Tombstones, aliases and restores


async def test_aliases_are_the_tombstones_pointing_straight_to_a_record(store: Store) -> None:
    a, b, c, d = rec(1, [ext("sf", "a")]), rec(2, [ext("hs", "b")]), rec(3, [ext("zd", "c")]), rec(4)
    await insert(store, a, b, c, d)
    async with store.transaction(G) as tx:
        assert await tx.aliases("people", a.hub_id) == []
        await tx.merge(b, [c])
        assert await tx.aliases("people", b.hub_id) == [c.hub_id]
        await tx.merge(a, [b])
        assert await tx.aliases("people", a.hub_id) == [b.hub_id, c.hub_id]  # no chain through b
        assert await tx.aliases("people", b.hub_id) == []
        await tx.merge(d, [a])
        assert await tx.aliases("people", d.hub_id) == [a.hub_id, b.hub_id, c.hub_id]
        assert await tx.aliases("organizations", d.hub_id) == []
    async with store.transaction("cld-2") as tx:
        assert await tx.aliases("people", d.hub_id) == []


async def test_a_restored_tombstone_lives_again_and_its_aliases_point_back(store: Store) -> None:
    a, b, c = rec(1, [ext("sf", "a")]), rec(2, [ext("hs", "b")], first_name="Bo"), rec(3, [ext("zd", "c")])
    await insert(store, a, b, c)
    async with store.transaction(G) as tx:
        await tx.merge(b, [c])
        await tx.merge(a, [b])
    assert await ids_of(store, a) == [("sf", "r1", "a"), ("hs", "r1", "b"), ("zd", "r1", "c")]
    back = rec(2, [ext("hs", "b"), ext("zd", "c")], status="INACTIVE", first_name="Bo", email={"address": "b@x.io"})
    back.hub_id, back.updated_at, back.placeholder = b.hub_id, at(30), True
    async with store.transaction(G) as tx:
        await tx.restore(back, [c.hub_id])
        await tx.move_ids("people", back.ids, back.hub_id)
        assert await tx.aliases("people", a.hub_id) == []
        assert await tx.aliases("people", b.hub_id) == [c.hub_id]
    assert await one(store, b) == back
    assert (await store.get(G, "people", [c.hub_id]))[c.hub_id] == back
    assert await ids_of(store, a) == [("sf", "r1", "a")]
    assert await store.find(G, "people", ext("zd", "c")) == back
    records, total = await store.list(G, PEOPLE, ListQuery(include_archived=True))
    assert [r.hub_id for r in records] == [a.hub_id, b.hub_id] and total == 2


# The merge history


async def test_a_merge_entry_reads_back_whole_and_is_replaced_by_its_id(store: Store) -> None:
    ann, bob = rec(1, [ext("sf", "1")], first_name="Ann"), rec(2, [ext("hs", "2")], email={"address": "b@x.io"})
    await insert(store, ann, bob)
    recorded = entry("m-1", 10, ann, bob, aliases=("old-1",))
    async with store.transaction(G) as tx:
        assert await tx.merge_entry("m-1") is None
        await tx.put_merge(recorded)
    async with store.transaction(G) as tx:
        assert await tx.merge_entry("m-1") == recorded
        assert await tx.merge_entry("m-2") is None
        recorded.undone = Undo(at(11), "undoer")
        await tx.put_merge(recorded)
    async with store.transaction(G) as tx:
        assert await tx.merge_entry("m-1") == recorded
    async with store.transaction("cld-2") as tx:
        assert await tx.merge_entry("m-1") is None


async def history(store: Store, hub_id: str, group: str = G, collection: str = "people") -> list[MergeEntry]:
    return (await store.merges(group, collection, hub_id, HistoryPage()))[0]


async def test_a_record_s_merges_are_its_own_and_its_tombstones_newest_first(store: Store) -> None:
    """Those of a record merged away are its survivor's."""
    a, b, c, d = rec(1, [ext("sf", "a")]), rec(2, [ext("hs", "b")]), rec(3, [ext("zd", "c")]), rec(4)
    await insert(store, a, b, c, d)
    first, second, elsewhere = entry("m-1", 10, b, c), entry("m-2", 11, a, b), entry("m-3", 12, d)
    async with store.transaction(G) as tx:
        await tx.merge(b, [c])
        await tx.put_merge(first)
        await tx.merge(a, [b])
        await tx.put_merge(second)
        await tx.put_merge(elsewhere)
    assert await history(store, a.hub_id) == [second, first]  # first: of b and c, now a's aliases
    # a record merged away (since it was found: a merge may commit between) has its survivor's, c's first among them
    assert await history(store, c.hub_id) == await history(store, b.hub_id) == [second, first]
    assert await history(store, d.hub_id) == [elsewhere]
    assert await history(store, a.hub_id, collection="organizations") == []
    assert await history(store, a.hub_id, group="cld-2") == []
    first.undone = Undo(at(20), "undoer")
    async with store.transaction(G) as tx:
        await tx.put_merge(first)
    assert await history(store, a.hub_id) == [second, first]


async def test_a_record_s_merges_come_in_pages_after_the_merge_each_starts_after(store: Store) -> None:
    """A page starts after a merge, wherever it lies now: an undo (which replaces its entry) and merges recorded
    since move no page; a merge of another group or collection starts none."""
    a, *others = [rec(n) for n in range(1, 7)]
    await insert(store, a, *others)
    made = [entry(f"m-{n}", 10 + n, a, other) for n, other in enumerate(others)]
    async with store.transaction(G) as tx:
        for recorded, other in zip(made, others, strict=True):
            await tx.merge(a, [other])
            await tx.put_merge(recorded)
    newest = made[::-1]
    assert await store.merges(G, "people", a.hub_id, HistoryPage(top=2)) == (newest[:2], True)
    assert await store.merges(G, "people", a.hub_id, HistoryPage(top=5)) == (newest, False)
    made[3].undone = Undo(at(30), "undoer")
    async with store.transaction(G) as tx:
        await tx.put_merge(made[3])
    assert await store.merges(G, "people", a.hub_id, HistoryPage(2, "m-3", 2)) == (newest[2:4], True)
    assert await store.merges(G, "people", a.hub_id, HistoryPage(3, "m-2", 3)) == (newest[3:], False)
    assert await store.merges(G, "people", a.hub_id, HistoryPage(3, "m-0", 5)) == ([], False)
    for group, collection, after in ((G, "people", "m-9"), ("cld-2", "people", "m-1"), (G, "organizations", "m-1")):
        with pytest.raises(BadRequest, match="no merge"):
            await store.merges(group, collection, a.hub_id, HistoryPage(2, after))


# Providers


async def test_providers_are_those_holding_an_id_in_any_group_sorted(open_store: OpenStore) -> None:
    store = await open_store()
    assert await store.providers() == []
    await insert(
        store,
        rec(1, [ext("sf", "1"), ext("hs", "1")]),
        rec(1, [ext("zd", "1")], group="cld-2"),
        rec(1, [ext("ab", "1")], collection="organizations"),
    )
    assert await store.providers() == ["ab", "hs", "sf", "zd"]
    async with store.transaction("cld-2") as tx:
        await tx.unlink("people", [ext("zd", "1")])
    assert await store.providers() == ["ab", "hs", "sf"]
    other = await open_store()  # another process on the same database
    assert await other.providers() == ["ab", "hs", "sf"]
    await insert(other, rec(2, [ext("zd", "2")]))
    assert await store.providers() == ["ab", "hs", "sf", "zd"]


async def test_the_records_referring_to_some_records_are_the_live_ones_of_that_field_group_and_type(
    store: Store,
) -> None:
    org, other = rec(1, collection="organizations"), rec(2, collection="organizations")
    ann, bob = rec(1, organization_id=org.hub_id), rec(2, organization_id=other.hub_id)
    cid, gone = rec(3, organization_id=org.hub_id, status="ARCHIVED"), rec(4, organization_id=org.hub_id)
    elsewhere = rec(1, group="cld-2", organization_id=org.hub_id)
    await insert(store, org, other, ann, bob, cid, gone, elsewhere)
    async with store.transaction(G) as tx:
        await tx.merge(ann, [gone])  # a tombstone refers to nothing
    async with store.transaction(G) as tx:
        found = await tx.referrers("people", "organization_id", [org.hub_id, "not-a-record"])
        assert [(r.seq, r.status) for r in found] == [(1, "ACTIVE"), (3, "ARCHIVED")]  # in code order
        assert found[0].ids == [] and found[0].fields["organization_id"] == org.hub_id  # whole records
        assert [r.seq for r in await tx.referrers("people", "organization_id", [org.hub_id, other.hub_id])] == [1, 2, 3]
        assert await tx.referrers("organizations", "organization_id", [org.hub_id]) == []
        assert await tx.referrers("people", "organization_id", []) == []


async def test_touching_records_sets_their_update_time_alone(store: Store) -> None:
    ann, bob, cid = rec(1, first_name="Ann"), rec(2, first_name="Bob"), rec(3, group="cld-2")
    await insert(store, ann, bob, cid)
    async with store.transaction(G) as tx:
        await tx.touch("people", [ann.hub_id, cid.hub_id, "not-a-record"], at(9))  # cid is of another group
        await tx.touch("people", [], at(9))
    found = await store.get(G, "people", [ann.hub_id, bob.hub_id])
    assert (found[ann.hub_id].updated_at, found[ann.hub_id].fields) == (at(9), {"first_name": "Ann"})
    assert found[bob.hub_id].updated_at == at(2) and (await one(store, cid)).updated_at == at(3)
    query, _ = parse_list(PEOPLE, {"$filter": f"updated_at gt '{at(8)}'"}, 100, 1000)
    page, _ = await store.list(G, PEOPLE, query)  # the index of update times follows
    assert [r.hub_id for r in page] == [ann.hub_id]
