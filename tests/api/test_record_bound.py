"""A record's size is bounded: its strings by their length, its id arrays by MAX_IDS (a 422), and the ids it holds by
MAX_RECORD_IDS, however it comes to them (a 409 naming the bound); on every store alike, writing nothing. What is
read of a record is written back as read."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from hub.model.fields import MAX_IDS, MAX_TEXT
from hub.model.ids import MAX_RECORD_IDS
from tests.api.records import BASE, IDS, app_ids, create, ext, get

ORGS = f"{BASE}/organizations"


def app(n: int) -> dict[str, str]:
    """An id of the n-th app: a record holds one id per app."""
    return ext(f"app{n}", "r", "o1")


def full(client: TestClient) -> dict[str, Any]:
    """An organization holding MAX_RECORD_IDS ids."""
    record = create(client, "organizations", *(app(n) for n in range(MAX_RECORD_IDS)), name="Big")
    assert len(app_ids(get(client, "organizations", record["id"], ids=True))) == MAX_RECORD_IDS
    return record


def refused(response: Any) -> None:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert f"{MAX_RECORD_IDS + 1} ids, more than the {MAX_RECORD_IDS} a record may hold" in body["detail"]
    assert body["limit"] == MAX_RECORD_IDS


def test_a_write_giving_a_record_more_ids_than_it_may_hold_is_409(client: TestClient) -> None:
    """An upsert adding an id, one merging another record in, an explicit merge, a key link, a reference's ids."""
    record = full(client)
    one = app(MAX_RECORD_IDS)
    other = create(client, "organizations", one, name="Other")
    link = {"entity_type": "organizations", "internal_id": record["id"], "provider": "app", "realm": "r"}
    for path, body in [
        (ORGS, {"organizations": {"id": [app(0), ext("app", "r", "o1")], "name": "More"}}),
        (ORGS, {"organizations": {"id": [app(0), one]}}),
        (f"{ORGS}/{record['id']}/merge", {"records": [other["id"]]}),
        (f"{BASE}/key_links", {**link, "external_id": "o1"}),
        (f"{BASE}/people", {"people": {"id": [ext("crm", "r", "p1")], "organization_id": [app(0), app(-1)]}}),
    ]:
        refused(client.post(path, json=body))
    after = get(client, "organizations", record["id"], ids=True)
    assert len(app_ids(after)) == MAX_RECORD_IDS and after["name"] == "Big"
    assert app_ids(get(client, "organizations", other["id"], ids=True)) == [one]  # not merged away
    assert client.get(f"{BASE}/people").json()["pagination"]["total"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"first_name": "x" * (MAX_TEXT + 1)}, "first_name"),
        ({"address": {"city": "x" * (MAX_TEXT + 1)}}, "address.city"),
        ({"id": [ext("crm", "r", "x" * 256)]}, "id.0.id"),
        ({"id": [ext("crm", "r", str(n)) for n in range(MAX_IDS + 1)]}, "id"),
        ({"organization_id": "x" * 256}, "organization_id"),
        ({"organization_id": [ext(f"app{n}", "r", "o1") for n in range(MAX_IDS + 1)]}, "organization_id"),
    ],
)
def test_strings_and_id_arrays_over_their_length_are_422(client: TestClient, body: dict[str, Any], field: str) -> None:
    response = client.post(f"{BASE}/people", json={"people": body})
    assert response.status_code == 422, response.text
    found = response.json()
    assert field in found["detail"] or any(e["field"].startswith(field) for e in found.get("errors", []))
    assert client.get(f"{BASE}/people").status_code == 404  # nothing written, not even its group


def test_a_record_holding_every_id_it_may_is_written_back_as_read(client: TestClient) -> None:
    """Read with the external-ids header, its id array and a reference to it show every id and the hub id, MAX_IDS
    in all: a PUT of each as read changes nothing (a write's id arrays held 100 ids, fewer than a record may)."""
    record = full(client)
    person = create(client, "people", ext("crm", "r", "p1"), organization_id=[app(0)])
    for collection, hub_id in (("organizations", record["id"]), ("people", person["id"])):
        read = get(client, collection, hub_id, ids=True)
        assert len(read["organization_id" if collection == "people" else "id"]) == MAX_IDS
        written = client.put(f"{BASE}/{collection}/{hub_id}", json={collection: read}, headers=IDS)
        assert written.status_code == 200, written.text
        assert written.json()[collection] == read
