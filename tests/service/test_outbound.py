"""The outbound queue against the clock: backoff, expired leases, late acks, continuous integrations."""

from __future__ import annotations

import asyncio
from typing import Any

from hub.config import Settings
from hub.model import timefmt
from hub.model.collections import COLLECTIONS
from hub.model.history import HistoryPage
from hub.model.ids import ExternalId
from hub.model.record import Write
from hub.service import integrations, merging, outbound, upsert
from hub.store.sqlite import SQLiteStore

GROUP = "cld-1"
ORGS = COLLECTIONS["organizations"]
T0 = "2030-01-01T00:00:00.000000Z"


def at(seconds: float) -> str:
    return timefmt.shift(T0, seconds)


SETTINGS = Settings(retry_backoff_seconds=10, retry_backoff_max_seconds=25, lease_seconds=30)


async def define(store: SQLiteStore, **fields: Any) -> None:
    body = {"name": "out", "entity": "organizations", "direction": "outbound", "provider": "crm", "realm": "1"}
    await integrations.create(store, SETTINGS, GROUP, {**body, **fields}, operator=True)


async def write(store: SQLiteStore, key: str, **fields: Any) -> None:
    ids = [ExternalId("erp", "1", key)]
    await upsert.upsert(store, SETTINGS, GROUP, ORGS, Write(ids, [], fields, {}))


async def lease(store: SQLiteStore, now: float, seconds: int | None = None) -> outbound.Lease:
    return await outbound.lease(store, SETTINGS, GROUP, "out", seconds=seconds, now=at(now))


async def test_a_failed_item_waits_out_a_doubling_backoff_up_to_the_cap(store: SQLiteStore) -> None:
    await define(store, max_attempts=10)
    await write(store, "a", name="A")
    now = 0.0
    given = await lease(store, now)
    for wait in (10, 20, 25, 25):  # base 10, doubling, capped at 25
        await outbound.fail(store, SETTINGS, GROUP, "out", given.lease_id, [given.items[0].item], "boom", at(now))
        assert (await lease(store, now + wait - 0.5)).items == []
        now += wait
        given = await lease(store, now)
        assert len(given.items) == 1


async def test_an_expired_lease_puts_the_item_back_as_a_failed_try(store: SQLiteStore) -> None:
    await define(store, max_attempts=2)
    await write(store, "a", name="A")
    first = await lease(store, 0)
    assert (await lease(store, 29)).items == []  # held
    assert (await lease(store, 30)).items == []  # ran out: back, but after a 10 s backoff
    second = await lease(store, 40)
    assert [i.attempts for i in second.items] == [1]
    late = await outbound.ack(store, GROUP, "out", first.lease_id, [first.items[0].item], now=at(41))
    assert late.done == [] and "ran out" in str(late.refused[0]["reason"])
    assert (await lease(store, 71)).items == []  # second lease ran out too: max_attempts reached
    dead, more = await outbound.dead(store, SETTINGS, GROUP, "out", 0, 10, at(71))
    assert [(d.attempts, d.last_error) for d in dead] == [(2, "the lease ran out before an ack")] and not more


async def test_an_item_whose_lease_ran_out_long_ago_is_handed_out_by_the_next_lease(store: SQLiteStore) -> None:
    """Its failed try was when the lease ran out, not when a lease call noticed: an app back after a crash gets it."""
    await define(store)
    await write(store, "a", name="A")
    await lease(store, 0)  # runs out at 30: due again at 40
    back = await lease(store, 3600)
    assert [i.attempts for i in back.items] == [1]


async def test_an_ack_after_the_lease_ran_out_counts_until_the_item_is_put_back(store: SQLiteStore) -> None:
    await define(store)
    await write(store, "a", name="A")
    first = await lease(store, 0)
    late = await outbound.ack(store, GROUP, "out", first.lease_id, [first.items[0].item], now=at(100))
    assert late.done == [first.items[0].item]
    assert (await lease(store, 200)).items == []


async def test_a_continuous_integration_resends_on_its_schedule_while_the_record_matches(store: SQLiteStore) -> None:
    await define(store, include_update=True, continuous=True, default_schedule=300, filter="is_customer eq true")
    await write(store, "a", name="A", is_customer=True)
    first = await lease(store, 0)
    await outbound.ack(store, GROUP, "out", first.lease_id, [i.item for i in first.items], now=at(5))
    assert (await lease(store, 304)).items == []
    again = await lease(store, 305)
    assert [i.item for i in again.items] == [i.item for i in first.items]
    await write(store, "a", is_customer=False)  # no longer matches: sent once, showing so, and the next ack ends it
    await outbound.ack(store, GROUP, "out", again.lease_id, [i.item for i in again.items], now=at(306))
    left = await lease(store, 307)
    assert [(i.kind, i.resend) for i in left.items] == [("update", False)]
    await outbound.ack(store, GROUP, "out", left.lease_id, [i.item for i in left.items], now=at(308))
    assert (await lease(store, 10_000)).items == []


async def test_a_continuous_integration_does_not_resend_a_record_that_left_the_filter_since_its_ack(
    store: SQLiteStore,
) -> None:
    """Whether the record still matched was asked at the ack alone: one that left the filter went out once more, as it
    is now, a period later. Its changes go, the one that took it out too, and its resend does not."""
    await define(store, include_update=True, continuous=True, default_schedule=300, filter="is_customer eq true")
    await write(store, "a", name="A", is_customer=True)
    await write(store, "b", name="B", is_customer=True)
    first = await lease(store, 0)
    await outbound.ack(store, GROUP, "out", first.lease_id, [i.item for i in first.items], now=at(5))
    a, b = (i.hub_id for i in first.items)
    await write(store, "a", name="A2")
    await write(store, "a", is_customer=False)
    again = await lease(store, 305)
    assert [(i.kind, i.hub_id, i.resend) for i in again.items] == [("update", a, False)] * 2 + [("create", b, True)]


async def test_resends_a_lease_drops_make_room_for_the_items_due_behind_them(store: SQLiteStore) -> None:
    """A lease read `batch_size` due items, then dropped the resends whose records had left the filter: it handed
    out nothing while an item was due, and a webhook took the empty lease for an empty queue until its next poll."""
    filtered = {"filter": "is_customer eq true", "batch_size": 2}
    await define(store, include_update=True, continuous=True, default_schedule=300, **filtered)
    for key in "ab":
        await write(store, key, name=key.upper(), is_customer=True)
    first = await lease(store, 0)
    await outbound.ack(store, GROUP, "out", first.lease_id, [i.item for i in first.items], now=at(5))
    await write(store, "c", name="C", is_customer=True)
    c = await lease(store, 10)
    for key in "ab":
        await write(store, key, is_customer=False)
    left = await lease(store, 20)  # their updates, which take them out of the filter
    assert [(i.kind, i.resend) for i in left.items] == [("update", False)] * 2
    await outbound.ack(store, GROUP, "out", left.lease_id, [i.item for i in left.items], now=at(21))
    await outbound.fail(store, SETTINGS, GROUP, "out", c.lease_id, [c.items[0].item], "boom", at(310))  # due at 320
    again = await lease(store, 400)
    assert [(i.kind, i.hub_id) for i in again.items] == [("create", c.items[0].hub_id)]
    await outbound.ack(store, GROUP, "out", again.lease_id, [again.items[0].item], now=at(401))
    assert [i.hub_id for i in (await lease(store, 10_000)).items] == [c.items[0].hub_id]  # a's and b's left


async def test_a_continuous_integration_sends_each_record_once_a_period_however_often_it_changed(
    store: SQLiteStore,
) -> None:
    """Each change is sent once; then one item per record comes back each period (every change's item came back)."""
    await define(store, include_update=True, continuous=True, default_schedule=300)
    await write(store, "a", name="A")
    await write(store, "b", name="B")
    first = await lease(store, 0)
    await outbound.ack(store, GROUP, "out", first.lease_id, [i.item for i in first.items], now=at(5))
    for n in range(3):
        await write(store, "a", name=f"A{n}")
    changes = await lease(store, 10)
    assert [i.kind for i in changes.items] == ["update"] * 3  # each change sent (the records' creates wait)
    await outbound.ack(store, GROUP, "out", changes.lease_id, [i.item for i in changes.items], now=at(15))
    for period in range(1, 4):
        again = await lease(store, 300 * period + 10)
        assert sorted(i.hub_id for i in again.items) == sorted(i.hub_id for i in first.items), period
        await outbound.ack(
            store, GROUP, "out", again.lease_id, [i.item for i in again.items], now=at(300 * period + 10)
        )
    both = await lease(store, 2000)
    await write(store, "b", name="B2")  # two of b's items acked together: one comes back
    newer = await lease(store, 2001)
    items = [*both.items, *newer.items]
    await outbound.ack(store, GROUP, "out", both.lease_id, [i.item for i in both.items], now=at(2002))
    await outbound.ack(store, GROUP, "out", newer.lease_id, [i.item for i in newer.items], now=at(2002))
    assert len(items) == 3 and len((await lease(store, 3000)).items) == 2


async def test_a_continuous_integration_resends_records_not_the_details_of_changes_delivered_already(
    store: SQLiteStore,
) -> None:
    """A merge's item came back each period with its `merged`, telling the app to drop the record it took away, even
    after an undo had restored it: a resend is the record's, the change was delivered once."""
    await write(store, "k", name="K")
    await upsert.upsert(store, SETTINGS, GROUP, ORGS, Write([ExternalId("crm", "1", "g")], [], {"name": "G"}, {}))
    await define(store, include_update=True, continuous=True, default_schedule=300)
    both = [ExternalId("erp", "1", "k"), ExternalId("crm", "1", "g")]
    merged = await upsert.upsert(store, SETTINGS, GROUP, ORGS, Write(both, [], {}, {}))
    first = await lease(store, 0)
    assert [(i.kind, i.details["merged"]) for i in first.items] == [("merge", merged.merged)]
    await outbound.ack(store, GROUP, "out", first.lease_id, [i.item for i in first.items], now=at(5))
    survivor = merged.record.hub_id
    await merging.unmerge(store, GROUP, ORGS, survivor, None, first.items[0].details["merge_id"], "test")
    undone = await lease(store, 10)
    await outbound.ack(store, GROUP, "out", undone.lease_id, [i.item for i in undone.items], now=at(15))
    again = await lease(store, 320)
    assert {i.hub_id: (i.kind, i.details) for i in again.items} == {
        survivor: ("merge", {}),
        merged.merged[0]: ("unmerge", {}),
    }


async def test_a_resend_due_beside_a_change_of_its_record_is_not_sent_twice_in_one_lease(store: SQLiteStore) -> None:
    """The record's resend, due, and its update, not yet leased, went out in one batch: the record twice, as it is
    now. The update goes alone, and its ack arms the next resend."""
    await define(store, include_update=True, continuous=True, default_schedule=300)
    await write(store, "a", name="A")
    first = await lease(store, 0)
    await outbound.ack(store, GROUP, "out", first.lease_id, [i.item for i in first.items], now=at(5))  # due at 305
    await write(store, "a", name="A2")
    both = await lease(store, 400)
    assert [i.kind for i in both.items] == ["update"]
    await outbound.ack(store, GROUP, "out", both.lease_id, [i.item for i in both.items], now=at(401))
    assert (await lease(store, 700)).items == []
    assert [i.item for i in (await lease(store, 701)).items] == [i.item for i in both.items]


async def test_the_resends_of_records_merged_into_one_send_it_once_a_period(store: SQLiteStore) -> None:
    """Each record's resend was armed when a merge made the two one record: both came due the next period, the
    survivor twice in one batch (the resend of the record taken away showing its survivor). One sends it, the other
    leaves the queue."""
    await define(store, include_update=True, continuous=True, default_schedule=300)
    await write(store, "a", name="A")
    await upsert.upsert(store, SETTINGS, GROUP, ORGS, Write([ExternalId("mail", "1", "b")], [], {"name": "B"}, {}))
    first = await lease(store, 0)
    await outbound.ack(store, GROUP, "out", first.lease_id, [i.item for i in first.items], now=at(5))
    both = [ExternalId("erp", "1", "a"), ExternalId("mail", "1", "b")]
    merged = await upsert.upsert(store, SETTINGS, GROUP, ORGS, Write(both, [], {}, {}))
    merge = await lease(store, 10)
    await outbound.ack(store, GROUP, "out", merge.lease_id, [i.item for i in merge.items], now=at(15))
    again = await lease(store, 320)
    assert [i.kind for i in merge.items] == ["merge"] and len(again.items) == 1
    await outbound.ack(store, GROUP, "out", again.lease_id, [i.item for i in again.items], now=at(320))
    assert [i.hub_id for i in (await lease(store, 630)).items] == [merged.record.hub_id]


async def test_a_lease_reading_due_items_again_sends_a_record_once(store: SQLiteStore) -> None:
    """A resend leaving the queue (its record left the filter) made the lease read the items due behind it, and the
    resend there of a record merged into one the lease had taken went too: the survivor twice in one batch."""
    await define(store, include_update=True, continuous=True, default_schedule=300, filter="name ne 'X'")
    await write(store, "c", name="C")
    await write(store, "a", name="A")
    await upsert.upsert(store, SETTINGS, GROUP, ORGS, Write([ExternalId("mail", "1", "b")], [], {"name": "B"}, {}))
    first = await lease(store, 0)
    await outbound.ack(store, GROUP, "out", first.lease_id, [i.item for i in first.items], now=at(5))
    await write(store, "c", name="X")  # leaves the filter: its resend leaves the queue as it comes due
    both = [ExternalId("erp", "1", "a"), ExternalId("mail", "1", "b")]
    merged = await upsert.upsert(store, SETTINGS, GROUP, ORGS, Write(both, [], {}, {}))
    changed = await lease(store, 10)
    await outbound.ack(store, GROUP, "out", changed.lease_id, [i.item for i in changed.items], now=at(15))
    again = await outbound.lease(store, SETTINGS, GROUP, "out", limit=2, now=at(320))
    assert [(i.resend, i.hub_id) for i in again.items] == [(True, merged.record.hub_id)]


async def test_concurrent_leases_never_hand_out_one_item_twice(store: SQLiteStore) -> None:
    await define(store, batch_size=3)
    for n in range(10):
        await write(store, str(n), name=str(n))
    leases = await asyncio.gather(*(lease(store, 0) for _ in range(6)))
    handed = [i.item for given in leases for i in given.items]
    assert len(handed) == len(set(handed)) == 10


async def test_a_continuous_integration_sends_a_placeholder_again_once_never_each_period(store: SQLiteStore) -> None:
    """The undo of a merge that filled a placeholder in sends its `unmerge` (the app drops the copy it was sent); a
    resend of it would show the app, each period, a record holding ids alone, to write back as an empty one."""
    reference = {"organization_id": [ExternalId("erp", "1", "o")]}
    person = Write([ExternalId("erp", "1", "p")], [], {"first_name": "Ada"}, reference)
    placeholder = (await upsert.upsert(store, SETTINGS, GROUP, COLLECTIONS["people"], person)).record.fields
    await upsert.upsert(store, SETTINGS, GROUP, ORGS, Write([ExternalId("mail", "1", "m")], [], {"name": "Acme"}, {}))
    both = [ExternalId("erp", "1", "o"), ExternalId("mail", "1", "m")]
    merged = await upsert.upsert(store, SETTINGS, GROUP, ORGS, Write(both, [], {}, {}))
    survivor, restored = merged.record.hub_id, merged.merged[0]
    assert survivor == placeholder["organization_id"]
    merge_id = (await store.merges(GROUP, ORGS.name, survivor, HistoryPage()))[0][0].merge_id
    await define(store, include_update=True, continuous=True, default_schedule=300)
    await merging.unmerge(store, GROUP, ORGS, survivor, None, merge_id, "test")
    undone = await lease(store, 10)
    assert [(i.kind, i.hub_id) for i in undone.items] == [("unmerge", survivor), ("unmerge", restored)]
    await outbound.ack(store, GROUP, "out", undone.lease_id, [i.item for i in undone.items], now=at(15))
    assert [i.hub_id for i in (await lease(store, 320)).items] == [restored]
