"""The collections and indexes of a MongoDB store, made as it opens, and the indexes an older hub made, dropped.

No write makes a collection: mongod makes one inside a transaction only under restrictions
(never in a cross-shard one), so every collection a transaction writes is made here first.
Several hubs may open one database at once: each lists what exists, then acts, so what
another made or dropped meanwhile is let pass (`done_meanwhile`). Why each index exists is
said where its collection is laid out: `mongo_query`, `mongo_sync`, `mongo_queue`, `mongo_access`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid, OperationFailure

from hub.store import mongo_access as access
from hub.store import mongo_queue as queue
from hub.store import mongo_sync as sync
from hub.store.mongo_query import INDEXES as RECORD_INDEXES
from hub.store.mongo_query import RETIRED

Doc = dict[str, Any]
NAMESPACE_EXISTS, INDEX_NOT_FOUND = 48, 27
"""The server's codes for a collection that exists already and an index that does not exist."""
INDEXES = {**RECORD_INDEXES, **sync.INDEXES, **queue.INDEXES, **access.INDEXES}
"""Every collection's indexes (`mongo_query`, `mongo_sync`, `mongo_queue`, `mongo_access` say why each)."""


@contextmanager
def done_meanwhile() -> Iterator[None]:
    """Let a collection made or an index dropped by another process since this one looked pass: hubs opening one
    database at once each list what exists, then act. PyMongo's CollectionInvalid comes from its own listing; the
    server's NamespaceExists (mongod before 7.0, which makes `create` idempotent only from 7.0) and IndexNotFound
    (`dropIndexes`, whose "ns not found" alone PyMongo lets pass) come from the race."""
    try:
        yield
    except CollectionInvalid:
        pass
    except OperationFailure as error:
        if error.code not in (NAMESPACE_EXISTS, INDEX_NOT_FOUND):
            raise


async def prepare(db: AsyncDatabase[Doc]) -> None:
    """Drop the retired indexes, then make the collections and the indexes missing; idempotent."""
    existing = set(await db.list_collection_names())
    for collection, names in RETIRED.items():
        for name in set(names) & set(await db[collection].index_information()):
            with done_meanwhile():
                await db[collection].drop_index(name)
    for collection, indexes in INDEXES.items():
        if collection not in existing:
            with done_meanwhile():
                await db.create_collection(collection)
        for name, (keys, options) in indexes.items():
            await db[collection].create_index(keys, name=name, **options)
