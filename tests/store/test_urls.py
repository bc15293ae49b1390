"""`--store` URLs pick the adapter, and a MongoDB server without transactions is refused at start-up."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from hub.errors import BadRequest
from hub.store import store_from_url
from hub.store.mongo import MongoStore
from hub.store.sqlite import SQLiteStore


def test_sqlite_urls_name_a_file() -> None:
    store = store_from_url("sqlite:///data/hub.db")
    assert isinstance(store, SQLiteStore) and store.path == "data/hub.db"
    assert cast(SQLiteStore, store_from_url("sqlite:////var/hub.db")).path == "/var/hub.db"


@pytest.mark.parametrize(
    "url",
    ["mongodb://localhost:27017/hub?replicaSet=rs0", "mongodb://a:1,b:2/hub", "mongodb+srv://u:p@cluster.example/hub"],
)
def test_mongodb_urls_pick_the_mongodb_store(url: str) -> None:
    store = store_from_url(url)
    assert isinstance(store, MongoStore) and store.url == url and store.transactions


@pytest.mark.parametrize("url", ["mongodb://localhost:27017", "mongodb://localhost:27017/?replicaSet=rs0", "pg://x/y"])
def test_a_url_without_a_database_or_of_another_kind_is_refused(url: str) -> None:
    with pytest.raises(BadRequest):
        store_from_url(url)


async def test_a_standalone_mongodb_server_is_refused_at_open() -> None:
    async def command(name: str) -> dict[str, Any]:
        assert name == "hello"
        return {"isWritablePrimary": True, "maxWireVersion": 21}

    database = SimpleNamespace(client=SimpleNamespace(admin=SimpleNamespace(command=command)))
    with pytest.raises(RuntimeError, match="replica set"):
        await MongoStore(database=cast(Any, database)).open()
