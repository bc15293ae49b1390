"""A record holds at most MAX_RECORD_IDS ids: every write that would give it more is a 409 naming the bound, on every
store alike, and writes nothing."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from hub.model.fields import MAX_IDS
from hub.model.ids import MAX_RECORD_IDS
from tests.api.records import BASE, app_ids, create, ext, get

ORGS = f"{BASE}/organizations"


def app(n: int) -> dict[str, str]:
    """An id of the n-th app: a record holds one id per app."""
    return ext(f"app{n}", "r", "o1")


def full(client: TestClient) -> dict[str, Any]:
    """An organization holding MAX_RECORD_IDS ids, written MAX_IDS at a time (each write names it by one it holds)."""
    record = create(client, "organizations", *(app(n) for n in range(MAX_IDS)), name="Big")
    for start in range(MAX_IDS - 1, MAX_RECORD_IDS - 1, MAX_IDS - 1):
        stop = min(start + MAX_IDS, MAX_RECORD_IDS)
        create(client, "organizations", *(app(n) for n in range(start, stop)))
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
