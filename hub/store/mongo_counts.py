"""Counts of listed records kept on MongoDB by the writes that change them, so an unfiltered page's
total is a read of one or two documents, not a count of every record the page's query matches.

`live_counts` holds, per group and collection, how many records a plain list shows (neither merged
away nor archived) and, per app, how many of those hold an id of the app: what SQLite's triggers
keep (`sqlite_counts`). MongoDB has no triggers, so each write of record documents in `mongo_tx`
reads the documents it is about to change, writes, and adjusts the counts in its transaction by
what those documents count after less what they counted before (`adjust`). The rule of what counts
is in one place (`_counted`), whatever the write did: a create, an archive or a revival, a merge,
an unmerge, ids moved or unlinked. The write transactions of a group already take turns
(`MongoStore.transaction`), so the count documents add no write conflicts.

A database written before the counts were kept is counted once, as the hub opens it, in one
transaction that also writes the marker document; until the marker exists, pages count their
totals as a filtered page does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from hub.model.query import ListQuery
from hub.store.mongo_query import aggregated, app_key

Doc = dict[str, Any]
Session = AsyncClientSession | None
COUNTS = "live_counts"
MARKER = "counted"
"""The `_id` of the document saying the counts are kept (the others' `_id`s are JSON arrays)."""
COUNTED = {"group": 1, "collection": 1, "status": 1, "merged_into": 1, "apps": 1}
"""What of a record document its counts depend on."""
_LIVE: Doc = {"merged_into": None, "status": {"$ne": "ARCHIVED"}}


def _key(group_id: str, collection: str, app: str) -> str:
    """The `_id` of a count: an app's (`app` is its `app_key`), or every listed record's (`app` empty)."""
    return orjson.dumps([group_id, collection, app]).decode()


def _counted(docs: Iterable[Doc]) -> Counter[str]:
    """What these record documents count for: each listed one once in all, and once per app it holds an id of."""
    counts: Counter[str] = Counter()
    for doc in docs:
        if doc.get("merged_into") is None and doc.get("status") != "ARCHIVED":
            for app in ("", *(doc.get("apps") or [])):
                counts[_key(doc["group"], doc["collection"], app)] += 1
    return counts


async def before(records: AsyncCollection[Doc], session: Session, where: Doc) -> list[Doc]:
    """The record documents a write is about to change (those `where` finds), as they count now."""
    return await records.find(where, COUNTED, session=session).to_list(None)


async def adjust(db: AsyncDatabase[Doc], session: Session, was: Sequence[Doc], now: Sequence[Doc]) -> None:
    """Move the counts by what the documents a write changed count now (`now`) less what they counted (`was`)."""
    delta = _counted(now)
    delta.subtract(_counted(was))
    for key, n in sorted(delta.items()):
        if n:
            await db[COUNTS].update_one({"_id": key}, {"$inc": {"n": n}}, upsert=True, session=session)


async def adjust_after(db: AsyncDatabase[Doc], session: Session, was: Sequence[Doc]) -> None:
    """`adjust` by the documents `was` read, as they are now (read again), after a write that changed them."""
    await adjust(db, session, was, await before(db["records"], session, {"_id": {"$in": [d["_id"] for d in was]}}))


async def kept_total(
    db: AsyncDatabase[Doc], session: Session, group_id: str, collection: str, query: ListQuery
) -> int | None:
    """The total of a page's listed records from the counts (not the archived ones it lists: `ListQuery.kept`); None
    for a query they do not count (a filter) or before they are kept."""
    if not query.kept:
        return None
    every = _key(group_id, collection, "")
    held = _key(group_id, collection, app_key(*query.app)) if query.app is not None else None
    wanted = [MARKER, every, *([held] if held else [])]
    found = {
        doc["_id"]: int(doc.get("n", 0))
        for doc in await db[COUNTS].find({"_id": {"$in": wanted}}, session=session).to_list(None)
    }
    if MARKER not in found:
        return None
    return query.total_of(found.get(every, 0), found.get(held, 0) if held else 0)


async def keep_counts(db: AsyncDatabase[Doc], session: Session) -> None:
    """Count what the database holds and write the marker, unless it is there (the counts are kept already).

    Run by `MongoStore.open` in a transaction of its own: a write committing meanwhile in another
    process touches a count this writes, so one of the two is re-run on the other's outcome.
    """
    counts = db[COUNTS]
    if await counts.find_one({"_id": MARKER}, session=session) is not None:
        return
    every: list[Doc] = [{"$match": _LIVE}, {"$group": {"_id": {"g": "$group", "c": "$collection"}, "n": {"$sum": 1}}}]
    apps: list[Doc] = [
        {"$match": {**_LIVE, "apps": {"$exists": True}}},
        {"$unwind": "$apps"},
        {"$group": {"_id": {"g": "$group", "c": "$collection", "a": "$apps"}, "n": {"$sum": 1}}},
    ]
    made = [{"_id": MARKER}]
    for pipeline in (every, apps):
        for doc in await aggregated(db["records"].aggregate(pipeline, session=session)):
            made.append({"_id": _key(doc["_id"]["g"], doc["_id"]["c"], doc["_id"].get("a", "")), "n": doc["n"]})
    await counts.delete_many({}, session=session)
    await counts.insert_many(made, session=session)
