"""Which outbound integrations a change reaches, and its queue items for them.

Changes are enqueued by `enqueue`, which `changes.record` calls inside the write
transaction of the change: the change and its queue items commit together, so an
item is never lost nor enqueued twice, and the filter sees the record exactly as
the change left it.
"""

from __future__ import annotations

from collections.abc import Sequence

from hub.model import queue
from hub.model.change import Change
from hub.model.collections import COLLECTIONS
from hub.model.integration import Definition, Integration, filter_of
from hub.model.key_link import parse_link_id
from hub.model.matching import matches
from hub.model.record import Record
from hub.store.base import Transaction


async def enqueue(tx: Transaction, changes: Sequence[tuple[Change, Record, Sequence[Record]]]) -> None:
    """Queue each change (of the record as it left it, with the others that concern it: see `reaches`) for every
    outbound integration that wants it; the integrations of a collection are read once."""
    items = []
    wanting: dict[str, Sequence[Integration]] = {}
    for change, record, also in changes:
        if change.collection not in wanting:
            wanting[change.collection] = await tx.outbound_integrations(change.collection)
        for integration in wanting[change.collection]:
            if reaches(integration.definition, change, record, also):
                items.append(queue.enqueued(change, integration.definition.name))
    if items:
        await tx.enqueue(items)


def reaches(definition: Definition, change: Change, record: Record, also: Sequence[Record]) -> bool:
    """Whether the integration wants the change and its filter matches the record as the change left it, or one of
    `also`: the records of a merge as they were, which an app may hold; or the change moves an id of the app's
    (`moves_ids_of`), matching or not. Placeholders count for neither: none is ever sent."""
    if not queue.wanted(definition, change, record, also):
        return False
    node = filter_of(definition)
    held = [r for r in (record, *also) if not r.placeholder]
    return any(matches(COLLECTIONS[r.collection], r, node) for r in held) or moves_ids_of(definition, change, held)


def moves_ids_of(definition: Definition, change: Change, records: Sequence[Record]) -> bool:
    """Whether the change moves an id of the integration's app: a merge or its undo holding one on any of its
    records, or the link, move or unlink of a key link of the app's. The app must learn where its ids went (or that
    one names nothing now), or it keeps two copies of one record, or looks its id up on the record it left."""
    if change.kind in ("merge", "unmerge"):
        return any(e.app == definition.app for r in records for e in r.ids)
    key = change.details.get("key_link")  # on the changes of key links alone
    named = parse_link_id(key) if isinstance(key, str) else None
    return named is not None and named[1].app == definition.app
