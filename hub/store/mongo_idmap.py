"""The id map on MongoDB beyond plain upserts: ids moved between records (merges, key links
moved, undos) or unlinked, tombstones restored, the merge history, and key link searches.

Each function works with the session it is handed: a write transaction's, a read-only
transaction's (`MongoStore`), or None on a test double without sessions. The layout is described
in `mongo_query`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from hub.model.history import HistoryPage, MergeEntry, unknown_merge
from hub.model.ids import ExternalId
from hub.model.key_link import KeyLink, LinkQuery
from hub.model.record import Record
from hub.store.base import IdTaken
from hub.store.mongo_query import (
    HISTORY_ORDER,
    aggregated,
    compile_links,
    ext,
    holding,
    id_key,
    link_order,
    link_position,
    set_ids,
)

Doc = dict[str, Any]
Session = AsyncClientSession | None


def one_per_app(ids: Sequence[ExternalId], hub_id: str) -> None:
    """A record holds one id per app: what the unique index cannot check inside one document."""
    apps = [e.app for e in ids]
    if len(set(apps)) < len(apps):
        raise IdTaken(f"record {hub_id} would hold two ids of one app")


def _ids(doc: Doc) -> list[Doc]:
    """A record document's id entries, in link order."""
    return list(doc.get("ids") or [])


async def _rewrite(
    records: AsyncCollection[Doc], session: Session, doc: Doc, held: list[Doc], also: Doc | None = None
) -> None:
    """Make the record `doc` (as read) hold exactly the entries `held`, if its ids are still as read."""
    update = set_ids(doc["group"], doc["collection"], held)
    update["$set"].update(also or {})
    result = await records.update_one({"_id": doc["_id"], "ids": _ids(doc)}, update, session=session)
    if result.matched_count == 0:
        raise IdTaken(f"record {doc['_id']} changed while its ids were being moved")


async def _holders(
    records: AsyncCollection[Doc], session: Session, group_id: str, collection: str, ids: Sequence[ExternalId]
) -> list[Doc]:
    return await records.find(holding([id_key(group_id, collection, e) for e in ids]), session=session).to_list(None)


async def merge(records: AsyncCollection[Doc], session: Session, survivor: Record, merged: Sequence[Record]) -> None:
    """Move the ids as read in this transaction; each write checks they are still those (compare-and-set)."""
    others = [r.hub_id for r in merged]
    docs = await records.find({"_id": {"$in": [survivor.hub_id, *others]}}, session=session).to_list(None)
    current = {doc["_id"]: doc for doc in docs}
    if survivor.hub_id not in current:
        raise IdTaken(f"record {survivor.hub_id} is gone")
    kept = current[survivor.hub_id]
    involved = [kept, *(current[hub_id] for hub_id in others if hub_id in current)]
    held = sorted((e for doc in involved for e in _ids(doc)), key=link_order)
    one_per_app([ext(e) for e in held], survivor.hub_id)
    gone = {"merged_into": survivor.hub_id, "updated_at": survivor.updated_at}
    for hub_id in others:
        if hub_id in current:
            await _rewrite(records, session, current[hub_id], [], also=gone)
        await records.update_many({"merged_into": hub_id}, {"$set": gone}, session=session)
    await _rewrite(records, session, kept, held)


async def move_ids(
    records: AsyncCollection[Doc],
    session: Session,
    group_id: str,
    collection: str,
    ids: Sequence[ExternalId],
    hub_id: str,
) -> None:
    """Move each entry as it is (its created_at, its place in link order) to record `hub_id`."""
    wanted = set(ids)
    holders = [d for d in await _holders(records, session, group_id, collection, list(wanted)) if d["_id"] != hub_id]
    moving = [e for doc in holders for e in _ids(doc) if ext(e) in wanted]
    if not moving:
        return
    target = await records.find_one({"_id": hub_id, "group": group_id, "collection": collection}, session=session)
    if target is None:
        raise IdTaken(f"record {hub_id} is gone")
    held = sorted([*_ids(target), *moving], key=link_order)
    one_per_app([ext(e) for e in held], hub_id)
    for doc in holders:
        await _rewrite(records, session, doc, [e for e in _ids(doc) if ext(e) not in wanted])
    await _rewrite(records, session, target, held)


async def unlink(
    records: AsyncCollection[Doc], session: Session, group_id: str, collection: str, ids: Sequence[ExternalId]
) -> None:
    gone = set(ids)
    for doc in await _holders(records, session, group_id, collection, list(gone)):
        await _rewrite(records, session, doc, [e for e in _ids(doc) if ext(e) not in gone])


async def restore(records: AsyncCollection[Doc], session: Session, record: Record, pointing: Sequence[str]) -> None:
    """Make a tombstone live again and point its former aliases back to it (they pointed to its survivor)."""
    await records.update_one(
        {"_id": record.hub_id, "group": record.group_id, "collection": record.collection},
        {
            "$set": {
                "status": record.status,
                "created_at": record.created_at,
                "updated_at": record.updated_at,
                "fields": record.fields,
                "placeholder": record.placeholder,
            },
            "$unset": {"merged_into": ""},
        },
        session=session,
    )
    if pointing:
        await records.update_many(
            {"_id": {"$in": list(pointing)}, "merged_into": {"$ne": None}},
            {"$set": {"merged_into": record.hub_id}},
            session=session,
        )


async def aliases(
    records: AsyncCollection[Doc], session: Session, group_id: str, collection: str, hub_id: str
) -> list[str]:
    where = {"merged_into": hub_id, "group": group_id, "collection": collection}
    docs = await records.find(where, {"_id": 1, "seq": 1}, session=session).sort("seq", 1).to_list(None)
    return [doc["_id"] for doc in docs]


async def merge_entry(db: AsyncDatabase[Doc], session: Session, group_id: str, merge_id: str) -> MergeEntry | None:
    doc = await db["merges"].find_one({"_id": merge_id, "group": group_id}, session=session)
    return MergeEntry.from_json(doc["entry"]) if doc else None


async def put_merge(db: AsyncDatabase[Doc], session: Session, entry: MergeEntry) -> None:
    doc = {
        "group": entry.group_id,
        "collection": entry.collection,
        "at": entry.at,
        "members": entry.members,
        "entry": entry.as_json(),
    }
    await db["merges"].replace_one({"_id": entry.merge_id}, doc, upsert=True, session=session)


async def merges(
    db: AsyncDatabase[Doc], session: Session, group_id: str, collection: str, hub_id: str, page: HistoryPage
) -> tuple[list[MergeEntry], bool]:
    """A page of the merges of a record and of the tombstones pointing to it, newest first (`HISTORY_ORDER`), and
    whether more follow.

    The page's merge ids come from the `members_at` index, bounded below the merge the page starts after; only then
    are the page's entries fetched, by id, so that none is sent but those shown (one may take megabytes). A record
    merged away has its survivor's (`merged_into` names it), read in the same snapshot."""
    held = await db["records"].find_one({"_id": hub_id}, {"merged_into": 1}, session=session)
    hub_id = (held or {}).get("merged_into") or hub_id
    involved = [hub_id, *await aliases(db["records"], session, group_id, collection, hub_id)]
    where: Doc = {"members": {"$in": involved}, "group": group_id, "collection": collection}
    if page.after is not None:
        start = await db["merges"].find_one(
            {"_id": page.after, "group": group_id, "collection": collection}, {"at": 1}, session=session
        )
        if start is None:
            raise unknown_merge(page.after)
        where |= {"at": {"$lte": start["at"]}, "$nor": [{"at": start["at"], "_id": {"$gte": page.after}}]}
    found = db["merges"].find(where, {"_id": 1}, session=session).sort(HISTORY_ORDER).limit(page.top + 1)
    shown = [doc["_id"] for doc in await found.to_list(None)]
    docs = await db["merges"].find({"_id": {"$in": shown[: page.top]}}, session=session).to_list(None)
    entries = {doc["_id"]: MergeEntry.from_json(doc["entry"]) for doc in docs}
    return [entries[merge_id] for merge_id in shown[: page.top]], len(shown) > page.top


async def links(
    records: AsyncCollection[Doc], session: Session, group_id: str, query: LinkQuery
) -> tuple[list[KeyLink], int]:
    [result] = await aggregated(records.aggregate(compile_links(group_id, query), session=session))
    page = [
        KeyLink(
            d["collection"], d["_id"], ext(d["ids"]), d["ids"]["created_at"], link_position(d["ids"], d["collection"])
        )
        for d in result["page"]
    ]
    total = result["total"][0]["n"] if result["total"] else 0
    return page[: query.top], int(total)


async def providers(db: AsyncDatabase[Doc], session: Session) -> list[str]:
    """Each provider ever linked that still holds an id: one index lookup per provider, never a scan of the links."""
    known = await db["providers"].find({}, session=session).sort("_id", 1).to_list(None)
    held = []
    for doc in known:
        if await db["records"].find_one({"ids.provider": doc["_id"]}, {"_id": 1}, session=session) is not None:
            held.append(doc["_id"])
    return held
