"""Create-or-update by any matching id, merges included; a batch's runs of plain items (`batch`) write by the
same rules (`new_record`, `update_record`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from hub.config import Settings
from hub.model import timefmt
from hub.model.change import Kind, archives, written
from hub.model.collections import Collection
from hub.model.history import ANONYMOUS
from hub.model.ids import ExternalId, ensure_holdable
from hub.model.merge import merged_ids
from hub.model.record import ID, Group, Record, Write
from hub.service import changes, directions, merging, reading, references
from hub.service import ids as idsvc
from hub.service.groups import group_for_write, stored
from hub.service.transact import transact
from hub.store.base import Store, Transaction

Anchor = tuple[str, tuple[str, str] | None]
"""The record a `PUT` path names, written as one of those its write names (404 if there is none): a hub id, or an
app's id and the app."""


@dataclass
class Outcome:
    record: Record
    created: bool
    merged: list[str] = field(default_factory=list)
    refs: dict[tuple[str, str], Record] = field(default_factory=dict)
    """The live records the record's reference fields point to, read in the same transaction."""
    changed: bool = True
    """False for a write that gave the record nothing new, answered and not recorded (`unchanged`)."""


async def upsert(
    store: Store,
    settings: Settings,
    group_id: str,
    collection: Collection,
    write: Write,
    anchor: Anchor | None = None,
    actor: str = ANONYMOUS,
) -> Outcome:
    """Create, update or merge the records `write` names; `anchor` names one more of them (404 if there is none)."""
    group = await group_for_write(store, group_id)
    return await transact(
        store, group_id, work_of(settings, group, collection, prepare(settings, group, write), anchor, actor)
    )


@dataclass
class Prepared:
    """A write after the checks that need no store: its apps' ids and the hub ids it names."""

    write: Write
    ids: list[ExternalId]
    hub_ids: list[str]


def prepare(settings: Settings, group: Group, write: Write) -> Prepared:
    """Split the write's ids into apps' and the hub's own; a malformed id raises here. Two ids of one app are
    refused in the transaction (`_apply`), where the 409 can name the records they are held by."""
    ids, hub_ids = idsvc.split(write.ids, group, settings.hub_provider)
    return Prepared(write, ids, [*write.hub_ids, *hub_ids])


def work_of(
    settings: Settings, group: Group, collection: Collection, prepared: Prepared, anchor: Anchor | None, actor: str
) -> Callable[[Transaction], Awaitable[Outcome]]:
    """The transaction's work of an upsert."""

    async def work(tx: Transaction) -> Outcome:
        write, ids, hub_ids = prepared.write, prepared.ids, prepared.hub_ids
        outcome = await _apply(tx, settings, await stored(tx, group), collection, write, ids, hub_ids, anchor, actor)
        outcome.refs = await reading.referenced(tx.get, collection, [outcome.record])
        return outcome

    return work


def new_record(
    group: Group, collection: Collection, seq: int, values: dict[str, Any], status: str | None, ids: list[ExternalId]
) -> Record:
    """A record created by an upsert that matched none."""
    now = timefmt.now()
    fields = {k: v for k, v in values.items() if v is not None}
    return Record(idsvc.new_hub_id(), group.group_id, collection.name, seq, status or "ACTIVE", now, now, fields, ids)


def unchanged(record: Record, ids: list[ExternalId], values: dict[str, Any], status: str | None) -> bool:
    """Whether an upsert of the one record it matched gives it nothing new (its values, its status, ids it holds);
    `values` with its references as stored (`as_stored`).

    Such a write is answered, not recorded: recorded, it moved `updated_at` and added a change that outbound
    integrations sent on, and an app writing back what it was sent made another, sent back in turn, without end.
    """
    if record.placeholder or any(e not in record.ids for e in ids):
        return False
    return holds(record, values, status)


def holds(record: Record, values: dict[str, Any], status: str | None) -> bool:
    """Whether the record holds these values (a null: no value) and this status already."""
    fields = {k: v for k, v in {**record.fields, **values}.items() if v is not None}
    return fields == record.fields and (status or record.status) == record.status


async def as_stored(tx: Transaction, collection: Collection, record: Record, values: dict[str, Any]) -> dict[str, Any]:
    """`values` with each reference that names the record its stored one shows given back the stored hub id.

    A reference to a record merged away since shows (and a write resolves to) its survivor: an app writing back
    what it read, alone or beside an edit of another field, changes no reference, and the stored one stays for an
    undo of that merge to show again (replaced, the person kept the survivor). Read only where the ids differ.
    """
    stored = record.fields
    differing = [
        name for name in collection.references if name in values and name in stored and values[name] != stored[name]
    ]
    if not differing:
        return values
    live = await reading.referenced(tx.get, collection, [record])
    targets = collection.references
    echoed = {
        name: stored[name]
        for name in differing
        if (shown := live.get((targets[name], stored[name]))) is not None and shown.hub_id == values[name]
    }
    return {**values, **echoed}


def update_record(
    record: Record, ids: list[ExternalId], values: dict[str, Any], status: str | None
) -> tuple[list[ExternalId], Kind, frozenset[str], Record]:
    """Apply an upsert to the one record it matched: (the ids it links anew, the change it makes, what it touched, the
    record as it was: an integration whose filter it leaves is sent the change, `enqueuing.reaches`).

    The change is a `create` where it fills in a placeholder, an `archive` where it sets the status to ARCHIVED,
    as a DELETE does (a feed reader mirroring archives saw an `update`), else an `update`. 409 if the record holds
    another id of one of the apps, or would hold more ids than a record may, before anything changes.
    """
    held = merged_ids([record], ids)
    before = changes.touch(record, timefmt.now())  # its fields and ids are replaced below, never changed in place
    new_ids = [e for e in held if e not in record.ids]
    touched = written(record, values, status, bool(new_ids))
    kind: Kind = "create" if record.placeholder else "update"
    if kind == "update" and archives(status, record.status):
        kind = "archive"
    record.fields = {k: v for k, v in {**record.fields, **values}.items() if v is not None}
    record.placeholder = False
    record.status = status or record.status
    return new_ids, kind, touched, before


async def _apply(
    tx: Transaction,
    settings: Settings,
    group: Group,
    collection: Collection,
    write: Write,
    ids: list[ExternalId],
    hub_ids: list[str],
    anchor: Anchor | None,
    actor: str,
) -> Outcome:
    if anchor is not None:
        hub_ids = [(await reading.locate_in(tx, collection, *anchor)).hub_id, *hub_ids]
    matched = await idsvc.holders(tx, collection.name, ids, hub_ids)
    write.ensure_held(ID, matched)
    # the ids' own clash refused before a reference writes a placeholder; one the matched records' merge would make is
    # found by `merging.merge`, after it, and rolled back with the transaction
    ensure_holdable(ids, records=[r.hub_id for r in matched])
    write = await directions.inbound(tx, collection.name, matched, ids, write)
    refs = await references.resolve(tx, settings, group, collection, write)
    values = {**write.fields, **refs}
    status = values.pop("status", None)
    if not matched:
        record = new_record(group, collection, await tx.next_seq(collection.name), values, status, ids)
        await tx.insert(record)
        await changes.record(tx, "create", collection.name, record)
        return Outcome(record, created=True)
    if len(matched) > 1:
        why = await merging.matches(tx, settings, group, collection, matched, ids, hub_ids)
        merge = merging.Merge(values, status, ids, why, actor, "upsert")
        filled = all(r.placeholder for r in matched)  # the real record of several placeholders: its creation
        survivor, entry = await merging.merge(tx, group, collection, matched, merge)
        return Outcome(survivor, created=filled, merged=entry.merged)
    record = matched[0]
    refers_to_itself = collection.name in collection.references.values()  # resolving may have linked ids to it
    values = await as_stored(tx, collection, record, values)
    if unchanged(record, ids, values, status):
        return Outcome(await _reread(tx, record) if refers_to_itself else record, created=False, changed=False)
    new_ids, kind, touched, before = update_record(record, ids, values, status)
    await tx.save(record, new_ids)
    if refers_to_itself:
        record = await _reread(tx, record)
    else:  # as a re-read would show them: in link order, the new ones last
        record.ids = [*record.ids, *new_ids]
    merged = await changes.filled_in(tx, collection.name, record.hub_id) if kind == "create" else {}
    await changes.record(tx, kind, collection.name, record, [before], touched=touched, **merged)
    return Outcome(record, created=kind == "create")


async def _reread(tx: Transaction, record: Record) -> Record:
    """The record as its transaction holds it now (with ids resolving a reference linked to it)."""
    return (await tx.get(record.collection, [record.hub_id]))[record.hub_id]


async def archive(
    store: Store,
    group_id: str,
    collection: Collection,
    key: str,
    app: tuple[str, str] | None,
    writer: tuple[str, str] | None,
) -> reading.View:
    """Set a record's status to ARCHIVED; its ids stay linked. A write of the status from the `writer` app (its key
    made it, or its id names the record): left alone where it does not sync its status into the hub, as a `PUT`.
    A placeholder archived is filled in, its `create` recorded, as a `PUT` of the status fills it in: left one, the
    real record arriving later was answered `201 created` yet archived."""
    group = await reading.group_or_404(store, group_id)

    async def work(tx: Transaction) -> Record:
        current = await reading.locate_in(tx, collection, key, app)
        asked = Write([], [], {"status": "ARCHIVED"}, {}, writer)
        written = await directions.inbound(tx, collection.name, [current], [], asked)
        if not written.fields or unchanged(current, [], {}, "ARCHIVED"):  # nothing to record
            return current
        _, kind, touched, before = update_record(current, [], {}, "ARCHIVED")
        await tx.save(current, [])
        await changes.record(tx, kind, collection.name, current, [before], touched=touched)
        return current

    # Re-run after a lost race: on a store with concurrent writers, any write of the group
    # that records a change at the same time conflicts with this one (the feed's order).
    current = await transact(store, group_id, work)
    return await reading.view(store, group, collection, [current])
