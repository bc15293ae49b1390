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

`status_counts` holds, per group, collection and status but `ACTIVE` (`list_query.COUNTED_APART`), how
many records not merged away have it, what SQLite's `status_counts` keeps, by the same rule: with the
count of listed records they give the total of a filter on the status alone (`ListQuery.statuses`),
which `count_documents` counted record by record in the status's index. `app_status_counts` holds the
same per app (of the records holding an id of it), for an app's page (`opts[linked]`).

A database written before the counts were kept is counted once, as the hub opens it, in one
transaction that also writes the marker document of each collection of counts it lacks; until the
marker exists, pages count their totals as a filtered page does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from hub.model.list_query import COUNTED_APART, ListQuery
from hub.store.mongo_query import aggregated, app_key

Doc = dict[str, Any]
Session = AsyncClientSession | None
COUNTS = "live_counts"
STATUSES = "status_counts"
APP_STATUSES = "app_status_counts"
MARKER = "counted"
"""The `_id` of the document saying a collection's counts are kept (the others' `_id`s are JSON arrays)."""
COUNTED = {"group": 1, "collection": 1, "status": 1, "merged_into": 1, "apps": 1}
"""What of a record document its counts depend on."""
_LIVE: Doc = {"merged_into": None, "status": {"$ne": "ARCHIVED"}}


def _key(group_id: str, collection: str, what: str) -> str:
    """The `_id` of a count: in `live_counts` an app's (`what` is its `app_key`) or every listed record's (`what`
    empty); in `status_counts` a status's; in `app_status_counts` a status's among an app's (`_held`)."""
    return orjson.dumps([group_id, collection, what]).decode()


def _held(status: str, app: str) -> str:
    """What `_key` names of the count of a status among the records holding an id of an app (its `app_key`): a
    status holds no space."""
    return f"{status} {app}"


def _counted(docs: Iterable[Doc]) -> Counter[tuple[str, str]]:
    """What these record documents count for, as (collection of counts, `_id`): each listed one once in all and once
    per app it holds an id of; each not merged away once under its status, if `COUNTED_APART`, in all and per app."""
    counts: Counter[tuple[str, str]] = Counter()
    for doc in docs:
        if doc.get("merged_into") is not None:
            continue
        apps = doc.get("apps") or []
        if doc.get("status") != "ARCHIVED":
            for app in ("", *apps):
                counts[COUNTS, _key(doc["group"], doc["collection"], app)] += 1
        if (status := doc.get("status")) in COUNTED_APART:
            counts[STATUSES, _key(doc["group"], doc["collection"], status)] += 1
            for app in apps:
                counts[APP_STATUSES, _key(doc["group"], doc["collection"], _held(status, app))] += 1
    return counts


async def before(records: AsyncCollection[Doc], session: Session, where: Doc) -> list[Doc]:
    """The record documents a write is about to change (those `where` finds), as they count now."""
    return await records.find(where, COUNTED, session=session).to_list(None)


async def adjust(db: AsyncDatabase[Doc], session: Session, was: Sequence[Doc], now: Sequence[Doc]) -> None:
    """Move the counts by what the documents a write changed count now (`now`) less what they counted (`was`)."""
    delta = _counted(now)
    delta.subtract(_counted(was))
    for (counts, key), n in sorted(delta.items()):
        if n:
            await db[counts].update_one({"_id": key}, {"$inc": {"n": n}}, upsert=True, session=session)


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
    found = await _found(db[COUNTS], session, [MARKER, every, *([held] if held else [])])
    if MARKER not in found:
        return None
    return query.total_of(found.get(every, 0), found.get(held, 0) if held else 0)


async def status_total(
    db: AsyncDatabase[Doc], session: Session, group_id: str, collection: str, query: ListQuery
) -> int | None:
    """The total of a query of some statuses (`ListQuery.statuses`) from the counts of records listed and of each
    status counted apart, of all and of those holding an id of the query's app; None before they are kept."""
    app = app_key(*query.app) if query.app is not None else None
    every, held = _key(group_id, collection, ""), _key(group_id, collection, app or "")
    apart = {_key(group_id, collection, status): status for status in COUNTED_APART}
    apart_held = {_key(group_id, collection, _held(status, app or "")): status for status in COUNTED_APART}
    listed = await _found(db[COUNTS], session, [MARKER, every, held])
    statuses = await _found(db[STATUSES], session, [MARKER, *apart])
    statuses_held = await _found(db[APP_STATUSES], session, [MARKER, *apart_held]) if app else {MARKER: 0}
    if MARKER not in listed or MARKER not in statuses or MARKER not in statuses_held:
        return None
    return query.total_by_status(
        (listed.get(every, 0), {status: statuses.get(key, 0) for key, status in apart.items()}),
        (listed.get(held, 0), {status: statuses_held.get(key, 0) for key, status in apart_held.items()}),
    )


async def _found(counts: AsyncCollection[Doc], session: Session, keys: list[str]) -> dict[str, int]:
    """The counts of these `_id`s that `counts` holds (its marker's as 0)."""
    return {
        doc["_id"]: int(doc.get("n", 0))
        for doc in await counts.find({"_id": {"$in": keys}}, session=session).to_list(None)
    }


_LISTED: list[Doc] = [{"$match": _LIVE}, {"$group": {"_id": {"g": "$group", "c": "$collection"}, "n": {"$sum": 1}}}]
_APPS: list[Doc] = [
    {"$match": {**_LIVE, "apps": {"$exists": True}}},
    {"$unwind": "$apps"},
    {"$group": {"_id": {"g": "$group", "c": "$collection", "a": "$apps"}, "n": {"$sum": 1}}},
]
_APART: list[Doc] = [
    {"$match": {"merged_into": None, "status": {"$in": list(COUNTED_APART)}}},
    {"$group": {"_id": {"g": "$group", "c": "$collection", "a": "$status"}, "n": {"$sum": 1}}},
]
_APPS_APART: list[Doc] = [
    {"$match": {"merged_into": None, "status": {"$in": list(COUNTED_APART)}, "apps": {"$exists": True}}},
    {"$unwind": "$apps"},
    {
        "$group": {
            "_id": {"g": "$group", "c": "$collection", "a": {"$concat": ["$status", " ", "$apps"]}},
            "n": {"$sum": 1},
        }
    },
]
_FILLS: dict[str, tuple[list[Doc], ...]] = {
    COUNTS: (_LISTED, _APPS),
    STATUSES: (_APART,),
    APP_STATUSES: (_APPS_APART,),
}
"""Each collection of counts and the aggregations counting what a database holds for it (`_id.a`: what `_key`
names besides the group and collection)."""


async def keep_counts(db: AsyncDatabase[Doc], session: Session, again: bool = False) -> None:
    """Count what the database holds and write the marker of each collection of counts, unless it is there (its counts
    are kept already) and this is not a count `again` (`hub recount`).

    Run by `MongoStore.open` in a transaction of its own: a write committing meanwhile in another
    process touches a count this writes, so one of the two is re-run on the other's outcome.
    """
    for name, pipelines in _FILLS.items():
        counts = db[name]
        if not again and await counts.find_one({"_id": MARKER}, session=session) is not None:
            continue
        made = [{"_id": MARKER}]
        for pipeline in pipelines:
            for doc in await aggregated(db["records"].aggregate(pipeline, session=session)):
                made.append({"_id": _key(doc["_id"]["g"], doc["_id"]["c"], doc["_id"].get("a", "")), "n": doc["n"]})
        await counts.delete_many({}, session=session)
        await counts.insert_many(made, session=session)
