"""An app writing back a record as it was sent (other apps' ids and all): those ids are passed over where the record
holds them already, and refused (403) wherever they would add, claim or match."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.api.helpers import BASE, IDS, ext, hub_id
from tests.conftest import Keys

PEOPLE, ORGS = f"{BASE}/people", f"{BASE}/organizations"
CRM = {"opts[provider]": "crm", "opts[realm]": "2243"}


def _sent(client: TestClient, keys: Keys) -> tuple[dict[str, str], dict[str, Any]]:
    """The crm app's key and a person as it is sent to crm: erp's ids beside crm's, in `id` and in its organization."""
    client.post(ORGS, json={"organizations": {"id": [ext("erp", "O1"), ext("crm", "o1")], "name": "Acme"}}, headers=IDS)
    body = {"id": [ext("erp", "E1"), ext("crm", "c1")], "first_name": "Ada", "organization_id": [ext("erp", "O1")]}
    assert client.post(PEOPLE, json={"people": body}, headers=IDS).status_code == 201
    crm = {**keys.app("crm", cld_1="2243"), **IDS}
    return crm, client.get(f"{PEOPLE}/c1", params=CRM, headers=crm).json()["people"]


def _changes(client: TestClient) -> int:
    return len(client.get(f"{BASE}/changes", params={"limit": "1000"}).json()["changes"])


def test_a_record_written_back_as_sent_is_unchanged_by_post_put_and_batch(client: TestClient, keys: Keys) -> None:
    crm, sent = _sent(client, keys)
    assert {e["provider"] for e in sent["id"]} == {"erp", "crm", "connec"}
    assert {e["provider"] for e in sent["organization_id"]} == {"erp", "crm", "connec"}
    before = _changes(client)
    assert client.post(PEOPLE, json={"people": sent}, headers=crm).json()["result"] == "unchanged"
    assert client.put(f"{PEOPLE}/c1", params=CRM, json={"people": sent}, headers=crm).json()["result"] == "unchanged"
    batch = client.post(PEOPLE, json={"people": [sent, {"id": [ext("crm", "c2")]}]}, headers=crm).json()["results"]
    assert [(r["status"], r["result"]) for r in batch] == [(200, "unchanged"), (201, "created")]
    assert _changes(client) == before + 1  # c2's create alone


def test_an_edit_written_back_with_other_apps_ids_updates_the_record_and_claims_nothing(
    client: TestClient, keys: Keys
) -> None:
    crm, sent = _sent(client, keys)
    edited = client.put(f"{PEOPLE}/{hub_id(sent)}", json={"people": {**sent, "last_name": "King"}}, headers=crm)
    assert edited.status_code == 200 and edited.json()["result"] == "updated", edited.text
    assert (
        edited.json()["people"]["id"] == sent["id"]
        and edited.json()["people"]["organization_id"] == sent["organization_id"]
    )
    assert (
        client.get(f"{PEOPLE}/E1", params={"opts[provider]": "erp", "opts[realm]": "2243"}).json()["people"][
            "last_name"
        ]
        == "King"
    )


def _refused(response: Any, foreign: dict[str, str], where: str) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["id"] == foreign and f"(in {where})" in response.json()["detail"]


def test_another_apps_id_the_record_does_not_hold_is_refused_and_nothing_written(
    client: TestClient, keys: Keys
) -> None:
    crm, sent = _sent(client, keys)
    client.post(PEOPLE, json={"people": {"id": [ext("erp", "E2")], "first_name": "Bob"}}, headers=IDS)
    before = _changes(client)
    for foreign in (ext("erp", "E-new"), ext("erp", "E2"), ext("erp", "E1", realm="9")):  # unknown, Bob's, elsewhere
        ids = [foreign if e["provider"] == "erp" else e for e in sent["id"]]
        _refused(
            client.post(PEOPLE, json={"people": {**sent, "id": ids, "last_name": "X"}}, headers=crm), foreign, "id"
        )
    only = client.post(PEOPLE, json={"people": {"id": [ext("erp", "E9")], "first_name": "Eve"}}, headers=crm)
    _refused(only, ext("erp", "E9"), "id")  # matching nothing: it would create a record holding erp's id
    _refused(client.post(PEOPLE, json={"people": {"id": [ext("erp", "E1")]}}, headers=crm), ext("erp", "E1"), "id")
    assert _changes(client) == before
    assert client.get(PEOPLE, headers=crm).json()["pagination"]["total"] == 2
    assert client.get(f"{PEOPLE}/c1", params=CRM).json()["people"]["first_name"] == "Ada"  # no last name written


def test_a_reference_naming_another_apps_id_its_record_does_not_hold_is_refused(client: TestClient, keys: Keys) -> None:
    crm, sent = _sent(client, keys)
    client.post(ORGS, json={"organizations": {"id": [ext("erp", "O2")], "name": "Other"}}, headers=IDS)
    before = (_changes(client), client.get(ORGS).json()["pagination"]["total"])
    for foreign in (ext("erp", "O2"), ext("erp", "O-new")):
        refs = [foreign if e["provider"] == "erp" else e for e in sent["organization_id"]]
        written = client.post(PEOPLE, json={"people": {**sent, "organization_id": refs}}, headers=crm)
        _refused(written, foreign, "organization_id")
    alone = client.post(PEOPLE, json={"people": {**sent, "organization_id": [ext("erp", "O1")]}}, headers=crm)
    _refused(alone, ext("erp", "O1"), "organization_id")  # held, but only the ids beside it may name the record
    batch = [{**sent, "organization_id": [ext("erp", "O-new")]}, {"id": [ext("crm", "c3")]}]
    results = client.post(PEOPLE, json={"people": batch}, headers=crm).json()["results"]
    assert [r["status"] for r in results] == [403, 201] and results[0]["error"]["id"] == ext("erp", "O-new")
    assert (_changes(client), client.get(ORGS).json()["pagination"]["total"]) == (before[0] + 1, before[1])


def test_a_reference_the_app_does_not_sync_into_the_hub_is_left_alone_its_ids_unchecked(
    client: TestClient, keys: Keys
) -> None:
    crm, sent = _sent(client, keys)
    field_values = [{"field": "organization_id", "sync_to_hub": False}]
    directions = {"provider": "crm", "realm": "2243", "id": "c1", "field_values": field_values}
    assert client.post(f"{PEOPLE}/c1/connect", params=CRM, json=directions, headers=crm).status_code == 204
    before = (_changes(client), client.get(ORGS).json()["pagination"]["total"])
    for refs in ([ext("erp", "O-new")], [ext("erp", "O-new"), ext("crm", "o-new")]):
        written = client.post(PEOPLE, json={"people": {**sent, "organization_id": refs}}, headers=crm)
        assert written.status_code == 200 and written.json()["result"] == "unchanged", written.text
        assert written.json()["people"]["organization_id"] == sent["organization_id"]
    assert (_changes(client), client.get(ORGS).json()["pagination"]["total"]) == before  # no placeholder made


def test_a_copy_sent_before_an_undo_is_refused_rather_than_merging_the_records_again(
    client: TestClient, keys: Keys
) -> None:
    """Sent while two records were merged, a person holds ids the undo gave back to two records: written back, its own
    and hub ids named both, and the write merged them again, other apps' ids and all, undoing the undo."""
    crm = {**keys.app("crm", cld_1="2243"), **IDS}
    kept = client.post(PEOPLE, json={"people": {"id": [ext("other", "Z")]}}, headers=IDS).json()["people"]
    client.post(PEOPLE, json={"people": {"id": [ext("crm", "c1"), ext("erp", "E1")]}}, headers=IDS)
    merged = client.post(f"{PEOPLE}/c1/merge", params=CRM, json={"records": [hub_id(kept)]}).json()
    sent = client.get(f"{PEOPLE}/c1", params=CRM, headers=crm).json()["people"]
    assert {e["provider"] for e in sent["id"]} == {"other", "crm", "erp", "connec"}
    undo = client.post(f"{PEOPLE}/{hub_id(kept)}/unmerge", json={"merge_id": merged["merge"]["id"]})
    assert undo.status_code == 200, undo.text
    before = _changes(client)
    for written in (
        client.post(PEOPLE, json={"people": sent}, headers=crm),
        client.put(f"{PEOPLE}/c1", params=CRM, json={"people": sent}, headers=crm),
        client.put(f"{PEOPLE}/{hub_id(sent)}", json={"people": sent}, headers=crm),
    ):
        _refused(written, ext("erp", "E1"), "id")
    batch = client.post(PEOPLE, json={"people": [sent]}, headers=crm).json()["results"]
    assert batch[0]["status"] == 403 and batch[0]["error"]["id"] == ext("erp", "E1")
    assert _changes(client) == before and client.get(PEOPLE).json()["pagination"]["total"] == 2
