"""The storage port's sync promises on every store: the change feed, integrations, the outbound queue, field sync.

Stores come from conftest.py (SQLite, MongoDB on mongomock, a real MongoDB if
HUB_TEST_MONGODB_URL names one). What mongomock cannot show (concurrent
transactions committing in feed order) is skipped for the mock alone, saying so.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from typing import Any

import pytest

from hub.model.change import Change, Kind
from hub.model.connect import Directions
from hub.model.integration import Definition, Integration
from hub.model.queue import QueueItem
from hub.store.base import IdTaken, Store
from tests.store.contract import G, OpenStore, at, ext, mock_cannot_show

# The change feed


def change(n: int, group: str = G, kind: Kind = "create", day: int = 1) -> Change:
    return Change(group, kind, "people", f"hub-{n}", [ext("sf", str(n)), ext("hs", str(n))], at(day), {"n": n})


async def record(store: Store, *changes: Change) -> list[int]:
    seqs = []
    for c in changes:
        async with store.transaction(c.group_id) as tx:
            seqs.append(await tx.add_change(c))
    return seqs


async def feed(store: Store, group: str = G, after: int = 0, limit: int = 100) -> tuple[int, list[int]]:
    horizon, found = await store.changes(group, after, limit)
    return horizon, [c.seq for c in found]


async def test_changes_read_back_whole_in_seq_order_per_group(store: Store) -> None:
    first, other, second = change(1), change(2, group="cld-2"), change(3, kind="update")
    seqs = await record(store, first, other, second)
    assert seqs == [first.seq, other.seq, second.seq] and first.seq > 0 and second.seq > first.seq
    horizon, found = await store.changes(G, 0, 10)
    assert horizon == 0 and found == [first, second]
    assert found[0].ids == [ext("sf", "1"), ext("hs", "1")] and found[0].details == {"n": 1}
    assert [c.hub_id for c in (await store.changes("cld-2", 0, 10))[1]] == ["hub-2"]
    assert await store.changes("cld-3", 0, 10) == (0, [])


async def test_changes_page_after_a_seq_up_to_a_limit(store: Store) -> None:
    seqs = await record(store, *(change(n) for n in range(5)))
    assert await feed(store, limit=2) == (0, seqs[:2])
    assert await feed(store, after=seqs[1], limit=2) == (0, seqs[2:4])
    assert await feed(store, after=seqs[3], limit=2) == (0, seqs[4:])
    assert await feed(store, after=seqs[4]) == (0, [])
    assert await feed(store, limit=0) == (0, [])


async def test_one_transaction_s_changes_take_consecutive_places(store: Store) -> None:
    async with store.transaction(G) as tx:
        seqs = [await tx.add_change(change(n)) for n in range(3)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert (await feed(store))[1] == seqs


async def test_a_rolled_back_change_is_never_seen(kind: str, store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with store.transaction(G) as tx:
            await tx.add_change(change(1))
            raise RuntimeError("the use case failed")
    kept = await record(store, change(2))
    assert await feed(store) == (0, kept)


async def test_pruning_drops_old_changes_and_raises_the_horizon(store: Store) -> None:
    # Seqs 1..4 of G on days 1, 3, 2, 5: the newest change before day 4 is the third, so the
    # second (day 3) and everything before the third goes, whatever its day.
    seqs = await record(store, change(1, day=1), change(2, day=3), change(3, day=2), change(4, day=5))
    other = await record(store, change(5, group="cld-2", day=1), change(6, group="cld-2", day=9))
    assert await store.prune_changes(at(4)) == 4
    assert await feed(store) == (seqs[2], seqs[3:])
    assert await feed(store, "cld-2") == (other[0], other[1:])
    assert await store.prune_changes(at(4)) == 0  # nothing left to drop; the horizons stay
    assert await store.prune_changes(at(1)) == 0
    assert (await feed(store))[0] == seqs[2]
    assert await feed(store, "cld-3") == (0, [])


async def test_seqs_keep_rising_after_the_newest_changes_were_pruned(store: Store) -> None:
    seqs = await record(store, change(1, day=1), change(2, day=2))
    assert await store.prune_changes(at(3)) == 2
    assert await feed(store) == (seqs[1], [])
    later = await record(store, change(3, day=4))
    assert later[0] > seqs[1]
    assert await feed(store, after=seqs[1]) == (seqs[1], later)


async def test_a_reader_racing_writers_of_two_stores_sees_every_change_once_in_order(
    kind: str, open_store: OpenStore
) -> None:
    """Two stores on one database stand for two hub processes; on MongoDB their transactions really
    overlap, and a counter taken without a conflict would let the reader skip a change."""
    mock_cannot_show(kind, "concurrent transactions: without them a change is visible before its commit")
    stores = [await open_store(), await open_store()]
    writers, writes = 6, 20
    done = asyncio.Event()

    async def write(n: int) -> None:
        store = stores[n % 2]
        for i in range(writes):
            while True:
                try:
                    async with store.transaction(G) as tx:
                        await tx.add_change(change(n * 100 + i))
                        await asyncio.sleep(random.uniform(0, 0.004))  # hold the transaction open a while
                    break
                except IdTaken:  # another store's transaction of the group took the feed first
                    await asyncio.sleep(random.uniform(0, 0.005))

    async def read() -> list[int]:
        seen: list[int] = []
        while True:
            finished = done.is_set()
            _, page = await feed(stores[1], after=seen[-1] if seen else 0, limit=5)
            seen += page
            if finished and not page:
                return seen
            await asyncio.sleep(0)

    reader = asyncio.create_task(read())
    await asyncio.gather(*(write(n) for n in range(writers)))
    done.set()
    seen = await reader
    _, everything = await feed(stores[0], limit=10_000)
    assert len(everything) == writers * writes
    assert seen == everything  # none skipped, none repeated, in order


# Integrations


def definition(name: str, entity: str = "people", direction: str = "outbound", **more: Any) -> Definition:
    fields = {"name": name, "entity": entity, "direction": direction, "provider": "crm", "realm": "1", **more}
    return Definition.model_validate(fields)


def integration(name: str, group: str = G, **more: Any) -> Integration:
    return Integration(group, definition(name, **more), at(1), at(1))


async def put(store: Store, *integrations: Integration, new: bool = True) -> None:
    for i in integrations:
        async with store.transaction(i.group_id) as tx:
            await tx.put_integration(i, new=new)


async def names(found: Any) -> list[str]:
    return [i.name for i in await found]


async def test_integrations_are_stored_whole_and_listed_by_name(store: Store) -> None:
    webhook = {"url": "https://crm.example/hook", "secret": "s" * 16}
    full = integration("b-full", filter="first_name eq 'Ann'", include_update=True, webhook=webhook, notes="n")
    await put(store, full, integration("a-in", direction="inbound"), integration("c", group="cld-2"))
    assert await store.integration(G, "b-full") == full
    assert await names(store.integrations(G)) == ["a-in", "b-full"]
    assert await names(store.integrations("cld-2")) == ["c"]
    assert await store.integration(G, "c") is None and await store.integration("cld-3", "a-in") is None
    async with store.transaction(G) as tx:
        assert await tx.integration("b-full") == full
        assert await tx.integration("nope") is None


async def test_an_integration_name_is_taken_once_per_group(store: Store) -> None:
    await put(store, integration("sync"), integration("sync", group="cld-2"))
    with pytest.raises(IdTaken):
        await put(store, integration("sync", entity="organizations"))
    found = await store.integration(G, "sync")
    assert found is not None and found.definition.entity == "people"


async def test_an_integration_is_replaced_keeping_when_it_was_created(store: Store) -> None:
    await put(store, integration("sync"))
    changed = Integration(G, definition("sync", entity="organizations", batch_size=7), at(5), at(6), at(6))
    await put(store, changed, new=False)
    found = await store.integration(G, "sync")
    assert found == Integration(G, changed.definition, at(1), at(6), at(6))
    async with store.transaction(G) as tx:
        assert await names(tx.outbound_integrations("people")) == []
        assert await names(tx.outbound_integrations("organizations")) == ["sync"]


async def test_outbound_integrations_are_those_of_the_collection_by_name(store: Store) -> None:
    await put(
        store,
        integration("z-out"),
        integration("a-out"),
        integration("in", direction="inbound"),
        integration("orgs", entity="organizations"),
        integration("elsewhere", group="cld-2"),
    )
    async with store.transaction(G) as tx:
        assert await names(tx.outbound_integrations("people")) == ["a-out", "z-out"]
        assert await names(tx.outbound_integrations("organizations")) == ["orgs"]


async def test_webhook_integrations_are_every_group_s_with_a_webhook(store: Store) -> None:
    hook = {"webhook": {"url": "https://crm.example/hook", "secret": "s" * 16}}
    await put(store, integration("b", **hook), integration("a", group="cld-2", **hook), integration("plain"))
    assert [(i.group_id, i.name) for i in await store.webhook_integrations()] == [(G, "b"), ("cld-2", "a")]
    unhooked = integration("b")
    await put(store, unhooked, new=False)
    assert [(i.group_id, i.name) for i in await store.webhook_integrations()] == [("cld-2", "a")]


async def test_deleting_an_integration_drops_its_queue_and_nothing_else(store: Store) -> None:
    await put(store, integration("gone"), integration("kept"), integration("gone", group="cld-2"))
    gone, kept = await enqueue(store, item("gone", 1)), await enqueue(store, item("kept", 1))
    other = await enqueue(store, item("gone", 1, group="cld-2"))
    async with store.transaction(G) as tx:
        await tx.delete_integration("gone")
        assert await tx.integration("gone") is None
        assert await tx.queued_items("gone", gone) == []
        assert await numbers(tx.queued_items("kept", kept)) == kept
    assert await names(store.integrations(G)) == ["kept"]
    async with store.transaction("cld-2") as tx:
        assert await numbers(tx.queued_items("gone", other)) == other


async def test_clearing_a_queue_drops_its_items_in_any_state_and_nothing_else(store: Store) -> None:
    await put(store, integration("cleared"), integration("kept"), integration("cleared", group="cld-2"))
    cleared = await enqueue(
        store, item("cleared", 1), item("cleared", 2, state="leased"), item("cleared", 3, state="dead")
    )
    kept, other = await enqueue(store, item("kept", 1)), await enqueue(store, item("cleared", 1, group="cld-2"))
    async with store.transaction(G) as tx:
        await tx.clear_queue("cleared")
        assert await tx.queued_items("cleared", cleared) == []
        assert await numbers(tx.queued_items("kept", kept)) == kept
    assert await names(store.integrations(G)) == ["cleared", "kept"]
    async with store.transaction("cld-2") as tx:
        assert await numbers(tx.queued_items("cleared", other)) == other


# The outbound queue


def item(integration: str, seq: int, group: str = G, available: int = 1, **state: Any) -> QueueItem:
    return QueueItem(
        group, integration, seq, "create", "people", f"hub-{seq}", at(1), available_at=at(available), **state
    )


async def enqueue(store: Store, *items: QueueItem) -> list[int]:
    async with store.transaction(items[0].group_id) as tx:
        await tx.enqueue(items)
    return [i.item for i in items]


async def numbers(found: Any) -> list[int]:
    return [i.item for i in await found]


async def test_enqueued_items_are_numbered_and_read_back_in_any_state(store: Store) -> None:
    items = [item("q", 1), item("q", 2, state="leased", lease_id="L", lease_until=at(3)), item("q", 3, state="dead")]
    numbered = await enqueue(store, *items)
    assert all(n > 0 for n in numbered) and numbered == sorted(set(numbered))
    more = await enqueue(store, item("q", 4), item("other", 4))
    assert min(more) > max(numbered) and len(set(more)) == 2
    async with store.transaction(G) as tx:
        assert await tx.queued_items("q", [numbered[2], 999_999, numbered[0], more[1]]) == [items[0], items[2]]
        assert await tx.queued_items("q", []) == []
        assert await tx.queued_items("other", numbered) == []


async def test_a_change_is_enqueued_once_per_integration(store: Store) -> None:
    await enqueue(store, item("q", 1), item("r", 1))
    with pytest.raises(IdTaken):
        await enqueue(store, item("q", 1))


async def test_due_items_are_ready_ones_whose_time_has_come_longest_waiting_first(store: Store) -> None:
    late, early, later_same, _leased, _dead, _future = await enqueue(
        store,
        item("q", 1, available=3),
        item("q", 2, available=2),
        item("q", 3, available=3),
        item("q", 4, available=1, state="leased", lease_id="L", lease_until=at(9)),
        item("q", 5, available=1, state="dead"),
        item("q", 6, available=8),
    )
    await enqueue(store, item("other", 7, available=1))
    await enqueue(store, item("q", 8, group="cld-2", available=1))
    async with store.transaction(G) as tx:
        assert await numbers(tx.due_items("q", at(5), 10)) == [early, late, later_same]
        assert await numbers(tx.due_items("q", at(5), 2)) == [early, late]
        assert await numbers(tx.due_items("q", at(3), 10)) == [early, late, later_same]  # due at the instant itself
        assert await numbers(tx.due_items("q", at(1), 10)) == []
        assert await numbers(tx.due_items("q", at(9), 0)) == []


async def test_expired_items_are_leased_ones_whose_lease_ran_out(store: Store) -> None:
    a, b, _held, _ready = await enqueue(
        store,
        item("q", 1, state="leased", lease_id="L", lease_until=at(4)),
        item("q", 2, state="leased", lease_id="L", lease_until=at(3)),
        item("q", 3, state="leased", lease_id="M", lease_until=at(8)),
        item("q", 4, available=1),
    )
    async with store.transaction(G) as tx:
        assert await numbers(tx.expired_items("q", at(5), 10)) == [b, a]
        assert await numbers(tx.expired_items("q", at(5), 1)) == [b]
        assert await numbers(tx.expired_items("q", at(4), 10)) == [b, a]
        assert await numbers(tx.expired_items("other", at(9), 10)) == []


async def test_updated_items_keep_their_new_state(store: Store) -> None:
    [n] = await enqueue(store, item("q", 1))
    async with store.transaction(G) as tx:
        [found] = await tx.queued_items("q", [n])
        found.state, found.lease_id, found.lease_until = "leased", "L", at(4)
        await tx.update_items([found])
    async with store.transaction(G) as tx:
        assert await tx.queued_items("q", [n]) == [found]
        assert await numbers(tx.expired_items("q", at(5), 10)) == [n]
        found.state, found.attempts, found.available_at, found.last_error = "ready", 2, at(6), "boom"
        found.lease_id = found.lease_until = None
        found.details, found.resend = {"merged": ["hub-0"]}, True
        await tx.update_items([found])
        await tx.update_items([])
    async with store.transaction(G) as tx:
        assert await tx.queued_items("q", [n]) == [found]
        assert await numbers(tx.due_items("q", at(6), 10)) == [n]


async def test_removed_items_leave_only_their_own_queue(store: Store) -> None:
    a, b, c = await enqueue(store, item("q", 1), item("q", 2), item("q", 3))
    [other] = await enqueue(store, item("r", 1))
    async with store.transaction(G) as tx:
        await tx.remove_items("q", [a, c, other, 999_999])
        await tx.remove_items("q", [])
    async with store.transaction(G) as tx:
        assert await numbers(tx.queued_items("q", [a, b, c])) == [b]
        assert await numbers(tx.queued_items("r", [other])) == [other]


async def test_dead_items_page_by_number(store: Store) -> None:
    a, _, b, c = await enqueue(
        store, item("q", 1, state="dead"), item("q", 2), item("q", 3, state="dead"), item("q", 4, state="dead")
    )
    await enqueue(store, item("r", 1, state="dead"), item("q", 9, group="cld-2", state="dead"))
    assert await numbers(store.dead_items(G, "q", 0, 10)) == [a, b, c]
    assert await numbers(store.dead_items(G, "q", a, 1)) == [b]
    assert await numbers(store.dead_items(G, "q", c, 10)) == []
    assert await numbers(store.dead_items(G, "q", 0, 0)) == []
    assert await numbers(store.dead_items(G, "nope", 0, 10)) == []


# Field sync (connect)

BOTH, IN, OUT = Directions(True, True), Directions(True, False), Directions(False, True)


async def test_field_sync_is_set_per_app_id_and_field_and_merged_with_what_was_set(store: Store) -> None:
    sf, hs = ext("sf", "1"), ext("hs", "1")
    async with store.transaction(G) as tx:
        await tx.set_field_sync("people", sf, {"first_name": IN, "email": BOTH})
        await tx.set_field_sync("people", hs, {"notes": OUT})
        await tx.set_field_sync("people", ext("zd", "1"), {})
    async with store.transaction(G) as tx:
        await tx.set_field_sync("people", sf, {"email": OUT, "last_name": BOTH})
        expected = {sf: {"first_name": IN, "email": OUT, "last_name": BOTH}, hs: {"notes": OUT}}
        assert await tx.field_sync("people", [sf, hs, ext("zd", "1"), ext("xx", "9")]) == expected
    assert await store.field_sync(G, "people", [hs, sf, sf]) == {hs: {"notes": OUT}, sf: expected[sf]}
    assert await store.field_sync(G, "people", []) == {}


async def test_field_sync_stays_in_its_group_and_collection(store: Store) -> None:
    sf = ext("sf", "1")
    async with store.transaction(G) as tx:
        await tx.set_field_sync("people", sf, {"first_name": IN})
    assert await store.field_sync("cld-2", "people", [sf]) == {}
    assert await store.field_sync(G, "organizations", [sf]) == {}
    assert await store.field_sync(G, "people", [ext("sf", "1", realm="r2")]) == {}


async def test_the_records_waiting_for_delivery_are_those_with_a_live_item_besides_the_given(store: Store) -> None:
    """Ready or leased items count, dead ones and those `besides` do not; only the integration's, in the group."""
    mine = item("q", 1), item("q", 2, state="leased", lease_id="L", lease_until=at(3)), item("q", 3, state="dead")
    numbered = await enqueue(store, *mine, replace(item("q", 4), hub_id="hub-1"))
    await enqueue(store, item("other", 5), item("q", 6, group="cld-2"))
    asked = ["hub-1", "hub-2", "hub-3", "hub-5", "hub-6"]
    async with store.transaction(G) as tx:
        assert await tx.waiting_for("q", asked, []) == {"hub-1", "hub-2"}
        assert await tx.waiting_for("q", asked, [numbered[0]]) == {"hub-1", "hub-2"}  # its other item waits
        assert await tx.waiting_for("q", asked, [numbered[0], numbered[3], numbered[1]]) == set()
        assert await tx.waiting_for("q", [], []) == set()
        assert await tx.waiting_for("q", asked, [numbered[0]], dead=True) == {"hub-1", "hub-2", "hub-3"}
