"""A batch writes what its items would, POSTed one at a time in its order.

On SQLite a run of plain items (app ids only, none named by another item) is written together
(`hub/service/batch.py`), and an item of it that turns out to merge, or to name the record another
item names, runs alone in its place. These tests post random batches over a small pool of ids
(creates, updates, one id twice in a batch, two records named by one item, an app's second id on a
record (409), placeholders made by references and filled in, a record or an organization named by its hub id,
archives and revivals, a field an app does not sync into the hub, invalid items) to one hub as batches and
to another item by item, then compare every answer, every record, the change feed, the key links, the items
of an outbound queue and the lists' totals (kept by counts on SQLite).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from hub.app import create_app
from hub.config import Settings
from tests.api.helpers import BASE, IDS, ext
from tests.conftest import admin_client, mongomock_store

APPS = (("sf", "2243"), ("hs", "9"), ("erp", "726"), ("crm", "1"))
QUEUE = {
    "name": "to-hs",
    "entity": "people",
    "direction": "outbound",
    "provider": "hs",
    "realm": "9",
    "include_update": True,
    "batch_size": 1000,
    "filter": "first_name ne 'F1'",
}
"""An outbound integration sending every change of a person whose first name is not F1 (the filter reads each
record as its change left it)."""
ROUNDS, ITEMS = 12, 12


@pytest.fixture(params=["sqlite", "mongomock"])
def hubs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[TestClient, TestClient]]:
    """Two empty hubs on the same kind of store: one takes batches, the other the same items one at a time."""
    with ExitStack() as stack:
        made = []
        for name in ("batches", "singles"):
            settings = Settings(store=f"sqlite:///{tmp_path / name}.db")
            store = mongomock_store() if request.param == "mongomock" else None
            made.append(stack.enter_context(admin_client(create_app(settings, store=store))))
        yield made[0], made[1]


class Items:
    """Random people over a small pool of app ids, so that items of a batch and of rounds meet."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def some_ids(self) -> list[dict[str, str]]:
        apps = self.rng.sample(APPS, self.rng.choice([1, 1, 2]))
        return [ext(provider, str(self.rng.randrange(10)), realm) for provider, realm in apps]

    def item(self) -> dict[str, Any]:
        """An item; `by_code` (resolved per hub) asks for a record by its hub id."""
        roll = self.rng.random()
        body: dict[str, Any] = {"first_name": f"F{self.rng.randrange(100)}", "last_name": f"L{self.rng.randrange(100)}"}
        if roll < 0.06:
            return {"id": [ext("sf", "")], **body}
        if roll < 0.1:
            return {**body, "shoe_size": 44}
        if roll < 0.18:
            return {"by_code": f"PE{self.rng.randrange(1, 8)}", **body}
        body["id"] = self.some_ids()
        if (ref := self.rng.random()) < 0.15:
            body["organization_id"] = [ext("sf", f"org{self.rng.randrange(4)}")]
        elif ref < 0.2:
            body["organization_id"] = {"by_code": f"OR{self.rng.randrange(1, 5)}"}
        if self.rng.random() < 0.1:
            body["status"] = self.rng.choice(["ARCHIVED", "ACTIVE"])
        return body

    def org(self) -> dict[str, Any]:
        return {"id": [ext("sf", f"org{self.rng.randrange(4)}")], "name": f"O{self.rng.randrange(100)}"}


def resolved(client: TestClient, item: dict[str, Any]) -> dict[str, Any]:
    """The item as this hub takes it: a `by_code` becomes the hub id of that person, or of that organization in
    `organization_id`."""
    body = {k: v for k, v in item.items() if k != "by_code"}
    if "by_code" in item:
        body["id"] = hub_id_of(client, "people", item["by_code"])
    if isinstance(reference := item.get("organization_id"), dict):
        body["organization_id"] = hub_id_of(client, "organizations", reference["by_code"])
    return body


def hub_id_of(client: TestClient, collection: str, code: str) -> str:
    """The hub id of the record with this code (an unknown code, an id no record has)."""
    found = client.get(f"{BASE}/{collection}", params={"$filter": f"code eq '{code}' and status ne null"})
    records = found.json()[collection]
    return str(records[0]["id"]) if records else "00000000-0000-7000-8000-000000000000"


def answer(status: int, body: dict[str, Any]) -> tuple[Any, ...]:
    """What an item's answer says, without the hub's own ids (each hub makes its own)."""
    if status >= 400:
        error = body.get("error", body)
        return status, error["title"], "detail" in error
    person = body["people"]
    return status, body["result"], len(body.get("merged", [])), person["code"], app_ids(person["id"])


def app_ids(ids: Any) -> list[tuple[str, str, str]]:
    return [(e["provider"], e["realm"], e["id"]) for e in ids if e["provider"] != "connec"]


def shown(record: dict[str, Any]) -> tuple[list[tuple[str, str, str]], dict[str, Any]]:
    """A record shown with id arrays, without the hub's own ids and times."""
    fields = {k: v for k, v in record.items() if k not in ("id", "created_at", "updated_at", "channel_id")}
    if isinstance(fields.get("organization_id"), list):
        fields["organization_id"] = app_ids(fields["organization_id"])
    return app_ids(record["id"]), fields


def state(client: TestClient) -> dict[str, Any]:
    """Every record (archived ones too) by code, the change feed, the key links, the queue and the totals, without
    the hub's own ids and times."""
    records = {}
    for collection in ("people", "organizations"):
        listed = client.get(
            f"{BASE}/{collection}", params={"$top": "1000", "$filter": "status ne null"}, headers=IDS
        ).json()
        records.update((record["code"], shown(record)) for record in listed[collection])
    feed = client.get(f"{BASE}/changes", params={"limit": "1000"}).json()
    assert not feed["more"]
    changes = [(c["kind"], c["collection"], app_ids(c["ids"]), sorted(c["details"])) for c in feed["changes"]]
    return {"records": records, "changes": changes, "links": links(client), "queue": queue(client), **totals(client)}


def queue(client: TestClient) -> list[tuple[Any, ...]]:
    """Every item of the outbound queue, in order, with its record as handed out."""
    items = client.post(f"{BASE}/integrations/{QUEUE['name']}/lease", json={"limit": 1000}).json()["items"]
    assert len(items) < 1000
    return [(i["kind"], i["cursor"], shown(i["record"])) for i in items]


def totals(client: TestClient) -> dict[str, list[int]]:
    """The totals of the plain list and of each app's (held, not held), as read with each page."""
    found = {}
    for collection in ("people", "organizations"):
        apps = [
            {"opts[provider]": p, "opts[realm]": r, "opts[linked]": held} for p, r in APPS for held in ("true", "false")
        ]
        asked: list[dict[str, str]] = [{}, *apps]
        pages = [client.get(f"{BASE}/{collection}", params={"$top": "1000", **ask}).json() for ask in asked]
        assert all(page["pagination"]["total"] == len(page[collection]) for page in pages)
        found[collection] = [page["pagination"]["total"] for page in pages]
    return found


def links(client: TestClient) -> list[tuple[str, str, str, str]]:
    """Every key link, in the order they were made."""
    found = client.get(f"{BASE}/key_links", params={"$top": "1000"}).json()
    assert "next" not in found["pagination"]
    return [(k["entity_type"], k["provider"], k["realm"], k["external_id"]) for k in found["key_links"]]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_batch_writes_what_its_items_would_one_at_a_time(hubs: tuple[TestClient, TestClient], seed: int) -> None:
    batches, singles = hubs
    items = Items(seed)
    for client in hubs:  # a record whose last_name the app `erp` does not sync into the hub
        made = client.post(f"{BASE}/people", json={"people": {"id": [ext("erp", "0", "726")], "last_name": "Kept"}})
        assert made.status_code == 201
        connected = client.post(
            f"{BASE}/people/{made.json()['people']['id']}/connect",
            json={
                "provider": "hs",
                "realm": "9",
                "id": "0",
                "field_values": [{"field": "last_name", "sync_to_hub": False, "sync_to_app": True}],
            },
        )
        assert connected.status_code == 204, connected.text
        assert client.post(f"{BASE}/integrations", json=QUEUE).status_code == 201
    for _ in range(ROUNDS):
        orgs = [items.org() for _ in range(2)]
        people = [items.item() for _ in range(ITEMS)]
        posted = batches.post(f"{BASE}/organizations", json={"organizations": orgs}).json()["results"]
        alone = [singles.post(f"{BASE}/organizations", json={"organizations": org}) for org in orgs]
        assert [r["status"] for r in posted] == [a.status_code for a in alone]
        asked = {client: [resolved(client, i) for i in people] for client in hubs}  # hub ids known before the round
        posted = batches.post(f"{BASE}/people", json={"people": asked[batches]}, headers=IDS).json()["results"]
        alone = [singles.post(f"{BASE}/people", json={"people": i}, headers=IDS) for i in asked[singles]]
        assert [answer(r["status"], r) for r in posted] == [answer(a.status_code, a.json()) for a in alone]
    assert state(batches) == state(singles)


def test_items_of_a_batch_that_name_one_record_each_write_after_the_one_before(client: TestClient) -> None:
    """Two items naming one record by different ids: the second sees the first's ids, and each change shows the
    record as its item left it."""
    made = client.post(f"{BASE}/people", json={"people": {"id": [ext("sf", "1"), ext("hs", "1", "9")]}})
    assert made.status_code == 201
    items = [
        {"id": [ext("sf", "1"), ext("erp", "5", "726")], "first_name": "A"},
        {"id": [ext("hs", "1", "9"), ext("crm", "3", "1")], "last_name": "B"},
    ]
    results = client.post(f"{BASE}/people", json={"people": items}).json()["results"]
    assert [(r["status"], r["result"]) for r in results] == [(200, "updated"), (200, "updated")]
    changes = client.get(f"{BASE}/changes").json()["changes"][-2:]
    assert [app_ids(c["ids"]) for c in changes] == [
        [("sf", "2243", "1"), ("hs", "9", "1"), ("erp", "726", "5")],
        [("sf", "2243", "1"), ("hs", "9", "1"), ("erp", "726", "5"), ("crm", "1", "3")],
    ]


def test_the_ids_a_batch_links_are_linked_in_the_order_of_its_items(client: TestClient) -> None:
    """An item that updates a record comes before one that creates a record: its new id is linked first."""
    assert client.post(f"{BASE}/people", json={"people": {"id": [ext("sf", "1")]}}).status_code == 201
    items = [{"id": [ext("sf", "1"), ext("hs", "1", "9")]}, {"id": [ext("erp", "2", "726")]}]
    results = client.post(f"{BASE}/people", json={"people": items}).json()["results"]
    assert [(r["status"], r["result"]) for r in results] == [(200, "updated"), (201, "created")]
    assert [link[1] for link in links(client)] == ["sf", "hs", "erp"]


def test_hub_ids_sort_in_the_order_their_records_were_made(client: TestClient) -> None:
    """Hub ids are version 7 uuids counted within their millisecond: a batch makes hundreds in one, in code order."""
    items = [{"id": [ext("crm", str(n))]} for n in range(300)]
    made = [r["people"] for r in client.post(f"{BASE}/people", json={"people": items}).json()["results"]]
    assert [r["code"] for r in sorted(made, key=lambda r: r["id"])] == [f"PE{n}" for n in range(1, 301)]
