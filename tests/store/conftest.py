"""The stores the contract suites run against: SQLite, MongoDB on mongomock, and a real MongoDB if one is named.

On mongomock the store runs its transactions on sessions that check each operation is made in the
transaction it belongs to, and rolls back a transaction that aborts (`tests.store.sessions`).

Set HUB_TEST_MONGODB_URL (e.g. mongodb://localhost:27017/?replicaSet=rs0) to run the suites
against a real server too; each test then works in a database of its own and drops it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import pytest
from pymongo import AsyncMongoClient

from hub.model.record import Record
from hub.store.base import Store
from hub.store.mongo import MongoStore
from hub.store.sqlite import SQLiteStore
from tests.store.contract import OpenStore, write_people
from tests.store.sessions import SessionChecked

REAL_URL = os.environ.get("HUB_TEST_MONGODB_URL")
KINDS = ["sqlite", "mongomock", *(["mongodb"] if REAL_URL else [])]


def _real_db_url(base: str, name: str) -> str:
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def open_store(kind: str, tmp_path: Path) -> AsyncIterator[OpenStore]:
    """Opens stores on one shared backing (a file, a mock database, a real database), like several hub processes."""
    opened: list[Store] = []
    mock_db = SessionChecked()
    name = f"hub_test_{uuid.uuid4().hex[:12]}"

    async def make() -> Store:
        store: Store
        if kind == "sqlite":
            store = SQLiteStore(str(tmp_path / "hub.db"))
        elif kind == "mongomock":
            store = MongoStore(database=cast(Any, mock_db))
        else:
            store = MongoStore(_real_db_url(str(REAL_URL), name))
        await store.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()
    assert mock_db.faults == [], "what a real server's transaction would refuse or run outside it"
    if kind == "mongodb":
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(str(REAL_URL))
        await client.drop_database(name)
        await client.close()


@pytest.fixture
async def store(open_store: OpenStore) -> Store:
    return await open_store()


@pytest.fixture
async def people(store: Store) -> dict[str, Record]:
    """The records the list contract filters and orders (`write_people`)."""
    return await write_people(store)
