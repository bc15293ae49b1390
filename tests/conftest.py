"""Shared fixtures: a hub app on a fresh SQLite file, driven through the ASGI test client as the admin by default."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from hub.app import create_app
from hub.config import Settings
from hub.service import access
from hub.store.base import Store

FIXTURES = Path(__file__).parent.parent / "fixtures"
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


@contextmanager
def admin_client(app: Starlette, **options: Any) -> Iterator[TestClient]:
    """A test client running `app`'s lifespan, acting as a fresh admin key."""
    with TestClient(app, **options) as test_client:
        test_client.auth = Key(Keys(test_client).new().token)
        yield test_client


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(store=f"sqlite:///{tmp_path / 'hub.db'}")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The app as the admin sees it; pass `auth=None` to send no key, or your own Authorization header."""
    with admin_client(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def keys(client: TestClient) -> Keys:
    return Keys(client)
