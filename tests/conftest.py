"""Shared fixtures: a hub app driven through the ASGI test client, on each store the API tests run against.

`client` is parametrized over the stores named in HUB_TEST_STORE (default `sqlite,mongomock`):
every API test runs on the SQLite adapter and on the MongoDB adapter over mongomock, so the
one `./scripts/test` that CI calls checks the HTTP surface on both. `HUB_TEST_STORE=sqlite`
runs one of them; `mongodb` runs them on the server at HUB_TEST_MONGODB_URL, each test in a
database of its own. A test marked `needs_transactions` (rollback, unique multikey indexes,
concurrent writers) is skipped on mongomock, which has none of them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import pytest
from mongomock_motor import AsyncMongoMockClient
from pymongo import MongoClient
from starlette.testclient import TestClient

from hub.app import create_app
from hub.config import Settings
from hub.store.base import Store
from hub.store.mongo import MongoStore

FIXTURES = Path(__file__).parent.parent / "fixtures"
MONGODB_URL = os.environ.get("HUB_TEST_MONGODB_URL")
API_STORES = [s.strip() for s in os.environ.get("HUB_TEST_STORE", "sqlite,mongomock").split(",") if s.strip()]
if not API_STORES or not set(API_STORES) <= {"sqlite", "mongomock", "mongodb"}:
    raise pytest.UsageError(f"HUB_TEST_STORE names sqlite, mongomock or mongodb, not {os.environ['HUB_TEST_STORE']!r}")
if "mongodb" in API_STORES and not MONGODB_URL:
    raise pytest.UsageError("HUB_TEST_STORE=mongodb needs HUB_TEST_MONGODB_URL")


def mongomock_store() -> MongoStore:
    """The MongoDB adapter on an in-memory mongomock database (no sessions, so no transactions)."""
    return MongoStore(database=cast(Any, AsyncMongoMockClient()["hub"]), transactions=False)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(store=f"sqlite:///{tmp_path / 'hub.db'}")


@pytest.fixture(params=API_STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    kind = str(request.param)
    if kind == "mongomock" and request.node.get_closest_marker("needs_transactions"):
        pytest.skip("mongomock cannot show transactions, unique multikey indexes or concurrent writers")
    return kind


def with_database(url: str, name: str) -> str:
    """A MongoDB URL with its database replaced by `name`."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@pytest.fixture
def client(settings: Settings, store_kind: str) -> Iterator[TestClient]:
    store: Store | None = None
    database = f"hub_test_{uuid.uuid4().hex[:12]}"
    if store_kind == "mongomock":
        store = mongomock_store()
    elif store_kind == "mongodb":
        store = MongoStore(with_database(str(MONGODB_URL), database))
    with TestClient(create_app(settings, store=store), raise_server_exceptions=False) as test_client:
        yield test_client
    if store_kind == "mongodb":
        with MongoClient(str(MONGODB_URL)) as admin:
            admin.drop_database(database)
