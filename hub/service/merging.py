"""Merging records into one, recording each merge, and undoing one.

Every merge goes through `merge`: the automatic one of an upsert whose ids name several
records, the explicit one a client asks for, and a connect's or a key link's of the
placeholders holding the id it links (`taking_in`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hub.config import Settings
from hub.errors import Conflict, Invalid, NotFound, quoted
from hub.model import timefmt
from hub.model.change import archives
from hub.model.collections import Collection
from hub.model.history import (
    HistoryPage,
    Match,
    MergeEntry,
    Snapshot,
    Undo,
    ensure_recordable,
    unknown_merge,
    unmerged_survivor,
    walk,
)
from hub.model.ids import ExternalId
from hub.model.merge import merge_fields, merged_ids, survivor_first
from hub.model.payload import CHOSEN, MergeAsk
from hub.model.record import Group, Record
from hub.service import changes, directions, reading, references
from hub.service import ids as idsvc
from hub.service.transact import transact
from hub.store.base import Store, Transaction


@dataclass
class Merge:
    """What a merge asks for besides its records: chosen values, ids to add, and who and why."""

    values: dict[str, Any]
    status: str | None
    new_ids: list[ExternalId]
    matched: list[Match]
    actor: str
    trigger: str


async def merge(
    tx: Transaction, group: Group, collection: Collection, records: Sequence[Record], ask: Merge
) -> tuple[Record, MergeEntry]:
    """Merge the records into the oldest and record it; 409 (before any write) if an app would hold two ids, and
    409 (the transaction's writes rolled back) if the merge's history would pass its bound (`ensure_recordable`).

    Placeholders merged into a record that is no placeholder (an upsert's merge, or values chosen) are that
    record's creation: a `create` follows the `merge`, as when one placeholder is filled in, so an integration
    sending creates only sends the record, which it had never seen. A merge setting the status to ARCHIVED is
    followed by an `archive`, as an update setting it is one. The `merge` reaches every integration whose filter
    the survivor (before or after), or a record merged away as it was, matches, and every app with an id on one
    (`enqueuing.reaches`): an app sent that record, or holding it, must drop its copy, or learn the survivor left
    its filter."""
    ordered = survivor_first(records)
    placeholders = all(r.placeholder for r in ordered)
    held = merged_ids(ordered, ask.new_ids)
    before = [Snapshot.of(r, await tx.aliases(collection.name, r.hub_id)) for r in ordered]
    survivor, others = ordered[0], ordered[1:]
    now = timefmt.now()
    was = changes.touch(survivor, now)  # its fields and status are replaced below: a filter it leaves hears of it
    watched = await references.watch(tx, collection.name)  # as they read before the merge
    survivor.fields = merge_fields(ordered, ask.values)
    survivor.status = ask.status or survivor.status
    survivor.placeholder = placeholders and _keeps_placeholder(ask)
    await tx.merge(survivor, others)
    already = {e for r in ordered for e in r.ids}
    await tx.save(survivor, [e for e in held if e not in already])
    fresh = (await tx.get(collection.name, [survivor.hub_id]))[survivor.hub_id]
    requested = {**ask.values, **({"status": ask.status} if ask.status else {})}
    entry = MergeEntry(
        idsvc.new_merge_id(),
        group.group_id,
        collection.name,
        now,
        ask.actor,
        ask.trigger,
        sorted(ask.matched, key=lambda m: [r.hub_id for r in ordered].index(m.hub_id)),
        requested,
        before,
        Snapshot.of(fresh),
    )
    ensure_recordable(entry)  # after the writes that make `fresh`, which the transaction rolls back
    await tx.put_merge(entry)
    await changes.record(
        tx,
        "merge",
        collection.name,
        fresh,
        [was, *others],
        earlier=watched.earlier,
        merged=_told(entry),
        merge_id=entry.merge_id,
    )
    if placeholders and not fresh.placeholder:
        await changes.record(
            tx, "create", collection.name, fresh, **await changes.filled_in(tx, collection.name, fresh.hub_id)
        )
    elif archives(ask.status, before[0].status):
        await changes.record(tx, "archive", collection.name, fresh)
    await references.turned(tx, watched, [fresh.hub_id], now)
    return fresh, entry


def _told(entry: MergeEntry) -> list[str]:
    """The hub ids the `merge` change names as merged away: the records it took and, where it makes placeholders part
    of a real record, the placeholders merged into them before. Those merges left a placeholder and were not sent,
    while apps were sent the records referring to each by its hub id: this merge is the first they hear of the
    record those ids name now (as the `create` filling one in is, `changes.filled_in`)."""
    if entry.after.placeholder:
        return entry.merged
    return [*entry.merged, *(alias for s in entry.before if s.placeholder for alias in s.aliases)]


def _keeps_placeholder(ask: Merge) -> bool:
    """Whether a merge of placeholders leaves one: an explicit merge choosing nothing leaves one holding ids only,
    which the real record fills in on arriving (answered 201, recorded as its create, which integrations sending
    creates only send); so do a key link's, and a connect's, which fills it in itself where it brings values for
    the hub, as a connect of one placeholder does. An upsert's merge is the real record arriving. A field chosen
    null chooses nothing: it clears what placeholders do not hold (nested objects come null when all their members
    are)."""
    chooses = any(v is not None for v in ask.values.values()) or ask.status is not None
    return ask.trigger in ("request", "connect", "key_link") and not chooses


async def taking_in(
    tx: Transaction,
    settings: Settings,
    group: Group,
    collection: Collection,
    record: Record,
    placeholders: Sequence[Record],
    ext: ExternalId,
    actor: str,
    trigger: str,
) -> Record:
    """`record` with the `placeholders` holding `ext` merged into it (the survivor, the oldest of them): a reference
    to `ext` made each, and it stood for the record an app now links `ext` to (by a connect or a key link), as an
    upsert naming both would merge them. Left apart, the link was a 409, or, moved, left a placeholder of no app id
    that the records referring to it went on showing."""
    why = await matches(tx, settings, group, collection, [record, *placeholders], [ext], [record.hub_id])
    merged, _ = await merge(tx, group, collection, [record, *placeholders], Merge({}, None, [], why, actor, trigger))
    return merged


async def matches(
    tx: Transaction,
    settings: Settings,
    group: Group,
    collection: Collection,
    records: Sequence[Record],
    ids: Sequence[ExternalId],
    hub_ids: Sequence[str],
) -> list[Match]:
    """Why each record is in a merge: the given ids it holds and the given hub ids that name it."""
    named = await tx.get(collection.name, hub_ids) if hub_ids else {}
    return [
        Match(
            record.hub_id,
            [
                *(
                    group.own_id(settings.hub_provider, h)
                    for h in dict.fromkeys(hub_ids)
                    if h in named and named[h].hub_id == record.hub_id
                ),
                *(e for e in dict.fromkeys(ids) if e in record.ids),
            ],
        )
        for record in records
    ]


class _Preview(Exception):
    """Leaves a dry run's transaction, so that nothing it wrote stays."""

    def __init__(self, shown: reading.View, entry: MergeEntry) -> None:
        self.shown = shown
        self.entry = entry


async def merge_records(
    store: Store,
    settings: Settings,
    group_id: str,
    collection: Collection,
    key: str,
    app: tuple[str, str] | None,
    ask: MergeAsk,
    actor: str,
) -> tuple[reading.View, MergeEntry]:
    """The explicit merge of a record and the records `ask` names, the survivor with the records it refers to as
    the merge left them (read in its transaction: a dry run's placeholders are gone after it); a dry run writes
    nothing."""
    group = await reading.group_or_404(store, group_id)

    async def work(tx: Transaction) -> tuple[reading.View, MergeEntry]:
        app_ids: list[ExternalId] = []
        hub_ids = [(await reading.locate_in(tx, collection, key, app)).hub_id]
        records = await idsvc.holders(tx, collection.name, [], hub_ids, field="id")
        for index, named in enumerate(ask.records):
            where = f"records.{index}"
            apps, hubs = (
                ([], [named]) if isinstance(named, str) else idsvc.split(named, group, settings.hub_provider, where)
            )
            found = await idsvc.holders(tx, collection.name, apps, hubs, field=where)
            if not found:
                raise Invalid(
                    f"{where}: no {collection.name} record holds any of these ids",
                    errors=[{"field": where, "message": "unknown ids"}],
                )
            app_ids += apps
            hub_ids += hubs
            records += [r for r in found if all(r.hub_id != known.hub_id for known in records)]
        if len(records) < 2:
            raise Invalid(f"records: they name only the record {records[0].hub_id} itself; nothing to merge")
        chosen = await directions.inbound(tx, collection.name, records, [], ask.write)  # an app key's: its own kept
        refs = await references.resolve(tx, settings, group, collection, chosen, CHOSEN)
        values = {**chosen.fields, **refs}
        status = values.pop("status", None)
        why = await matches(tx, settings, group, collection, records, app_ids, hub_ids)
        survivor, entry = await merge(tx, group, collection, records, Merge(values, status, [], why, actor, "request"))
        shown = reading.View(group, [survivor], await reading.referenced(tx.get, collection, [survivor]))
        if ask.dry_run:
            raise _Preview(shown, entry)
        return shown, entry

    try:
        return await transact(store, group_id, work)
    except _Preview as preview:
        return preview.shown, preview.entry


async def unmerge(
    store: Store,
    group_id: str,
    collection: Collection,
    key: str,
    app: tuple[str, str] | None,
    merge_id: str,
    actor: str,
) -> tuple[list[Record], MergeEntry]:
    """Undo a merge: the merged-away records live again with their own ids and fields.

    Refused (409, saying why) once the merge cannot be undone as recorded: undone already,
    its survivor merged away since, or one of the ids it moved held elsewhere since.

    Each restored record's `unmerge` reaches the integrations whose filter it matches; the survivor's reaches too
    those its merge reached (it matched before the undo, or a restored record matches): an app holding the
    survivor must learn which ids left it, or it holds them twice once a restored record comes. Each also reaches
    every app with an id on the records concerned (`enqueuing.reaches`).
    """
    await reading.group_or_404(store, group_id)

    async def work(tx: Transaction) -> tuple[list[Record], MergeEntry]:
        located = await reading.locate_in(tx, collection, key, app)
        entry = await tx.merge_entry(merge_id)
        current = await tx.get(collection.name, entry.members) if entry and entry.collection == collection.name else {}
        # the record the path names must be one of the merge's now: by an app id, the key is that app's, and one
        # spelling a member's hub id undid a merge of another record
        if entry is None or located.hub_id not in {r.hub_id for r in current.values()}:
            raise NotFound(f"no merge {quoted(merge_id)} of {collection.name} record {quoted(key)}")
        survivor = await _undoable(tx, entry, current, collection)
        watched = await references.watch(tx, collection.name)  # as they read before the undo
        now = timefmt.now()
        for snapshot in entry.before[1:]:
            await tx.restore(snapshot.restored(group_id, collection.name, now), snapshot.aliases)
            await tx.move_ids(collection.name, snapshot.ids, snapshot.hub_id)
        reverted = unmerged_survivor(entry, survivor)
        reverted.updated_at = now
        await tx.save(reverted, [])
        entry.undone = Undo(now, actor)
        await tx.put_merge(entry)
        fresh = await tx.get(collection.name, entry.members)
        restored = [snapshot.hub_id for snapshot in entry.before[1:]]
        # a placeholder given its ids back was sent with the survivor holding them (`queue.placeholder_again`)
        also = {entry.survivor: [survivor, *(fresh[h] for h in restored)]}
        also.update({h: [survivor] for h in restored if fresh[h].placeholder})
        for hub_id in entry.members:
            record = fresh[hub_id]
            await changes.record(
                tx,
                "unmerge",
                collection.name,
                record,
                also.get(hub_id, []),
                earlier=watched.earlier,
                merge_id=entry.merge_id,
            )
        gave_back = any(snapshot.ids for snapshot in entry.before[1:])  # else no id left the survivor
        await references.ids_left(tx, collection.name, [entry.survivor] * gave_back + restored, now, watched.earlier)
        await references.turned(tx, watched, [entry.survivor] * (not gave_back), now)
        return [fresh[h] for h in entry.members], entry

    return await transact(store, group_id, work)


async def _undoable(tx: Transaction, entry: MergeEntry, current: dict[str, Record], collection: Collection) -> Record:
    """The survivor as it is now, if the merge can still be undone; else a 409 that says why."""
    if entry.undone is not None:
        raise Conflict(
            f"merge {entry.merge_id} was undone already, at {entry.undone.at} by {entry.undone.actor}",
            merge=entry.merge_id,
        )
    survivor = current.get(entry.survivor)
    if survivor is None or survivor.hub_id != entry.survivor:
        now = survivor.hub_id if survivor else "nothing"
        raise Conflict(
            f"merge {entry.merge_id} cannot be undone: its survivor {entry.survivor} was merged into {now} since;"
            " undo that merge first",
            merge=entry.merge_id,
            records=[entry.survivor, now],
        )
    for snapshot in entry.before[1:]:
        holder = current.get(snapshot.hub_id)
        if holder is None or holder.hub_id != entry.survivor:
            raise Conflict(
                f"merge {entry.merge_id} cannot be undone: record {snapshot.hub_id} no longer points to"
                f" {entry.survivor}",
                merge=entry.merge_id,
            )
        gone = [e for e in snapshot.ids if e not in survivor.ids]
        if gone:
            held = {e: r.hub_id for r in await tx.match(collection.name, gone) for e in r.ids}
            where = "; ".join(
                f"{e.provider}/{e.realm} id {e.id} is now "
                + (f"held by {held[e]}" if e in held else "linked to no record")
                for e in gone
            )
            raise Conflict(
                f"merge {entry.merge_id} cannot be undone: ids it moved from {snapshot.hub_id} to"
                f" {entry.survivor} moved again since ({where})",
                merge=entry.merge_id,
                ids=[e.as_json() for e in gone],
            )
    return survivor


async def history(
    store: Store, group_id: str, collection: Collection, key: str, app: tuple[str, str] | None, page: HistoryPage
) -> tuple[list[MergeEntry], str | None]:
    """A page of the merges of a record (and of the records merged into it), newest first, and the `$skiptoken` of
    the page after while more follow.

    A token goes on only the walk of this record's history: it names the walk as the path does (`walk`: a merge
    undone since gives a path's merged-away id, or an app's id, back to the record whose history is the rest of the
    walk), or names a record that is this one still or was merged into it since (its history is in this one's)."""
    await reading.group_or_404(store, group_id)
    record = await reading.locate(store, group_id, collection, key, app)
    named = walk(key, app)
    if page.after is not None and page.record not in (None, named, record.hub_id):  # the record walked, or another?
        walked = (await store.get(group_id, collection.name, [page.record])).get(page.record)
        if walked is None or walked.hub_id != record.hub_id:
            raise unknown_merge(page.after)
    entries, more = await store.merges(group_id, collection.name, record.hub_id, page)
    return entries, page.token(named, entries[-1], len(entries)) if more else None
