"""Access on MongoDB: API keys and app-group connections, each write one atomic single-document operation.

    api_keys:     {_id: <key id>, provider (None for an admin key), secret_hash, created_at, revoked_at,
                   first_admin: true on the key a fresh store made, and on no other}
    connections:  {_id: '["<provider>","<group>"]', provider, group, realm, created_at}

A key keeps only the hash of its secret. No write here needs a transaction: each touches
one document, and MongoDB applies a single-document write atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from hub.model.access import ApiKey, Connection
from hub.store.mongo_query import Index
from hub.store.mongo_tx import upsert

Doc = dict[str, Any]

INDEXES: dict[str, dict[str, Index]] = {
    # Every key, oldest first (a key by its id is an `_id` lookup).
    "api_keys": {
        "created_at": ([("created_at", 1), ("_id", 1)], {}),
        # At most one first admin key: of racing first starts, one insert wins.
        "first_admin": ([("first_admin", 1)], {"unique": True, "sparse": True}),
    },
    # One app's connections, or all of them, by provider then group.
    "connections": {"provider_group": ([("provider", 1), ("group", 1)], {"unique": True})},
}


def _key(doc: Doc) -> ApiKey:
    return ApiKey(doc["_id"], doc.get("provider"), doc["secret_hash"], doc["created_at"], doc.get("revoked_at"))


def _connection(doc: Doc) -> Connection:
    return Connection(doc["provider"], doc["group"], doc["realm"], doc["created_at"])


def _key_doc(key: ApiKey) -> Doc:
    return {
        "_id": key.key_id,
        "provider": key.provider,
        "secret_hash": key.secret_hash,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


async def add_key(db: AsyncDatabase[Doc], key: ApiKey) -> None:
    """A key id already stored is a DuplicateKeyError."""
    await db["api_keys"].insert_one(_key_doc(key))


async def add_first_admin_key(db: AsyncDatabase[Doc], key: ApiKey) -> bool:
    """False if an admin key exists; of racers that all found none, the unique `first_admin` index lets one in."""
    if await db["api_keys"].find_one({"provider": None}, projection={"_id": 1}) is not None:
        return False
    try:
        await db["api_keys"].insert_one({**_key_doc(key), "first_admin": True})
    except DuplicateKeyError:
        return False
    return True


async def key(db: AsyncDatabase[Doc], key_id: str) -> ApiKey | None:
    doc = await db["api_keys"].find_one({"_id": key_id})
    return _key(doc) if doc else None


async def keys(db: AsyncDatabase[Doc]) -> Sequence[ApiKey]:
    docs = await db["api_keys"].find({}).sort([("created_at", 1), ("_id", 1)]).to_list(None)
    return [_key(doc) for doc in docs]


async def revoke_key(db: AsyncDatabase[Doc], key_id: str, revoked_at: str) -> bool:
    result = await db["api_keys"].update_one({"_id": key_id, "revoked_at": None}, {"$set": {"revoked_at": revoked_at}})
    return result.matched_count == 1


def _connection_key(provider: str, group_id: str) -> str:
    return orjson.dumps([provider, group_id]).decode()


async def connect(db: AsyncDatabase[Doc], c: Connection) -> Connection:
    """Insert if absent and return the stored connection, in one atomic upsert."""
    identity = {"provider": c.provider, "group": c.group_id, "realm": c.realm, "created_at": c.created_at}
    doc = await upsert(db["connections"], {"_id": _connection_key(c.provider, c.group_id)}, {"$setOnInsert": identity})
    return _connection(doc)


async def disconnect(db: AsyncDatabase[Doc], provider: str, group_id: str) -> bool:
    result = await db["connections"].delete_one({"_id": _connection_key(provider, group_id)})
    return result.deleted_count == 1


async def connections(db: AsyncDatabase[Doc], provider: str | None) -> Sequence[Connection]:
    where = {"provider": provider} if provider is not None else {}
    docs = await db["connections"].find(where).sort([("provider", 1), ("group", 1)]).to_list(None)
    return [_connection(doc) for doc in docs]
