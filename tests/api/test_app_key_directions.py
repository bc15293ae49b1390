"""An app's key speaks for the app: every write made with it holds its sync directions, however it names the record."""

from __future__ import annotations

import json
from typing import Any

from starlette.testclient import TestClient

from tests.api.helpers import BASE, IDS, ext, hub_id, post
from tests.conftest import FIXTURES, Keys

ORGS = f"{BASE}/organizations"
ERP = {"opts[provider]": "erp", "opts[realm]": "726"}


def connected(client: TestClient) -> tuple[dict[str, Any], dict[str, str]]:
    """An organization connected to erp (its notes and status erp's own, not synced into the hub), and erp's key."""
    acme = post(client, "organizations", [ext("crm", "o1")], name="Acme", notes="the hub's note").json()
    body = json.loads((FIXTURES / "sync" / "connect.json").read_text())
    body["field_values"].append({"field": "status", "sync_to_hub": False})
    assert client.post(f"{ORGS}/{hub_id(acme['organizations'])}/connect", json=body).status_code == 204
    return acme["organizations"], Keys(client).app("erp", cld_1="726")


def notes(client: TestClient, record: dict[str, Any]) -> str:
    return str(client.get(f"{ORGS}/{hub_id(record)}").json()["organizations"]["notes"])


def put(client: TestClient, record: dict[str, Any], key: dict[str, str], **fields: Any) -> Any:
    """The answer to a PUT of `fields` to the record by its hub id, with `key`."""
    return client.put(f"{ORGS}/{hub_id(record)}", json={"organizations": fields}, headers=key).json()


def test_a_put_by_hub_id_with_the_apps_key_leaves_the_fields_it_does_not_sync_into_the_hub(client: TestClient) -> None:
    acme, erp = connected(client)
    for body in ({"notes": "erp's"}, {"id": hub_id(acme), "notes": "erp's"}, {"id": [acme["id"][-1]], "notes": "x"}):
        written = client.put(f"{ORGS}/{hub_id(acme)}", json={"organizations": body}, headers=erp)
        assert (written.status_code, written.json()["result"]) == (200, "unchanged"), written.text
    assert put(client, acme, erp, notes="x", name="B")["organizations"]["name"] == "B"
    assert notes(client, acme) == "the hub's note"
    by_own_id = client.put(f"{ORGS}/C-1001", params=ERP, json={"organizations": {"notes": "x"}}, headers=erp)
    assert by_own_id.json()["result"] == "unchanged"


def test_a_post_and_a_batch_by_hub_id_with_the_apps_key_leave_them_too(client: TestClient) -> None:
    acme, erp = connected(client)
    one = client.post(ORGS, json={"organizations": {"id": hub_id(acme), "notes": "x"}}, headers=erp)
    assert one.json()["result"] == "unchanged", one.text
    items = [{"id": [acme["id"][-1]], "notes": "x", "industry": "Retail"}, {"id": hub_id(acme), "notes": "y"}]
    results = client.post(ORGS, json={"organizations": items}, headers={**erp, **IDS}).json()["results"]
    assert [r["result"] for r in results] == ["updated", "unchanged"], results
    assert notes(client, acme) == "the hub's note"
    # The admin's write by hub id names no app: not bound by erp's directions.
    assert put(client, acme, {}, notes="admin's")["result"] == "updated"
    assert notes(client, acme) == "admin's"


def test_a_connect_with_the_apps_key_sets_its_directions_and_keeps_those_it_does_not_name(client: TestClient) -> None:
    acme, erp = connected(client)
    url = f"{ORGS}/{hub_id(acme)}/connect"
    again = {"provider": "erp", "realm": "726", "id": "C-1001", "field_values": [{"field": "name", "value": "N"}]}
    assert client.post(url, json=again, headers=erp).status_code == 204
    assert put(client, acme, erp, notes="x")["result"] == "unchanged"
    turned = {**again, "field_values": [{"field": "notes", "value": "erp's, into the hub now"}]}
    assert client.post(url, json=turned, headers=erp).status_code == 204
    assert notes(client, acme) == "erp's, into the hub now"


def test_a_delete_with_the_apps_key_leaves_the_status_it_does_not_sync_into_the_hub(client: TestClient) -> None:
    """DELETE sets the status, as a PUT of it does: with erp's key, which keeps its status its own, it archived the
    record all the same (a PUT of the status left it)."""
    acme, erp = connected(client)
    assert put(client, acme, erp, status="ARCHIVED")["result"] == "unchanged"
    start = client.get(f"{BASE}/changes").json()["cursor"]
    for url, params in ((f"{ORGS}/{hub_id(acme)}", {}), (f"{ORGS}/C-1001", ERP)):
        deleted = client.delete(url, params=params, headers=erp)
        assert (deleted.status_code, deleted.json()["organizations"]["status"]) == (200, "ACTIVE"), deleted.text
    assert client.get(f"{BASE}/changes", params={"since": start}).json()["changes"] == []
    assert client.delete(f"{ORGS}/{hub_id(acme)}").json()["organizations"]["status"] == "ARCHIVED"  # the admin's


def test_a_merge_with_the_apps_key_leaves_the_chosen_fields_it_does_not_sync_into_the_hub(client: TestClient) -> None:
    """A merge's chosen values are written as an update's are: with erp's key, erp's own notes overwrote the hub's."""
    acme, erp = connected(client)
    other = post(client, "organizations", [ext("mail", "m2")], name="Other", notes="other's").json()["organizations"]
    asked = {"records": [hub_id(other)], "fields": {"notes": "erp's", "name": "Merged"}}
    merged = client.post(f"{ORGS}/{hub_id(acme)}/merge", json=asked, headers=erp)
    assert merged.status_code == 200, merged.text
    survivor = merged.json()["organizations"]
    assert (survivor["name"], survivor["notes"]) == ("Merged", "the hub's note")
    assert merged.json()["merge"]["requested"] == {"name": "Merged"}


def test_the_admins_delete_and_merge_by_the_apps_id_write_from_the_app_as_its_put_by_it_does(
    client: TestClient,
) -> None:
    """A write the admin addresses by an app's id is from that app (a sync engine holding the admin key speaks for
    the app it names): its PUT was, while its DELETE archived and its merge wrote the app's own values."""
    acme, _ = connected(client)
    other = post(client, "organizations", [ext("mail", "m2")], name="Other", notes="other's").json()["organizations"]
    asked = {"records": [hub_id(other)], "fields": {"notes": "erp's", "name": "Merged"}}
    merged = client.post(f"{ORGS}/C-1001/merge", params=ERP, json=asked)
    assert merged.status_code == 200, merged.text
    assert (merged.json()["organizations"]["notes"], merged.json()["merge"]["requested"]) == (
        "the hub's note",
        {"name": "Merged"},
    )
    deleted = client.delete(f"{ORGS}/C-1001", params=ERP)
    assert (deleted.status_code, deleted.json()["organizations"]["status"]) == (200, "ACTIVE"), deleted.text
    assert client.get(f"{ORGS}/{hub_id(acme)}").json()["organizations"]["status"] == "ACTIVE"
