"""Records on MongoDB read by hub id, following tombstones to their survivors, or by app id. Each function works with
the session it is handed: a write transaction's (`MongoTransaction`), a read-only transaction's (`MongoStore`), or None
on a test double without sessions. The layout is described in `mongo_query`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from hub.model.ids import ExternalId
from hub.model.record import Record
from hub.store.mongo_query import holding, id_key, record

Doc = dict[str, Any]
Session = AsyncClientSession | None


async def resolve(
    records: AsyncCollection[Doc],
    session: Session,
    group_id: str,
    collection: str,
    hub_ids: Sequence[str],
    fetched: Sequence[Doc] = (),
) -> dict[str, Record]:
    """Records by hub id, following tombstones to their survivors (`fetched`: documents already read)."""
    found: dict[str, Record] = {}
    known: dict[str, Doc] = {doc["_id"]: doc for doc in fetched}
    wanted = {h: h for h in dict.fromkeys(hub_ids)}
    for _ in range(8):
        missing = [h for h in dict.fromkeys(wanted.values()) if h not in known]
        if missing:
            where = {"_id": {"$in": missing}, "group": group_id, "collection": collection}
            known.update({d["_id"]: d for d in await records.find(where, session=session).to_list(None)})
        live: dict[str, Record] = {}
        onward: dict[str, str] = {}
        for asked, current in wanted.items():
            doc = known.get(current)
            if doc is None or doc.get("group") != group_id or doc.get("collection") != collection:
                continue
            if doc.get("merged_into") is None:
                found[asked] = live.setdefault(current, record(doc))
            else:
                onward[asked] = doc["merged_into"]
        if not onward:
            break
        wanted = onward
    return found


async def match(
    records: AsyncCollection[Doc], session: Session, group_id: str, collection: str, ids: Sequence[ExternalId]
) -> list[Record]:
    """The distinct records holding any of `ids`, oldest code first (as SQLite gives them: a 409 names them so)."""
    if not ids:
        return []
    keys = [id_key(group_id, collection, e) for e in ids]
    docs = await records.find(holding(keys), session=session).to_list(None)
    holder = {key: doc["_id"] for doc in docs for key in doc.get("keys") or []}
    hub_ids = [holder[key] for key in keys if key in holder]
    found = await resolve(records, session, group_id, collection, hub_ids, fetched=docs)
    return sorted({r.hub_id: r for r in found.values()}.values(), key=lambda r: r.seq)
