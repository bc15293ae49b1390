"""Create-or-update by any matching id: the one write path of records, merges included."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from hub.config import Settings
from hub.errors import Conflict, Invalid, NotFound
from hub.model import timefmt
from hub.model.collections import COLLECTIONS, Collection
from hub.model.ids import ExternalId, ensure_one_per_app
from hub.model.merge import merge_fields, merged_ids, survivor_first
from hub.model.record import Group, Record, Write
from hub.service import changes, directions, reading
from hub.service import ids as idsvc
from hub.store.base import IdTaken, Store, Transaction

RETRIES = 5
"""How often a use case is re-run after a concurrent writer took one of its ids first."""


@dataclass
class Outcome:
    record: Record
    created: bool
    merged: list[str] = field(default_factory=list)


async def group_for_write(store: Store, group_id: str) -> Group:
    """The group, created on first write with a channel generated once."""
    return await store.group(group_id) or await store.ensure_group(group_id, idsvc.new_channel_id())


async def upsert(
    store: Store, settings: Settings, group_id: str, collection: Collection, write: Write, anchor: str | None = None
) -> Outcome:
    """Create, update or merge the records `write` names; `anchor` is a hub id that must be among them."""
    group = await group_for_write(store, group_id)
    ids, hub_ids = idsvc.split(write.ids, group, settings.hub_provider)
    hub_ids = [*write.hub_ids, *hub_ids]
    ensure_one_per_app(ids)
    for attempt in range(RETRIES):
        try:
            async with store.transaction(group_id) as tx:
                return await _apply(tx, settings, group, collection, write, ids, hub_ids, anchor)
        except IdTaken:
            if attempt == RETRIES - 1:
                raise Conflict("the ids of this record kept changing under concurrent writes; try again") from None
    raise AssertionError("unreachable")


async def _apply(
    tx: Transaction,
    settings: Settings,
    group: Group,
    collection: Collection,
    write: Write,
    ids: list[ExternalId],
    hub_ids: list[str],
    anchor: str | None,
) -> Outcome:
    if anchor is not None:
        found = await tx.get(collection.name, [anchor])
        if anchor not in found:
            raise NotFound(f"no {collection.name} record {anchor}")
        hub_ids = [anchor, *hub_ids]
    matched = await idsvc.holders(tx, collection.name, ids, hub_ids)
    write = await directions.inbound(tx, collection.name, matched, ids, write)
    refs = await _resolve_references(tx, settings, group, collection, write.references)
    values = {**write.fields, **refs}
    status = values.pop("status", None)
    now = timefmt.now()
    if not matched:
        record = Record(
            idsvc.new_hub_id(),
            group.group_id,
            collection.name,
            await tx.next_seq(collection.name),
            status or "ACTIVE",
            now,
            now,
            {k: v for k, v in values.items() if v is not None},
            ids,
        )
        await tx.insert(record)
        await changes.record(tx, "create", collection.name, record)
        return Outcome(record, created=True)
    ordered = survivor_first(matched)
    survivor, others = ordered[0], ordered[1:]
    held = merged_ids(ordered, ids)
    if others:
        survivor.fields = merge_fields(ordered, values)
        await tx.merge(survivor, others)
    else:
        survivor.fields = {k: v for k, v in {**survivor.fields, **values}.items() if v is not None}
    created = survivor.placeholder and not others
    survivor.placeholder = False
    survivor.status = status or survivor.status
    survivor.updated_at = now
    already = {e for r in ordered for e in r.ids}
    await tx.save(survivor, [e for e in held if e not in already])
    fresh = await tx.get(collection.name, [survivor.hub_id])
    merged = [r.hub_id for r in others]
    if others:
        await changes.record(tx, "merge", collection.name, fresh[survivor.hub_id], merged=merged)
    else:
        await changes.record(tx, "create" if created else "update", collection.name, fresh[survivor.hub_id])
    return Outcome(fresh[survivor.hub_id], created=created, merged=merged)


async def _resolve_references(
    tx: Transaction, settings: Settings, group: Group, collection: Collection, given: dict[str, Any]
) -> dict[str, str]:
    """Each reference as the hub id of its live record; an unknown id array gets a placeholder."""
    resolved: dict[str, str] = {}
    for name, value in given.items():
        target = COLLECTIONS[collection.references[name]]
        if isinstance(value, str):
            value = [ExternalId(settings.hub_provider, group.channel_id, value)]
        ids, hub_ids = idsvc.split(value, group, settings.hub_provider, field=name)
        ensure_one_per_app(ids)
        matched = await idsvc.holders(tx, target.name, ids, hub_ids, field=name)
        if len(matched) > 1:
            raise Conflict(
                f"{name}: these ids belong to {len(matched)} different {target.name} records; merge them first",
                records=[r.hub_id for r in matched],
            )
        if not matched:
            resolved[name] = await _placeholder(tx, group, target, ids, name)
            continue
        record = matched[0]
        new = [e for e in ids if e not in record.ids]
        if new:
            ensure_one_per_app([*record.ids, *new], records=[record.hub_id])
            record.updated_at = timefmt.now()
            await tx.save(record, new)
            await changes.record(tx, "link", target.name, replace(record, ids=[*record.ids, *new]))
        resolved[name] = record.hub_id
    return resolved


async def _placeholder(tx: Transaction, group: Group, target: Collection, ids: list[ExternalId], field: str) -> str:
    if not ids:
        raise Invalid(f"{field}: an id array needs at least one app id", errors=[{"field": field, "message": "no ids"}])
    now = timefmt.now()
    record = Record(
        idsvc.new_hub_id(),
        group.group_id,
        target.name,
        await tx.next_seq(target.name),
        "ACTIVE",
        now,
        now,
        {},
        ids,
        placeholder=True,
    )
    await tx.insert(record)
    await changes.record(tx, "create", target.name, record, placeholder=True)
    return record.hub_id


async def archive(
    store: Store, group_id: str, collection: Collection, key: str, app: tuple[str, str] | None
) -> reading.View:
    """Set a record's status to ARCHIVED; its ids stay linked."""
    group = await reading.group_or_404(store, group_id)
    record = await reading.locate(store, group_id, collection, key, app)
    async with store.transaction(group_id) as tx:
        current = (await tx.get(collection.name, [record.hub_id]))[record.hub_id]
        current.status = "ARCHIVED"
        current.updated_at = timefmt.now()
        await tx.save(current, [])
        await changes.record(tx, "archive", collection.name, current)
    return await reading.view(store, group, collection, [current])
