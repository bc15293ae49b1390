"""An app syncing people learns when the ids a person's organization shows change under it: when ids leave the
organization (an undo gives them back, a key link moves or goes), each person referring to it is recorded as updated,
on the feed and on the queues, with a new `updated_at`."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.api.helpers import BASE, IDS, ext, hub_id, post

ORGS = f"{BASE}/organizations"


def _cursor(client: TestClient) -> str:
    return str(client.get(f"{BASE}/changes", params={"limit": "1000"}).json()["cursor"])


def _feed(client: TestClient, since: str) -> list[tuple[str, str, dict[str, Any]]]:
    changes = client.get(f"{BASE}/changes", params={"since": since}).json()["changes"]
    return [(c["kind"], c["id"], c.get("details", {})) for c in changes]


def _person(client: TestClient, person: dict[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = client.get(f"{BASE}/people/{hub_id(person)}", headers=IDS).json()["people"]
    return shown


def _org(client: TestClient, provider: str, id_: str, name: str) -> dict[str, Any]:
    made: dict[str, Any] = post(client, "organizations", [ext(provider, id_)], name=name).json()["organizations"]
    return made


def _link(client: TestClient, provider: str, id_: str) -> str:
    found = client.get(f"{BASE}/key_links", params={"provider": provider, "external_id": id_}).json()
    return str(found["key_links"][0]["id"])


def test_an_undo_records_an_update_of_each_person_whose_organization_shows_other_ids_again(client: TestClient) -> None:
    one, two = _org(client, "crm", "o1", "One"), _org(client, "erp", "o2", "Two")
    of_two = post(client, "people", [ext("erp", "p2")], organization_id=[ext("erp", "o2")]).json()["people"]
    of_one = post(client, "people", [ext("crm", "p1")], organization_id=[ext("crm", "o1")]).json()["people"]
    post(client, "people", [ext("erp", "p3")])
    merged = client.post(f"{ORGS}/{hub_id(one)}/merge", json={"records": [hub_id(two)]}).json()
    assert ext("crm", "o1") in _person(client, of_two)["organization_id"]  # what crm took for the person's org
    assert ext("erp", "o2") in _person(client, of_one)["organization_id"]
    since, was = _cursor(client), _person(client, of_two)["updated_at"]

    assert client.post(f"{ORGS}/{hub_id(one)}/unmerge", json={"merge_id": merged["merge"]["id"]}).status_code == 200

    assert ext("crm", "o1") not in _person(client, of_two)["organization_id"]  # its organization is Two again
    assert ext("erp", "o2") not in _person(client, of_one)["organization_id"]  # One gave Two's id back
    feed = _feed(client, since)
    assert [kind for kind, _, _ in feed[:2]] == ["unmerge", "unmerge"]
    updates = {hub_id: details for kind, hub_id, details in feed if kind == "update"}
    refs = {"references": ["organization_id"]}
    assert updates == {hub_id(of_two): refs, hub_id(of_one): refs}  # not `other`, which refers to no organization
    assert _person(client, of_two)["updated_at"] > was  # a sync by `updated_at gt …` sees it too


def test_a_person_referring_to_an_older_tombstone_is_updated_by_the_undo_that_restores_its_survivor(
    client: TestClient,
) -> None:
    one, two, old = _org(client, "crm", "o1", "One"), _org(client, "erp", "o2", "Two"), _org(client, "x", "o3", "Old")
    person = post(client, "people", [ext("x", "p")], organization_id=[ext("x", "o3")]).json()["people"]
    client.post(f"{ORGS}/{hub_id(two)}/merge", json={"records": [hub_id(old)]})  # Old is a tombstone of Two
    merged = client.post(f"{ORGS}/{hub_id(one)}/merge", json={"records": [hub_id(two)]}).json()
    since = _cursor(client)
    assert client.post(f"{ORGS}/{hub_id(one)}/unmerge", json={"merge_id": merged["merge"]["id"]}).status_code == 200
    assert hub_id(person) in {hub_id for kind, hub_id, _ in _feed(client, since) if kind == "update"}
    assert hub_id(two) in [e["id"] for e in _person(client, person)["organization_id"]]


def test_a_merge_records_nothing_of_the_people_whose_organizations_it_merges(client: TestClient) -> None:
    """The ids a reference showed before a merge still name its record after: the survivor holds them."""
    one, two = _org(client, "crm", "o1", "One"), _org(client, "erp", "o2", "Two")
    post(client, "people", [ext("erp", "p")], organization_id=[ext("erp", "o2")])
    since = _cursor(client)
    client.post(f"{ORGS}/{hub_id(one)}/merge", json={"records": [hub_id(two)]})
    assert [kind for kind, _, _ in _feed(client, since)] == ["merge"]


def test_moving_a_key_link_records_an_update_of_the_people_of_the_record_it_left(client: TestClient) -> None:
    one = _org(client, "crm", "o1", "One")
    two = post(client, "organizations", name="Two").json()["organizations"]
    person = post(client, "people", [ext("crm", "p")], organization_id=[ext("crm", "o1")]).json()["people"]
    of_two = post(client, "people", [ext("crm", "q")], organization_id=hub_id(two)).json()["people"]
    since = _cursor(client)
    moved = client.put(f"{BASE}/key_links/{_link(client, 'crm', 'o1')}", json={"internal_id": hub_id(two)})
    assert moved.status_code == 200, moved.text
    shown = _person(client, person)["organization_id"]
    assert ext("crm", "o1") not in shown and hub_id(one) in [e["id"] for e in shown]  # its org is One still
    feed = _feed(client, since)
    assert [(kind, hub_id) for kind, hub_id, _ in feed] == [
        ("unlink", hub_id(one)),
        ("link", hub_id(two)),
        ("update", hub_id(person)),  # not the people of Two: the ids they showed still name Two
    ]
    assert hub_id(of_two) not in [h for _, h, _ in feed]


def test_deleting_a_key_link_records_an_update_of_the_people_of_its_record(client: TestClient) -> None:
    one = _org(client, "crm", "o1", "One")
    person = post(client, "people", [ext("crm", "p")], organization_id=[ext("crm", "o1")]).json()["people"]
    since = _cursor(client)
    assert client.delete(f"{BASE}/key_links/{_link(client, 'crm', 'o1')}").status_code == 204
    assert _person(client, person)["organization_id"] == [e for e in one["id"] if e["provider"] == "connec"]
    assert [(kind, h) for kind, h, _ in _feed(client, since)] == [("unlink", hub_id(one)), ("update", hub_id(person))]


def test_the_people_updated_so_are_enqueued_for_an_outbound_integration(client: TestClient) -> None:
    _org(client, "crm", "o1", "One")
    person = post(client, "people", [ext("erp", "p")], organization_id=[ext("crm", "o1")]).json()["people"]
    body = {"name": "out", "entity": "people", "direction": "outbound", "provider": "erp", "realm": "2243"}
    assert client.post(f"{BASE}/integrations", json={**body, "include_update": True}).status_code == 201
    assert client.delete(f"{BASE}/key_links/{_link(client, 'crm', 'o1')}").status_code == 204
    items = client.post(f"{BASE}/integrations/out/lease").json()["items"]
    assert [(i["kind"], i["record"]["id"]) for i in items] == [("update", _person(client, person)["id"])]


def test_an_undo_giving_back_no_id_records_nothing_of_the_survivor_s_people(client: TestClient) -> None:
    """The survivor lost no id, so its people show what they showed; those of the restored record show it again."""
    one = _org(client, "crm", "o1", "One")
    two = post(client, "organizations", name="Two").json()["organizations"]
    of_one = post(client, "people", [ext("crm", "p1")], organization_id=[ext("crm", "o1")]).json()["people"]
    of_two = post(client, "people", [ext("crm", "p2")], organization_id=hub_id(two)).json()["people"]
    merged = client.post(f"{ORGS}/{hub_id(one)}/merge", json={"records": [hub_id(two)]}).json()
    since = _cursor(client)
    assert client.post(f"{ORGS}/{hub_id(one)}/unmerge", json={"merge_id": merged["merge"]["id"]}).status_code == 200
    updated = [h for kind, h, _ in _feed(client, since) if kind == "update"]
    assert updated == [hub_id(of_two)] and hub_id(of_one) not in updated
