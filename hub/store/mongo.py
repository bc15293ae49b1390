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

Each read of the store (a page and its count, a hub id and its survivor, a key link search)
runs in a read-only transaction at snapshot read concern, so it sees a merge or an undo
committing meanwhile whole or not at all, as the port promises.

The layout and the indexes are described in `mongo_query`.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any

from pymongo import AsyncMongoClient, ReturnDocument, WriteConcern
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid, DuplicateKeyError, PyMongoError
from pymongo.read_concern import ReadConcern

from hub.model import timefmt
from hub.model.collections import Collection
from hub.model.history import MergeEntry
from hub.model.ids import ExternalId
from hub.model.key_link import KeyLink, LinkQuery
from hub.model.query import ListQuery
from hub.model.record import Group, Record
from hub.store import mongo_idmap as idmap
from hub.store.base import IdTaken
from hub.store.mongo_idmap import one_per_app
from hub.store.mongo_query import (
    INDEXES,
    compile_list,
    compile_order,
    counter_key,
    document,
    entries,
    id_key,
    index_fields,
    record,
)

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


class MongoStore:
    """The storage port over one MongoDB database.

    `MongoStore(url)` connects in `open()`. `MongoStore(database=db)` works on a database
    object made elsewhere; `transactions=False` is for a test double without sessions
    (mongomock): each write then applies on its own as it comes, nothing is rolled back, and
    reads run without a snapshot.
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
        self._registered: set[str] = set()

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
        existing = set(await self.db.list_collection_names())
        for collection, indexes in INDEXES.items():
            if collection not in existing:
                with suppress(CollectionInvalid):  # another process made it meanwhile
                    await self.db.create_collection(collection)
            for name, (keys, options) in indexes.items():
                await self.db[collection].create_index(keys, name=name, **options)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
            self._db = None

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncClientSession | None]:
        """A read-only transaction at snapshot read concern, so that all the reads of one Store call
        see one committed state (a page and its count, a hub id and the survivor of its tombstone).

        Not a snapshot session (`snapshot=True`): mongod promises the same of one, but the
        MongoDB-compatible server this was tested against did not keep its first snapshot for
        its later reads, and does keep a transaction's. With nothing to commit, it ends in an abort.
        """
        if not self.transactions:
            yield None
            return
        async with self.db.client.start_session() as session:
            await session.start_transaction(read_concern=ReadConcern("snapshot"))
            try:
                yield session
            finally:
                if session.in_transaction:
                    await session.abort_transaction()

    async def group(self, group_id: str) -> Group | None:
        doc = await self.db["groups"].find_one({"_id": group_id})
        return Group(doc["_id"], doc["channel_id"]) if doc else None

    async def ensure_group(self, group_id: str, channel_id: str) -> Group:
        update = {"$setOnInsert": {"channel_id": channel_id, "created_at": timefmt.now()}}
        doc = await _upsert(self.db["groups"], {"_id": group_id}, update)
        return Group(doc["_id"], doc["channel_id"])

    async def register(self, ids: Sequence[ExternalId]) -> None:
        """Note the providers of ids about to be linked, for `providers()`; once per process each.

        Outside the transaction, like `next_seq`: inside, the first links of a new provider in
        two transactions at once would write one document and abort one of them. A provider
        noted for a write that then rolls back is harmless: `providers()` checks each.
        """
        for provider in sorted({e.provider for e in ids} - self._registered):
            await _upsert(self.db["providers"], {"_id": provider}, {"$setOnInsert": {"since": timefmt.now()}})
            self._registered.add(provider)

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
        async with self._reading() as session:
            return await self.resolve(group_id, collection, hub_ids, session)

    async def find(self, group_id: str, collection: str, ext: ExternalId) -> Record | None:
        async with self._reading() as session:
            found = await self.match(group_id, collection, [ext], session)
        return found[0] if found else None

    async def links(self, group_id: str, query: LinkQuery) -> tuple[list[KeyLink], int]:
        async with self._reading() as session:
            return await idmap.links(self.records, session, group_id, query)

    async def providers(self) -> list[str]:
        async with self._reading() as session:
            return await idmap.providers(self.db, session)

    async def merges(self, group_id: str, collection: str, hub_id: str) -> list[MergeEntry]:
        async with self._reading() as session:
            return await idmap.merges(self.db, session, group_id, collection, hub_id)

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
                    found[asked] = live.setdefault(current, record(doc))
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
        async with self._reading() as session:
            cursor = self.records.find(where, session=session).sort(compile_order(query))
            docs = await cursor.skip(query.skip).limit(query.top).to_list(None)
            total = await self.records.count_documents(where, session=session) if query.count else None
        return [record(doc) for doc in docs], total


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
        one_per_app(record.ids, record.hub_id)
        await self._store.register(record.ids)
        with _races():
            await self._records.insert_one(document(record), session=self._session)

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
            one_per_app(new_ids, record.hub_id)
            await self._store.register(new_ids)
            index = index_fields(record.group_id, record.collection, new_ids)
            where["apps"] = {"$nin": index["apps"]}
            update["$push"] = {
                "ids": {"$each": entries(new_ids, timefmt.now())},
                **{name: {"$each": values} for name, values in index.items()},
            }
        with _races():
            result = await self._records.update_one(where, update, session=self._session)
        if new_ids and result.matched_count == 0:
            raise IdTaken(f"record {record.hub_id} is gone or already holds an id of one of these apps")

    async def merge(self, survivor: Record, merged: Sequence[Record]) -> None:
        with _races():
            await idmap.merge(self._records, self._session, survivor, merged)

    async def aliases(self, collection: str, hub_id: str) -> list[str]:
        with _races():
            return await idmap.aliases(self._records, self._session, self.group_id, collection, hub_id)

    async def move_ids(self, collection: str, ids: Sequence[ExternalId], hub_id: str) -> None:
        with _races():
            await idmap.move_ids(self._records, self._session, self.group_id, collection, ids, hub_id)

    async def unlink(self, collection: str, ids: Sequence[ExternalId]) -> None:
        with _races():
            await idmap.unlink(self._records, self._session, self.group_id, collection, ids)

    async def restore(self, record: Record, aliases: Sequence[str]) -> None:
        with _races():
            await idmap.restore(self._records, self._session, record, aliases)

    async def merge_entry(self, merge_id: str) -> MergeEntry | None:
        with _races():
            return await idmap.merge_entry(self._store.db, self._session, self.group_id, merge_id)

    async def put_merge(self, entry: MergeEntry) -> None:
        with _races():
            await idmap.put_merge(self._store.db, self._session, entry)
