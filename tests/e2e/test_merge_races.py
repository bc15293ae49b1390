"""Races merges and their undos against readers on a real server: no read sees an id on two records or on none."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.e2e.server import Server, running_hub

BASE = "/api/v2/race"
IDS = {"CONNEC-EXTERNAL-IDS": "true"}
EXPECTED = {("salesforce", "a"), ("hubspot", "b"), ("zoho", "c")}
CYCLES = 40


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with running_hub(tmp_path / "hub.db") as running:
        yield running


def _ids_seen(records: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    return Counter((e["provider"], e["id"]) for r in records for e in r["id"] if e["provider"] != "connec")


def _read_once(client: httpx.Client, problems: list[str], states: Counter[str]) -> None:
    listing = client.get(f"{BASE}/organizations", headers=IDS).json()["organizations"]
    seen = _ids_seen(listing)
    if set(seen) != EXPECTED or max(seen.values()) != 1:
        problems.append(f"organizations list: {dict(seen)}")
    states["merged" if len(listing) == 1 else "apart"] += 1
    links = client.get(f"{BASE}/key_links").json()["key_links"]
    held = Counter((k["provider"], k["external_id"]) for k in links)
    if set(held) != EXPECTED or max(held.values()) != 1:
        problems.append(f"key links: {dict(held)}")
    one = client.get(f"{BASE}/organizations/c", params={"opts[provider]": "zoho", "opts[realm]": "z"}, headers=IDS)
    if one.status_code != 200 or ("hubspot", "b") not in _ids_seen([one.json()["organizations"]]):
        problems.append(f"zoho id c: {one.status_code} {one.text}")


def test_readers_never_see_a_merge_half_done(server: Server) -> None:
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=30) as client:
        a = client.post(f"{BASE}/organizations", json={"organizations": {"name": "A", "id": [_ext("salesforce", "a")]}})
        b_ids = [_ext("hubspot", "b"), _ext("zoho", "c")]
        b = client.post(f"{BASE}/organizations", json={"organizations": {"name": "B", "id": b_ids}})
        a_id, b_id = a.json()["organizations"]["id"], b.json()["organizations"]["id"]
        person = client.post(f"{BASE}/people", json={"people": {"first_name": "P", "organization_id": b_id}}).json()

    problems: list[str] = []
    states: Counter[str] = Counter()
    done = threading.Event()

    def reader() -> None:
        with httpx.Client(base_url=server.url, headers=server.headers, timeout=30) as client:
            while not done.is_set():
                _read_once(client, problems, states)
                shown = client.get(f"{BASE}/people/{person['people']['id']}").json()["people"]["organization_id"]
                if shown not in (a_id, b_id):
                    problems.append(f"reference: {shown}")

    readers = [threading.Thread(target=reader) for _ in range(3)]
    for thread in readers:
        thread.start()
    try:
        with httpx.Client(base_url=server.url, headers=server.headers, timeout=30) as client:
            for _ in range(CYCLES):
                merged = client.post(f"{BASE}/organizations/{a_id}/merge", json={"records": [b_id]})
                assert merged.status_code == 200, merged.text
                undone = client.post(
                    f"{BASE}/organizations/{a_id}/unmerge", json={"merge_id": merged.json()["merge"]["id"]}
                )
                assert undone.status_code == 200, undone.text
    finally:
        done.set()
        for thread in readers:
            thread.join()
    assert problems == []
    assert states["merged"] and states["apart"], f"the readers never raced the writer: {states}"


def _ext(provider: str, id: str) -> dict[str, str]:
    return {"provider": provider, "realm": {"salesforce": "eu", "hubspot": "7", "zoho": "z"}[provider], "id": id}
