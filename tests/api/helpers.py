"""Small builders shared by the API tests: id entries and record bodies."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
from starlette.testclient import TestClient

IDS = {"CONNEC-EXTERNAL-IDS": "true"}
BASE = "/api/v2/cld-1"


def ext(provider: str, id_: str, realm: str = "2243") -> dict[str, str]:
    return {"realm": realm, "provider": provider, "id": id_}


def post(client: TestClient, collection: str, ids: list[dict[str, str]] | None = None, **fields: Any) -> Any:
    body: dict[str, Any] = dict(fields)
    if ids is not None:
        body["id"] = ids
    return client.post(f"{BASE}/{collection}", json={collection: body}, headers=IDS)


def app_ids(record: dict[str, Any]) -> list[dict[str, str]]:
    """A rendered record's id array without the hub's own id."""
    return [e for e in record["id"] if e["provider"] != "connec"]


def hub_id(record: dict[str, Any]) -> str:
    return next(e["id"] for e in record["id"] if e["provider"] == "connec")


def described(doc: dict[str, Any], schema: dict[str, Any], value: Any) -> None:
    """Raise unless `value` is valid under `schema`, a part of the OpenAPI `doc` whose refs it resolves."""
    jsonschema_rs.validate({**schema, "components": doc["components"]}, value)


def answer_schema(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    """The schema `doc` declares for the 200 answer of `method` on `path`."""
    schema: dict[str, Any] = doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
    return schema
