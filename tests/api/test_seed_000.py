"""Replays the key link walk-through of seed 000 (Rev.io Integration Linking) step by step."""

from __future__ import annotations

import json
from typing import Any

from starlette.testclient import TestClient

from tests.conftest import FIXTURES

SEED = FIXTURES / "seed_000"
BASE = "/api/v2/cld-1234"


def load(name: str) -> Any:
    return json.loads((SEED / name).read_text())


def test_the_walk_through_links_a_salesforce_account_to_a_customer(client: TestClient) -> None:
    assert client.post(f"{BASE}/organizations", json=load("salesforce_account.json")).status_code == 201
    customer = client.post(f"{BASE}/organizations", json=load("customer.json")).json()["organizations"]

    systems = client.get("/api/v2/integration_systems", params={"system_name": "SALESFORCE"}).json()
    assert systems == {"integration_systems": [{"integration_system_id": 509996168, "system_name": "salesforce"}]}
    types = client.get("/api/v2/entity_types", params={"entity_type_name": "ORGANIZATIONS"}).json()
    assert types == {"entity_types": [{"integration_entity_type_id": 2085827284, "entity_type_name": "organizations"}]}

    body = load("key_link.json")
    assert body["integration_system_id"] == systems["integration_systems"][0]["integration_system_id"]
    assert body["integration_entity_type_id"] == types["entity_types"][0]["integration_entity_type_id"]
    body["internal_id"] = customer["id"]
    created = client.post(f"{BASE}/key_links", json=body)
    assert created.status_code == 201, created.text
    link = created.json()["key_links"]
    assert {k: link[k] for k in ("entity_type", "internal_id", "provider", "realm", "external_id")} == {
        "entity_type": "organizations",
        "internal_id": customer["id"],
        "provider": "salesforce",
        "realm": "00D5g000004Eb1C",
        "external_id": "0012D00000dAsFzQAK",
    }

    app = {"opts[provider]": "salesforce", "opts[realm]": "00D5g000004Eb1C"}
    found = client.get(f"{BASE}/organizations/0012D00000dAsFzQAK", params=app)
    assert found.status_code == 200
    assert found.json()["organizations"]["id"] == customer["id"]
    assert found.json()["organizations"]["name"] == "Customer 1015"

    known = client.get(f"{BASE}/key_links", params={"external_id": "0012D00000dAsFzQAK"}).json()
    assert [k["internal_id"] for k in known["key_links"]] == [customer["id"]]
    again = client.post(f"{BASE}/key_links", json=body)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["internal_id"] == customer["id"]
