"""The writes of one use case on MongoDB (`MongoTransaction`), and how a lost race is told from a failure.

A write transaction runs in a client session (snapshot reads, majority commit). Two
transactions writing one document conflict, and MongoDB aborts the later one with a
TransientTransactionError rather than making it wait: like a duplicate key, that is a race
lost, reported as IdTaken, and the service re-runs the use case on the winner's data.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError, ServerSelectionTimeoutError

from hub.errors import Unavailable
from hub.model import timefmt
from hub.model.change import Change
from hub.model.connect import Directions
from hub.model.history import MergeEntry
from hub.model.ids import ExternalId
from hub.model.integration import Integration
from hub.model.key_link import KeyLink, LinkQuery
from hub.model.queue import QueueItem
from hub.model.record import Group, Record
from hub.store import mongo_counts as counts
from hub.store import mongo_idmap as idmap
from hub.store import mongo_queue as queue
from hub.store import mongo_records as records
from hub.store import mongo_sync as sync
from hub.store.base import IdTaken
from hub.store.mongo_idmap import one_per_app
from hub.store.mongo_query import counter_key, document, entries, holding, id_key, index_fields, record

if TYPE_CHECKING:
    from hub.store.mongo import MongoStore

Doc = dict[str, Any]
COMMIT_TRIES = 3
"""Commits whose outcome is unknown (a network error) are retried; the commit is idempotent."""
DUPLICATE_KEY = 11000
UPSERT_TRIES = 5
"""Upserts that lost the race to create their document are re-run as updates."""


def transient(error: PyMongoError) -> bool:
    """Whether an error in a transaction is one to run it again for, as the driver labels it: but not a server
    selection that timed out, which it labels so too. It waited the whole timeout (30 s unless set) for a server, so
    each run again waited as long, and the last answered 409 as for concurrent writes: it is unreachable (a 503)."""
    return error.has_error_label("TransientTransactionError") and not isinstance(error, ServerSelectionTimeoutError)


@contextmanager
def races() -> Iterator[None]:
    """Report a lost race (unique index, write conflict) as IdTaken; let anything else through."""
    try:
        yield
    except DuplicateKeyError as error:
        raise IdTaken(str(error)) from error
    except BulkWriteError as error:  # insert_many's duplicate key
        errors = error.details.get("writeErrors") or []
        if errors and all(e.get("code") == DUPLICATE_KEY for e in errors):
            raise IdTaken(str(error)) from error
        raise
    except PyMongoError as error:
        if transient(error):
            raise IdTaken(str(error)) from error
        raise


async def upsert(collection: AsyncCollection[Doc], key: Doc, update: Doc) -> Doc:
    """Update or create one document by `_id`, atomically (no transaction), and return it as it is after.

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


async def commit(session: AsyncClientSession) -> None:
    """Commit, again while the outcome is unknown (the commit is idempotent). Still unknown after COMMIT_TRIES, it
    is a 503 that says the write may have been made: a client writing again by the same ids changes nothing twice,
    but one creating a record without ids would make a second."""
    for attempt in range(COMMIT_TRIES):
        try:
            with races():
                await session.commit_transaction()
            return
        except PyMongoError as error:
            if not error.has_error_label("UnknownTransactionCommitResult"):
                raise
            if attempt == COMMIT_TRIES - 1:
                raise Unavailable(
                    "MongoDB did not say whether the write was committed: it may have been made."
                    " Read it back (or write again by the same ids) before creating anything anew"
                ) from error


class MongoTransaction:
    """The writes of one use case, inside one MongoDB transaction (or none, on a test double)."""

    def __init__(self, store: MongoStore, group_id: str, session: AsyncClientSession | None) -> None:
        self._store = store
        self._db = store.db
        self._records = store.records
        self._session = session
        self.group_id = group_id

    async def get(self, collection: str, hub_ids: Sequence[str]) -> dict[str, Record]:
        with races():
            return await records.resolve(self._records, self._session, self.group_id, collection, hub_ids)

    async def match(self, collection: str, ids: Sequence[ExternalId]) -> list[Record]:
        with races():
            return await records.match(self._records, self._session, self.group_id, collection, ids)

    async def ensure_group(self, group: Group) -> Group:
        update = {"$setOnInsert": {"channel_id": group.channel_id, "created_at": timefmt.now()}}
        with races():  # two first writes at once: the loser's duplicate key is a race lost, run again
            doc = await self._db["groups"].find_one_and_update(
                {"_id": group.group_id},
                update,
                upsert=True,
                return_document=ReturnDocument.AFTER,
                session=self._session,
            )
        if doc is None:  # mongod always returns one here; a look-alike server racing may not
            raise IdTaken(f"could not create group {group.group_id} under concurrent writes")
        return Group(doc["_id"], doc["channel_id"])

    async def links(self, query: LinkQuery) -> tuple[list[KeyLink], int]:
        with races():
            return await idmap.links(self._records, self._session, self.group_id, query)

    async def next_seq(self, collection: str) -> int:
        """Taken inside the transaction: it holds its group's turn (see `MongoStore.transaction`), so
        no other transaction writes the group's counters meanwhile, and a rollback gives the number
        back, as on SQLite. Without transactions (a test double), an atomic `$inc`."""
        with races():
            doc = await self._db["counters"].find_one_and_update(
                {"_id": counter_key(self.group_id, collection)},
                {"$inc": {"seq": 1}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
                session=self._session,
            )
        if doc is None:  # mongod always returns one; a look-alike server racing may not
            raise IdTaken(f"the {collection} counter of group {self.group_id} moved on under a concurrent write")
        return int(doc["seq"])

    async def insert(self, record: Record) -> None:
        one_per_app(record.ids, record.hub_id)
        await self._store.register(record.ids)
        doc = document(record)
        with races():
            await self._records.insert_one(doc, session=self._session)
            await counts.adjust(self._db, self._session, [], [doc])

    async def save(self, record: Record, new_ids: Sequence[ExternalId]) -> None:
        """Write a record's status and fields and add `new_ids`; the counts move by what that changed."""
        where: Doc = {"_id": record.hub_id}
        index: Doc = {}
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
        with races():
            was = await counts.before(self._records, self._session, {"_id": record.hub_id})
            result = await self._records.update_one(where, update, session=self._session)
            if result.matched_count:
                now = [
                    {**doc, "status": record.status, "apps": [*doc.get("apps", []), *index.get("apps", [])]}
                    for doc in was
                ]
                await counts.adjust(self._db, self._session, was, now)
        if new_ids and result.matched_count == 0:
            raise IdTaken(f"record {record.hub_id} is gone or already holds an id of one of these apps")

    async def merge(self, survivor: Record, merged: Sequence[Record]) -> None:
        with races():
            was = await counts.before(
                self._records, self._session, {"_id": {"$in": [survivor.hub_id, *(r.hub_id for r in merged)]}}
            )
            await idmap.merge(self._records, self._session, survivor, merged)
            await counts.adjust_after(self._db, self._session, was)

    async def aliases(self, collection: str, hub_id: str) -> list[str]:
        with races():
            return await idmap.aliases(self._records, self._session, self.group_id, collection, hub_id)

    async def referrers(self, collection: str, field: str, hub_ids: Sequence[str]) -> list[Record]:
        where = {
            "group": self.group_id,
            f"fields.{field}": {"$in": list(hub_ids)},
            "collection": collection,
            "merged_into": None,
        }
        with races():
            found = await self._records.find(where, session=self._session).sort("seq").to_list(None)
        return [record(doc) for doc in found]

    async def touch(self, collection: str, hub_ids: Sequence[str], updated_at: str) -> None:
        where = {"_id": {"$in": list(hub_ids)}, "group": self.group_id, "collection": collection}
        with races():
            await self._records.update_many(where, {"$set": {"updated_at": updated_at}}, session=self._session)

    async def move_ids(self, collection: str, ids: Sequence[ExternalId], hub_id: str) -> None:
        with races():
            was = await counts.before(
                self._records, self._session, {"$or": [{"_id": hub_id}, self._holding(collection, ids)]}
            )
            await idmap.move_ids(self._records, self._session, self.group_id, collection, ids, hub_id)
            await counts.adjust_after(self._db, self._session, was)

    async def unlink(self, collection: str, ids: Sequence[ExternalId]) -> None:
        with races():
            was = await counts.before(self._records, self._session, self._holding(collection, ids))
            await idmap.unlink(self._records, self._session, self.group_id, collection, ids)
            await counts.adjust_after(self._db, self._session, was)

    async def restore(self, record: Record, aliases: Sequence[str]) -> None:
        """Make a tombstone live again; the aliases re-pointed to it are tombstones before and after (not counted)."""
        with races():
            was = await counts.before(self._records, self._session, {"_id": record.hub_id})
            await idmap.restore(self._records, self._session, record, aliases)
            await counts.adjust_after(self._db, self._session, was)

    def _holding(self, collection: str, ids: Sequence[ExternalId]) -> Doc:
        """The filter of the records holding any of `ids`."""
        return holding([id_key(self.group_id, collection, e) for e in ids])

    async def merge_entry(self, merge_id: str) -> MergeEntry | None:
        with races():
            return await idmap.merge_entry(self._db, self._session, self.group_id, merge_id)

    async def put_merge(self, entry: MergeEntry) -> None:
        with races():
            await idmap.put_merge(self._db, self._session, entry)

    # Sync: the change feed, integrations, the outbound queue, field sync (see mongo_sync, mongo_queue)

    async def add_change(self, change: Change) -> int:
        """The seq is taken inside the transaction, under the group's turn: see `mongo_sync.add_change`."""
        with races():
            return await sync.add_change(self._db, self._session, change)

    async def integration(self, name: str) -> Integration | None:
        with races():
            return await sync.integration(self._db, self._session, self.group_id, name)

    async def outbound_integrations(self, collection: str) -> Sequence[Integration]:
        with races():
            return await sync.outbound_integrations(self._db, self._session, self.group_id, collection)

    async def put_integration(self, integration: Integration, new: bool) -> None:
        with races():
            await sync.put_integration(self._db, self._session, integration, new)

    async def delete_integration(self, name: str) -> None:
        with races():
            await sync.delete_integration(self._db, self._session, self.group_id, name)

    async def clear_queue(self, integration: str) -> None:
        with races():
            await queue.clear_queue(self._db, self._session, self.group_id, integration)

    async def enqueue(self, items: Sequence[QueueItem]) -> None:
        with races():
            await queue.enqueue(self._db, self._session, self.group_id, items)

    async def due_items(self, integration: str, now: str, limit: int) -> Sequence[QueueItem]:
        with races():
            return await queue.due_items(self._db, self._session, self.group_id, integration, now, limit)

    async def expired_items(self, integration: str, now: str, limit: int) -> Sequence[QueueItem]:
        with races():
            return await queue.expired_items(self._db, self._session, self.group_id, integration, now, limit)

    async def queued_items(self, integration: str, items: Sequence[int]) -> Sequence[QueueItem]:
        with races():
            return await queue.queued_items(self._db, self._session, self.group_id, integration, items)

    async def waiting_for(
        self, integration: str, hub_ids: Sequence[str], besides: Sequence[int], *, dead: bool = False
    ) -> set[str]:
        with races():
            return await queue.waiting_for(self._db, self._session, self.group_id, integration, hub_ids, besides, dead)

    async def update_items(self, items: Sequence[QueueItem]) -> None:
        with races():
            await queue.update_items(self._db, self._session, items)

    async def remove_items(self, integration: str, items: Sequence[int]) -> None:
        with races():
            await queue.remove_items(self._db, self._session, self.group_id, integration, items)

    async def set_field_sync(self, collection: str, ext: ExternalId, directions: Mapping[str, Directions]) -> None:
        with races():
            await sync.set_field_sync(self._db, self._session, self.group_id, collection, ext, directions)

    async def forget_directions(self, collection: str, ids: Sequence[ExternalId]) -> None:
        with races():
            await sync.forget_directions(self._db, self._session, self.group_id, collection, ids)

    async def field_sync(self, collection: str, ids: Sequence[ExternalId]) -> dict[ExternalId, dict[str, Directions]]:
        with races():
            return await sync.field_sync(self._db, self._session, self.group_id, collection, ids)
