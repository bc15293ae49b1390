"""Create-or-update by any matching id: the one write path of records, merges included."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from hub.config import Settings
from hub.errors import HubError, NotFound
from hub.model import timefmt
from hub.model.collections import Collection
from hub.model.history import ANONYMOUS
from hub.model.ids import ExternalId, ensure_one_per_app
from hub.model.merge import merged_ids
from hub.model.record import Group, Record, Write
from hub.service import changes, directions, merging, reading, references
from hub.service import ids as idsvc
from hub.service.transact import each, transact
from hub.store.base import Store, Transaction


@dataclass
class Outcome:
    record: Record
    created: bool
    merged: list[str] = field(default_factory=list)
    refs: dict[tuple[str, str], Record] = field(default_factory=dict)
    """The live records the record's reference fields point to, read in the same transaction."""


async def group_for_write(store: Store, group_id: str) -> Group:
    """The group, created on first write with a channel generated once."""
    return await store.group(group_id) or await store.ensure_group(group_id, idsvc.new_channel_id())


async def upsert(
    store: Store,
    settings: Settings,
    group_id: str,
    collection: Collection,
    write: Write,
    anchor: str | None = None,
    actor: str = ANONYMOUS,
) -> Outcome:
    """Create, update or merge the records `write` names; `anchor` is a hub id that must be among them."""
    group = await group_for_write(store, group_id)
    return await transact(store, group_id, _work(settings, group, collection, write, anchor, actor))


async def upsert_many(
    store: Store,
    settings: Settings,
    group_id: str,
    collection: Collection,
    writes: Sequence[Write | HubError],
    actor: str = ANONYMOUS,
) -> list[Outcome | HubError]:
    """A batch: each write upserted as `upsert` would alone, in order, with its outcome or the error that refused it.

    An item already refused (a HubError given in place of its write) keeps its error; a refused
    item does not sink the others. A batch POST and `hub import` both write through here.
    """
    already: list[Outcome | HubError] = [w for w in writes if isinstance(w, HubError)]
    if len(already) == len(writes):
        return already
    group = await group_for_write(store, group_id)
    refused: dict[int, HubError] = {}
    works: dict[int, Callable[[Transaction], Awaitable[Outcome]]] = {}
    for index, write in enumerate(writes):
        if isinstance(write, HubError):
            refused[index] = write
            continue
        try:
            works[index] = _work(settings, group, collection, write, None, actor)
        except HubError as error:
            refused[index] = error
    ran = dict(zip(works, await each(store, group_id, list(works.values())), strict=True))
    return [refused[index] if index in refused else ran[index] for index in range(len(writes))]


def _work(
    settings: Settings, group: Group, collection: Collection, write: Write, anchor: str | None, actor: str
) -> Callable[[Transaction], Awaitable[Outcome]]:
    """The transaction's work of an upsert, after the checks that need no store (they raise here)."""
    ids, hub_ids = idsvc.split(write.ids, group, settings.hub_provider)
    hub_ids = [*write.hub_ids, *hub_ids]
    ensure_one_per_app(ids)

    async def work(tx: Transaction) -> Outcome:
        outcome = await _apply(tx, settings, group, collection, write, ids, hub_ids, anchor, actor)
        outcome.refs = await reading.referenced(tx.get, collection, [outcome.record])
        return outcome

    return work


async def _apply(
    tx: Transaction,
    settings: Settings,
    group: Group,
    collection: Collection,
    write: Write,
    ids: list[ExternalId],
    hub_ids: list[str],
    anchor: str | None,
    actor: str,
) -> Outcome:
    if anchor is not None:
        found = await tx.get(collection.name, [anchor])
        if anchor not in found:
            raise NotFound(f"no {collection.name} record {anchor}")
        hub_ids = [anchor, *hub_ids]
    matched = await idsvc.holders(tx, collection.name, ids, hub_ids)
    write = await directions.inbound(tx, collection.name, matched, ids, write)
    refs = await references.resolve(tx, settings, group, collection, write.references)
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
    if len(matched) > 1:
        why = await merging.matches(tx, settings, group, collection, matched, ids, hub_ids)
        merge = merging.Merge(values, status, ids, why, actor, "upsert")
        survivor, entry = await merging.merge(tx, group, collection, matched, merge)
        return Outcome(survivor, created=False, merged=entry.merged)
    record = matched[0]
    held = merged_ids(matched, ids)
    created = record.placeholder
    record.fields = {k: v for k, v in {**record.fields, **values}.items() if v is not None}
    record.placeholder = False
    record.status = status or record.status
    record.updated_at = now
    new_ids = [e for e in held if e not in record.ids]
    await tx.save(record, new_ids)
    if collection.name in collection.references.values():  # resolving a reference may have linked ids to it
        record = (await tx.get(collection.name, [record.hub_id]))[record.hub_id]
    else:  # as a re-read would show them: in link order, the new ones last
        record.ids = [*record.ids, *new_ids]
    await changes.record(tx, "create" if created else "update", collection.name, record)
    return Outcome(record, created=created)


async def archive(
    store: Store, group_id: str, collection: Collection, key: str, app: tuple[str, str] | None
) -> reading.View:
    """Set a record's status to ARCHIVED; its ids stay linked."""
    group = await reading.group_or_404(store, group_id)
    record = await reading.locate(store, group_id, collection, key, app)

    async def work(tx: Transaction) -> Record:
        current = (await tx.get(collection.name, [record.hub_id]))[record.hub_id]
        current.status = "ARCHIVED"
        current.updated_at = timefmt.now()
        await tx.save(current, [])
        await changes.record(tx, "archive", collection.name, current)
        return current

    # Re-run after a lost race: on a store with concurrent writers, any write of the group
    # that records a change at the same time conflicts with this one (the feed's order).
    current = await transact(store, group_id, work)
    return await reading.view(store, group, collection, [current])
