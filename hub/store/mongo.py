"""The production store: MongoDB through PyMongo's async API, one transaction per use case.

A write use case runs in a client session with a multi-document transaction (snapshot
reads, majority commit), which needs a replica set or a sharded cluster; `open()` refuses
a standalone server rather than run without them. Two transactions writing one document
conflict, and MongoDB aborts the later one with a TransientTransactionError rather than
making it wait: like a duplicate external id (the unique index), that is a race lost,
reported as IdTaken, and the service re-runs the use case on the winner's data.

So that concurrent requests on one record do not abort one another until the service's
retries run out, the write transactions of one group take turns within a process (the
SQLite store takes turns for all groups), and a lost race waits a random while before it
is reported, so that retries from several processes fall out of step.

The layout and the indexes are described in `mongo_query`.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from pymongo import AsyncMongoClient, ReturnDocument, WriteConcern
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError
from pymongo.read_concern import ReadConcern

from hub.model import timefmt
from hub.model.collections import Collection
from hub.model.ids import ExternalId
from hub.model.query import ListQuery
from hub.model.record import Group, Record
from hub.store.base import IdTaken
from hub.store.mongo_query import INDEXES, app_key, compile_list, compile_order, counter_key, id_key

Doc = dict[str, Any]
COMMIT_TRIES = 3
"""Commits whose outcome is unknown (a network error) are retried; the commit is idempotent."""
UPSERT_TRIES = 5
"""Upserts that lost the race to create their document are re-run as updates."""
RACE_BACKOFF = 0.05
"""The longest random wait, in seconds, before a lost race is reported."""


@contextmanager
def _races() -> Iterator[None]:
    """Report a lost race (unique index, write conflict) as IdTaken; let anything else through."""
    try:
        yield
    except DuplicateKeyError as error:
        raise IdTaken(str(error)) from error
    except PyMongoError as error:
        if error.has_error_label("TransientTransactionError"):
            raise IdTaken(str(error)) from error
        raise


def _one_per_app(ids: Sequence[ExternalId], hub_id: str) -> None:
    """A record holds one id per app: what the unique index cannot check inside one document."""
    apps = [e.app for e in ids]
    if len(set(apps)) < len(apps):
        raise IdTaken(f"record {hub_id} would hold two ids of one app")


def _entries(ids: Sequence[ExternalId], now: str) -> list[Doc]:
    return [{"provider": e.provider, "realm": e.realm, "id": e.id, "created_at": now} for e in ids]


def _ext(entry: Doc) -> ExternalId:
    return ExternalId(entry["provider"], entry["realm"], entry["id"])


def _index_fields(group_id: str, collection: str, ids: Sequence[ExternalId]) -> Doc:
    """`keys` and `apps` of an id array; absent when it is empty (see mongo_query)."""
    if not ids:
        return {}
    return {"keys": [id_key(group_id, collection, e) for e in ids], "apps": [app_key(*e.app) for e in ids]}


def _set_ids(group_id: str, collection: str, entries: list[Doc]) -> Doc:
    """The update operators that make a record hold exactly `entries`."""
    fields = _index_fields(group_id, collection, [_ext(e) for e in entries])
    update: Doc = {"$set": {"ids": entries, **fields}}
    if not fields:
        update["$unset"] = {"keys": "", "apps": ""}
    return update


def _document(record: Record) -> Doc:
    doc: Doc = {
        "_id": record.hub_id,
        "group": record.group_id,
        "collection": record.collection,
        "seq": record.seq,
        "status": record.status,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "fields": record.fields,
        "placeholder": record.placeholder,
        "ids": _entries(record.ids, timefmt.now()),
        **_index_fields(record.group_id, record.collection, record.ids),
    }
    if record.merged_into is not None:
        doc["merged_into"] = record.merged_into
    return doc


def _record(doc: Doc) -> Record:
    return Record(
        doc["_id"],
        doc["group"],
        doc["collection"],
        int(doc["seq"]),
        doc["status"],
        doc["created_at"],
        doc["updated_at"],
        dict(doc.get("fields") or {}),
        [_ext(e) for e in doc.get("ids") or []],
        doc.get("merged_into"),
        bool(doc.get("placeholder")),
    )


class MongoStore:
    """The storage port over one MongoDB database.

    `MongoStore(url)` connects in `open()`. `MongoStore(database=db)` works on a database
    object made elsewhere; `transactions=False` is for a test double without sessions
    (mongomock): each write then applies on its own as it comes, and nothing is rolled back.
    """

    def __init__(
        self, url: str | None = None, *, database: AsyncDatabase[Doc] | None = None, transactions: bool = True
    ) -> None:
        if (url is None) == (database is None):
            raise ValueError("MongoStore needs a URL or a database, not both")
        self.url = url
        self.transactions = transactions
        self._db = database
        self._client: AsyncMongoClient[Doc] | None = None
        self._turns: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @property
    def db(self) -> AsyncDatabase[Doc]:
        if self._db is None:
            raise RuntimeError("the MongoDB store is not open")
        return self._db

    @property
    def records(self) -> AsyncCollection[Doc]:
        return self.db["records"]

    async def open(self) -> None:
        if self._db is None:
            self._client = AsyncMongoClient(self.url, appname="hub")
            self._db = self._client.get_default_database()
        if self.transactions:
            hello = await self.db.client.admin.command("hello")
            if "setName" not in hello and hello.get("msg") != "isdbgrid":
                raise RuntimeError(
                    "the MongoDB server is standalone: the hub needs transactions, which need a replica set"
                    " (mongod --replSet rs0, then rs.initiate() once; docker compose up does both)"
                )
        for name, (keys, options) in INDEXES.items():
            await self.records.create_index(keys, name=name, **options)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
            self._db = None

    async def group(self, group_id: str) -> Group | None:
        doc = await self.db["groups"].find_one({"_id": group_id})
        return Group(doc["_id"], doc["channel_id"]) if doc else None

    async def ensure_group(self, group_id: str, channel_id: str) -> Group:
        update = {"$setOnInsert": {"channel_id": channel_id, "created_at": timefmt.now()}}
        doc = await _upsert(self.db["groups"], {"_id": group_id}, update)
        return Group(doc["_id"], doc["channel_id"])

    def _turn(self, group_id: str) -> asyncio.Lock:
        """The lock the write transactions of a group take turns on in this process."""
        lock = self._turns.get(group_id)
        if lock is None:
            lock = self._turns[group_id] = asyncio.Lock()
        return lock

    @asynccontextmanager
    async def transaction(self, group_id: str) -> AsyncIterator[MongoTransaction]:
        try:
            async with self._turn(group_id):
                if not self.transactions:
                    yield MongoTransaction(self, group_id, None)
                    return
                async with self.db.client.start_session() as session:
                    await session.start_transaction(
                        read_concern=ReadConcern("snapshot"), write_concern=WriteConcern("majority")
                    )
                    try:
                        yield MongoTransaction(self, group_id, session)
                    except BaseException:
                        if session.in_transaction:
                            await session.abort_transaction()
                        raise
                    await _commit(session)
        except IdTaken:
            await asyncio.sleep(random.uniform(0, RACE_BACKOFF))
            raise

    async def get(self, group_id: str, collection: str, hub_ids: Sequence[str]) -> dict[str, Record]:
        return await self.resolve(group_id, collection, hub_ids, None)

    async def find(self, group_id: str, collection: str, ext: ExternalId) -> Record | None:
        found = await self.match(group_id, collection, [ext], None)
        return found[0] if found else None

    async def resolve(
        self,
        group_id: str,
        collection: str,
        hub_ids: Sequence[str],
        session: AsyncClientSession | None,
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
                known.update({d["_id"]: d for d in await self.records.find(where, session=session).to_list(None)})
            live: dict[str, Record] = {}
            onward: dict[str, str] = {}
            for asked, current in wanted.items():
                doc = known.get(current)
                if doc is None or doc.get("group") != group_id or doc.get("collection") != collection:
                    continue
                if doc.get("merged_into") is None:
                    found[asked] = live.setdefault(current, _record(doc))
                else:
                    onward[asked] = doc["merged_into"]
            if not onward:
                break
            wanted = onward
        return found

    async def match(
        self, group_id: str, collection: str, ids: Sequence[ExternalId], session: AsyncClientSession | None
    ) -> list[Record]:
        """The distinct records holding any of `ids`, in the order of the first id each holds."""
        if not ids:
            return []
        keys = [id_key(group_id, collection, e) for e in ids]
        docs = await self.records.find({"keys": {"$exists": True, "$in": keys}}, session=session).to_list(None)
        holder = {key: doc["_id"] for doc in docs for key in doc.get("keys") or []}
        hub_ids = [holder[key] for key in keys if key in holder]
        found = await self.resolve(group_id, collection, hub_ids, session, fetched=docs)
        return list({r.hub_id: r for r in found.values()}.values())

    async def list(self, group_id: str, collection: Collection, query: ListQuery) -> tuple[list[Record], int | None]:
        where = compile_list(group_id, collection, query)
        cursor = self.records.find(where).sort(compile_order(query)).skip(query.skip).limit(query.top)
        docs = await cursor.to_list(None)
        total = await self.records.count_documents(where) if query.count else None
        return [_record(doc) for doc in docs], total


async def _upsert(collection: AsyncCollection[Doc], key: Doc, update: Doc) -> Doc:
    """Update or create one document by `_id`, atomically, and return it as it is after.

    Two first upserts of one `_id` at once can both try the insert; the loser gets a
    duplicate key and runs again, now as an update. Re-running the upsert rather than
    reading the winner's document never comes back empty-handed, whatever the reader
    would see at that instant.
    """
    for _ in range(UPSERT_TRIES):
        try:
            doc = await collection.find_one_and_update(key, update, upsert=True, return_document=ReturnDocument.AFTER)
        except DuplicateKeyError:
            continue
        if doc is not None:  # mongod always returns one here; a look-alike server racing may not
            return doc
    raise IdTaken(f"could not create or update {key['_id']} under concurrent writes")


async def _commit(session: AsyncClientSession) -> None:
    for attempt in range(COMMIT_TRIES):
        try:
            with _races():
                await session.commit_transaction()
            return
        except PyMongoError as error:
            if attempt == COMMIT_TRIES - 1 or not error.has_error_label("UnknownTransactionCommitResult"):
                raise


class MongoTransaction:
    """The writes of one use case, inside one MongoDB transaction (or none, on a test double)."""

    def __init__(self, store: MongoStore, group_id: str, session: AsyncClientSession | None) -> None:
        self._store = store
        self._records = store.records
        self._session = session
        self.group_id = group_id

    async def get(self, collection: str, hub_ids: Sequence[str]) -> dict[str, Record]:
        with _races():
            return await self._store.resolve(self.group_id, collection, hub_ids, self._session)

    async def match(self, collection: str, ids: Sequence[ExternalId]) -> list[Record]:
        with _races():
            return await self._store.match(self.group_id, collection, ids, self._session)

    async def next_seq(self, collection: str) -> int:
        """Taken outside the transaction, on purpose: see the README ("MongoDB", codes).

        Inside it, every two concurrent creates in one collection would write the one
        counter document and MongoDB would abort the later transaction instead of making
        it wait; as its own atomic $inc, numbers stay unique and increasing, and a create
        that rolls back leaves a gap in the codes, as a database sequence does.
        """
        key = {"_id": counter_key(self.group_id, collection)}
        doc = await _upsert(self._store.db["counters"], key, {"$inc": {"seq": 1}})
        return int(doc["seq"])

    async def insert(self, record: Record) -> None:
        _one_per_app(record.ids, record.hub_id)
        with _races():
            await self._records.insert_one(_document(record), session=self._session)

    async def save(self, record: Record, new_ids: Sequence[ExternalId]) -> None:
        where: Doc = {"_id": record.hub_id}
        update: Doc = {
            "$set": {
                "status": record.status,
                "updated_at": record.updated_at,
                "fields": record.fields,
                "placeholder": record.placeholder,
            }
        }
        if new_ids:
            _one_per_app(new_ids, record.hub_id)
            index = _index_fields(record.group_id, record.collection, new_ids)
            where["apps"] = {"$nin": index["apps"]}
            update["$push"] = {
                "ids": {"$each": _entries(new_ids, timefmt.now())},
                **{name: {"$each": values} for name, values in index.items()},
            }
        with _races():
            result = await self._records.update_one(where, update, session=self._session)
        if new_ids and result.matched_count == 0:
            raise IdTaken(f"record {record.hub_id} is gone or already holds an id of one of these apps")

    async def merge(self, survivor: Record, merged: Sequence[Record]) -> None:
        """Move the ids as read in this transaction; each write checks they are still those (compare-and-set)."""
        others = [r.hub_id for r in merged]
        with _races():
            docs = await self._records.find(
                {"_id": {"$in": [survivor.hub_id, *others]}}, session=self._session
            ).to_list(None)
        current = {doc["_id"]: list(doc.get("ids") or []) for doc in docs}
        if survivor.hub_id not in current:
            raise IdTaken(f"record {survivor.hub_id} is gone")
        held = current[survivor.hub_id] + [e for hub_id in others for e in current.get(hub_id, [])]
        held.sort(key=lambda e: str(e.get("created_at", "")))  # link order, as the SQLite store keeps it
        _one_per_app([_ext(e) for e in held], survivor.hub_id)
        gone = {"merged_into": survivor.hub_id, "updated_at": survivor.updated_at}
        with _races():
            for hub_id in others:
                if hub_id in current:
                    emptied = _set_ids(survivor.group_id, survivor.collection, [])
                    emptied["$set"].update(gone)
                    await self._changed({"_id": hub_id, "ids": current[hub_id]}, emptied)
                await self._records.update_many({"merged_into": hub_id}, {"$set": gone}, session=self._session)
            taken = _set_ids(survivor.group_id, survivor.collection, held)
            await self._changed({"_id": survivor.hub_id, "ids": current[survivor.hub_id]}, taken)

    async def _changed(self, where: Doc, update: Doc) -> None:
        result = await self._records.update_one(where, update, session=self._session)
        if result.matched_count == 0:
            raise IdTaken(f"record {where['_id']} changed while it was being merged")
