"""Request bodies as /openapi.json describes them: what the hub takes is valid against its schema, and what it refuses
is not, wherever a schema can say so (the rest is told in the description)."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
from starlette.testclient import TestClient

from tests.api.records import BASE

INTEGRATION = "/api/v2/{group_id}/integrations/{name}"


def body_schema(client: TestClient, path: str, method: str) -> tuple[jsonschema_rs.Validator, dict[str, Any]]:
    """A validator of the body `method` on `path` takes (the document's references resolved), and its schema (the
    one it refers to, if it is a reference)."""
    doc = client.get("/openapi.json").json()
    schema = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    valid = jsonschema_rs.validator_for({**schema, "components": doc["components"]})
    return valid, doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]] if "$ref" in schema else schema


def test_an_integration_update_is_described_as_the_definition_s_members_each_optional(client: TestClient) -> None:
    """The update body was described as any object: it is a definition's members, none required, as read too."""
    valid, schema = body_schema(client, INTEGRATION, "put")
    hook = {"url": "https://crm.example/hook", "secret": "s" * 16}
    definition = {"name": "sync", "entity": "people", "direction": "outbound", "provider": "crm", "realm": "2243"}
    assert client.post(f"{BASE}/integrations", json={**definition, "webhook": hook}).status_code == 201
    read = client.get(f"{BASE}/integrations/sync").json()
    taken = [
        read,  # its times passed over, its webhook shown without the secret
        {},
        {"notes": "n", "batch_size": 5},
        {"batch_size": None, "notes": None, "filter": None},
        {"name": "sync", "entity": "organizations"},
        {"webhook": {"url": "https://crm.example/other", "secret": "t" * 16}},
        {"webhook": None},
    ]
    for body in taken:
        assert valid.is_valid(body), body
        answer = client.put(f"{BASE}/integrations/sync", json=body)
        assert answer.status_code == 200, (body, answer.text)
    refused: list[Any] = [
        [],
        {"color": "red"},
        {"batch_size": 0},
        {"entity": None},
        {"entity": "invoices"},
        {"direction": "sideways"},
        {"webhook": {"secret": "s" * 16}},
    ]
    for body in refused:
        assert not valid.is_valid(body), body
        assert client.put(f"{BASE}/integrations/sync", json=body).status_code == 422, body
    beyond = [({"name": "other"}, "`name`"), ({"webhook": {"url": "https://elsewhere.example/"}}, "`secret`")]
    for body, told in beyond:  # what the schema cannot say, its description does
        assert valid.is_valid(body) and told in schema["description"], body
        assert client.put(f"{BASE}/integrations/sync", json=body).status_code == 422, body
