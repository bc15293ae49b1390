"""Checks explicit merges (with dry run), the merge history, and undoing merges in the orders they allow."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.api.records import BASE, IDS, app_ids, create, ext, get
from tests.conftest import Keys

SF = ext("salesforce", "eu", "a")
HS = ext("hubspot", "7", "b")
ZO = ext("zoho", "z", "c")


def merge(client: TestClient, hub_id: str, *records: Any, status: int = 200, **body: Any) -> dict[str, Any]:
    response = client.post(f"{BASE}/organizations/{hub_id}/merge", json={"records": list(records), **body})
    assert response.status_code == status, response.text
    out: dict[str, Any] = response.json()
    return out


def unmerge(client: TestClient, hub_id: str, merge_id: str, status: int = 200) -> dict[str, Any]:
    response = client.post(f"{BASE}/organizations/{hub_id}/unmerge", json={"merge_id": merge_id})
    assert response.status_code == status, response.text
    out: dict[str, Any] = response.json()
    return out


def history(client: TestClient, hub_id: str) -> list[dict[str, Any]]:
    response = client.get(f"{BASE}/organizations/{hub_id}/merges")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["merges"]
    return found


def test_the_oldest_survives_and_takes_every_id(client: TestClient) -> None:
    a = create(client, "organizations", SF, name="Acme")
    b = create(client, "organizations", HS, name="Acme Inc", industry="Tech")
    c = create(client, "organizations", ZO, name="ACME", notes="from zoho")
    out = merge(client, c["id"], a["id"], [HS], fields={"notes": "chosen"})
    survivor = out["organizations"]
    assert survivor["id"] == a["id"]
    assert (survivor["name"], survivor["industry"], survivor["notes"]) == ("Acme", "Tech", "chosen")
    assert out["dry_run"] is False
    entry = out["merge"]
    assert entry["survivor"] == a["id"] and sorted(entry["merged"]) == sorted([b["id"], c["id"]])
    assert entry["trigger"] == "request" and entry["actor"].startswith("admin (key hk_")
    by = {m["record"]: m["by"] for m in entry["matched"]}
    assert by[b["id"]] == [HS]
    assert by[c["id"]][0]["id"] == c["id"] and by[a["id"]][0]["id"] == a["id"]
    moves = {m["id"]["provider"]: (m["from"], m["to"]) for m in entry["moves"]}
    assert moves == {"hubspot": (b["id"], a["id"]), "zoho": (c["id"], a["id"])}
    for hub_id in (b["id"], c["id"]):
        merged = get(client, "organizations", hub_id, ids=True)
        assert merged["code"] == "OR1"
        assert sorted(map(str, app_ids(merged))) == sorted(map(str, [SF, HS, ZO]))


def test_fields_come_from_the_survivor_then_the_newest_other(client: TestClient) -> None:
    a = create(client, "organizations", SF, name="Acme")
    b = create(client, "organizations", HS, industry="Tech", notes="old")
    create(client, "organizations", ZO, industry="Retail", notes="zoho")
    assert client.put(f"{BASE}/organizations/{b['id']}", json={"organizations": {"notes": "newest"}}).status_code == 200
    out = merge(client, a["id"], [ZO], b["id"], fields={"name": "Chosen"})
    survivor = out["organizations"]
    assert (survivor["name"], survivor["industry"], survivor["notes"]) == ("Chosen", "Tech", "newest")
    assert out["merge"]["requested"] == {"name": "Chosen"}


def test_the_path_may_name_the_record_by_an_app_id(client: TestClient) -> None:
    a = create(client, "organizations", SF, name="Acme")
    create(client, "organizations", HS, name="Acme Inc")
    response = client.post(
        f"{BASE}/organizations/b/merge",
        params={"opts[provider]": "hubspot", "opts[realm]": "7"},
        json={"records": [[SF]]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["organizations"]["id"] == a["id"]
    found = client.get(f"{BASE}/organizations/a/merges", params={"opts[provider]": "salesforce", "opts[realm]": "eu"})
    assert len(found.json()["merges"]) == 1


def test_a_dry_run_previews_the_merge(client: TestClient) -> None:
    a = create(client, "organizations", SF, name="Acme")
    b = create(client, "organizations", HS, name="Acme Inc", industry="Tech")
    out = merge(client, b["id"], a["id"], dry_run=True, fields={"notes": "x"})
    assert out["dry_run"] is True
    assert out["organizations"]["id"] == a["id"]
    assert (out["organizations"]["industry"], out["organizations"]["notes"]) == ("Tech", "x")
    assert "id" not in out["merge"]
    assert out["merge"]["moves"] == [{"id": HS, "from": b["id"], "to": a["id"]}]


def test_a_dry_run_writes_nothing(client: TestClient) -> None:
    a = create(client, "organizations", SF, name="Acme")
    b = create(client, "organizations", HS, name="Acme Inc", industry="Tech")
    links = client.get(f"{BASE}/key_links").json()
    merge(client, b["id"], a["id"], dry_run=True, fields={"notes": "x"})
    assert get(client, "organizations", a["id"]) == a
    assert get(client, "organizations", b["id"]) == b
    assert client.get(f"{BASE}/key_links").json() == links
    assert history(client, a["id"]) == [] and history(client, b["id"]) == []


def test_a_dry_run_shows_a_new_reference_as_the_merge_would(client: TestClient) -> None:
    """The survivor's references were read after the dry run left its transaction: a placeholder it made was gone,
    and its reference showed as a bare hub id (one the real merge would not make) for an id array."""
    a = create(client, "people", ext("crm", "1", "a"), first_name="A")
    b = create(client, "people", ext("hs", "1", "b"), first_name="B")
    organization = [ext("erp", "1", "BRANDNEW")]
    for dry_run in (True, False):
        body = {"records": [b["id"]], "fields": {"organization_id": organization}, "dry_run": dry_run}
        answer = client.post(f"{BASE}/people/{a['id']}/merge", json=body, headers=IDS)
        assert answer.status_code == 200, answer.text
        assert app_ids({"id": answer.json()["people"]["organization_id"]}) == organization
    assert client.get(f"{BASE}/organizations").json()["pagination"]["total"] == 1  # the real merge's only


def test_a_merge_giving_an_app_two_ids_is_refused_and_writes_nothing(client: TestClient) -> None:
    a = create(client, "organizations", SF, name="Acme")
    b = create(client, "organizations", ext("salesforce", "eu", "other"), HS, name="Acme Inc")
    out = merge(client, a["id"], b["id"], status=409)
    assert sorted(out["records"]) == sorted([a["id"], b["id"]])
    assert "salesforce/eu" in out["detail"]
    assert get(client, "organizations", a["id"]) == a
    assert get(client, "organizations", b["id"]) == b
    assert history(client, a["id"]) == []


def test_duplicates_each_app_linked_to_the_others_copy_merge_once_one_app_drops_an_id(client: TestClient) -> None:
    """The way out README gives for a 409 of two ids of one app: each app pulled the other's copy and linked its own
    id to it; the 409 names each app's ids, and once one of them is unlinked the merge goes through."""
    a = create(client, "organizations", SF, ext("hubspot", "7", "b2"), name="Acme")
    b = create(client, "organizations", HS, ext("salesforce", "eu", "a2"), name="Acme Inc")
    refused = merge(client, a["id"], b["id"], status=409)
    clashes = {(c["provider"], tuple(c["ids"])) for c in refused["clashes"]}
    assert clashes == {("salesforce", ("a", "a2")), ("hubspot", ("b2", "b"))}, refused
    for provider, realm, dropped in (("salesforce", "eu", "a2"), ("hubspot", "7", "b2")):
        unlink = {"entity_type": "organizations", "provider": provider, "realm": realm, "external_id": dropped}
        assert client.delete(f"{BASE}/key_links", params=unlink).status_code == 204
    merged = merge(client, a["id"], b["id"])["organizations"]
    assert sorted(e["id"] for e in app_ids(get(client, "organizations", merged["id"], ids=True))) == ["a", "b"]


@pytest.mark.parametrize("nothing", [{}, {"fields": {}}, {"fields": {"name": None, "address": {"city": None}}}])
def test_a_merge_of_placeholders_choosing_nothing_leaves_a_placeholder_the_real_record_fills(
    client: TestClient, nothing: dict[str, Any]
) -> None:
    """Two references to the same organization by two apps' ids made two placeholders. Merged, they hold ids only,
    still; the survivor had stopped being a placeholder, so the real record's arrival answered 200 and the feed
    recorded an update, which an integration sending creates only never sent. Fields chosen null choose nothing:
    they made the placeholders a real record holding nothing."""
    first = create(client, "people", first_name="Ann", organization_id=[SF])["organization_id"]
    second = create(client, "people", first_name="Bo", organization_id=[HS])["organization_id"]
    chosen = create(client, "people", first_name="Cy", organization_id=[ZO])["organization_id"]
    assert merge(client, first, second, **nothing)["organizations"]["placeholder"] is True
    real = client.post(f"{BASE}/organizations", json={"organizations": {"id": [HS], "name": "Acme"}})
    assert (real.status_code, real.json()["result"], real.json()["organizations"]["id"]) == (201, "created", first)
    kinds = [c["kind"] for c in client.get(f"{BASE}/changes").json()["changes"] if c["id"] == first]
    assert kinds == ["create", "merge", "create"]

    named = create(client, "organizations", ext("erp", "1", "x"), name="Named")
    merge(client, chosen, named["id"])  # a merge with a record that is no placeholder gives it a record's values
    again = client.post(f"{BASE}/organizations", json={"organizations": {"id": [ZO], "notes": "n"}})
    assert (again.status_code, again.json()["result"]) == (200, "updated")


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"records": []}, 422, "records"),
        ({"records": ["OTHER"] * 101}, 422, "a list of 1 to 100 records"),  # said "expected a non-empty list"
        ({"records": "x"}, 422, "records"),
        ({"records": ["no-such-record"]}, 422, "no organizations record"),
        ({"records": [[ext("nobody", "r", "1")]]}, 422, "no organizations record holds"),
        ({"records": [[{"provider": "x"}]]}, 422, "records.0"),  # named as every other place names a list member
        ({"records": [[ext("connec", "elsewhere", "x")]]}, 422, '"field":"records.0"'),  # a hub id of no channel here
        ({"records": ["SELF"]}, 422, "nothing to merge"),
        ({"records": ["OTHER"], "fields": {"color": "red"}}, 422, '"field":"fields.color"'),
        ({"records": ["OTHER"], "fields": {"name": 5}}, 422, "invalid field(s): fields.name"),  # named `name` alone
        ({"records": ["OTHER"], "fields": {"id": "x"}}, 422, "fields"),
        ({"records": ["OTHER"], "fields": []}, 422, "fields"),  # an empty list, 0, "" or false merged as nothing chosen
        ({"records": ["OTHER"], "fields": 0}, 422, "fields"),
        ({"records": ["OTHER"], "fields": ""}, 422, "fields"),
        ({"records": ["OTHER"], "fields": False}, 422, "fields"),
        ({"records": ["OTHER"], "dry_run": "yes"}, 422, "dry_run"),
        ({"records": ["OTHER"], "why": "x"}, 422, "why"),
        ([], 422, "object"),
    ],
)
def test_bad_merge_requests_are_refused(client: TestClient, body: Any, status: int, words: str) -> None:
    a = create(client, "organizations", SF, name="Acme")
    b = create(client, "organizations", HS, name="Acme Inc")
    names = {"SELF": a["id"], "OTHER": b["id"]}
    if isinstance(body, dict) and isinstance(body["records"], list):
        body = {**body, "records": [names.get(r, r) if isinstance(r, str) else r for r in body["records"]]}
    response = client.post(f"{BASE}/organizations/{a['id']}/merge", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert words in response.text
    assert history(client, a["id"]) == []


def test_a_merge_body_names_every_member_at_fault_in_one_answer(client: TestClient) -> None:
    """A merge body stopped at its first fault: a client mending it learned of the next one only by sending it again."""
    a = create(client, "organizations", SF, name="Acme")
    body = {"records": [" ", [{"provider": "x"}]], "fields": {"name": 5, "color": "red"}, "dry_run": "yes", "why": 1}
    response = client.post(f"{BASE}/organizations/{a['id']}/merge", json=body)
    assert response.status_code == 422, response.text
    named = {e["field"] for e in response.json()["errors"]}
    assert {"records.0", "records.1.0.realm", "fields.name", "fields.color", "dry_run", "why"} <= named, named
    assert history(client, a["id"]) == []
    undo = client.post(f"{BASE}/organizations/{a['id']}/unmerge", json={"merge_id": 5, "why": 1})
    assert undo.status_code == 422, undo.text
    assert {e["field"] for e in undo.json()["errors"]} == {"merge_id", "why"}


def test_a_chosen_reference_the_hub_refuses_is_named_where_the_body_holds_it(client: TestClient) -> None:
    """A merge's chosen `organization_id` the store refused was named `organization_id`, not where the body has it."""
    a = client.post(f"{BASE}/people", json={"people": {"id": [SF], "first_name": "Ann"}}).json()["people"]
    b = client.post(f"{BASE}/people", json={"people": {"id": [HS], "first_name": "Ann"}}).json()["people"]
    body = {"records": [b["id"]], "fields": {"organization_id": "no-such-record"}}
    response = client.post(f"{BASE}/people/{a['id']}/merge", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("fields.organization_id: "), response.text


def test_merge_paths_check_record_group_and_parameters(client: TestClient) -> None:
    a = create(client, "organizations", SF, name="Acme")
    assert client.post(f"{BASE}/organizations/nobody/merge", json={"records": [a["id"]]}).status_code == 404
    assert client.post("/api/v2/nogroup/organizations/x/merge", json={"records": [a["id"]]}).status_code == 404
    assert client.post(f"{BASE}/bills/x/merge", json={"records": [a["id"]]}).status_code == 404
    response = client.post(f"{BASE}/organizations/{a['id']}/merge", params={"$select": "name"}, json={"records": []})
    assert response.status_code == 400
    assert client.get(f"{BASE}/organizations/{a['id']}/merges", params={"x": "1"}).status_code == 400
    assert client.get(f"{BASE}/organizations/nobody/merges").status_code == 404


def test_an_upsert_merge_is_recorded_with_the_ids_that_matched(client: TestClient) -> None:
    a = create(client, "organizations", SF, name="Acme")
    b = create(client, "organizations", HS, industry="Tech")
    response = client.post(f"{BASE}/organizations", json={"organizations": {"id": [SF, HS], "notes": "both"}})
    assert response.json()["merged"] == [b["id"]]
    [entry] = history(client, b["id"])
    assert entry["trigger"] == "upsert" and entry["actor"].startswith("admin (key hk_")
    assert entry["matched"] == [{"record": a["id"], "by": [SF]}, {"record": b["id"], "by": [HS]}]
    assert entry["requested"] == {"notes": "both"}
    before = {s["id"]: s for s in entry["before"]}
    assert before[b["id"]]["fields"] == {"industry": "Tech"} and before[b["id"]]["ids"] == [HS]
    assert entry["after"]["fields"] == {"name": "Acme", "industry": "Tech", "notes": "both"}
    assert entry["undone"] is None

    out = unmerge(client, a["id"], entry["id"])
    assert [r["id"] for r in out["organizations"]] == [a["id"], b["id"]]
    assert get(client, "organizations", a["id"])["name"] == "Acme"
    assert "notes" not in get(client, "organizations", a["id"])


def test_undo_restores_records_ids_fields_and_references(client: TestClient) -> None:
    a = create(client, "organizations", SF, name="Acme", phone={"landline": "1"})
    b = create(client, "organizations", HS, name="Acme Inc", industry="Tech")
    person = create(client, "people", first_name="Ann", organization_id=b["id"])
    entry = merge(client, a["id"], b["id"])["merge"]

    assert get(client, "people", person["id"])["organization_id"] == a["id"]
    seen = get(client, "people", person["id"], ids=True)["organization_id"]
    assert {e["id"] for e in seen} == {"a", "b", a["id"]}

    out = unmerge(client, b["id"], entry["id"])
    restored_a, restored_b = out["organizations"]
    assert (restored_a["id"], restored_b["id"]) == (a["id"], b["id"])
    assert restored_b["name"] == "Acme Inc" and restored_b["industry"] == "Tech" and restored_b["code"] == "OR2"
    assert "industry" not in restored_a and restored_a["phone"] == {"landline": "1"}
    assert app_ids(get(client, "organizations", a["id"], ids=True)) == [SF]
    assert app_ids(get(client, "organizations", b["id"], ids=True)) == [HS]
    assert get(client, "people", person["id"])["organization_id"] == b["id"]
    seen = get(client, "people", person["id"], ids=True)["organization_id"]
    assert {e["id"] for e in seen} == {"b", b["id"]}
    links = client.get(f"{BASE}/key_links", params={"external_id": "b"}).json()["key_links"]
    assert [k["internal_id"] for k in links] == [b["id"]]

    [recorded] = history(client, a["id"])
    assert recorded["undone"]["actor"].startswith("admin (key hk_") and recorded["undone"]["at"] >= recorded["at"]
    assert history(client, b["id"]) == [recorded]
    again = unmerge(client, a["id"], entry["id"], status=409)
    assert "undone already" in again["detail"]


def test_an_edit_sending_back_the_reference_it_read_keeps_the_one_undo_restores(client: TestClient) -> None:
    """A person of an organization merged away shows the survivor; an app editing another field sends that back.
    The edit stored the survivor in place of the organization the person was given, and undoing the merge left
    the person with the survivor; so did a connect setting a value."""
    a = create(client, "organizations", SF, name="Acme")
    b = create(client, "organizations", HS, name="Acme Inc")
    person = create(client, "people", ext("crm", "1", "p"), first_name="Ann", organization_id=b["id"])
    other = create(client, "people", first_name="Bo", organization_id=b["id"])
    entry = merge(client, a["id"], b["id"])["merge"]
    shown = get(client, "people", person["id"], ids=True)
    edited = {**shown, "first_name": "Anna"}
    assert client.put(f"{BASE}/people/{person['id']}", json={"people": edited}, headers=IDS).status_code == 200
    values = [{"field": "organization_id", "value": a["id"]}, {"field": "last_name", "value": "X"}]
    connect = {"provider": "erp", "realm": "9", "id": "p2", "field_values": values}
    assert client.post(f"{BASE}/people/{other['id']}/connect", json=connect).status_code == 204
    unmerge(client, a["id"], entry["id"])
    assert get(client, "people", person["id"])["first_name"] == "Anna"
    assert get(client, "people", person["id"])["organization_id"] == b["id"]
    assert get(client, "people", other["id"])["last_name"] == "X"
    assert get(client, "people", other["id"])["organization_id"] == b["id"]


def test_undo_keeps_what_changed_since_the_merge(client: TestClient) -> None:
    a = create(client, "organizations", SF, name="Acme")
    b = create(client, "organizations", HS, name="Acme Inc", industry="Tech", notes="b")
    entry = merge(client, a["id"], b["id"])["merge"]
    assert client.put(f"{BASE}/organizations/{a['id']}", json={"organizations": {"notes": "later"}}).status_code == 200
    unmerge(client, a["id"], entry["id"])
    after = get(client, "organizations", a["id"])
    assert after["notes"] == "later" and "industry" not in after and after["name"] == "Acme"


def test_undo_gives_back_a_placeholder_merged_away_as_a_placeholder(client: TestClient) -> None:
    """A placeholder merged into a real record and given back by the undo is what it was: the ids of a reference
    alone, which the real record's arrival fills in (a create), and which an app pulling what it lacks passes over."""
    real = create(client, "organizations", SF, name="Acme")
    held = create(client, "people", ext("crm", "1", "p"), organization_id=[HS])["organization_id"]
    entry = merge(client, real["id"], held)["merge"]
    unmerge(client, real["id"], entry["id"])
    assert get(client, "organizations", held).get("placeholder") is True
    arrived = client.post(f"{BASE}/organizations", json={"organizations": {"id": [HS], "name": "Acme Inc"}})
    assert (arrived.status_code, arrived.json()["result"], arrived.json()["organizations"]["id"]) == (
        201,
        "created",
        held,
    )


def test_undo_is_refused_once_an_id_moved_again(client: TestClient) -> None:
    a = create(client, "organizations", SF, name="Acme")
    b = create(client, "organizations", HS, name="Acme Inc")
    c = create(client, "organizations", name="Elsewhere")
    entry = merge(client, a["id"], b["id"])["merge"]
    link = client.get(f"{BASE}/key_links", params={"external_id": "b"}).json()["key_links"][0]
    assert client.put(f"{BASE}/key_links/{link['id']}", json={"internal_id": c["id"]}).status_code == 200
    refused = unmerge(client, a["id"], entry["id"], status=409)
    assert "moved again" in refused["detail"] and f"held by {c['id']}" in refused["detail"]
    assert client.delete(f"{BASE}/key_links/{link['id']}").status_code == 204
    assert "linked to no record" in unmerge(client, a["id"], entry["id"], status=409)["detail"]
    assert history(client, a["id"])[0]["undone"] is None
    relink = {"entity_type": "organizations", "internal_id": a["id"], **{k: HS[k] for k in ("provider", "realm")}}
    assert client.post(f"{BASE}/key_links", json={**relink, "external_id": "b"}).status_code == 201
    unmerge(client, a["id"], entry["id"])
    assert app_ids(get(client, "organizations", b["id"], ids=True)) == [HS]


def test_a_merge_whose_survivor_was_merged_away_waits_for_that_undo(client: TestClient) -> None:
    oldest = create(client, "organizations", ZO, name="Oldest")
    a = create(client, "organizations", SF, name="Acme")
    b = create(client, "organizations", HS, name="Acme Inc")
    first = merge(client, a["id"], b["id"])["merge"]
    second = merge(client, a["id"], oldest["id"])["merge"]
    assert second["survivor"] == oldest["id"]
    assert [m["id"] for m in history(client, oldest["id"])] == [second["id"], first["id"]]
    refused = unmerge(client, a["id"], first["id"], status=409)
    assert f"merged into {oldest['id']}" in refused["detail"] and "undo that merge first" in refused["detail"]
    unmerge(client, oldest["id"], second["id"])
    assert sorted(e["id"] for e in app_ids(get(client, "organizations", a["id"], ids=True))) == ["a", "b"]
    assert get(client, "organizations", b["id"])["id"] == a["id"]
    unmerge(client, a["id"], first["id"])
    for record, own in ((oldest, ZO), (a, SF), (b, HS)):
        assert app_ids(get(client, "organizations", record["id"], ids=True)) == [own]


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_merges_into_one_survivor_undo_in_any_order(client: TestClient, order: tuple[int, int]) -> None:
    a = create(client, "organizations", SF, name="Acme")
    b = create(client, "organizations", HS, industry="Tech")
    c = create(client, "organizations", ZO, notes="zoho")
    entries = [merge(client, a["id"], b["id"])["merge"], merge(client, a["id"], c["id"])["merge"]]
    for index in order:
        unmerge(client, a["id"], entries[index]["id"])
    for record, own in ((a, SF), (b, HS), (c, ZO)):
        assert app_ids(get(client, "organizations", record["id"], ids=True)) == [own]
    assert get(client, "organizations", a["id"])["name"] == "Acme"
    assert get(client, "organizations", b["id"])["industry"] == "Tech"
    assert get(client, "organizations", c["id"])["notes"] == "zoho"


def test_undoing_a_merge_of_a_merge_points_the_earlier_tombstones_back(client: TestClient) -> None:
    a = create(client, "organizations", SF, name="A")
    b = create(client, "organizations", HS, name="B")
    d = create(client, "organizations", ZO, name="D")
    inner = merge(client, b["id"], d["id"])["merge"]
    outer = merge(client, a["id"], b["id"])["merge"]
    assert get(client, "organizations", d["id"])["id"] == a["id"]
    assert unmerge(client, b["id"], inner["id"], status=409)["detail"].count("merged into") == 1
    unmerge(client, a["id"], outer["id"])
    assert get(client, "organizations", d["id"])["id"] == b["id"]
    assert sorted(e["id"] for e in app_ids(get(client, "organizations", b["id"], ids=True))) == ["b", "c"]
    unmerge(client, b["id"], inner["id"])
    assert get(client, "organizations", d["id"])["name"] == "D"


def test_unmerge_requests_are_checked(client: TestClient) -> None:
    a = create(client, "organizations", SF, name="Acme")
    b = create(client, "organizations", HS, name="Acme Inc")
    c = create(client, "organizations", ZO, name="Other")
    entry = merge(client, a["id"], b["id"])["merge"]
    assert unmerge(client, a["id"], "no-such-merge", status=404)["status"] == 404
    assert unmerge(client, c["id"], entry["id"], status=404)["status"] == 404
    for body, message in (({}, "required"), ({"merge_id": 3}, "expected a non-empty string"), ([], "object")):
        response = client.post(f"{BASE}/organizations/{a['id']}/unmerge", json=body)
        assert response.status_code == 422 and message in response.text, (body, response.text)
    assert (
        client.post(f"{BASE}/organizations/{a['id']}/unmerge", json={"merge_id": entry["id"], "x": 1}).status_code
        == 422
    )
    assert client.post(f"{BASE}/people/{a['id']}/unmerge", json={"merge_id": entry["id"]}).status_code == 404


def test_an_undo_naming_no_merge_quotes_its_id_cut_short(client: TestClient) -> None:
    """The body bounds the id at its size alone (10 MiB): the 404 sent it all back, as a key link's once did."""
    a = create(client, "organizations", SF, name="Acme")
    problem = unmerge(client, a["id"], "x" * 100_000, status=404)
    assert len(problem["detail"]) < 200 and f"no merge {'x' * 40!r}…" in problem["detail"]


def test_an_undo_by_an_app_id_that_spells_a_merged_hub_id_names_that_app_record(client: TestClient) -> None:
    a = create(client, "organizations", SF, name="Acme")
    b = create(client, "organizations", HS, name="Acme Inc")
    entry = merge(client, a["id"], b["id"])["merge"]
    create(client, "organizations", ext("zoho", "z", b["id"]), name="Other")  # an app keeping hub ids as its own
    response = client.post(
        f"{BASE}/organizations/{b['id']}/unmerge",
        params={"opts[provider]": "zoho", "opts[realm]": "z"},
        json={"merge_id": entry["id"]},
    )
    assert response.status_code == 404, response.text
    assert get(client, "organizations", b["id"])["id"] == a["id"]


def test_the_actor_is_the_key_that_asked(client: TestClient, keys: Keys) -> None:
    a = create(client, "organizations", SF, name="Acme")
    b = create(client, "organizations", HS, name="Acme Inc")
    billing = keys.new("billing")
    keys.connect("billing", BASE.split("/")[-1], "1")
    headers = {"Authorization": f"Bearer {billing.token}"}
    merged = client.post(f"{BASE}/organizations/{a['id']}/merge", json={"records": [b["id"]]}, headers=headers)
    entry = merged.json()["merge"]
    assert entry["actor"] == f"billing (key {billing.key.key_id})"
    undone = client.post(f"{BASE}/organizations/{a['id']}/unmerge", json={"merge_id": entry["id"]}, headers=headers)
    assert undone.json()["merge"]["undone"]["actor"] == entry["actor"]


def test_references_to_a_merged_away_record_read_as_the_survivor(client: TestClient) -> None:
    a = create(client, "organizations", SF, name="Acme")
    b = create(client, "organizations", HS, name="Acme Inc")
    person = create(client, "people", first_name="Ann", organization_id=[HS])
    assert person["organization_id"] == b["id"]
    merge(client, b["id"], a["id"])
    plain = client.get(f"{BASE}/people").json()["people"]
    assert [p["organization_id"] for p in plain] == [a["id"]]
    assert get(client, "people", person["id"])["organization_id"] == a["id"]
    with_ids = client.get(f"{BASE}/people", headers=IDS).json()["people"][0]["organization_id"]
    assert sorted(e["id"] for e in with_ids) == sorted(["a", "b", a["id"]])
    assert get(client, "people", person["id"], ids=True)["organization_id"] == with_ids


def test_a_filter_on_a_reference_follows_merges_as_the_records_show_it(client: TestClient) -> None:
    """People of an organization merged into O show O, but `organization_id eq 'O'` left them out (it compared the
    id each was given), and `eq` the merged one's id still found them."""
    o = create(client, "organizations", SF, name="O")["id"]
    x = create(client, "organizations", HS, name="X")["id"]
    for n, organization in enumerate([o, o, x, x, x, None]):
        create(
            client, "people", ext("crm", "1", f"p{n}"), **({"organization_id": organization} if organization else {})
        )
    shown_before = client.get(f"{BASE}/people", params={"$filter": f"organization_id eq '{x}'"}).json()
    assert shown_before["pagination"]["total"] == 3
    merge(client, o, x)
    for expression, total in [
        (f"organization_id eq '{o}'", 5),
        (f"organization_id eq '{x}'", 5),  # the merged one's id names the survivor, as a GET of it does
        (f"organization_id in ('{x}', 'unknown')", 5),
        (f"organization_id ne '{o}'", 1),
        (f"not (organization_id eq '{o}')", 1),  # the one without: eq compares as IS, as for any field
        (f"organization_id eq '{o}' and organization_id ne '{x}'", 0),
        ("organization_id eq 'unknown'", 0),
    ]:
        page = client.get(f"{BASE}/people", params={"$filter": expression}).json()
        assert page["pagination"]["total"] == len(page["people"]) == total, expression
        assert all(p.get("organization_id") in (o, None) for p in page["people"])


def test_a_filter_on_the_id_names_a_merged_away_record_by_its_survivor(client: TestClient) -> None:
    """GET by a merged-away hub id answers the survivor, yet `id eq` that id listed nothing."""
    o = create(client, "organizations", SF, name="O")["id"]
    x = create(client, "organizations", HS, name="X")["id"]
    other = create(client, "organizations", ZO, name="Z")["id"]
    merge(client, o, x)
    for expression, shown in [
        (f"id eq '{x}'", [o]),
        (f"id in ('{x}', '{other}')", [o, other]),
        (f"id ne '{x}'", [other]),
        (f"not (id eq '{o}')", [other]),
    ]:
        page = client.get(f"{BASE}/organizations", params={"$filter": expression}).json()
        assert [r["id"] for r in page["organizations"]] == shown and page["pagination"]["total"] == len(shown)


def test_a_filter_on_a_reference_to_a_record_merged_into_many_times_answers(client: TestClient) -> None:
    """Expanded into an `or` per merged id, 500 merged organizations passed SQLite's expression depth: a 500."""
    batch = [{"name": f"O{n}"} for n in range(501)]  # no app ids: one app holds one id a record
    made = [
        r["organizations"]["id"]
        for r in client.post(f"{BASE}/organizations", json={"organizations": batch}).json()["results"]
    ]
    create(client, "people", ext("crm", "1", "p"), organization_id=made[-1])
    for first in range(1, 501, 100):
        merge(client, made[0], *made[first : first + 100])
    for expression, total in [(f"organization_id eq '{made[0]}'", 1), (f"not (organization_id eq '{made[7]}')", 0)]:
        page = client.get(f"{BASE}/people", params={"$filter": expression})
        assert page.status_code == 200 and page.json()["pagination"]["total"] == total, page.text


def test_a_nested_object_of_nulls_holds_nothing_and_a_merge_keeps_the_real_values(client: TestClient) -> None:
    """`{"address": null}` was kept as given and counted as a value: a merge took it over another record's address."""
    empty = client.post(
        f"{BASE}/people",
        json={
            "people": {"id": [ext("crm", "1", "a")], "email": {"address": None}, "phone": {"mobile": None, "fax": None}}
        },
    )
    assert empty.status_code == 201 and {"email", "phone"}.isdisjoint(empty.json()["people"]), empty.text
    client.post(
        f"{BASE}/people",
        json={"people": {"id": [ext("erp", "1", "b")], "email": {"address": "b@x.co"}, "phone": {"mobile": "1"}}},
    )
    merged = client.post(
        f"{BASE}/people", json={"people": {"id": [ext("crm", "1", "a"), ext("erp", "1", "b")]}}
    ).json()["people"]
    assert (merged["email"], merged["phone"]) == ({"address": "b@x.co"}, {"mobile": "1"})
    cleared = client.post(f"{BASE}/people", json={"people": {"id": [ext("crm", "1", "a")], "phone": {"mobile": None}}})
    assert "phone" not in cleared.json()["people"] and cleared.json()["people"]["email"] == {"address": "b@x.co"}
