"""Create-or-update by any matching external id: create, update, merge, conflicts, batches, placeholders."""

from __future__ import annotations

import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from tests.api.helpers import BASE, IDS, app_ids, ext, hub_id, post


def test_a_new_id_creates_and_a_known_one_updates(client: TestClient) -> None:
    first = post(client, "people", [ext("crm", "1")], first_name="Ada")
    assert first.status_code == 201 and first.json()["result"] == "created"
    assert first.headers["location"].endswith(hub_id(first.json()["people"]))
    again = post(client, "people", [ext("crm", "1"), ext("erp", "9")], last_name="Lovelace")
    assert again.status_code == 200 and again.json()["result"] == "updated"
    person = again.json()["people"]
    assert hub_id(person) == hub_id(first.json()["people"])
    assert app_ids(person) == [ext("crm", "1"), ext("erp", "9")]
    assert (person["first_name"], person["last_name"], person["code"]) == ("Ada", "Lovelace", "PE1")


def test_codes_count_per_collection_and_output_has_every_meta_field(client: TestClient) -> None:
    codes = [post(client, "people", first_name=str(n)).json()["people"]["code"] for n in range(3)]
    assert codes == ["PE1", "PE2", "PE3"]
    org = post(client, "organizations", name="Acme").json()["organizations"]
    assert org["code"] == "OR1" and org["status"] == "ACTIVE" and org["resource_type"] == "organizations"
    assert org["group_id"] == "cld-1" and org["channel_id"].startswith("org-")
    assert org["created_at"].endswith("Z") and org["updated_at"] == org["created_at"]


def test_hub_ids_are_uuids_that_sort_in_the_order_records_were_made(client: TestClient) -> None:
    """UUIDv7: the time of making first, so that new records sit side by side in every index keyed by hub id."""
    made = []
    for n in range(3):
        made.append(hub_id(post(client, "people", first_name=str(n)).json()["people"]))
        time.sleep(0.002)
    assert [uuid.UUID(h).version for h in made] == [7, 7, 7]
    assert sorted(made) == made and len(set(made)) == 3


def test_without_the_header_ids_are_hub_id_strings(client: TestClient) -> None:
    created = client.post(f"{BASE}/people", json={"people": {"id": [ext("crm", "1")], "first_name": "A"}})
    assert isinstance(created.json()["people"]["id"], str)
    fetched = client.get(f"{BASE}/people/1", params={"opts[provider]": "crm", "opts[realm]": "2243"})
    assert fetched.json()["people"]["id"] == created.json()["people"]["id"]


def test_ids_matching_several_records_merge_them_into_the_oldest(client: TestClient) -> None:
    old = post(client, "people", [ext("crm", "1")], first_name="Ada", job_title="Countess").json()["people"]
    young = post(client, "people", [ext("erp", "2")], first_name="Augusta", notes="from erp").json()["people"]
    merged = post(client, "people", [ext("crm", "1"), ext("erp", "2")], last_name="Lovelace")
    assert merged.status_code == 200
    assert merged.json()["merged"] == [hub_id(young)]
    survivor = merged.json()["people"]
    assert hub_id(survivor) == hub_id(old)
    assert app_ids(survivor) == [ext("crm", "1"), ext("erp", "2")]
    assert (survivor["first_name"], survivor["notes"], survivor["last_name"]) == ("Ada", "from erp", "Lovelace")
    # The merged-away hub id resolves to the survivor; lists show one record.
    alias = client.get(f"{BASE}/people/{hub_id(young)}", headers=IDS).json()["people"]
    assert hub_id(alias) == hub_id(old)
    assert client.get(f"{BASE}/people").json()["pagination"]["total"] == 1


def test_one_app_never_holds_two_ids_on_one_record(client: TestClient) -> None:
    direct = post(client, "people", [ext("crm", "1"), ext("crm", "2")])
    assert direct.status_code == 409 and "crm" in direct.json()["detail"]
    a = post(client, "people", [ext("crm", "1")], first_name="A").json()["people"]
    b = post(client, "people", [ext("crm", "2"), ext("erp", "5")], first_name="B").json()["people"]
    refused = post(client, "people", [ext("crm", "1"), ext("erp", "5")], first_name="C")
    assert refused.status_code == 409
    assert sorted(refused.json()["records"]) == sorted([hub_id(a), hub_id(b)])
    # Nothing was written: both records are as they were.
    for record in (a, b):
        now = client.get(f"{BASE}/people/{hub_id(record)}", headers=IDS).json()["people"]
        assert (now["first_name"], app_ids(now)) == (record["first_name"], app_ids(record))
    linked = client.put(f"{BASE}/people/{hub_id(a)}", json={"people": {"id": [ext("crm", "3")]}})
    assert linked.status_code == 409


def test_a_body_with_two_ids_of_one_app_names_the_records_holding_them(client: TestClient) -> None:
    """The README's 409 names the records involved; a body giving both ids itself answered `"records": []`, as its
    check ran before the records were looked up. Alone or in a batch, the same answer."""
    a = hub_id(post(client, "people", [ext("crm", "17")]).json()["people"])
    b = hub_id(post(client, "people", [ext("crm", "18")]).json()["people"])
    body = {"id": [ext("crm", "17"), ext("crm", "18")], "first_name": "C"}
    alone = client.post(f"{BASE}/people", json={"people": body})
    assert alone.status_code == 409 and alone.json()["records"] == sorted([a, b])
    assert alone.json()["clashes"] == [{"provider": "crm", "realm": "2243", "ids": ["17", "18"]}]
    plain = {"id": [ext("crm", "19")]}
    batch = client.post(f"{BASE}/people", json={"people": [plain, body, {"id": [ext("crm", "1"), ext("crm", "2")]}]})
    first, refused, new = batch.json()["results"]
    assert first["status"] == 201 and refused["error"] == alone.json()
    assert new["status"] == 409 and new["error"]["records"] == []
    assert client.get(f"{BASE}/people").json()["pagination"]["total"] == 3


def test_an_id_given_twice_is_one_id(client: TestClient) -> None:
    """A new record given one id twice (or a reference given one twice) failed its unique index on each of eight
    tries: a 409 "kept changing under concurrent writes" that no retry could clear."""
    twice = [ext("crm", "X9"), ext("crm", "X9"), ext("erp", "7")]
    created = post(client, "people", twice, first_name="A", organization_id=[ext("crm", "o1"), ext("crm", "o1")])
    assert created.status_code == 201, created.text
    assert app_ids(created.json()["people"]) == twice[1:]
    updated = post(client, "people", twice[::-1], first_name="B")
    assert updated.status_code == 200 and hub_id(updated.json()["people"]) == hub_id(created.json()["people"])
    batch = client.post(f"{BASE}/people", json={"people": [{"id": twice}, {"id": [ext("hs", "1")] * 2}]})
    assert [item["status"] for item in batch.json()["results"]] == [200, 201], batch.text


def test_a_batch_answers_each_item_in_order(client: TestClient) -> None:
    items = [
        {"id": [ext("crm", "1")], "first_name": "A"},
        {"id": [ext("crm", "")], "first_name": "bad id"},
        {"first_name": "B", "shoe_size": 44},
        {"id": [ext("crm", "1")], "last_name": "Again"},
    ]
    response = client.post(f"{BASE}/people", json={"people": items})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 422, 422, 200]
    assert [r.get("result") for r in results] == ["created", None, None, "updated"]
    assert "shoe_size" in results[2]["error"]["detail"]
    assert client.get(f"{BASE}/people").json()["pagination"]["total"] == 1


def test_each_batch_item_shows_its_references_as_a_post_of_it_alone_would(client: TestClient) -> None:
    """The second item links a new id to the organization the first one created: the first still shows it without."""
    items = [
        {"id": [ext("crm", "p1")], "organization_id": [ext("crm", "o1")]},
        {"id": [ext("crm", "p2")], "organization_id": [ext("crm", "o1"), ext("erp", "77")]},
        {"id": [ext("crm", "p3")], "organization_id": [ext("erp", "77")]},
    ]
    results = client.post(f"{BASE}/people", json={"people": items}, headers=IDS).json()["results"]
    refs = [r["people"]["organization_id"] for r in results]
    assert [app_ids({"id": ref}) for ref in refs] == [
        [ext("crm", "o1")],
        [ext("crm", "o1"), ext("erp", "77")],
        [ext("crm", "o1"), ext("erp", "77")],
    ]
    assert len({hub_id({"id": ref}) for ref in refs}) == 1


def test_an_unknown_reference_creates_a_placeholder_that_the_real_record_fills(client: TestClient) -> None:
    person = post(client, "people", [ext("crm", "p1")], organization_id=[ext("crm", "o1")]).json()["people"]
    org_ref = person["organization_id"]
    assert app_ids({"id": org_ref}) == [ext("crm", "o1")]
    placeholder = client.get(f"{BASE}/organizations/o1", params={"opts[provider]": "crm", "opts[realm]": "2243"})
    assert placeholder.status_code == 200 and "name" not in placeholder.json()["organizations"]
    real = post(client, "organizations", [ext("crm", "o1")], name="Acme")
    assert real.status_code == 201 and real.json()["result"] == "created"
    assert hub_id(real.json()["organizations"]) == hub_id({"id": org_ref})
    again = client.get(f"{BASE}/people/{hub_id(person)}", headers=IDS).json()["people"]
    assert again["organization_id"] == real.json()["organizations"]["id"]
    assert client.get(f"{BASE}/organizations").json()["pagination"]["total"] == 1


def test_a_placeholder_says_it_is_one_until_it_is_filled_in(client: TestClient) -> None:
    """A list showed placeholders as records with no values: an app pulling what it lacks imported them, empty."""
    post(client, "people", [ext("crm", "p1")], organization_id=[ext("erp", "o1")])
    post(client, "organizations", [ext("erp", "o2")], name="Real")
    lacking = {"opts[provider]": "crm", "opts[realm]": "2243", "opts[linked]": "false"}
    for select in ({}, {"$select": "name"}):
        listed = client.get(f"{BASE}/organizations", params={**lacking, **select}).json()["organizations"]
        assert [o.get("placeholder") for o in listed] == [True, None], select
    shown = client.get(f"{BASE}/organizations/o1", params={"opts[provider]": "erp", "opts[realm]": "2243"}).json()
    echoed = post(client, "organizations", name="Acme", **shown["organizations"])  # its output fields are ignored
    assert echoed.status_code == 201 and "placeholder" not in echoed.json()["organizations"]


def test_a_put_filling_a_placeholder_in_answers_201_as_the_feed_records_a_create(client: TestClient) -> None:
    """It answered 200 "updated" while the change feed recorded the write as the record's create."""
    post(client, "people", [ext("crm", "p1")], organization_id=[ext("crm", "o1")])
    app = {"opts[provider]": "crm", "opts[realm]": "2243"}
    filled = client.put(f"{BASE}/organizations/o1", params=app, json={"organizations": {"name": "Acme"}})
    assert (filled.status_code, filled.json()["result"]) == (201, "created")
    again = client.put(f"{BASE}/organizations/o1", params=app, json={"organizations": {"name": "Acme Inc"}})
    assert (again.status_code, again.json()["result"]) == (200, "updated")
    kinds = [c["kind"] for c in client.get(f"{BASE}/changes").json()["changes"] if c["collection"] == "organizations"]
    assert kinds == ["create", "create", "update"]  # the placeholder's (details: placeholder), its filling, the update


def test_a_reference_by_hub_id_and_its_errors(client: TestClient) -> None:
    org = post(client, "organizations", name="Acme").json()["organizations"]
    person = client.post(f"{BASE}/people", json={"people": {"organization_id": hub_id(org)}}).json()["people"]
    assert person["organization_id"] == hub_id(org)
    unknown = client.post(f"{BASE}/people", json={"people": {"organization_id": "no-such-id"}})
    assert unknown.status_code == 422 and "organization_id" in unknown.json()["detail"]


def test_a_reference_adds_new_ids_to_the_record_it_matches(client: TestClient) -> None:
    org = post(client, "organizations", [ext("crm", "o1")], name="Acme").json()["organizations"]
    both = [ext("crm", "o1"), ext("erp", "77")]
    post(client, "people", [ext("erp", "p1")], organization_id=both)
    linked = client.get(f"{BASE}/organizations/77", params={"opts[provider]": "erp", "opts[realm]": "2243"})
    assert linked.json()["organizations"]["id"] == hub_id(org)


def test_a_reference_giving_its_record_two_ids_of_one_app_is_a_409_naming_the_reference(client: TestClient) -> None:
    """A person's 409 over its organization's ids said "one record would hold two ids" as if they were its own."""
    org = post(client, "organizations", [ext("crm", "o1"), ext("erp", "e1")], name="Acme").json()["organizations"]
    for ref, records in (([ext("erp", "e1"), ext("crm", "o2")], [hub_id(org)]), ([ext("sf", "a"), ext("sf", "b")], [])):
        refused = post(client, "people", [ext("crm", "p1")], organization_id=ref)
        assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["detail"].startswith("organization_id: one record would hold two ids of the same app")
        assert refused.json()["records"] == records
    assert client.get(f"{BASE}/people").json()["pagination"]["total"] == 0


def test_a_reference_naming_two_records_is_a_409_naming_them_oldest_first_on_every_store(client: TestClient) -> None:
    """MongoDB named them in the order of the ids given, SQLite by code: the same request got two answers."""
    older = hub_id(post(client, "organizations", [ext("crm", "o1")]).json()["organizations"])
    newer = hub_id(post(client, "organizations", [ext("erp", "e1")]).json()["organizations"])
    for ref in ([ext("erp", "e1"), ext("crm", "o1")], [ext("crm", "o1"), ext("erp", "e1")]):
        refused = post(client, "people", [ext("crm", "p1")], organization_id=ref)
        assert refused.status_code == 409, refused.text
        assert refused.json()["records"] == [older, newer]


def test_put_updates_part_of_a_record_and_links_ids_back(client: TestClient) -> None:
    created = post(client, "people", [ext("crm", "1")], first_name="Ada", last_name="Byron").json()["people"]
    put = client.put(
        f"{BASE}/people/1",
        params={"opts[provider]": "crm", "opts[realm]": "2243"},
        json={"people": {"id": [ext("erp", "E1")], "last_name": "Lovelace", "job_title": None}},
        headers=IDS,
    )
    assert put.status_code == 200
    person = put.json()["people"]
    assert (person["first_name"], person["last_name"], "job_title" in person) == ("Ada", "Lovelace", False)
    assert app_ids(person) == [ext("crm", "1"), ext("erp", "E1")]
    assert hub_id(person) == hub_id(created)
    assert client.put(f"{BASE}/people/nope", json={"people": {"first_name": "x"}}).status_code == 404


def test_delete_archives_and_lists_leave_archived_records_out(client: TestClient) -> None:
    person = post(client, "people", [ext("crm", "1")], first_name="Ada").json()["people"]
    archived = client.delete(f"{BASE}/people/{hub_id(person)}", headers=IDS)
    assert archived.status_code == 200 and archived.json()["people"]["status"] == "ARCHIVED"
    assert app_ids(archived.json()["people"]) == [ext("crm", "1")]
    assert client.get(f"{BASE}/people").json()["people"] == []
    only = client.get(f"{BASE}/people", params={"$filter": "status eq 'ARCHIVED'"}).json()["people"]
    assert [p["first_name"] for p in only] == ["Ada"]


def test_groups_never_see_each_other(client: TestClient) -> None:
    post(client, "people", [ext("crm", "1")], first_name="Ada")
    other = client.post("/api/v2/cld-2/people", json={"people": {"id": [ext("crm", "1")], "first_name": "Bo"}})
    assert other.status_code == 201
    mine = client.get(f"{BASE}/people").json()["people"]
    theirs = client.get("/api/v2/cld-2/people").json()["people"]
    assert [p["first_name"] for p in mine] == ["Ada"] and [p["first_name"] for p in theirs] == ["Bo"]
    assert mine[0]["channel_id"] != theirs[0]["channel_id"]
    assert client.get(f"/api/v2/cld-2/people/{mine[0]['id']}").status_code == 404
    assert client.get("/api/v2/cld-3/people").status_code == 404


def test_the_hub_own_id_in_a_body_names_the_record(client: TestClient) -> None:
    person = post(client, "people", [ext("crm", "1")], first_name="Ada").json()["people"]
    own = next(e for e in person["id"] if e["provider"] == "connec")
    update = post(client, "people", [own, ext("erp", "9")], last_name="L")
    assert update.status_code == 200 and hub_id(update.json()["people"]) == own["id"]
    elsewhere = post(client, "people", [{**own, "realm": "org-other"}])
    assert elsewhere.status_code == 422 and "channel" in elsewhere.json()["detail"]


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_hub_id_in_a_body_is_refused_by_name(client: TestClient, blank: str) -> None:
    """It was answered "id: Input should be a valid list", and the description let it through as a hub id."""
    described = client.get("/openapi.json").json()["components"]["schemas"]["PeopleWrite"]["properties"]["id"]
    hub_id_in = next(s for s in described["anyOf"] if s.get("description") == "a hub id")
    assert not re.search(hub_id_in["pattern"], blank)
    answer = client.post(f"{BASE}/people", json={"people": {"id": blank, "first_name": "Ada"}})
    assert answer.status_code == 422 and answer.json()["detail"] == "id: a hub id must not be blank", answer.text


@pytest.mark.parametrize(
    "escaped",
    ["%ff", "caf%E9", "%80"],  # Latin-1 escapes, read as U+FFFD, reached the record whose id that is
)
def test_a_percent_escape_that_is_no_utf8_is_400(client: TestClient, escaped: str) -> None:
    assert post(client, "people", [ext("crm", "\ufffd"), ext("erp", "caf\ufffd")]).status_code == 201
    for url in (
        f"{BASE}/people/{escaped}?opts[provider]=crm&opts[realm]=2243",
        f"{BASE}/people?opts[provider]={escaped}",
    ):
        for method in ("GET", "PUT", "DELETE"):
            answer = client.request(method, url, json={"people": {"last_name": "x"}})
            assert answer.status_code == 400 and "UTF-8" in answer.json()["detail"], (method, url, answer.text)


@pytest.mark.parametrize("app_id", ["inv/2024/1", "x/merge", "50%", "a%2Fb", "€ /"])
def test_an_app_id_holding_a_slash_or_percent_is_one_path_segment(client: TestClient, app_id: str) -> None:
    """The server decodes `%2F` before routing: `inv/2024/1` was three segments (404), and `x/merge` reached the
    merge route (405)."""
    made = post(client, "people", [ext("crm", app_id)], first_name="A").json()["people"]
    path, app = f"{BASE}/people/{quote(app_id, safe='')}", {"opts[provider]": "crm", "opts[realm]": "2243"}
    assert client.get(path, params=app, headers=IDS).json()["people"]["id"] == made["id"]
    updated = client.put(path, params=app, json={"people": {"last_name": "B"}})
    assert updated.status_code == 200 and updated.json()["people"]["last_name"] == "B"
    assert client.get(f"{path}/merges", params=app).status_code == 200
    assert client.delete(path, params=app).json()["people"]["status"] == "ARCHIVED"


def test_a_refused_write_creates_no_group(client: TestClient) -> None:
    """A write refused (409, 422) stored its group all the same: its reads then answered 200, empty, not 404."""
    fresh = "/api/v2/fresh"
    assert (
        client.post(f"{fresh}/people", json={"people": {"id": [ext("crm", "1"), ext("crm", "2")]}}).status_code == 409
    )
    assert client.post(f"{fresh}/people", json={"people": {"organization_id": "no-such-org"}}).status_code == 422
    items = [{"id": [ext("crm", "1"), ext("crm", "2")]}, {"organization_id": "no-such-org"}]
    batch = client.post(f"{fresh}/people", json={"people": items})
    assert [r["status"] for r in batch.json()["results"]] == [409, 422]
    assert client.get(f"{fresh}/people").status_code == 404
    hub_own = client.post(f"{fresh}/people", json={"people": {"id": [ext("connec", "1", "org-x")]}})
    assert "holds no record yet" in hub_own.json()["detail"], hub_own.text  # not a channel made up for the request
    created = client.post(f"{fresh}/people", json={"people": {"id": [ext("crm", "1")]}})
    assert created.status_code == 201 and client.get(f"{fresh}/people").json()["pagination"]["total"] == 1


def test_first_writes_to_a_new_group_racing_agree_on_its_channel(client: TestClient) -> None:
    """A new group is stored by its first write's own transaction: racing first writes all show one channel."""

    def first(n: int) -> Any:
        return client.post("/api/v2/race/people", json={"people": {"id": [ext("crm", str(n))]}})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(first, range(16)))
    assert all(a.status_code == 201 for a in answers)
    channels = {a.json()["people"]["channel_id"] for a in answers}
    assert channels == {client.get("/api/v2/race/people").json()["people"][0]["channel_id"]}
