"""Replays the sample exchange of seed 002 (Connec! external ids) and checks its responses field by field."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.testclient import TestClient

from tests.conftest import FIXTURES

SEED = FIXTURES / "seed_002"
IDS = {"CONNEC-EXTERNAL-IDS": "true"}
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")


def load(name: str) -> Any:
    return json.loads((SEED / name).read_text())


class Seed:
    """Compares a seed response with the hub's, mapping the seed's generated ids onto the hub's."""

    def __init__(self) -> None:
        self.hub_ids: dict[str, str] = {}
        self.channel: str | None = None

    def same_hub_id(self, seed_id: str, actual: str) -> None:
        assert self.hub_ids.setdefault(seed_id, actual) == actual, f"seed id {seed_id} maps to two hub ids"

    def id_array(self, expected: list[dict[str, str]], actual: Any, exact: bool, where: str) -> None:
        assert isinstance(actual, list), f"{where}: expected an id array, got {actual!r}"
        own = [e for e in actual if e["provider"] == "connec"]
        assert len(own) == 1 and own[0]["realm"] == self.channel, f"{where}: one hub id in the channel: {actual}"
        for entry in expected:
            if entry["provider"] == "connec":
                self.same_hub_id(entry["id"], own[0]["id"])
            else:
                assert entry in actual, f"{where}: {entry} missing from {actual}"
        if exact:
            assert len(actual) == len(expected), f"{where}: {actual} is not {expected}"

    def record(self, expected: dict[str, Any], actual: dict[str, Any], generated: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.channel = actual["channel_id"]
        for key, value in expected.items():
            assert key in actual, f"{key} missing from {actual}"
            if key in generated:
                continue
            if key == "id":
                self.id_array(value, actual[key], exact=True, where=key)
            elif key == "organization_id":
                self.id_array(value, actual[key], exact=False, where=key)
            elif key in ("created_at", "updated_at"):
                assert STAMP.match(actual[key]), f"{key}: {actual[key]}"
            elif key == "channel_id":
                assert actual[key].startswith("org-")
            else:
                assert actual[key] == value, f"{key}: {actual[key]!r} != {value!r}"


def test_the_seed_exchange_works_as_written(client: TestClient) -> None:
    base = "/api/v2/cld-1234"
    org = client.post(f"{base}/organizations", json=load("organization.json"), headers=IDS)
    assert org.status_code == 201, org.text
    assert client.post(f"{base}/people", json=load("anastasia.json"), headers=IDS).status_code == 201
    assert client.post(f"{base}/people", json=load("gretchen.json"), headers=IDS).status_code == 201

    to_import = client.get(
        f"{base}/organizations",
        params={"opts[provider]": "my-application", "opts[realm]": "2243", "opts[linked]": "false"},
    ).json()["organizations"]
    assert [o["name"] for o in to_import] == ["Schaden, Lakin and Kris"]
    link = client.put(f"{base}/organizations/{to_import[0]['id']}", json=load("link_organization.json"))
    assert link.status_code == 200, link.text

    seed = Seed()
    listing = client.get(f"{base}/people", headers=IDS)
    assert listing.status_code == 200
    expected = load("expected_collection.json")
    assert listing.json()["pagination"] == expected["pagination"]
    assert len(listing.json()["people"]) == 2
    for want, got in zip(expected["people"], listing.json()["people"], strict=True):
        seed.record(want, got)

    one = client.get(
        f"{base}/people/1", params={"opts[provider]": "my-external-app", "opts[realm]": "2243"}, headers=IDS
    )
    assert one.status_code == 200
    seed.record(load("expected_one.json")["people"], one.json()["people"])

    bob = client.post(f"{base}/people", json=load("bob.json"), headers=IDS)
    assert bob.status_code == 201 and bob.json()["result"] == "created"
    seed.record(load("expected_bob.json")["people"], bob.json()["people"], generated={"code", "group_id"})
    assert bob.json()["people"]["code"] == "PE3"
    assert seed.hub_ids["7fe83950-6bf8-0134-2d50-2f659c5af2a1"] == to_import[0]["id"]
