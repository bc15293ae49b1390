"""`--store` URLs pick the adapter, and a MongoDB server without transactions is refused at start-up."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import threading
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from pymongo.errors import ServerSelectionTimeoutError

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


def _others() -> set[asyncio.Task[Any]]:
    return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]


@pytest.mark.parametrize("content", [None, b"this is no database, not even an empty one\n" * 100])
async def test_a_store_that_fails_to_open_leaves_no_thread_or_connection(tmp_path: Path, content: bytes | None) -> None:
    """A store that could not open kept its threads (and, past the connection, the file open): a process that tries
    again, as a test run or a service manager's retry does, gathered them."""
    path = tmp_path / ("hub.db" if content else "missing/hub.db")
    if content:
        path.write_bytes(content)
    before = set(threading.enumerate())
    with pytest.raises(sqlite3.DatabaseError):
        await SQLiteStore(str(path)).open()
    assert set(threading.enumerate()) == before and _others() == set()


async def test_a_mongodb_store_that_fails_to_open_closes_its_client() -> None:
    """No server answers: the client made for the URL went on looking for one in the background."""
    before = _others()
    with pytest.raises(ServerSelectionTimeoutError):
        await MongoStore("mongodb://127.0.0.1:9/hub?serverSelectionTimeoutMS=300").open()
    await asyncio.sleep(0)
    assert _others() == before
    # PyMongo's monitor, closed while it connects (a loaded machine), drops that socket unclosed, to a later test's
    # garbage collection: collected here, where it is known, its ResourceWarning is not another test's failure.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
