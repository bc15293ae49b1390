"""Sync on MongoDB: the change feed, integrations and per-field sync directions (the outbound queue: `mongo_queue`).

Each function works with the session it is handed (a write transaction's, a read-only
snapshot transaction's, or None on a test double without sessions), like `mongo_idmap`.

The layout, besides `records`:

    changes:          {group, seq, kind, collection, hub_id, ids: [{provider, realm, id}], details, at}
    feeds:            {_id: <group id>, seq, items, turns}   the last change seq and queue item number
                                                     handed out; write transactions begun
    change_horizons:  {_id: <group id>, seq}   the newest seq pruned from the group's feed
    integrations:     {_id: '["<group>","<name>"]', group, name, entity, direction, webhook: bool,
                       definition: {...}, created_at, updated_at, consented_at}
    field_sync:       {_id: <id key of the app's id>, group, collection, provider, realm, id,
                       fields: {<field>: {to_hub, to_app}}}

`feeds` is also each group's turn: every write transaction of the group writes it first
(`claim`), so that they run one at a time across processes and the feed's seq, taken from
it inside the transaction, is commit order (`add_change`). Queue items are numbered from it
too, per group (`mongo_queue.enqueue`): under the turn no other transaction takes a number meanwhile, and a rolled
back enqueue gives its numbers back. (One counter for every group would be written by the
transactions of all groups, which do not take turns with one another.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from hub.model.change import Change
from hub.model.connect import Directions
from hub.model.ids import ExternalId
from hub.model.integration import Definition, Integration
from hub.store.base import IdTaken
from hub.store.mongo_query import Index, aggregated, id_key
from hub.store.mongo_queue import clear_queue

Doc = dict[str, Any]
Session = AsyncClientSession | None

INDEXES: dict[str, dict[str, Index]] = {
    # Looked up by `_id` alone; listed so that open() creates them before any transaction writes
    # them (mongod creates a collection inside a transaction only under restrictions).
    "feeds": {},
    "change_horizons": {},
    "field_sync": {},
    # A group's feed in seq order; a seq is given once per group.
    "changes": {
        "group_seq": ([("group", 1), ("seq", 1)], {"unique": True}),
        # Pruning finds the changes recorded before a time.
        "at": ([("at", 1)], {}),
    },
    "integrations": {
        # A group's integrations by name (the lookup by name is by `_id`).
        "group_name": ([("group", 1), ("name", 1)], {"unique": True}),
        # What a change of a collection may be enqueued for.
        "group_entity_direction": ([("group", 1), ("entity", 1), ("direction", 1), ("name", 1)], {}),
        # What the webhook delivery task serves, in every group.
        "webhook": ([("webhook", 1), ("group", 1), ("name", 1)], {"partialFilterExpression": {"webhook": True}}),
    },
}
"""Collection -> index name -> (keys, options), created with the others as the store opens (`mongo_schema`)."""


# The change feed

PRUNE_CHUNK = 5000
"""The most changes one pruning transaction drops: mongod aborts a transaction that outgrows 5% of its cache or runs
past a minute, so a group's changes of a busy day or of an import, dropped in one, would never be dropped."""


async def claim(db: AsyncDatabase[Doc], session: Session, group_id: str) -> None:
    """Take the group's turn: the first write of every write transaction of the group, in any process.

    Why: MongoDB lets a transaction write a document only if no other transaction wrote it
    since this one's snapshot began and none holds an uncommitted write to it; otherwise it
    aborts this one (a write conflict). Every write transaction of a group writes the group's
    `feeds` document first, so a claim succeeds only once every earlier claimer has ended,
    before this transaction's snapshot, and until this one ends every other claim fails: the
    group's write transactions run one at a time across all processes, each seeing the last
    one's writes, and commit in the order they claimed. (`$inc` always changes the document;
    an update that changes nothing writes nothing and would take no turn.)
    """
    await db["feeds"].update_one({"_id": group_id}, {"$inc": {"turns": 1}}, upsert=True, session=session)


async def add_change(db: AsyncDatabase[Doc], session: Session, change: Change) -> int:
    """Append a change; its seq comes from the group's `feeds` document, in this transaction.

    Why this is commit order with concurrent writers (several hub processes): the transaction
    holds the group's turn (`claim`), so the one that took seq N-1 committed before this one
    began, and none can take a seq until this one ends. A reader whose snapshot holds seq N
    holds every lower seq too, and a cursor past N never skips a change that commits later;
    a rolled-back transaction gives its number back, as on SQLite. (Taking the number with
    an atomic `$inc` outside the transaction would not do: T1 takes 10, T2
    takes 11 and commits first, and a reader past 11 never sees 10. The contract suite's
    racing reader catches that.) Without transactions (a test double) there is no claim and
    the `$inc` here is simply atomic.
    """
    feed = await db["feeds"].find_one_and_update(
        {"_id": change.group_id},
        {"$inc": {"seq": 1}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
        session=session,
    )
    if feed is None:  # mongod always returns one; a look-alike server racing may not
        raise IdTaken(f"the change feed of group {change.group_id} moved on under a concurrent write")
    change.seq = int(feed["seq"])
    doc = {
        "group": change.group_id,
        "seq": change.seq,
        "kind": change.kind,
        "collection": change.collection,
        "hub_id": change.hub_id,
        "ids": [{"provider": e.provider, "realm": e.realm, "id": e.id} for e in change.ids],
        "details": change.details,
        "at": change.at,
    }
    await db["changes"].insert_one(doc, session=session)
    return change.seq


def _change(doc: Doc) -> Change:
    return Change(
        group_id=doc["group"],
        kind=doc["kind"],
        collection=doc["collection"],
        hub_id=doc["hub_id"],
        ids=[ExternalId(e["provider"], e["realm"], e["id"]) for e in doc.get("ids") or []],
        details=dict(doc.get("details") or {}),
        at=doc["at"],
        seq=int(doc["seq"]),
    )


async def changes(
    db: AsyncDatabase[Doc], session: Session, group_id: str, after: int, limit: int
) -> tuple[int, list[Change]]:
    """The horizon and a page; the store reads both in one snapshot, so a prune cannot fall between."""
    horizon = await db["change_horizons"].find_one({"_id": group_id}, session=session)
    found: list[Doc] = []
    if limit > 0:  # MongoDB reads `limit(0)` as no limit
        where = {"group": group_id, "seq": {"$gt": after}}
        found = await db["changes"].find(where, session=session).sort("seq", 1).limit(limit).to_list(None)
    return int(horizon["seq"]) if horizon else 0, [_change(doc) for doc in found]


async def prune_cut(db: AsyncDatabase[Doc], before: str) -> list[tuple[str, int]]:
    """Per group, the newest seq of a change recorded before `before`: what pruning drops up to."""
    pipeline: list[Doc] = [{"$match": {"at": {"$lt": before}}}, {"$group": {"_id": "$group", "seq": {"$max": "$seq"}}}]
    return sorted((doc["_id"], int(doc["seq"])) for doc in await aggregated(db["changes"].aggregate(pipeline)))


async def prune_step(db: AsyncDatabase[Doc], group_id: str, seq: int) -> int:
    """Where the next transaction of a prune up to `seq` stops: at the PRUNE_CHUNK-th change of the group left
    at or below `seq` (an index walk), or at `seq` itself when fewer are left."""
    where = {"group": group_id, "seq": {"$lte": seq}}
    cursor = db["changes"].find(where, {"seq": 1, "_id": 0}).sort("seq", 1).skip(PRUNE_CHUNK - 1).limit(1)
    found = await cursor.to_list(None)
    return int(found[0]["seq"]) if found else seq


async def prune_group(db: AsyncDatabase[Doc], session: Session, group_id: str, seq: int) -> int:
    """Drop a group's changes up to `seq`, raising its horizon first: without a transaction (a test
    double) a reader then sees the horizon before the gap, never a gap without its horizon."""
    await db["change_horizons"].update_one({"_id": group_id}, {"$max": {"seq": seq}}, upsert=True, session=session)
    result = await db["changes"].delete_many({"group": group_id, "seq": {"$lte": seq}}, session=session)
    return int(result.deleted_count)


# Integrations


def _integration_key(group_id: str, name: str) -> str:
    return orjson.dumps([group_id, name]).decode()


def _integration(doc: Doc) -> Integration:
    definition = Definition.stored(doc["definition"])
    return Integration(doc["group"], definition, doc["created_at"], doc["updated_at"], doc.get("consented_at"))


async def integrations(db: AsyncDatabase[Doc], session: Session, group_id: str) -> list[Integration]:
    docs = await db["integrations"].find({"group": group_id}, session=session).sort("name", 1).to_list(None)
    return [_integration(doc) for doc in docs]


async def integration(db: AsyncDatabase[Doc], session: Session, group_id: str, name: str) -> Integration | None:
    doc = await db["integrations"].find_one({"_id": _integration_key(group_id, name)}, session=session)
    return _integration(doc) if doc else None


async def outbound_integrations(
    db: AsyncDatabase[Doc], session: Session, group_id: str, collection: str
) -> list[Integration]:
    where = {"group": group_id, "entity": collection, "direction": "outbound"}
    docs = await db["integrations"].find(where, session=session).sort("name", 1).to_list(None)
    return [_integration(doc) for doc in docs]


async def webhook_integrations(db: AsyncDatabase[Doc], session: Session) -> list[Integration]:
    cursor = db["integrations"].find({"webhook": True}, session=session).sort([("group", 1), ("name", 1)])
    return [_integration(doc) for doc in await cursor.to_list(None)]


async def put_integration(db: AsyncDatabase[Doc], session: Session, integration: Integration, new: bool) -> None:
    """Insert (a taken name is a duplicate `_id`) or replace an integration; its created_at stays."""
    d = integration.definition
    key = _integration_key(integration.group_id, d.name)
    fields = {
        "entity": d.entity,
        "direction": d.direction,
        "webhook": d.webhook is not None,
        "definition": d.model_dump(mode="json"),
        "updated_at": integration.updated_at,
        "consented_at": integration.consented_at,
    }
    identity = {"group": integration.group_id, "name": d.name, "created_at": integration.created_at}
    if new:
        await db["integrations"].insert_one({"_id": key, **identity, **fields}, session=session)
    else:
        update = {"$set": fields, "$setOnInsert": identity}
        await db["integrations"].update_one({"_id": key}, update, upsert=True, session=session)


async def delete_integration(db: AsyncDatabase[Doc], session: Session, group_id: str, name: str) -> None:
    await clear_queue(db, session, group_id, name)
    await db["integrations"].delete_one({"_id": _integration_key(group_id, name)}, session=session)


# Per-field sync directions (connect)


async def set_field_sync(
    db: AsyncDatabase[Doc],
    session: Session,
    group_id: str,
    collection: str,
    ext: ExternalId,
    directions: Mapping[str, Directions],
) -> None:
    """Keyed by the app's id, not the hub id, so the directions follow the link when a merge moves it."""
    if not directions:
        return
    fields = {f"fields.{name}": {"to_hub": d.to_hub, "to_app": d.to_app} for name, d in directions.items()}
    identity = {"group": group_id, "collection": collection, "provider": ext.provider, "realm": ext.realm, "id": ext.id}
    update = {"$set": fields, "$setOnInsert": identity}
    await db["field_sync"].update_one({"_id": id_key(group_id, collection, ext)}, update, upsert=True, session=session)


async def forget_directions(
    db: AsyncDatabase[Doc], session: Session, group_id: str, collection: str, ids: Sequence[ExternalId]
) -> None:
    keys = [id_key(group_id, collection, ext) for ext in ids]
    await db["field_sync"].delete_many({"_id": {"$in": keys}}, session=session)


async def field_sync(
    db: AsyncDatabase[Doc], session: Session, group_id: str, collection: str, ids: Sequence[ExternalId]
) -> dict[ExternalId, dict[str, Directions]]:
    keys = {id_key(group_id, collection, ext): ext for ext in ids}
    if not keys:
        return {}
    docs = await db["field_sync"].find({"_id": {"$in": list(keys)}}, session=session).to_list(None)
    found = {
        keys[doc["_id"]]: {name: Directions(bool(d["to_hub"]), bool(d["to_app"])) for name, d in doc["fields"].items()}
        for doc in docs
        if doc.get("fields")
    }
    return {ext: found[ext] for ext in keys.values() if ext in found}
