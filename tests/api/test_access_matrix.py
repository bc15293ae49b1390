"""Every route times every way in without the right to it: 401, or a 404 that says no more than a missing group.

The routes come from the app's own route table, so a new endpoint is in the matrix
the day it is added; one with a path parameter this file has no sample for fails
until a sample is given below.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from hub.api.auth import PUBLIC_PATHS
from hub.api.problems import CHALLENGE
from hub.app import create_app
from hub.model.ids import ExternalId
from hub.model.key_link import link_id
from tests.api.helpers import ext
from tests.conftest import Keys

SECRET_NAME = "Adalind Quimbyworth"
MINE, OTHER, MISSING = "cld-1", "cld-2", "cld-404"


@dataclass
class World:
    client: TestClient
    records: dict[str, str]
    """group id -> the hub id of a record in it."""
    headers: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from hub.config import Settings
    from tests.conftest import Key

    settings = Settings(store=f"sqlite:///{tmp_path_factory.mktemp('matrix') / 'hub.db'}")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        keys = Keys(client)
        client.auth = Key(keys.new().token)
        records = {}
        for group_id, provider in ((MINE, "crm"), (OTHER, "erp")):
            body = {"people": {"id": [ext(provider, "1")], "first_name": SECRET_NAME}}
            records[group_id] = client.post(f"/api/v2/{group_id}/people", json=body).json()["people"]["id"]
            sync = {"name": "sync", "entity": "people", "direction": "outbound", "provider": provider, "realm": "2243"}
            assert client.post(f"/api/v2/{group_id}/integrations", json=sync).status_code == 201
        crm, erp, revoked = keys.new("crm", cld_1="2243"), keys.new("erp", cld_2="77"), keys.new("crm")
        keys.revoke(revoked.key.key_id)
        headers = {
            "no key": {},
            "wrong key": {"Authorization": f"Bearer {crm.key.key_id}.{'x' * 43}"},
            "revoked key": {"Authorization": f"Bearer {revoked.token}"},
            "other app's key": {"Authorization": f"Bearer {erp.token}"},
            "own key": {"Authorization": f"Bearer {crm.token}"},
        }
        yield World(client, records, headers)


def endpoints() -> list[tuple[str, str]]:
    """(method, path template) of every route, HEAD aside (it is GET without a body)."""
    found = []
    for route in create_app().routes:
        assert isinstance(route, Route), f"{route!r}: teach this matrix about this kind of route"
        found.extend((method, route.path_format) for method in sorted(route.methods or ()) if method != "HEAD")
    return found


def fill(path: str, group_id: str, world: World) -> str:
    provider = "erp" if group_id == OTHER else "crm"
    samples = {
        "group_id": group_id,
        "collection": "people",
        "id": world.records.get(group_id, world.records[MINE]),
        "link_id": link_id("people", ExternalId(provider, "2243", "1")),
        "name": "sync",
    }
    route = Route(path, lambda request: None)
    missing = set(route.param_convertors) - set(samples)
    assert not missing, f"{path}: give the access matrix a sample for {sorted(missing)}"
    return path.format(**samples)


def send(world: World, method: str, path: str, who: str) -> Any:
    body = {"people": {"first_name": "Zed"}} if method in ("POST", "PUT", "PATCH") else None
    return world.client.request(method, path, json=body, headers=world.headers[who], auth=None)


def leaks_nothing(world: World, text: str) -> None:
    assert SECRET_NAME not in text and not any(hub_id in text for hub_id in world.records.values())


ENDPOINTS = endpoints()
GROUPED = [(m, p) for m, p in ENDPOINTS if "{group_id}" in p]


def test_the_matrix_covers_every_route() -> None:
    assert {p for _, p in ENDPOINTS} >= PUBLIC_PATHS
    assert len(GROUPED) >= 5


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize("who", ["no key", "wrong key", "revoked key"])
def test_no_live_key_gets_401_and_nothing_else(world: World, method: str, path: str, who: str) -> None:
    response = send(world, method, fill(path, MINE, world), who)
    if path in PUBLIC_PATHS:
        assert response.status_code == 200
        return
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == CHALLENGE
    assert response.headers["content-type"] == "application/problem+json"
    assert set(response.json()) == {"type", "title", "status", "detail"}
    leaks_nothing(world, response.text)


@pytest.mark.parametrize(("method", "path"), GROUPED)
@pytest.mark.parametrize(("who", "group_id"), [("other app's key", MINE), ("own key", OTHER)])
def test_a_group_not_connected_answers_exactly_as_a_missing_one(
    world: World, method: str, path: str, who: str, group_id: str
) -> None:
    response = send(world, method, fill(path, group_id, world), who)
    missing = send(world, method, fill(path, MISSING, world), who)
    assert response.status_code == missing.status_code == 404, response.text
    assert response.headers["content-type"] == missing.headers["content-type"] == "application/problem+json"
    assert response.text == missing.text.replace(MISSING, group_id)
    leaks_nothing(world, response.text)


@pytest.mark.parametrize(("method", "path"), GROUPED)
def test_the_own_key_in_its_group_gets_through(world: World, method: str, path: str) -> None:
    response = send(world, method, fill(path, MINE, world), "own key")
    assert response.status_code not in (401, 403), response.text
    assert response.status_code != 404 or response.json()["detail"] != f"no group {MINE}"
