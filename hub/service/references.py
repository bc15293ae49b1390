"""Reference fields (e.g. a person's organization_id) resolved to the hub id of a live record."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from hub.config import Settings
from hub.errors import Conflict, Invalid
from hub.model import timefmt
from hub.model.collections import COLLECTIONS, Collection, referring
from hub.model.filter import Node
from hub.model.ids import ExternalId, ensure_holdable
from hub.model.integration import Integration
from hub.model.matching import matches
from hub.model.record import Group, Record, Write
from hub.service import changes
from hub.service import ids as idsvc
from hub.service.enqueuing import filter_through_merges, naming
from hub.store.base import Transaction


async def resolve(
    tx: Transaction,
    settings: Settings,
    group: Group,
    collection: Collection,
    write: Write,
    prefix: str = "",
) -> dict[str, str]:
    """Each reference of `write` as the hub id of its live record; an unknown id array gets a placeholder.

    A problem names the field as the body does: `prefix` is where the fields sit in it (a connect's `field_values.`).
    """
    resolved: dict[str, str] = {}
    for name, value in write.references.items():
        target = COLLECTIONS[collection.references[name]]
        where = prefix + name
        if isinstance(value, str):
            value = [group.own_id(settings.hub_provider, value)]
        ids, hub_ids = idsvc.split(value, group, settings.hub_provider, field=where)
        ensure_holdable(ids, field=where)
        matched = await idsvc.holders(tx, target.name, ids, hub_ids, field=where)
        write.ensure_held(name, matched)
        if len(matched) > 1:
            raise Conflict(
                f"{where}: these ids belong to {len(matched)} different {target.name} records; merge them first",
                records=[r.hub_id for r in matched],
            )
        if not matched:
            resolved[name] = await _placeholder(tx, group, target, ids, where)
            continue
        record = matched[0]
        new = [e for e in ids if e not in record.ids]
        if new:
            ensure_holdable([*record.ids, *new], records=[record.hub_id], field=where)
            before = changes.touch(record, timefmt.now())
            await tx.save(record, new)
            await changes.record_current(tx, "link", target.name, record.hub_id, [before])
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


async def ids_left(
    tx: Transaction, target: str, hub_ids: Iterable[str], now: str, earlier: Mapping[str, Node | None] | None = None
) -> None:
    """Record as updated, at `now`, each record referring to one of these records (or to a tombstone of one), whose
    references show other ids now: ids left them (an undo gave them back to the records it restored, a key link moved
    or was deleted), or an undo made them records again (a reference to one showed its survivor).

    A reference shows the ids its record holds, and an app syncing by them keeps the reference as its own id: one
    that left the record names another record now, or none. Nothing of the referring record changed, so nothing was
    sent, and the app kept a person's organization as the one it was merged with, or the one its id moved to. Ids
    added to a record (a link, a merge) need none of this: the ids a reference showed still name its record.

    `earlier` are the filters on references as they read before an undo (`Watched`): until it, a reference to any of
    its records read as its survivor, and `organization_id eq` one of them matched them all.
    """
    named = [alias for hub_id in dict.fromkeys(hub_ids) for alias in [hub_id, *await tx.aliases(target, hub_id)]]
    for collection, fields in referring(target).items():
        await _updated(tx, collection, await _referrers(tx, collection, fields, named), now, earlier)


@dataclass
class Watched:
    """The outbound integrations whose filter names a field referring to records of `target`, by the collection
    holding the field; and, in `earlier`, each of their filters, and those of `target`'s integrations naming its
    records by hub id, as they read before a merge or its undo (`filter_through_merges`): a reference to one of its
    records, or its hub id, reads otherwise after it (`id ne 'T'` reads `not (id in (S, T))` once T is merged into
    S)."""

    target: str
    integrations: dict[str, list[Integration]]
    earlier: dict[str, Node | None]


async def watch(tx: Transaction, target: str) -> Watched:
    """The filters on references to records of `target`, or on their hub ids, as they read before a merge or an
    undo of such records: none in most groups, and then `turned` reads no referrer."""
    watched = Watched(target, {}, {})
    for collection, fields in referring(target).items():
        for integration, node in await naming(tx, collection, fields):
            watched.integrations.setdefault(collection, []).append(integration)
            watched.earlier[integration.name] = node
    watched.earlier.update((i.name, node) for i, node in await naming(tx, target, ["id"]))
    return watched


async def turned(tx: Transaction, watched: Watched, hub_ids: Sequence[str], now: str) -> None:
    """Record as updated, at `now`, each record referring to one of these records (or to a tombstone of one) that a
    watched filter matched before the merge or undo and no longer does, or the other way. A reference to a merged
    record reads as its survivor (`reading.through_merges`): after a merge into O, `organization_id eq 'O'` matches
    the people of the organization merged away, `ne 'O'` no longer does; after its undo, the other way. Nothing of
    those people changed, so an integration of people filtering so was never sent the ones it now wants, and kept
    those it no longer does."""
    if not watched.integrations or not hub_ids:
        return
    named = [alias for hub_id in hub_ids for alias in [hub_id, *await tx.aliases(watched.target, hub_id)]]
    for collection, integrations in watched.integrations.items():
        both = [(watched.earlier[i.name], await filter_through_merges(tx.get, tx.aliases, i)) for i in integrations]
        referrers = await _referrers(tx, collection, referring(watched.target)[collection], named)
        touched = {h: (r, names) for h, (r, names) in referrers.items() if any(_turned(r, *f) for f in both)}
        await _updated(tx, collection, touched, now, watched.earlier)


def _turned(record: Record, was: Node | None, now: Node | None) -> bool:
    """Whether a filter as it read before a merge or undo (`was`) and as it reads since (`now`) tell the record
    apart."""
    entity = COLLECTIONS[record.collection]
    return matches(entity, record, was) != matches(entity, record, now)


async def _referrers(
    tx: Transaction, collection: str, fields: Sequence[str], named: Sequence[str]
) -> dict[str, tuple[Record, list[str]]]:
    """The records of `collection` whose fields refer to one of the `named` hub ids, with the fields that do."""
    found: dict[str, tuple[Record, list[str]]] = {}
    for name in fields:
        for record in await tx.referrers(collection, name, named):
            found.setdefault(record.hub_id, (record, []))[1].append(name)
    return found


async def _updated(
    tx: Transaction,
    collection: str,
    touched: dict[str, tuple[Record, list[str]]],
    now: str,
    earlier: Mapping[str, Node | None] | None,
) -> None:
    """Record each record `touched` as updated through the reference fields named beside it, at `now`, with the
    record as it was, judged by the filters as they read before (`earlier`, `enqueuing.enqueue`)."""
    await tx.touch(collection, list(touched), now)
    by_fields: dict[tuple[str, ...], list[tuple[Record, Record]]] = {}
    for record, names in touched.values():
        by_fields.setdefault(tuple(names), []).append((record, changes.touch(record, now)))
    for through, records in by_fields.items():
        made: list[changes.Made] = [("update", collection, r, frozenset(through), [b]) for r, b in records]
        await changes.record_each(tx, made, earlier, references=list(through))
