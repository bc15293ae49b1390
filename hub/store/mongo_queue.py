"""The outbound queue on MongoDB: the items an integration has yet to deliver, leased, acknowledged or dead.

Each function works with the session it is handed, like `mongo_sync`'s. The layout:

    outbound_items:   {group, item, integration, change_seq, kind, collection, hub_id,
                       changed_at, details, resend, state, attempts, available_at, lease_id, lease_until, last_error}

Items are numbered per group from the group's `feeds` document, under the group's turn
(`mongo_sync` says why).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from hub.model.queue import QueueItem
from hub.store.base import IdTaken
from hub.store.mongo_query import Index

Doc = dict[str, Any]
Session = AsyncClientSession | None

INDEXES: dict[str, dict[str, Index]] = {
    "outbound_items": {
        # An item by its number (numbers are per group); the items of an ack, a fail, a retry.
        "group_item": ([("group", 1), ("item", 1)], {"unique": True}),
        # A change is enqueued once per integration.
        "group_integration_change": ([("group", 1), ("integration", 1), ("change_seq", 1)], {"unique": True}),
        # Due items, the longest waiting first; also an integration's whole queue (when it is deleted or emptied).
        "ready": ([("group", 1), ("integration", 1), ("state", 1), ("available_at", 1), ("item", 1)], {}),
        # Leases that ran out.
        "leased": (
            [("group", 1), ("integration", 1), ("state", 1), ("lease_until", 1), ("item", 1)],
            {"partialFilterExpression": {"state": "leased"}},
        ),
        # Dead items, by number.
        "dead": (
            [("group", 1), ("integration", 1), ("state", 1), ("item", 1)],
            {"partialFilterExpression": {"state": "dead"}},
        ),
        # The items of some records (a continuous integration's ack keeps one per record).
        "records": ([("group", 1), ("integration", 1), ("hub_id", 1)], {}),
    },
}
"""Collection -> index name -> (keys, options), created with the others as the store opens (`mongo_schema`)."""


_STATE = ("state", "attempts", "available_at", "lease_id", "lease_until", "last_error", "details", "resend")


def _item_doc(item: QueueItem) -> Doc:
    return {
        "group": item.group_id,
        "item": item.item,
        "integration": item.integration,
        "change_seq": item.change_seq,
        "kind": item.kind,
        "collection": item.collection,
        "hub_id": item.hub_id,
        "changed_at": item.changed_at,
        **{name: getattr(item, name) for name in _STATE},
    }


def _item(doc: Doc) -> QueueItem:
    return QueueItem(
        doc["group"],
        doc["integration"],
        int(doc["change_seq"]),
        doc["kind"],
        doc["collection"],
        doc["hub_id"],
        doc["changed_at"],
        doc["state"],
        int(doc["attempts"]),
        doc["available_at"],
        doc.get("lease_id"),
        doc.get("lease_until"),
        doc.get("last_error"),
        int(doc["item"]),
        doc.get("details", {}),  # none kept with items queued before they were
        bool(doc.get("resend", False)),  # nor whether they were resends
    )


async def clear_queue(db: AsyncDatabase[Doc], session: Session, group_id: str, name: str) -> None:
    await db["outbound_items"].delete_many({"group": group_id, "integration": name}, session=session)


async def enqueue(db: AsyncDatabase[Doc], session: Session, group_id: str, items: Sequence[QueueItem]) -> None:
    """Number the items from the group's `feeds` document (under the group's turn), then insert them."""
    if not items:
        return
    feed = await db["feeds"].find_one_and_update(
        {"_id": group_id},
        {"$inc": {"items": len(items)}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
        session=session,
    )
    if feed is None:  # mongod always returns one; a look-alike server racing may not
        raise IdTaken(f"the queue numbers of group {group_id} moved on under a concurrent write")
    for n, item in enumerate(items, start=int(feed["items"]) - len(items) + 1):
        item.item = n
    await db["outbound_items"].insert_many([_item_doc(item) for item in items], session=session)


async def _find_items(
    db: AsyncDatabase[Doc], session: Session, where: Doc, order: list[tuple[str, int]], limit: int
) -> list[QueueItem]:
    if limit <= 0:  # MongoDB reads `limit(0)` as no limit
        return []
    cursor = db["outbound_items"].find(where, session=session).sort(order).limit(limit)
    return [_item(doc) for doc in await cursor.to_list(None)]


async def due_items(
    db: AsyncDatabase[Doc], session: Session, group_id: str, integration: str, now: str, limit: int
) -> list[QueueItem]:
    where = {"group": group_id, "integration": integration, "state": "ready", "available_at": {"$lte": now}}
    return await _find_items(db, session, where, [("available_at", 1), ("item", 1)], limit)


async def expired_items(
    db: AsyncDatabase[Doc], session: Session, group_id: str, integration: str, now: str, limit: int
) -> list[QueueItem]:
    where = {"group": group_id, "integration": integration, "state": "leased", "lease_until": {"$lte": now}}
    return await _find_items(db, session, where, [("lease_until", 1), ("item", 1)], limit)


async def dead_items(
    db: AsyncDatabase[Doc], session: Session, group_id: str, integration: str, after: int, limit: int
) -> list[QueueItem]:
    where = {"group": group_id, "integration": integration, "state": "dead", "item": {"$gt": after}}
    return await _find_items(db, session, where, [("item", 1)], limit)


async def queued_items(
    db: AsyncDatabase[Doc], session: Session, group_id: str, integration: str, items: Sequence[int]
) -> list[QueueItem]:
    if not items:
        return []
    where = {"group": group_id, "item": {"$in": list(items)}, "integration": integration}
    return await _find_items(db, session, where, [("item", 1)], len(items))


async def waiting_for(
    db: AsyncDatabase[Doc],
    session: Session,
    group_id: str,
    integration: str,
    hub_ids: Sequence[str],
    besides: Sequence[int],
    dead: bool,
) -> set[str]:
    """Which of `hub_ids` other live items (not `besides`; dead ones too with `dead`) still wait to deliver. A
    `find`, not `distinct`: it runs in a transaction, where MongoDB allows `distinct` on unsharded collections only."""
    if not hub_ids:
        return set()
    where = {
        "group": group_id,
        "integration": integration,
        "hub_id": {"$in": list(hub_ids)},
        "item": {"$nin": list(besides)},
    } | ({} if dead else {"state": {"$ne": "dead"}})
    cursor = db["outbound_items"].find(where, {"hub_id": 1, "_id": 0}, session=session)
    return {str(doc["hub_id"]) for doc in await cursor.to_list(None)}


async def update_items(db: AsyncDatabase[Doc], session: Session, items: Sequence[QueueItem]) -> None:
    """One update per item (mongomock's bulk_write does not take PyMongo's current operations)."""
    for item in items:
        update = {"$set": {name: getattr(item, name) for name in _STATE}}
        await db["outbound_items"].update_one({"group": item.group_id, "item": item.item}, update, session=session)


async def remove_items(
    db: AsyncDatabase[Doc], session: Session, group_id: str, integration: str, items: Sequence[int]
) -> None:
    if items:
        where = {"group": group_id, "item": {"$in": list(items)}, "integration": integration}
        await db["outbound_items"].delete_many(where, session=session)
