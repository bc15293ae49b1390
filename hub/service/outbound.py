"""The outbound queue of an integration as its app uses it: lease, ack, fail, dead items, retry (what goes into it is
`enqueuing`'s).

Each use case runs through `transact`, so a race lost to another hub process leasing or
settling the same items (on MongoDB, a write conflict) re-runs it on fresh reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from hub.config import Settings
from hub.errors import Conflict
from hub.model import queue, timefmt
from hub.model.access import Principal
from hub.model.collections import COLLECTIONS
from hub.model.integration import Integration
from hub.model.matching import matches
from hub.model.queue import QueueItem, State
from hub.model.record import Group, Record
from hub.service import directions, reading
from hub.service.enqueuing import filter_through_merges
from hub.service.integrations import held
from hub.service.transact import transact
from hub.store.base import Store, Transaction

REAP = 1000
"""How many expired leases one lease call puts back at most (the rest go with the next calls)."""


async def _queue_of(tx: Transaction, group_id: str, name: str, caller: Principal | None) -> Integration:
    return _outbound(await held(tx, group_id, name, caller))


def _outbound(integration: Integration) -> Integration:
    if integration.definition.direction != "outbound":
        raise Conflict(f"{integration.name!r} is an inbound integration: only outbound integrations have a queue")
    return integration


@dataclass
class Lease:
    integration: Integration
    lease_id: str
    until: str
    items: list[QueueItem]


async def lease(
    store: Store,
    settings: Settings,
    group_id: str,
    name: str,
    seconds: int | None = None,
    limit: int | None = None,
    now: str | None = None,
    *,
    caller: Principal | None = None,
) -> Lease:
    """Hand out up to `batch_size` (or `limit`) due items under one lease of `seconds`.

    Items whose lease ran out first go back to the queue as failed tries, so they come
    back after their backoff from when it ran out (or die); no item is handed out while a lease on it holds.
    The items that leave the queue instead of going out (`_deliverable`) make room for the next due ones: a lease
    short of its batch means nothing more is due (a webhook stops at an empty one until its next poll).
    """
    now = now or timefmt.now()

    async def work(tx: Transaction) -> Lease:
        integration = await _queue_of(tx, group_id, name, caller)
        if integration.needs_consent:
            raise Conflict(
                f"{name!r} waits for the app's consent ({integration.definition.consent_type}):"
                f" POST …/integrations/{name}/consent first"
            )
        definition = integration.definition
        await _reap(tx, settings, integration, now)
        wanted = min(limit or definition.batch_size, definition.batch_size)
        lease_id = uuid.uuid4().hex
        until = timefmt.shift(now, seconds or settings.lease_seconds)
        items: list[QueueItem] = []
        sent: set[tuple[str, str]] = set()  # the records the lease's items show, across its reads of due items
        while len(items) < wanted:  # the items that leave the queue make room for those due behind them
            due = list(await tx.due_items(name, now, wanted - len(items)))
            kept = await _deliverable(tx, integration, due, sent)
            for item in kept:
                queue.lease(item, lease_id, until)
            await tx.update_items(kept)  # leased: the next read of due items passes them over
            items += kept
            if len(kept) == len(due):  # none left: the batch is full, or nothing more is due
                break
        return Lease(integration, lease_id, until, items)

    return await transact(store, group_id, work)


async def _reap(tx: Transaction, settings: Settings, integration: Integration, now: str) -> None:
    """Settle the items whose lease ran out as failed tries, dead after the last: before a lease hands items out,
    and before dead items are listed or retried (an item whose last try ran out stayed leased until the app's next
    lease, out of the dead list while the app was down). A try failed when its lease ran out: its backoff counts
    from then, not from now."""
    expired = list(await tx.expired_items(integration.name, now, REAP))
    for item in expired:
        ran_out = item.lease_until or now
        error = "the lease ran out before an ack"
        queue.fail(item, ran_out, error, integration.definition.max_attempts, *_backoff(settings))
    await tx.update_items(expired)


async def _deliverable(
    tx: Transaction, integration: Integration, items: list[QueueItem], sent: set[tuple[str, str]]
) -> list[QueueItem]:
    """The items but those whose record is a placeholder now, and the resends of records that left the filter or that
    a change of the lease sends, which leave the queue. Nothing of a placeholder is sent (`queue.wanted`), yet an
    undone merge turns the placeholders it filled in back into placeholders after their changes were enqueued. Sent,
    one was an app's to write back, filling it in empty; its filling-in comes as a create. The undo's own `unmerge`
    of it goes (`queue.placeholder_again`), once: it tells an app that was sent the record to drop it. A resend sends
    its record while it matches, unless a change of the record, or another resend of it (the resends of records a
    merge made one), goes out in the same lease: that shows the record as it is, and its ack arms the next resend
    (`_again`); both went, the app got the record twice in one batch. `sent` holds the records shown by the items
    the lease took before (by collection and hub id), and takes those these items show."""
    found = await _records_of(tx, items)
    node = await filter_through_merges(tx.get, tx.aliases, integration)
    sent.update(
        (i.collection, found[(i.collection, i.hub_id)].hub_id)
        for i in items
        if not i.resend and (i.collection, i.hub_id) in found
    )

    def gone(item: QueueItem) -> bool:
        record = found.get((item.collection, item.hub_id))
        if record is None:
            return False
        if record.placeholder:
            return item.kind != "unmerge" or item.resend
        if not item.resend:
            return False
        shown = (item.collection, record.hub_id)
        if shown in sent or not matches(COLLECTIONS[item.collection], record, node):
            return True
        sent.add(shown)
        return False

    dropped = {item.item for item in items if gone(item)}
    await tx.remove_items(integration.name, list(dropped))
    return [item for item in items if item.item not in dropped]


async def _records_of(tx: Transaction, items: Sequence[QueueItem]) -> dict[tuple[str, str], Record]:
    """The items' records as they are now (a merged-away one as its survivor), by the collection and hub id each item
    names: one read per collection, not one per item."""
    found: dict[tuple[str, str], Record] = {}
    for collection in {item.collection for item in items}:
        records = await tx.get(collection, list({item.hub_id: None for item in items if item.collection == collection}))
        found.update({(collection, hub_id): record for hub_id, record in records.items()})
    return found


def _backoff(settings: Settings) -> tuple[float, float]:
    return float(settings.retry_backoff_seconds), float(settings.retry_backoff_max_seconds)


@dataclass
class Settled:
    """Which items an ack, fail or retry took, and why it refused the others."""

    done: list[int] = field(default_factory=list)
    refused: list[dict[str, object]] = field(default_factory=list)


_NOT_HELD: dict[State, str] = {
    "leased": "held under another lease: check the lease id (or this one ran out and the item was leased again)",
    "ready": "not leased now: a fail, or its lease running out, put it back to the queue",
    "dead": "dead after its last try: retry it (…/dead/retry) before leasing it again",
}
"""Why an ack or fail refuses an item of the queue it does not hold, by the item's state."""
_NOT_DEAD: dict[State, str] = {
    "leased": "not dead: leased now",
    "ready": "not dead: in the queue, due or waiting for its backoff",
}
"""Why a retry refuses an item, by its state."""


async def _held_items(
    tx: Transaction, name: str, lease_id: str, numbers: Sequence[int], settled: Settled
) -> list[QueueItem]:
    """The items still held under `lease_id`: leased by it and not yet put back to the queue."""

    def why_not(item: QueueItem) -> str | None:
        return None if item.state == "leased" and item.lease_id == lease_id else _NOT_HELD[item.state]

    return await _items(tx, name, numbers, settled, why_not)


async def _items(
    tx: Transaction, name: str, numbers: Sequence[int], settled: Settled, why_not: Callable[[QueueItem], str | None]
) -> list[QueueItem]:
    """The queue's items of these numbers that `why_not` takes (None), each other number refused in `settled`."""
    found = {item.item: item for item in await tx.queued_items(name, numbers)}
    out = []
    for number in dict.fromkeys(numbers):
        item = found.get(number)
        reason = "no such item in this queue (acked already?)" if item is None else why_not(item)
        if reason is not None:
            settled.refused.append({"item": number, "reason": reason})
        elif item is not None:
            out.append(item)
    return out


async def ack(
    store: Store,
    group_id: str,
    name: str,
    lease_id: str,
    numbers: Sequence[int],
    now: str | None = None,
    *,
    caller: Principal | None = None,
) -> Settled:
    """Delivered: the items leave the queue; a continuous integration's come back after `default_schedule`
    seconds, as long as their record still matches the filter.

    An ack counts while the item is still held: after its lease ran out, until a new
    lease call put it back to the queue.
    """
    now = now or timefmt.now()

    async def work(tx: Transaction) -> Settled:
        settled = Settled()
        integration = await _queue_of(tx, group_id, name, caller)
        items = await _held_items(tx, name, lease_id, numbers, settled)
        again = await _again(tx, integration, items) if integration.definition.continuous else []
        for item in again:
            queue.rearm(item, now, integration.definition.default_schedule)
        await tx.update_items(again)
        await tx.remove_items(name, [i.item for i in items if i not in again])
        settled.done = [i.item for i in items]
        return settled

    return await transact(store, group_id, work)


async def _again(tx: Transaction, integration: Integration, items: list[QueueItem]) -> list[QueueItem]:
    """The acked items of a continuous integration to hand out again: for each record that still matches the
    filter, its newest item, unless another item waits to deliver it already. Each change of a record had added
    an item that every ack armed again, so a record went out once per change it ever had, every period."""
    node = await filter_through_merges(tx.get, tx.aliases, integration)
    newest: dict[str, QueueItem] = {}
    named: dict[str, set[str]] = {}
    """Per record (a merged-away one as its survivor): its newest acked item, and the hub ids its items name."""
    found = await _records_of(tx, items)
    for item in items:
        current = found.get((item.collection, item.hub_id))
        if current is None or not matches(COLLECTIONS[item.collection], current, node):
            continue
        if current.hub_id not in newest or item.change_seq > newest[current.hub_id].change_seq:
            newest[current.hub_id] = item
        named.setdefault(current.hub_id, {current.hub_id}).add(item.hub_id)
    asked = [hub_id for hub_ids in named.values() for hub_id in hub_ids]
    waiting = await tx.waiting_for(integration.name, asked, [i.item for i in items]) if asked else set()
    return [item for record, item in newest.items() if not named[record] & waiting]


async def fail(
    store: Store,
    settings: Settings,
    group_id: str,
    name: str,
    lease_id: str,
    numbers: Sequence[int],
    error: str,
    now: str | None = None,
    wait: float = 0.0,
    *,
    caller: Principal | None = None,
) -> Settled:
    """Not delivered: each item comes back after its backoff, or `wait` seconds when longer (what the app asked for:
    a webhook's `Retry-After`), up to `retry_backoff_max_seconds`; or is dead after `max_attempts` tries."""
    now = now or timefmt.now()

    def failed(integration: Integration, item: QueueItem) -> None:
        queue.fail(item, now, error, integration.definition.max_attempts, *_backoff(settings), least=wait)

    return await _put_back(store, group_id, name, lease_id, numbers, failed, caller)


async def release(store: Store, group_id: str, name: str, lease_id: str, numbers: Sequence[int]) -> Settled:
    """Never sent: the items go back to the queue as they were (due, no try counted), for the next lease."""
    return await _put_back(store, group_id, name, lease_id, numbers, lambda _, item: queue.release(item))


async def _put_back(
    store: Store,
    group_id: str,
    name: str,
    lease_id: str,
    numbers: Sequence[int],
    change: Callable[[Integration, QueueItem], None],
    caller: Principal | None = None,
) -> Settled:
    """Apply `change` to each item still held under `lease_id` (see `_held_items`), in one transaction."""

    async def work(tx: Transaction) -> Settled:
        settled = Settled()
        integration = await _queue_of(tx, group_id, name, caller)
        items = await _held_items(tx, name, lease_id, numbers, settled)
        for item in items:
            change(integration, item)
        await tx.update_items(items)
        settled.done = [i.item for i in items]
        return settled

    return await transact(store, group_id, work)


async def dead(
    store: Store,
    settings: Settings,
    group_id: str,
    name: str,
    after: int,
    limit: int,
    now: str | None = None,
    *,
    caller: Principal | None = None,
) -> tuple[list[QueueItem], bool]:
    """Up to `limit` of the integration's dead items numbered above `after`, once the leases that ran out are
    settled (an item whose last try ran out is dead now), and whether more follow: read one past `limit`, so that a
    reader paging by `after` knows the last page without asking for an empty one."""
    await transact(store, group_id, partial(_reap_queue, settings, group_id, name, now or timefmt.now(), caller))
    found = list(await store.dead_items(group_id, name, after, limit + 1))
    return found[:limit], len(found) > limit


async def _reap_queue(
    settings: Settings, group_id: str, name: str, now: str, caller: Principal | None, tx: Transaction
) -> None:
    """Reap the expired leases of the outbound integration `name` (`_reap`); 404, 403 or 409 as a lease."""
    await _reap(tx, settings, await _queue_of(tx, group_id, name, caller), now)


async def retry(
    store: Store,
    settings: Settings,
    group_id: str,
    name: str,
    numbers: Sequence[int] | None,
    now: str | None = None,
    *,
    caller: Principal | None = None,
) -> Settled:
    """Put dead items (these, or up to 1000 of them when None) back in the queue, due now with 0 attempts; why
    each other number was not, as an ack says."""
    now = now or timefmt.now()
    if numbers is None:
        await transact(store, group_id, partial(_reap_queue, settings, group_id, name, now, caller))
        numbers = [i.item for i in await store.dead_items(group_id, name, 0, 1000)]
    wanted = numbers

    async def work(tx: Transaction) -> Settled:
        await _reap_queue(settings, group_id, name, now, caller, tx)
        settled = Settled()
        items = await _items(tx, name, wanted, settled, lambda i: None if i.state == "dead" else _NOT_DEAD[i.state])
        for item in items:
            queue.revive(item, now)
        await tx.update_items(items)
        settled.done = [i.item for i in items]
        return settled

    return await transact(store, group_id, work)


@dataclass
class Delivery:
    """Leased items with the records they name as those are now (a merged-away one as its survivor)."""

    group: Group
    integration: Integration
    items: list[tuple[QueueItem, Record]]
    views: dict[str, reading.View]
    hidden: dict[str, frozenset[str]] = field(default_factory=dict)
    """Per hub id, the fields that do not sync to the integration's app (connect), to leave out."""
    unmatched: frozenset[tuple[str, str]] = frozenset()
    """The items' (collection, hub id) whose record the integration's filter does not match now, or is a placeholder:
    an app keeping what its filter selects drops it (`matches: false`), not evaluating the filter itself, which
    it could not on a field it does not receive."""


async def hand_out(
    store: Store,
    settings: Settings,
    group_id: str,
    name: str,
    seconds: int | None,
    limit: int | None,
    *,
    caller: Principal,
) -> tuple[Lease, Delivery]:
    """An app's lease (`lease`) and its items with their records. The store failing as they are read is the hub's
    fault, not the app's: the items go back untried (left leased, the app never having seen them, they waited out the
    lease and came back as a failed try), as a webhook's batch does."""
    given = await lease(store, settings, group_id, name, seconds, limit, caller=caller)
    try:
        return given, await delivery(store, given.integration, given.items)
    except Exception:
        await release(store, group_id, name, given.lease_id, [item.item for item in given.items])
        raise


async def delivery(store: Store, integration: Integration, items: Sequence[QueueItem]) -> Delivery:
    group = await reading.group_or_404(store, integration.group_id)
    by_collection: dict[str, list[str]] = {}
    for item in items:
        by_collection.setdefault(item.collection, []).append(item.hub_id)
    found: dict[tuple[str, str], Record] = {}
    views = {}
    hidden: dict[str, frozenset[str]] = {}
    for collection, hub_ids in by_collection.items():
        records = await store.get(group.group_id, collection, hub_ids)
        found.update({(collection, h): r for h, r in records.items()})
        views[collection] = await reading.view(store, group, COLLECTIONS[collection], list(records.values()))
        hidden.update(await directions.hidden(store, collection, list(records.values()), integration.definition.app))
    pairs = [(item, found[(item.collection, item.hub_id)]) for item in items if (item.collection, item.hub_id) in found]
    get, aliases = partial(store.get, group.group_id), partial(store.aliases, group.group_id)
    node = await filter_through_merges(get, aliases, integration)
    unmatched = frozenset(
        key for key, record in found.items() if record.placeholder or not matches(COLLECTIONS[key[0]], record, node)
    )
    return Delivery(group, integration, pairs, views, hidden, unmatched)
