"""Shared fixtures: a hub app driven through the ASGI test client, on each store the API tests run against.

`client` is parametrized over the stores named in HUB_TEST_STORE (default `sqlite,mongomock`):
every API test runs on the SQLite adapter and on the MongoDB adapter over mongomock, so the
one `./scripts/test` that CI calls checks the HTTP surface on both. `HUB_TEST_STORE=sqlite`
runs one of them; `mongodb` runs them on the server at HUB_TEST_MONGODB_URL, each test in a
database of its own. On mongomock each transaction is checked and rolled back as a server's would be
(`tests.store.sessions`); what it cannot show (unique multikey indexes, concurrent writers) the store
contract suite checks on SQLite and a real server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable, Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import httpx2
import pytest
from pymongo import MongoClient
from starlette.applications import Starlette
from starlette.testclient import TestClient

from hub.app import create_app
from hub.config import Settings
from hub.service import access
from hub.store.base import Store
from hub.store.mongo import MongoStore
from tests.store.sessions import SessionChecked

FIXTURES = Path(__file__).parent.parent / "fixtures"
MONGODB_URL = os.environ.get("HUB_TEST_MONGODB_URL")
API_STORES = [s.strip() for s in os.environ.get("HUB_TEST_STORE", "sqlite,mongomock").split(",") if s.strip()]
if not API_STORES or not set(API_STORES) <= {"sqlite", "mongomock", "mongodb"}:
    raise pytest.UsageError(f"HUB_TEST_STORE names sqlite, mongomock or mongodb, not {os.environ['HUB_TEST_STORE']!r}")
if "mongodb" in API_STORES and not MONGODB_URL:
    raise pytest.UsageError("HUB_TEST_STORE=mongodb needs HUB_TEST_MONGODB_URL")


def mongomock_store() -> MongoStore:
    """The MongoDB adapter on an in-memory mongomock database, its transactions on sessions that check each operation
    is made in the transaction it belongs to, and a transaction that aborts rolled back (`tests.store.sessions`)."""
    return MongoStore(database=cast(Any, SessionChecked()))


T = TypeVar("T")


class Key(httpx2.Auth):
    """Sends `Authorization: Bearer <token>` unless the request sets its own Authorization header."""

    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        if "authorization" not in request.headers:
            request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


class Keys:
    """Makes keys and connections in the running app's store; `client.get(..., auth=None)` sends no key."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.store: Store = client.app.state.store  # type: ignore[attr-defined]
        self.hub_provider: str = client.app.state.settings.hub_provider  # type: ignore[attr-defined]

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        assert self.client.portal is not None
        return self.client.portal.call(fn, *args)

    def new(self, provider: str | None = None, **groups: str) -> access.NewKey:
        """A key for `provider` (admin if None), its app connected to each group (keyword) with that realm."""
        made = self.run(access.create_key, self.store, provider, self.hub_provider)
        for group_id, realm in groups.items():
            self.connect(provider or "", group_id.replace("_", "-"), realm)
        return made

    def app(self, provider: str, **groups: str) -> dict[str, str]:
        """Headers of a new key for `provider` connected to the groups given as `cld_1="2243"` (`_` reads `-`)."""
        return {"Authorization": f"Bearer {self.new(provider, **groups).token}"}

    def connect(self, provider: str, group_id: str, realm: str) -> None:
        self.run(access.connect, self.store, provider, group_id, realm, self.hub_provider)
        self.client.app.state.authenticator.forget()  # type: ignore[attr-defined]

    def revoke(self, key_id: str) -> None:
        self.run(access.revoke_key, self.store, key_id)

    def disconnect(self, provider: str, group_id: str) -> None:
        self.run(access.disconnect, self.store, provider, group_id)
        self.client.app.state.authenticator.forget()  # type: ignore[attr-defined]


@contextmanager
def admin_client(app: Starlette, **options: Any) -> Iterator[TestClient]:
    """A test client running `app`'s lifespan, acting as a fresh admin key."""
    with TestClient(app, **options) as test_client:
        test_client.auth = Key(Keys(test_client).new().token)
        yield test_client


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(store=f"sqlite:///{tmp_path / 'hub.db'}")


@pytest.fixture(params=API_STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


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
    with admin_client(create_app(settings, store=store), raise_server_exceptions=False) as test_client:
        yield test_client
    if isinstance(store, MongoStore) and isinstance(store.db, SessionChecked):
        assert store.db.faults == [], "what a real server's transaction would refuse or run outside it"
    if store_kind == "mongodb":
        with MongoClient(str(MONGODB_URL)) as admin:
            admin.drop_database(database)


@pytest.fixture
def keys(client: TestClient) -> Keys:
    return Keys(client)
