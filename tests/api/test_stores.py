"""The resource API's main paths give the same answers on every store the `client` fixture runs on."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pymongo.errors import AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError
from starlette.testclient import TestClient

from hub.app import create_app
from hub.config import Settings
from tests.conftest import Keys, admin_client, mongomock_store

PEOPLE = "/api/v2/cld-1/people"
ORGS = "/api/v2/cld-1/organizations"
IDS = {"CONNEC-EXTERNAL-IDS": "true"}


def app_id(provider: str, id: str, realm: str = "r1") -> dict[str, str]:
    return {"realm": realm, "provider": provider, "id": id}


def post(client: TestClient, url: str, item: dict[str, Any], status: int) -> dict[str, Any]:
    response = client.post(url, json={url.rsplit("/", 1)[1]: item})
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def names(client: TestClient, **params: str) -> list[str | None]:
    response = client.get(PEOPLE, params=params)
    assert response.status_code == 200, response.text
    return [p.get("first_name") for p in response.json()["people"]]


def test_create_then_update_by_an_apps_own_id(client: TestClient) -> None:
    created = post(client, PEOPLE, {"id": [app_id("sf", "1")], "first_name": "Ann"}, 201)
    assert created["result"] == "created" and created["people"]["code"] == "PE1"
    hub_id = created["people"]["id"]
    updated = post(client, PEOPLE, {"id": [app_id("sf", "1")], "last_name": "Lee"}, 200)
    assert updated["result"] == "updated" and updated["people"]["id"] == hub_id
    got = client.get(f"{PEOPLE}/1", params={"opts[provider]": "sf", "opts[realm]": "r1"}).json()["people"]
    assert (got["id"], got["first_name"], got["last_name"]) == (hub_id, "Ann", "Lee")
    assert post(client, PEOPLE, {"first_name": "Bob"}, 201)["people"]["code"] == "PE2"


def test_one_write_naming_two_records_merges_them_and_the_old_hub_id_still_resolves(client: TestClient) -> None:
    ann = post(client, PEOPLE, {"id": [app_id("sf", "1")], "first_name": "Ann"}, 201)["people"]["id"]
    bob = post(client, PEOPLE, {"id": [app_id("hs", "2")], "first_name": "Bob", "job_title": "CTO"}, 201)
    merged = post(client, PEOPLE, {"id": [app_id("sf", "1"), app_id("hs", "2")]}, 200)
    assert merged["merged"] == [bob["people"]["id"]] and merged["people"]["id"] == ann
    survivor = client.get(f"{PEOPLE}/{bob['people']['id']}", headers=IDS).json()["people"]
    assert survivor["id"][:2] == [app_id("sf", "1"), app_id("hs", "2")]
    assert survivor["id"][2]["id"] == ann
    assert (survivor["first_name"], survivor["job_title"]) == ("Ann", "CTO")
    assert client.get(PEOPLE).json()["pagination"]["total"] == 1


def test_two_ids_of_one_app_on_one_record_are_refused(client: TestClient) -> None:
    post(client, PEOPLE, {"id": [app_id("sf", "1")]}, 201)
    post(client, PEOPLE, {"id": [app_id("sf", "2"), app_id("hs", "3")]}, 201)
    post(client, PEOPLE, {"id": [app_id("sf", "1"), app_id("hs", "3")]}, 409)
    post(client, PEOPLE, {"id": [app_id("zd", "4"), app_id("zd", "5")]}, 409)
    assert client.get(PEOPLE).json()["pagination"]["total"] == 2


def test_a_refused_write_leaves_no_placeholder_behind(client: TestClient) -> None:
    post(client, PEOPLE, {"id": [app_id("sf", "1")]}, 201)
    post(client, PEOPLE, {"id": [app_id("sf", "2"), app_id("hs", "3")]}, 201)
    item = {"id": [app_id("sf", "1"), app_id("hs", "3")], "organization_id": [app_id("sf", "org")]}
    post(client, PEOPLE, item, 409)
    assert client.get(ORGS).json()["pagination"]["total"] == 0


def test_a_reference_to_an_unknown_id_array_is_filled_in_by_the_real_record(client: TestClient) -> None:
    person = post(client, PEOPLE, {"first_name": "Ann", "organization_id": [app_id("sf", "org")]}, 201)["people"]
    org = post(client, ORGS, {"id": [app_id("sf", "org")], "name": "Acme"}, 201)
    assert org["result"] == "created" and org["organizations"]["id"] == person["organization_id"]
    shown = client.get(f"{PEOPLE}/{person['id']}", headers=IDS).json()["people"]
    assert shown["organization_id"][0] == app_id("sf", "org")


def test_lists_filter_order_page_and_leave_out_archived_records(client: TestClient) -> None:
    post(client, PEOPLE, {"id": [app_id("sf", "1")], "first_name": "Ann"}, 201)
    bob = post(client, PEOPLE, {"id": [app_id("hs", "2")], "first_name": "Bob"}, 201)["people"]["id"]
    post(client, PEOPLE, {"last_name": "Cole", "email": {"address": "c@x.io"}}, 201)
    assert names(client, **{"$filter": "first_name ne 'Ann'", "$orderby": "first_name desc"}) == ["Bob", None]
    assert names(client, **{"$filter": "not (first_name eq 'Ann')"}) == ["Bob", None]
    assert names(client, **{"$filter": "not (first_name gt 'Ann')"}) == ["Ann", None]  # no first name: not greater
    assert names(client, **{"$filter": "email/address eq 'c@x.io' or code eq 'PE1'"}) == ["Ann", None]
    assert names(client, **{"opts[provider]": "sf", "opts[realm]": "r1", "opts[linked]": "false"}) == ["Bob", None]
    page = client.get(PEOPLE, params={"$top": "1", "$skip": "1"}).json()
    assert [p["first_name"] for p in page["people"]] == ["Bob"] and page["pagination"]["total"] == 3
    assert client.delete(f"{PEOPLE}/{bob}").json()["people"]["status"] == "ARCHIVED"
    assert names(client) == ["Ann", None]
    assert names(client, **{"$filter": "status eq 'ARCHIVED'"}) == ["Bob"]


def test_concurrent_creates_of_one_external_id_make_one_record(client: TestClient) -> None:
    # Through one app, the writes of a group take turns in the store (on mongomock too); racing
    # stores on one database are the contract suite's (tests/store), on a server with transactions.
    item = {"people": {"id": [app_id("sf", "same")], "first_name": "Ann"}}
    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(lambda _: client.post(PEOPLE, json=item).status_code, range(16)))
    assert statuses == [200] * 15 + [201]
    assert client.get(PEOPLE).json()["pagination"]["total"] == 1


@pytest.mark.parametrize(
    "lost", [ServerSelectionTimeoutError("no servers found yet"), AutoReconnect("connection reset")]
)
def test_a_mongodb_server_out_of_reach_is_a_503_not_a_500(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, lost: Exception
) -> None:
    """The driver gives up on a server it cannot reach (a failover, the network) with errors of its own, which came
    out as 500s; SQLite's store answers a file it cannot take a write on with a 503, which says to try again."""
    store = mongomock_store()
    with admin_client(create_app(settings, store=store), raise_server_exceptions=False) as client:
        assert client.post(PEOPLE, json={"people": {"first_name": "Ann"}}).status_code == 201  # the key known since

        async def unreachable(*args: Any, **kwargs: Any) -> Any:
            raise lost

        monkeypatch.setattr(store, "list", unreachable)
        refused = client.get(PEOPLE)
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1", refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["detail"] == "the store cannot be reached now: try again later"
    assert str(lost) in caplog.text  # the operator learns why


@pytest.mark.parametrize("lost", [ServerSelectionTimeoutError("no servers found yet"), NetworkTimeout("timed out")])
def test_a_key_read_from_a_mongodb_server_out_of_reach_is_a_503_not_a_500(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, lost: Exception
) -> None:
    """A key the hub has not cached (the first request after a start, or past `key_cache_seconds`) is read before any
    route runs: the store's errors there came out as 500s, where the same request with a known key was a 503."""
    store = mongomock_store()
    with admin_client(create_app(settings, store=store), raise_server_exceptions=False) as client:
        fresh = Keys(client).new().token

        async def unreachable(*args: Any, **kwargs: Any) -> Any:
            raise lost

        monkeypatch.setattr(store, "key", unreachable)
        refused = client.get(PEOPLE, headers={"Authorization": f"Bearer {fresh}"})
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1", refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["detail"] == "the store cannot be reached now: try again later"
    assert str(lost) in caplog.text


@pytest.mark.parametrize("write", [True, False], ids=["write", "read"])
def test_no_mongodb_server_selected_in_a_transaction_is_a_503_at_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, write: bool
) -> None:
    """In a transaction the driver labels a server selection that timed out transient, as it does a write conflict:
    taken for a race lost, a write ran again, each run waiting the selection timeout (30 s unless set), eight times
    before a 409 that blamed concurrent writes, and a read three times before its 503."""
    store = mongomock_store()
    with admin_client(create_app(settings, store=store), raise_server_exceptions=False) as client:
        assert client.post(PEOPLE, json={"people": {"first_name": "Ann"}}).status_code == 201
        tries: list[str] = []

        def unselected(collection: str, method: str, session: Any, args: tuple[Any, ...]) -> None:
            if session is not None and session.in_transaction:
                tries.append(f"{collection}.{method}")
                raise ServerSelectionTimeoutError("no servers", {"errorLabels": ["TransientTransactionError"]})

        monkeypatch.setattr(store.db, "check", unselected)
        item = {"people": {"first_name": "Bob"}}
        refused = client.post(PEOPLE, json=item) if write else client.get(PEOPLE)
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1", refused.text
    assert refused.json()["detail"] == "the store cannot be reached now: try again later"
    assert len(tries) == 1, tries
