"""Small helpers the API tests share: writing a record and naming an app's id."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

BASE = "/api/v2/g1"
IDS = {"CONNEC-EXTERNAL-IDS": "true"}


def ext(provider: str, realm: str, id: str) -> dict[str, str]:
    return {"realm": realm, "provider": provider, "id": id}


def create(client: TestClient, collection: str, *ids: dict[str, str], **fields: Any) -> dict[str, Any]:
    """Upsert one record and return it as the hub answers it."""
    body = {**fields, "id": list(ids)} if ids else fields
    response = client.post(f"{BASE}/{collection}", json={collection: body})
    assert response.status_code in (200, 201), response.text
    record: dict[str, Any] = response.json()[collection]
    return record


def get(client: TestClient, collection: str, hub_id: str, ids: bool = False) -> dict[str, Any]:
    response = client.get(f"{BASE}/{collection}/{hub_id}", headers=IDS if ids else None)
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()[collection]
    return record


def app_ids(record: dict[str, Any]) -> list[dict[str, str]]:
    """The apps' ids of a record read with the external-ids header (the hub's own left out)."""
    return [e for e in record["id"] if e["provider"] != "connec"]
