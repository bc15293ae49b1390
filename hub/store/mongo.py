"""The production store: MongoDB through PyMongo's async API, one transaction per use case.

A write use case runs in a client session with a multi-document transaction (snapshot
reads, majority commit), which needs a replica set or a sharded cluster; `open()` refuses
a standalone server rather than run without them. Two transactions writing one document
conflict, and MongoDB aborts the later one with a TransientTransactionError rather than
making it wait: like a duplicate external id (the unique index), that is a race lost,
reported as IdTaken, and the service re-runs the use case on the winner's data.

The write transactions of one group take turns, as SQLite's take turns for all groups:
within a process on a lock, and across processes by claiming the group's feed document as
their first write (`mongo_sync.claim`), which MongoDB lets only one open transaction do. A
refused claim is retried here, before the use case runs, so contention is waiting rather
than a failed request, and the change feed's seq (taken under the claim) is commit order.
A race lost later (a duplicate id) waits a random while before it is reported, so that
retries from several processes fall out of step.

Each read of the store (a page and its count, a hub id and its survivor, a key link search)
runs in a read-only transaction at snapshot read concern, so it sees a merge or an undo
committing meanwhile whole or not at all, as the port promises.

The layout and the indexes are described in `mongo_query` (records, the id map),
`mongo_sync` (the change feed, integrations, field sync), `mongo_queue` (the outbound queue)
and `mongo_access` (API keys, connections), and made as the store opens by `mongo_schema`;
the transaction's writes are in `mongo_tx`.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypeVar

from pymongo import AsyncMongoClient, ReadPreference, WriteConcern
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, PyMongoError
from pymongo.read_concern import ReadConcern

from hub.model import timefmt
from hub.model.access import ApiKey, Connection
from hub.model.change import Change
from hub.model.collections import Collection
from hub.model.connect import Directions
from hub.model.field_index import FieldIndex
from hub.model.history import HistoryPage, MergeEntry
from hub.model.ids import ExternalId
from hub.model.integration import Integration
from hub.model.key_link import KeyLink, LinkQuery
from hub.model.list_query import ListQuery
from hub.model.queue import QueueItem
from hub.model.record import Group, Record
from hub.store import mongo_access as access
from hub.store import mongo_counts as counts
from hub.store import mongo_fields as fields
from hub.store import mongo_idmap as idmap
from hub.store import mongo_queue as queue
from hub.store import mongo_records as records
from hub.store import mongo_sync as sync
from hub.store.base import IdTaken
from hub.store.mongo_query import compile_filter, compile_list, compile_order, record
from hub.store.mongo_schema import prepare
from hub.store.mongo_tx import MongoTransaction, commit, races, transient, upsert

T = TypeVar("T")
Doc = dict[str, Any]
RACE_BACKOFF = 0.05
"""The longest random wait, in seconds, before a lost race is reported."""
CLAIM_WAIT = 2.0
"""How long, in seconds, a write transaction waits for its group's turn held by another process."""
CLAIM_PAUSE, CLAIM_PAUSE_MAX = 0.001, 0.02
"""The first and the longest random pause, in seconds, between two claims of a group's turn."""
READ_TRIES = 3
"""How many read-only transactions a read runs at most, the later ones after a transient error."""


def transaction_options(write: bool) -> dict[str, Any]:
    """Reads of one snapshot, from the primary whatever the URL's `readPreference` says (a transaction takes the
    client's unless told, and PyMongo refuses its first command on any other); writes committed by a majority."""
    options: dict[str, Any] = {"read_concern": ReadConcern("snapshot"), "read_preference": ReadPreference.PRIMARY}
    return {**options, "write_concern": WriteConcern("majority")} if write else options


class MongoStore:
    """The storage port over one MongoDB database.

    `MongoStore(url)` connects in `open()`. `MongoStore(database=db)` works on a database
    object made elsewhere; `transactions=False` is for a test double without sessions
    (mongomock): each write then applies on its own as it comes, nothing is rolled back, and
    reads run without a snapshot.
    """

    unreachable: tuple[type[Exception], ...] = (ConnectionFailure,)
    """No server selected in time, a connection lost or timed out, the pool exhausted: what the driver raises once its
    own retries are spent. Inside a write transaction they come labelled transient, and the use case is run again
    (`races`) before a 409 says to try again; but for no server selected in time, which waited its whole timeout
    (`mongo_tx.transient`)."""

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
        """Connect, check for transactions and make the indexes; one that fails closes the client it made, which
        otherwise went on looking for its servers."""
        if self._db is None:
            self._client = AsyncMongoClient(self.url, appname="hub")
            self._db = self._client.get_default_database()
        try:
            await self._prepare()
        except BaseException:
            await self.close()  # a client it was given is left to its maker
            raise

    async def _prepare(self) -> None:
        if self.transactions:
            hello = await self.db.client.admin.command("hello")
            if "setName" not in hello and hello.get("msg") != "isdbgrid":
                raise RuntimeError(
                    "the MongoDB server is standalone: the hub needs transactions, which need a replica set"
                    " (mongod --replSet rs0, then rs.initiate() once; docker compose up does both)"
                )
        await prepare(self.db)
        await self._atomically(partial(counts.keep_counts, self.db))

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
            await session.start_transaction(**transaction_options(write=False))
            try:
                yield session
            finally:
                if session.in_transaction:
                    await session.abort_transaction()

    async def _read(self, work: Callable[[AsyncClientSession | None], Awaitable[T]]) -> T:
        """`work` in a read-only transaction (`_reading`), run again in a fresh one after a transient error, up to
        READ_TRIES times: the driver retries a read cut off by a failover outside a transaction, never inside one,
        and a collection's catalog changing under the snapshot (an index built) is one too (SnapshotUnavailable)."""
        for _ in range(READ_TRIES - 1):
            try:
                async with self._reading() as session:
                    return await work(session)
            except PyMongoError as error:
                if not transient(error):
                    raise
        async with self._reading() as session:
            return await work(session)

    async def group(self, group_id: str) -> Group | None:
        doc = await self.db["groups"].find_one({"_id": group_id})
        return Group(doc["_id"], doc["channel_id"]) if doc else None

    async def ensure_group(self, group_id: str, channel_id: str) -> Group:
        update = {"$setOnInsert": {"channel_id": channel_id, "created_at": timefmt.now()}}
        doc = await upsert(self.db["groups"], {"_id": group_id}, update)
        return Group(doc["_id"], doc["channel_id"])

    async def register(self, ids: Sequence[ExternalId]) -> None:
        """Note the providers of ids about to be linked, for `providers()`; once per process each.

        Outside the transaction, unlike the codes and the queue's item numbers (taken under the group's
        turn): `providers` is shared by every group, so no group's turn guards it, and inside, the first
        links of a new provider in two groups' transactions at once would write one document and abort one
        of them. A provider noted for a write that then rolls back is harmless: `providers()` checks each.
        """
        for provider in sorted({e.provider for e in ids} - self._registered):
            await upsert(self.db["providers"], {"_id": provider}, {"$setOnInsert": {"since": timefmt.now()}})
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
                    await self._claim(session, group_id)
                    try:
                        yield MongoTransaction(self, group_id, session)
                    except BaseException:
                        if session.in_transaction:
                            await session.abort_transaction()
                        raise
                    await commit(session)
        except IdTaken:
            await asyncio.sleep(random.uniform(0, RACE_BACKOFF))
            raise

    async def _claim(self, session: AsyncClientSession, group_id: str) -> None:
        """Start the transaction with the group's turn (`mongo_sync.claim`), waiting for it if another
        hub process holds it: a claim refused has done no work, so it is tried again in a fresh
        transaction after a short random pause, up to CLAIM_WAIT seconds, before the use case runs."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CLAIM_WAIT
        pause = CLAIM_PAUSE
        while True:
            await session.start_transaction(**transaction_options(write=True))
            try:
                with races():
                    await sync.claim(self.db, session, group_id)
            except BaseException as error:
                if session.in_transaction:
                    await session.abort_transaction()
                if not isinstance(error, IdTaken) or loop.time() >= deadline:
                    raise
            else:
                return
            await asyncio.sleep(random.uniform(0, pause))
            pause = min(pause * 2, CLAIM_PAUSE_MAX)

    async def get(self, group_id: str, collection: str, hub_ids: Sequence[str]) -> dict[str, Record]:
        return await self._read(lambda session: records.resolve(self.records, session, group_id, collection, hub_ids))

    async def find(self, group_id: str, collection: str, ext: ExternalId) -> Record | None:
        found = await self._read(lambda session: records.match(self.records, session, group_id, collection, [ext]))
        return found[0] if found else None

    async def links(self, group_id: str, query: LinkQuery) -> tuple[list[KeyLink], int]:
        return await self._read(lambda session: idmap.links(self.records, session, group_id, query))

    async def providers(self) -> list[str]:
        return await self._read(partial(idmap.providers, self.db))

    async def merges(
        self, group_id: str, collection: str, hub_id: str, page: HistoryPage
    ) -> tuple[list[MergeEntry], bool]:
        return await self._read(lambda session: idmap.merges(self.db, session, group_id, collection, hub_id, page))

    async def aliases(self, group_id: str, collection: str, hub_id: str) -> list[str]:
        return await self._read(lambda session: idmap.aliases(self.records, session, group_id, collection, hub_id))

    async def list(self, group_id: str, collection: Collection, query: ListQuery) -> tuple[list[Record], int | None]:
        where = compile_list(group_id, collection, query)
        paged = where if query.start is None else {"$and": [where, compile_filter(collection, query.start)]}

        async def page(session: AsyncClientSession | None) -> tuple[list[Doc], int | None]:
            docs: list[Doc] = []
            if query.top > 0:  # MongoDB reads `limit(0)` as no limit
                cursor = self.records.find(paged, session=session).sort(compile_order(query))
                docs = await cursor.skip(query.offset).limit(query.top).to_list(None)
            return docs, await self._total(session, group_id, collection, query, where) if query.count else None

        docs, total = await self._read(page)
        return [record(doc) for doc in docs], total

    async def _total(
        self, session: AsyncClientSession | None, group_id: str, collection: Collection, query: ListQuery, where: Doc
    ) -> int:
        """The total of a page: from the kept counts if they count it (those of statuses too, of a query of statuses
        alone: `ListQuery.statuses`, an app's or not, a page of every status among them); of several statuses beside
        another condition, the sum of each's, counted in its own index (`ListQuery.by_status`: an `$in` reads none);
        else counted (`where` finds them, as for a page before its database's counts are kept)."""
        if query.statuses is not None:
            kept = await counts.status_total(self.db, session, group_id, collection.name, query)
        elif parts := query.by_status():
            each = [compile_list(group_id, collection, part) for part in parts]
            return sum([await self.records.count_documents(one, session=session) for one in each])
        else:
            kept = await counts.kept_total(self.db, session, group_id, collection.name, query)
        return kept if kept is not None else await self.records.count_documents(where, session=session)

    async def _atomically(self, work: Callable[[AsyncClientSession | None], Awaitable[T]]) -> T:
        """`work` in a write transaction of its own, re-run by the driver after a transient error
        (a write conflict); without transactions (a test double), as it comes."""
        if not self.transactions:
            return await work(None)
        async with self.db.client.start_session() as session:
            return await session.with_transaction(work, **transaction_options(write=True))

    # Sync: the change feed, integrations, the outbound queue, field sync (see mongo_sync, mongo_queue)

    async def changes(self, group_id: str, after: int, limit: int) -> tuple[int, Sequence[Change]]:
        return await self._read(lambda session: sync.changes(self.db, session, group_id, after, limit))

    async def prune_changes(self, before: str) -> int:
        """Group by group, in transactions of at most `sync.PRUNE_CHUNK` changes each: the horizon rises as they go."""
        dropped = 0
        for group_id, seq in await sync.prune_cut(self.db, before):
            step = 0
            while step < seq:
                step = await sync.prune_step(self.db, group_id, seq)
                dropped += await self._atomically(partial(sync.prune_group, self.db, group_id=group_id, seq=step))
        return dropped

    async def integrations(self, group_id: str) -> Sequence[Integration]:
        return await sync.integrations(self.db, None, group_id)

    async def integration(self, group_id: str, name: str) -> Integration | None:
        return await sync.integration(self.db, None, group_id, name)

    async def webhook_integrations(self) -> Sequence[Integration]:
        return await sync.webhook_integrations(self.db, None)

    async def dead_items(self, group_id: str, integration: str, after: int, limit: int) -> Sequence[QueueItem]:
        return await queue.dead_items(self.db, None, group_id, integration, after, limit)

    async def field_sync(
        self, group_id: str, collection: str, ids: Sequence[ExternalId]
    ) -> dict[ExternalId, dict[str, Directions]]:
        return await sync.field_sync(self.db, None, group_id, collection, ids)

    # Access: API keys and the groups each app is connected to (see mongo_access)

    async def add_key(self, key: ApiKey) -> None:
        await access.add_key(self.db, key)

    async def add_first_admin_key(self, key: ApiKey) -> bool:
        return await access.add_first_admin_key(self.db, key)

    async def key(self, key_id: str) -> ApiKey | None:
        return await access.key(self.db, key_id)

    async def keys(self) -> Sequence[ApiKey]:
        return await access.keys(self.db)

    async def revoke_key(self, key_id: str, revoked_at: str) -> bool:
        return await access.revoke_key(self.db, key_id, revoked_at)

    async def connect(self, connection: Connection, channel_id: str) -> Connection:
        await self.ensure_group(connection.group_id, channel_id)
        return await access.connect(self.db, connection)

    async def disconnect(self, provider: str, group_id: str) -> bool:
        return await access.disconnect(self.db, provider, group_id)

    async def connections(self, provider: str | None = None) -> Sequence[Connection]:
        return await access.connections(self.db, provider)

    async def field_indexes(self) -> Sequence[FieldIndex]:
        return await fields.field_indexes(self.db)

    async def add_field_index(self, index: FieldIndex) -> bool:
        return await fields.add_field_index(self.db, index)

    async def drop_field_index(self, index: FieldIndex) -> bool:
        return await fields.drop_field_index(self.db, index)

    async def recount(self) -> None:
        await self._atomically(partial(counts.keep_counts, self.db, again=True))
