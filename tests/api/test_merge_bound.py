"""A merge's history entry is bounded (MAX_ENTRY_BYTES, within the 16 MiB a MongoDB document holds): a merge whose
entry would pass it, explicit or an upsert's, is a 409 naming the bound, on every store alike, writing nothing; the
same records merged fewer at a time are merged."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from hub.model.fields import MAX_TEXT
from hub.model.history import MAX_ENTRY_BYTES
from tests.api.records import BASE, create, ext

ORGS = f"{BASE}/organizations"
BIG = "\U0001f600" * MAX_TEXT
"""A text at its bound, 4 bytes a character as stored: 16 KiB."""
FIELDS: dict[str, Any] = {
    "name": BIG,
    "industry": BIG,
    "notes": BIG,
    "website": {"url": BIG, "url2": BIG},
    "phone": {"landline": BIG, "landline2": BIG, "mobile": BIG, "fax": BIG},
    "address": {k: BIG for k in ("line1", "line2", "city", "region", "postal_code", "country")},
}
"""Every text of an organization at its bound: 240 KiB, which its merge's history keeps as it was."""
COUNT = 80
"""Organizations of FIELDS a merge of which would be recorded in about 19 MiB: more than a MongoDB document holds."""


def app(n: int) -> dict[str, str]:
    return ext(f"app{n}", "r", "o1")


def refused(response: Any) -> None:
    assert response.status_code == 409, response.text[:500]
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["limit"] == MAX_ENTRY_BYTES
    assert "merge fewer records at once" in body["detail"]


def test_a_merge_whose_history_entry_passes_its_bound_is_409(client: TestClient) -> None:
    """Explicit, or an upsert whose ids name every record, alone or in a batch (where the other items are written);
    each record stays as it was, none merged."""
    hub_ids = [create(client, "organizations", app(n), **FIELDS)["id"] for n in range(COUNT)]
    every = {"id": [app(n) for n in range(COUNT)], "name": "One"}
    refused(client.post(f"{ORGS}/{hub_ids[0]}/merge", json={"records": hub_ids[1:]}))
    refused(client.post(ORGS, json={"organizations": every}))
    batch = client.post(ORGS, json={"organizations": [every, {"id": [ext("crm", "r", "new")], "name": "New"}]})
    assert [item["status"] for item in batch.json()["results"]] == [409, 201], batch.text[:500]
    assert batch.json()["results"][0]["error"]["limit"] == MAX_ENTRY_BYTES
    assert client.get(ORGS, params={"$top": "1"}).json()["pagination"]["total"] == COUNT + 1
    assert client.get(f"{ORGS}/{hub_ids[0]}/merges").json()["merges"] == []
    half = COUNT // 2
    for named in (hub_ids[1:half], hub_ids[half:]):
        response = client.post(f"{ORGS}/{hub_ids[0]}/merge", json={"records": named})
        assert response.status_code == 200, response.text[:500]
    assert client.get(ORGS, params={"$top": "1"}).json()["pagination"]["total"] == 2
