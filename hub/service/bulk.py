"""Importing and exporting many records.

An import is the batch POST of `batch.upsert_many`, chunk after chunk, with a progress count.
There is no second write path: each chunk goes through exactly what `POST …/{collection}`
with a list does, so an import stores the same records, links, changes, queue items and
merge history as posting the same bodies would (only hub ids and times differ).

An export reads the collection page after page, each page the records after the last code
seen: one index range per page, so no read grows with the position.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Any

from hub.config import Settings
from hub.errors import HubError
from hub.model.collections import Collection
from hub.model.list_query import ListQuery
from hub.model.payload import parse_write
from hub.model.record import Write, checked_group_id
from hub.service import reading
from hub.service.batch import upsert_many
from hub.service.upsert import Outcome
from hub.store.base import Store

ACTOR = "admin (hub import)"
"""Who the merge history says merged records during an import (the API names the key instead)."""
EXPORT_PAGE = 1000
"""Records one read of an export takes."""


@dataclass
class Imported:
    """What an import did: counts, and the failed items by position (0-based) with their problem."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    """Items that gave their record nothing new (nothing recorded)."""
    errors: list[tuple[int, HubError]] = field(default_factory=list)


async def import_records(
    store: Store,
    settings: Settings,
    group_id: str,
    collection: Collection,
    items: Iterable[Any],
    progress: Callable[[int], None] = lambda done: None,
    chunk: int | None = None,
) -> Imported:
    """Upsert every item (a record body as POSTed), `chunk` at a time (default: the largest batch a POST takes).

    An item may be a HubError already (e.g. a line that is not JSON): it is counted as refused.
    `progress` is told how many items are done after each chunk.
    """
    checked_group_id(group_id)
    size = chunk or settings.max_batch
    report = Imported()
    done = 0
    source = iter(items)
    while block := list(islice(source, size)):
        writes: list[Write | HubError] = []
        for item in block:
            if isinstance(item, HubError):
                writes.append(item)
                continue
            try:
                writes.append(parse_write(collection, item))
            except HubError as error:
                writes.append(error)
        results = await upsert_many(store, settings, group_id, collection, writes, ACTOR)
        for index, result in enumerate(results, done):
            if isinstance(result, Outcome):
                report.created += result.created
                report.updated += result.changed and not result.created
                report.unchanged += not result.changed
            else:
                report.errors.append((index, result))
        done += len(block)
        progress(done)
    return report


async def export_records(store: Store, group_id: str, collection: Collection) -> AsyncIterator[reading.View]:
    """Every live record of the collection, archived ones too, in code order, a page at a time; not placeholders.

    A placeholder holds only ids, which the records referring to it show; its line would import back as an
    upsert of a record with its ids, which fills a placeholder in: a create of an empty record, sent on.

    Each page's `total` is the records there were as the first page was read, less the placeholders left out
    so far: what the export writes, as far as it knows (counted with them, it ended short of its total). A page
    of placeholders alone comes with no records, for its total. Not a snapshot: each
    page shows its records as it read them, so a record merged away before its page came is left
    out (its survivor is in some page, as that page found it), and one created meanwhile shows if
    its code is still ahead. No record shows twice: a record's code never changes.
    """
    checked_group_id(group_id)  # else said to be no group, as if one could have that id
    after, total = 0, 0
    while True:
        query = ListQuery(top=EXPORT_PAGE, include_archived=True, count=after == 0, after=after)
        page = await reading.fetch_page(store, group_id, collection, query)
        shown = [r for r in page.records if not r.placeholder]
        total = (page.total or 0 if after == 0 else total) - (len(page.records) - len(shown))
        if page.records:
            yield replace(page, records=shown, total=total)
        if len(page.records) < EXPORT_PAGE:
            return
        after = page.records[-1].seq
