"""Which outbound integrations a change reaches, and its queue items for them.

Changes are enqueued by `enqueue`, which `changes.record` calls inside the write
transaction of the change: the change and its queue items commit together, so an
item is never lost nor enqueued twice, and the filter sees the record exactly as
the change left it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from hub.model import queue
from hub.model.change import Change
from hub.model.collections import COLLECTIONS
from hub.model.connect import hidden_from_app
from hub.model.filter import Node, fields_of
from hub.model.ids import ExternalId
from hub.model.integration import Definition, Integration, filter_of
from hub.model.key_link import parse_link_id
from hub.model.matching import matches
from hub.model.record import Record
from hub.service.reading import Aliases, Get, through_merges
from hub.store.base import Transaction

Reached = tuple[Change, Record, Definition, bool]
"""A change, its record, an integration it reaches, and whether it takes the record into that integration's filter
or out of it (`_turns`)."""


async def enqueue(
    tx: Transaction,
    changes: Sequence[tuple[Change, Record, Sequence[Record]]],
    earlier: Mapping[str, Node | None] | None = None,
) -> None:
    """Queue each change (of the record as it left it, with the others that concern it: see `reaches`) for every
    outbound integration that wants it and is sent something new by it (`_unseen`); the integrations of a collection
    are read once, and so are the directions of their apps' ids. `earlier` are integrations' filters as they read
    before the changes, where a merge or its undo made them read otherwise (`references.watch`)."""
    earlier = earlier or {}
    reached: list[Reached] = []
    wanting: dict[str, Sequence[Integration]] = {}
    filters: dict[str, Node | None] = {}  # each integration's, read (a store read per hub id it names) when wanted
    for change, record, also in changes:
        if change.collection not in wanting:
            wanting[change.collection] = await tx.outbound_integrations(change.collection)
        for integration in wanting[change.collection]:
            definition = integration.definition
            if not queue.wanted(definition, change, record, also):
                continue
            if definition.name not in filters:
                filters[definition.name] = await filter_through_merges(tx.get, tx.aliases, integration)
            node = filters[definition.name]
            was = earlier.get(definition.name, node)
            if reaches(definition, node, change, record, also, was) or await _awaited(tx, definition, change, also):
                reached.append((change, record, definition, _turns(record, node, also, was)))
    unseen = await _unseen(tx, reached)
    items = [queue.enqueued(change, d.name) for n, (change, _, d, _) in enumerate(reached) if n not in unseen]
    if items:
        await tx.enqueue(items)


async def _awaited(tx: Transaction, definition: Definition, change: Change, also: Sequence[Record]) -> bool:
    """Whether a merge takes away a record an item of the integration still waits to deliver (a dead one too, which
    a retry by hand delivers): the app may hold it (that item taking it out of the filter not handed out yet), and
    the item, shown with the survivor, cannot tell the app to drop the copy it keeps under the hub id taken away;
    only the merge's `merged` does."""
    if change.kind != "merge":
        return False
    taken = [r.hub_id for r in also if r.hub_id != change.hub_id and not r.placeholder]
    return bool(taken) and bool(await tx.waiting_for(definition.name, taken, [], dead=True))


async def _unseen(tx: Transaction, reached: Sequence[Reached]) -> set[int]:
    """Which of those reached are updates of fields that do not sync out to the integration's app alone
    (`hidden_from_app`), or of none, that take the record neither into its filter nor out of it (`_turns`): sent,
    they would show the app nothing new but the record's `updated_at`. The directions are those of the app's id on
    the record (a record holding none was never connected to it), read at once for all the updates that name what
    they touched."""
    asked: dict[int, tuple[str, ExternalId | None, frozenset[str]]] = {}
    for n, (change, record, definition, turns) in enumerate(reached):
        touched = change.touched_for(definition.app)
        if change.kind == "update" and touched is not None and not turns:
            ext = next((e for e in record.ids if e.app == definition.app), None)
            asked[n] = (change.collection, ext, touched)
    hidden: dict[tuple[str, ExternalId | None], frozenset[str]] = {}
    for collection in {c for c, _, _ in asked.values()}:
        wanted = list(dict.fromkeys(ext for c, ext, _ in asked.values() if c == collection and ext is not None))
        for ext, directions in (await tx.field_sync(collection, wanted) if wanted else {}).items():
            hidden[(collection, ext)] = hidden_from_app(directions)
    return {n for n, (c, ext, touched) in asked.items() if touched <= hidden.get((c, ext), frozenset())}


def _turns(record: Record, node: Node | None, also: Sequence[Record], was: Node | None) -> bool:
    """Whether the filter (`node`) tells the record as a change left it from the record as it was (`also`, judged
    by the filter as it read before, `was`): an app must hear of a record brought into its filter (never sent it)
    or taken out of it (to drop its copy) whatever the change wrote, hidden fields or `updated_at` alone. A change
    with no record as it was counts as turning one."""
    if node is None and was is None:
        return False
    if not also:
        return True
    entity = COLLECTIONS[record.collection]
    now = matches(entity, record, node)
    return any(matches(entity, r, was) != now for r in also)


async def naming(tx: Transaction, collection: str, fields: Iterable[str]) -> list[tuple[Integration, Node | None]]:
    """The collection's outbound integrations whose filter names one of `fields`, each with its filter as it reads
    now (`filter_through_merges`): before a merge or its undo, which makes a filter naming a record by hub id, or
    comparing a reference to one, read otherwise (`enqueue`'s `earlier`)."""
    named = []
    for integration in await tx.outbound_integrations(collection):
        node = filter_of(integration.definition)
        if node is not None and any(path[0] in fields for path in fields_of(node)):
            named.append((integration, await filter_through_merges(tx.get, tx.aliases, integration)))
    return named


async def filter_through_merges(get: Get, aliases: Aliases, integration: Integration) -> Node | None:
    """The integration's filter as a list's `$filter` is read (`reading.through_merges`), by a transaction's reads or
    the store's: a hub id it compares a reference field to stands for that record and every record merged into it.
    Compared as given, `organization_id eq 'O'` left out of the queue the people of an organization merged into O,
    which a list by the same filter shows."""
    node = filter_of(integration.definition)
    if node is None:
        return None
    return await through_merges(get, aliases, COLLECTIONS[integration.definition.entity], node)


def reaches(
    definition: Definition, node: Node | None, change: Change, record: Record, also: Sequence[Record], was: Node | None
) -> bool:
    """Whether a change the integration wants (`queue.wanted`) has its filter (`node`, as `filter_through_merges`
    reads it) match the record as the change left it, or its filter as it read before the change (`was`) match one
    of `also`, the records as they were before it (a merge's, which an app may hold, or the record an update took out
    of the filter, which the app must hear has left it: syncing `status eq 'ACTIVE'`, it kept archived records
    active); or moves an id of the app's (`moves_ids_of`), matching or not. Placeholders count for none: none is
    ever sent."""
    held = [(r, f) for r, f in [(record, node), *((r, was) for r in also)] if not r.placeholder]
    return any(matches(COLLECTIONS[r.collection], r, f) for r, f in held) or moves_ids_of(
        definition, change, [r for r, _ in held]
    )


def moves_ids_of(definition: Definition, change: Change, records: Sequence[Record]) -> bool:
    """Whether the change moves an id of the integration's app: a merge or its undo holding one on any of its
    records, or the link, move or unlink of a key link of the app's. The app must learn where its ids went (or that
    one names nothing now), or it keeps two copies of one record, or looks its id up on the record it left."""
    if change.kind in ("merge", "unmerge"):
        return any(e.app == definition.app for r in records for e in r.ids)
    key = change.details.get("key_link")  # on the changes of key links alone
    named = parse_link_id(key) if isinstance(key, str) else None
    return named is not None and named[1].app == definition.app
