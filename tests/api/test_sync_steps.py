"""README's "Syncing an app, step by step", run by an app's own key: each step does what the README says."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.api.helpers import BASE, IDS, app_ids, ext, hub_id, post
from tests.conftest import Keys

PEOPLE = f"{BASE}/people"
CRM = {"opts[provider]": "crm", "opts[realm]": "2243"}


def _walk(client: TestClient, url: str, params: dict[str, str], headers: dict[str, str]) -> list[dict[str, Any]]:
    """Every record along `next`, from the first page."""
    body = client.get(url, params=params, headers=headers).json()
    shown = body["people"]
    while "next" in body["pagination"]:
        body = client.get(body["pagination"]["next"], headers=headers).json()
        shown += body["people"]
    return shown


def test_an_app_syncs_by_the_steps_the_readme_gives(client: TestClient) -> None:
    erp = [{"id": [ext("erp", f"e{n}")], "first_name": f"Erp {n}"} for n in range(5)]
    assert client.post(PEOPLE, json={"people": erp}).status_code == 200  # another app's records, already there
    crm = {**Keys(client).app("crm", cld_1="2243"), **IDS}  # step 1: connected, with a key of its own

    pushed = [{"id": [ext("crm", f"c{n}")], "first_name": f"Crm {n}"} for n in range(3)]  # step 2
    for _ in range(2):  # sent twice: nothing is made twice
        assert client.post(PEOPLE, json={"people": pushed}, headers=crm).status_code == 200
    assert client.get(PEOPLE, headers=crm).json()["pagination"]["total"] == 8

    lacking = {**CRM, "opts[linked]": "false", "$top": "2"}  # step 3: each page linked back as it comes
    page: dict[str, Any] | None = client.get(PEOPLE, params=lacking, headers=crm).json()
    pulled = []
    while page is not None:
        for person in page["people"]:
            pulled.append(person["first_name"])
            own = [e for e in person["id"] if e["provider"] == "connec"]
            linked = {"id": [*own, ext("crm", f"from-{person['code']}")]}
            assert client.post(PEOPLE, json={"people": linked}, headers=crm).status_code == 200
        page = client.get(page["pagination"]["next"], headers=crm).json() if "next" in page["pagination"] else None
    assert sorted(pulled) == [f"Erp {n}" for n in range(5)]
    assert client.get(PEOPLE, params={**CRM, "opts[linked]": "false"}, headers=crm).json()["pagination"]["total"] == 0

    since = client.get(f"{BASE}/changes", params={"limit": "1000"}, headers=crm).json()["cursor"]  # step 4
    start = client.get(f"{PEOPLE}/c1", params=CRM, headers=crm).json()["people"]["updated_at"]
    edited = client.put(f"{PEOPLE}/c1", params=CRM, json={"people": {"last_name": "Edited"}}, headers=crm)
    assert edited.status_code == 200
    feed = client.get(f"{BASE}/changes", params={"since": since}, headers=crm).json()["changes"]
    assert [(c["kind"], c["id"]) for c in feed] == [("update", hub_id(edited.json()["people"]))]
    sync = {"$filter": f"updated_at ge '{start}'", "$orderby": "updated_at", "$count": "false", "$top": "1"}
    walked = _walk(client, PEOPLE, sync, crm)
    assert [p["last_name"] for p in walked if "last_name" in p] == ["Edited"]
    echo = {"id": app_ids(edited.json()["people"]), "last_name": "Edited"}  # its own ids: the write it was sent
    again = client.post(PEOPLE, json={"people": echo}, headers=crm).json()
    assert again["result"] == "unchanged"
    assert client.get(f"{BASE}/changes", params={"since": feed[-1]["cursor"]}, headers=crm).json()["changes"] == []
    sent = client.get(f"{PEOPLE}/from-PE1", params=CRM, headers=crm).json()["people"]  # holds erp's id too
    assert client.post(PEOPLE, json={"people": sent}, headers=crm).json()["result"] == "unchanged"  # as step 4 says
    others = [{**e, "id": "e-other"} if e["provider"] == "erp" else e for e in sent["id"]]  # one it does not hold
    assert client.post(PEOPLE, json={"people": {**sent, "id": others}}, headers=crm).status_code == 403

    late = client.post(PEOPLE, json={"people": {"id": [ext("erp", "e9")], "first_name": "Crm 0"}}, headers=IDS)
    own = [e for e in late.json()["people"]["id"] if e["provider"] == "connec"]
    same = {"id": [*own, ext("crm", "c0")]}  # step 5: the app says its c0 is the person the other app wrote
    merged = client.post(PEOPLE, json={"people": same}, headers=crm).json()
    assert merged["merged"] and {e["provider"] for e in merged["people"]["id"]} == {"crm", "erp", "connec"}
    assert client.get(PEOPLE, headers=crm).json()["pagination"]["total"] == 8


def test_a_sync_by_updated_at_ge_sees_every_record_of_one_write_where_gt_would_pass_over_some(
    client: TestClient,
) -> None:
    """As step 4 says: an undo stamps the records it restores and its survivor with one time, so a poll by `gt` the
    last time a page showed passed over the rest of them; `ge` shows them, the page's last again."""
    made = [post(client, "people", first_name=f"P{n}").json()["people"] for n in range(4)]
    merge = client.post(f"{PEOPLE}/{hub_id(made[0])}/merge", json={"records": [hub_id(r) for r in made[1:]]})
    undo = client.post(f"{PEOPLE}/{hub_id(made[0])}/unmerge", json={"merge_id": merge.json()["merge"]["id"]})
    assert {p["updated_at"] for p in undo.json()["people"]} == {undo.json()["merge"]["undone"]["at"]}
    page = {"$orderby": "updated_at", "$count": "false", "$top": "2"}
    last = client.get(PEOPLE, params=page).json()["people"][-1]["updated_at"]
    after = {**page, "$filter": f"updated_at gt '{last}'"}
    assert client.get(PEOPLE, params=after).json()["people"] == []
    again = _walk(client, PEOPLE, {**page, "$filter": f"updated_at ge '{last}'"}, IDS)
    assert len(again) == 4


def test_a_placeholder_merged_into_a_held_organization_is_repointed_by_the_merge_alone(client: TestClient) -> None:
    """Step 4: a person kept with a placeholder's hub id gets no item of its own when the placeholder is merged into
    an organization the app holds; the merge's `details.merged` is what tells the app to repoint the reference."""
    acme = post(client, "organizations", [ext("erp", "o1")], name="Acme").json()["organizations"]
    person = post(client, "people", [ext("erp", "p1")], organization_id=[ext("shop", "o2")]).json()["people"]
    placeholder = hub_id({"id": person["organization_id"]})
    for entity in ("people", "organizations"):
        body = {"name": entity, "entity": entity, "direction": "outbound", "provider": "crm", "realm": "2243"}
        assert client.post(f"{BASE}/integrations", json={**body, "include_update": True}).status_code == 201
    merged = client.post(f"{BASE}/organizations/{hub_id(acme)}/merge", json={"records": [placeholder]})
    assert merged.status_code == 200, merged.text
    leased = {e: client.post(f"{BASE}/integrations/{e}/lease").json()["items"] for e in ("people", "organizations")}
    assert leased["people"] == []
    assert [(i["kind"], i["details"]["merged"]) for i in leased["organizations"]] == [("merge", [placeholder])]
    shown = client.get(f"{PEOPLE}/p1", params={"opts[provider]": "erp", "opts[realm]": "2243"}, headers=IDS).json()
    assert hub_id({"id": shown["people"]["organization_id"]}) == hub_id(acme)


def test_an_item_of_a_change_before_the_apps_id_moved_away_shows_the_record_without_it(client: TestClient) -> None:
    """Step 4: items show their record as it is when handed out, so the update of a record made before a key link
    took the app's id off it comes without that id, ahead of the record's `unlink`: the app learns the id left from
    any item of the record, not from its `unlink` alone."""
    body = {"name": "people", "entity": "people", "direction": "outbound", "provider": "crm", "realm": "2243"}
    assert client.post(f"{BASE}/integrations", json={**body, "include_update": True}).status_code == 201
    before = post(client, "people", [ext("crm", "c1")], first_name="Ann").json()["people"]
    client.put(f"{PEOPLE}/{hub_id(before)}", json={"people": {"first_name": "Anne"}})
    other = post(client, "people", [ext("erp", "e1")], first_name="Bob").json()["people"]
    link = client.get(f"{BASE}/key_links", params={"provider": "crm", "external_id": "c1"}).json()["key_links"][0]
    assert client.put(f"{BASE}/key_links/{link['id']}", json={"internal_id": hub_id(other)}).status_code == 200
    items = client.post(f"{BASE}/integrations/people/lease").json()["items"]
    shown = [(i["kind"], i["record"]["first_name"], {e["id"] for e in app_ids(i["record"])}) for i in items]
    assert shown == [
        ("create", "Anne", set()),
        ("update", "Anne", set()),
        ("create", "Bob", {"e1", "c1"}),
        ("unlink", "Anne", set()),
        ("link", "Bob", {"e1", "c1"}),
    ]


def test_an_unlink_names_the_apps_id_it_took_off_whatever_record_it_shows(client: TestClient) -> None:
    """Step 4: the `unlink` of a key link deleted shows its record as it is when handed out, here the survivor of
    a later merge, which holds none of the app's ids: `details.external_id` is what says which id left."""
    body = {"name": "orgs", "entity": "organizations", "direction": "outbound", "provider": "crm", "realm": "2243"}
    assert client.post(f"{BASE}/integrations", json={**body, "include_update": True}).status_code == 201
    survivor = post(client, "organizations", [ext("erp", "e1")], name="Acme").json()["organizations"]
    taken = post(client, "organizations", [ext("crm", "c1")], name="Acme Ltd").json()["organizations"]
    client.post(f"{BASE}/integrations/orgs/ack", json=_all_of(client.post(f"{BASE}/integrations/orgs/lease").json()))
    link = client.get(f"{BASE}/key_links", params={"provider": "crm", "external_id": "c1"}).json()["key_links"][0]
    assert client.delete(f"{BASE}/key_links/{link['id']}").status_code == 204
    merged = client.post(f"{BASE}/organizations/{hub_id(survivor)}/merge", json={"records": [hub_id(taken)]})
    assert merged.status_code == 200, merged.text
    items = client.post(f"{BASE}/integrations/orgs/lease").json()["items"]
    unlink = next(i for i in items if i["kind"] == "unlink")
    assert hub_id(unlink["record"]) == hub_id(survivor) and app_ids(unlink["record"]) == [ext("erp", "e1")]
    assert unlink["details"]["external_id"] == ext("crm", "c1")


def _all_of(lease: dict[str, Any]) -> dict[str, Any]:
    return {"lease": lease["lease"], "items": [i["item"] for i in lease["items"]]}
