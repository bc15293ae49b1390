"""Connect (seed 004): linking with the add-an-id rules, values for the hub, and per-field directions honoured."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.api.helpers import BASE, IDS, app_ids, ext, hub_id, post
from tests.conftest import FIXTURES, Keys

ERP = {"realm": "726", "provider": "erp", "id": "C-1001"}
OUT_TO_ERP = {"name": "to-erp", "entity": "organizations", "direction": "outbound", "provider": "erp", "realm": "726"}


def sample(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / "sync" / "connect.json").read_text())
    return {**body, **changes}


def org(client: TestClient, **fields: Any) -> dict[str, Any]:
    created = post(client, "organizations", [ext("crm", "o1")], **fields)
    assert created.status_code == 201, created.text
    return dict(created.json()["organizations"])


def connect(client: TestClient, record: dict[str, Any], body: dict[str, Any]) -> Any:
    return client.post(f"{BASE}/organizations/{hub_id(record)}/connect", json=body)


def fetch(client: TestClient, record: dict[str, Any]) -> dict[str, Any]:
    return dict(client.get(f"{BASE}/organizations/{hub_id(record)}", headers=IDS).json()["organizations"])


def test_connect_links_the_id_applies_the_values_for_the_hub_and_answers_204(client: TestClient) -> None:
    acme = org(client, name="Acme", notes="the hub's note")
    response = connect(client, acme, sample())
    assert response.status_code == 204 and response.content == b""
    now = fetch(client, acme)
    assert app_ids(now) == [ext("crm", "o1"), ERP]
    assert now["name"] == "O'Connell, Okuneva and Bayer"
    assert now["notes"] == "the hub's note"  # its value does not sync into the hub
    by_erp = client.get(f"{BASE}/organizations/C-1001", params={"opts[provider]": "erp", "opts[realm]": "726"})
    assert by_erp.json()["organizations"]["id"] == hub_id(acme)
    change = client.get(f"{BASE}/changes").json()["changes"][-1]
    assert (change["kind"], change["id"]) == ("link", hub_id(acme))
    assert change["details"] == {"connected": ERP, "fields": ["annual_revenue", "name", "notes"]}


def test_connecting_again_is_an_update_and_a_record_can_be_named_by_an_apps_id(client: TestClient) -> None:
    acme = org(client, name="Acme")
    assert connect(client, acme, sample()).status_code == 204
    again = client.post(
        f"{BASE}/organizations/o1/connect",
        params={"opts[provider]": "crm", "opts[realm]": "2243"},
        json=sample(field_values=[{"field": "industry", "value": "Retail"}]),
    )
    assert again.status_code == 204, again.text
    assert fetch(client, acme)["industry"] == "Retail"
    assert client.get(f"{BASE}/changes").json()["changes"][-1]["kind"] == "update"


def test_the_rules_of_adding_an_id_hold(client: TestClient) -> None:
    acme = org(client, name="Acme")
    other = post(client, "organizations", [ERP], name="Other").json()["organizations"]
    taken = connect(client, acme, sample())
    assert taken.status_code == 409 and taken.json()["records"] == [hub_id(acme), hub_id(other)]
    second = connect(client, other, sample(id="C-2"))  # other already holds erp's C-1001
    assert second.status_code == 409 and second.json()["clashes"][0]["ids"] == ["C-1001", "C-2"]
    assert fetch(client, acme)["name"] == "Acme"  # nothing written
    assert client.post(f"{BASE}/organizations/nope/connect", json=sample()).status_code == 404
    assert client.post(f"{BASE}/invoices/{hub_id(acme)}/connect", json=sample()).status_code == 404


def test_bad_bodies_are_422_naming_the_field(client: TestClient) -> None:
    acme = org(client, name="Acme")
    for body, field in [
        (sample(id=""), "id"),
        (sample(provider="connec"), "provider"),
        (sample(colour="red"), "colour"),
        (sample(field_values=[{"field": "colour", "value": 1}]), "field_values.0.field"),
        (sample(field_values=[{"field": "name"}, {"field": "name"}]), "field_values.1.field"),
        (sample(field_values=[{"field": "annual_revenue", "value": "lots"}]), "field_values.annual_revenue"),
        (  # the app's own value, not written to the hub, is checked all the same (it was let through)
            sample(field_values=[{"field": "annual_revenue", "value": "lots", "sync_to_hub": False}]),
            "field_values.annual_revenue",
        ),
        (sample(field_values=[{"field": "name", "sync_to_hub": "yes"}]), "field_values.0.sync_to_hub"),
    ]:
        response = connect(client, acme, body)
        assert response.status_code == 422, (body, response.text)
        if field is not None:
            assert field in [e["field"] for e in response.json()["errors"]], response.json()
    assert client.post(f"{BASE}/organizations/{hub_id(acme)}/connect?$select=name", json=sample()).status_code == 400


def test_every_field_at_fault_is_named_in_one_422(client: TestClient) -> None:
    """An unknown field beside a bad value of a known one named the unknown field alone: the bad value came out in a
    second 422, once the first was mended (README: a 422 lists every field at fault)."""
    acme = org(client, name="Acme")
    values = [{"field": "colour", "value": 1}, {"field": "annual_revenue", "value": "lots"}]
    response = connect(client, acme, sample(provider="connec", field_values=values))
    assert response.status_code == 422, response.text
    named = {e["field"] for e in response.json()["errors"]}
    assert named == {"provider", "field_values.0.field", "field_values.annual_revenue"}, response.json()


def test_an_inbound_write_from_the_app_leaves_the_fields_it_does_not_sync_into_the_hub(client: TestClient) -> None:
    acme = org(client, name="Acme", notes="the hub's note")
    connect(client, acme, sample())
    # The app writes with its id in the body: notes does not sync into the hub, the rest does.
    post(client, "organizations", [ERP], notes="from erp", annual_revenue=12.5, industry="Retail")
    now = fetch(client, acme)
    assert (now["notes"], now["annual_revenue"], now["industry"]) == ("the hub's note", 12.5, "Retail")
    # Addressed by its own id, a PUT is the app's write too.
    client.put(
        f"{BASE}/organizations/C-1001",
        params={"opts[provider]": "erp", "opts[realm]": "726"},
        json={"organizations": {"notes": "again from erp", "name": "Renamed"}},
    )
    now = fetch(client, acme)
    assert (now["notes"], now["name"]) == ("the hub's note", "Renamed")
    # Another app, or a write that names no app, is not bound by erp's directions.
    post(client, "organizations", [ext("crm", "o1")], notes="from crm")
    assert fetch(client, acme)["notes"] == "from crm"


def test_the_apps_queue_leaves_out_the_fields_that_do_not_sync_to_it(client: TestClient) -> None:
    acme = org(client, name="Acme")
    for name, provider, realm in (("to-erp", "erp", "726"), ("to-crm", "crm", "2243")):
        body = {"name": name, "entity": "organizations", "direction": "outbound", "provider": provider, "realm": realm}
        client.post(f"{BASE}/integrations", json={**body, "include_update": True})
    connect(client, acme, sample())
    post(client, "organizations", [ext("crm", "o1")], annual_revenue=3.5)
    to_erp = client.post(f"{BASE}/integrations/to-erp/lease").json()["items"]
    to_crm = client.post(f"{BASE}/integrations/to-crm/lease").json()["items"]
    assert [i["kind"] for i in to_crm] == ["link", "update"]
    assert [i["kind"] for i in to_erp] == ["link"]  # the update shows erp nothing new
    assert all("annual_revenue" not in i["record"] for i in to_erp)
    assert all(i["record"]["annual_revenue"] == 3.5 for i in to_crm)
    assert to_erp[0]["record"]["name"] == "O'Connell, Okuneva and Bayer"


def test_the_apps_own_reads_show_the_fields_that_do_not_sync_to_it(client: TestClient) -> None:
    """Directions out to the app shape its queue and webhooks alone: an app keeping up by the change feed or by
    `updated_at` reads records whole, and must leave such fields out itself (README, step 4)."""
    acme = org(client, name="Acme")
    connect(client, acme, sample())
    post(client, "organizations", [ext("crm", "o1")], annual_revenue=3.5)
    erp = {**Keys(client).app("erp", cld_1="726"), **IDS}
    by_id = client.get(
        f"{BASE}/organizations/C-1001", params={"opts[provider]": "erp", "opts[realm]": "726"}, headers=erp
    )
    listed = client.get(f"{BASE}/organizations", headers=erp).json()["organizations"]
    assert by_id.json()["organizations"]["annual_revenue"] == listed[0]["annual_revenue"] == 3.5


def test_the_directions_follow_the_apps_id_through_a_merge(client: TestClient) -> None:
    older = post(client, "organizations", [ext("mail", "m1")], name="Older", notes="kept").json()["organizations"]
    acme = org(client, name="Acme")
    connect(client, acme, sample())
    merged = post(client, "organizations", [ext("mail", "m1"), ERP])
    assert merged.json()["merged"] == [hub_id(acme)]
    post(client, "organizations", [ERP], notes="from erp")
    assert fetch(client, older)["notes"] == "kept"


def test_the_directions_go_with_the_apps_id_when_it_is_unlinked(client: TestClient) -> None:
    """Directions belong to the app's id on its record: the id unlinked and linked anew to another record (a new
    record of the app) holds none, there and in the app's queue."""
    acme = org(client, name="Acme")
    client.post(f"{BASE}/integrations", json={**OUT_TO_ERP, "include_update": True})
    connect(client, acme, sample())
    named = {"entity_type": "organizations", "provider": "erp", "realm": "726", "external_id": "C-1001"}
    assert client.delete(f"{BASE}/key_links", params=named).status_code == 204
    again = post(client, "organizations", [ERP], name="New from erp", annual_revenue=1.5, notes="erp's note")
    assert again.status_code == 201, again.text
    renamed = post(client, "organizations", [ERP], notes="erp's other note").json()["organizations"]
    assert (renamed["name"], renamed["notes"], renamed["annual_revenue"]) == ("New from erp", "erp's other note", 1.5)
    items = client.post(f"{BASE}/integrations/to-erp/lease").json()["items"]
    assert items[-1]["record"]["annual_revenue"] == 1.5 and items[-1]["record"]["notes"] == "erp's other note"


def test_the_directions_stay_with_the_record_a_key_link_move_takes_the_apps_id_from(client: TestClient) -> None:
    """Moved by a key link, the id links another record, which was never connected: no field is held back there."""
    acme = org(client, name="Acme")
    other = post(client, "organizations", [ext("mail", "m1")], name="Other").json()["organizations"]
    connect(client, acme, sample())
    named = {"entity_type": "organizations", "provider": "erp", "realm": "726", "external_id": "C-1001"}
    assert client.put(f"{BASE}/key_links", json={**named, "internal_id": hub_id(other)}).status_code == 200
    written = post(client, "organizations", [ERP], notes="from erp").json()["organizations"]
    assert hub_id(written) == hub_id(other) and written["notes"] == "from erp"


def test_the_directions_follow_the_apps_id_when_a_placeholders_link_is_moved(client: TestClient) -> None:
    """A placeholder's link moved merges the placeholder with the record it stood for (`"trigger": "key_link"`): the
    id stays the one the app was connected with, and its directions follow it, as through any merge."""
    person = post(client, "people", [ext("crm", "p1")], organization_id=[ERP]).json()["people"]
    placeholder = {"id": person["organization_id"]}
    held_back = [{"field": "notes", "value": "the ERP's", "sync_to_hub": False}]
    assert connect(client, placeholder, sample(field_values=held_back)).status_code == 204
    acme = org(client, name="Acme", notes="the hub's note")
    named = {"entity_type": "organizations", "provider": "erp", "realm": "726", "external_id": "C-1001"}
    assert client.put(f"{BASE}/key_links", json={**named, "internal_id": hub_id(acme)}).status_code == 200
    written = post(client, "organizations", [ERP], notes="from erp").json()["organizations"]
    assert hub_id(written) == hub_id(placeholder) and written["notes"] == "the hub's note"


def test_connecting_again_as_connected_already_records_nothing(client: TestClient) -> None:
    """The same id, values and directions: answered (204), not recorded, as any write that changes nothing."""
    acme = org(client, name="Acme")
    assert connect(client, acme, sample()).status_code == 204
    before = fetch(client, acme)
    start = client.get(f"{BASE}/changes").json()["cursor"]
    assert connect(client, acme, sample()).status_code == 204
    assert fetch(client, acme) == before
    assert client.get(f"{BASE}/changes", params={"since": start}).json()["changes"] == []
    turned = sample(field_values=[{"field": "notes", "sync_to_hub": True, "sync_to_app": True}])
    assert connect(client, acme, turned).status_code == 204  # a direction changes: recorded
    assert [c["kind"] for c in client.get(f"{BASE}/changes", params={"since": start}).json()["changes"]] == ["update"]


def test_an_id_a_placeholder_holds_is_connected_by_merging_the_placeholder_in(client: TestClient) -> None:
    """A person written first names its organization by the ERP's id, which makes a placeholder holding it; the
    organization, known to the hub by another app, then connected to that id was a `409` naming the placeholder,
    where an upsert naming both ids merges them: the integration had to merge by hand first."""
    person = post(client, "people", [ext("crm", "p1")], organization_id=[ERP]).json()["people"]
    acme = org(client, name="Acme")
    assert connect(client, acme, sample()).status_code == 204
    now = fetch(client, acme)  # its hub id, or the placeholder's it merged into, names it
    assert sorted(map(str, app_ids(now))) == sorted(map(str, [ext("crm", "o1"), ERP]))
    assert now["name"] == "O'Connell, Okuneva and Bayer"
    assert not now.get("placeholder") and client.get(f"{BASE}/organizations").json()["pagination"]["total"] == 1
    referred = client.get(f"{BASE}/people/{hub_id(person)}").json()["people"]["organization_id"]
    assert referred == now["id"][-1]["id"]  # the person's organization is the connected one
    [merge] = client.get(f"{BASE}/organizations/{hub_id(acme)}/merges").json()["merges"]
    placeholder = hub_id({"id": person["organization_id"]})
    assert merge["trigger"] == "connect" and {merge["survivor"], *merge["merged"]} == {hub_id(acme), placeholder}
    kinds = [c["kind"] for c in client.get(f"{BASE}/changes").json()["changes"] if c["collection"] == "organizations"]
    assert kinds[-2:] == ["merge", "update"]  # the merge moving the id, then the connect's values


def test_a_placeholder_whose_ids_clash_with_the_record_s_is_not_merged_in(client: TestClient) -> None:
    """Merged in, the record would hold two ids of one app: a `409` naming them, and nothing written."""
    post(client, "people", [ext("crm", "p1")], organization_id=[ERP, ext("crm", "o2")])
    acme = org(client, name="Acme")  # crm's o1
    start = client.get(f"{BASE}/changes").json()["cursor"]
    refused = connect(client, acme, sample())
    assert refused.status_code == 409, refused.text
    assert (
        fetch(client, acme)["name"] == "Acme" and client.get(f"{BASE}/organizations").json()["pagination"]["total"] == 2
    )
    assert client.get(f"{BASE}/changes", params={"since": start}).json()["changes"] == []


def test_connecting_a_placeholder_with_values_fills_it_in(client: TestClient) -> None:
    """It wrote the values but kept the record a placeholder, recorded a `link` only, and a later POST of the app's
    id answered `201 created`: integrations that send creates never had the connected values."""
    person = post(client, "people", [ext("crm", "p1")], organization_id=[ext("crm", "o9")]).json()["people"]
    placeholder = {"id": person["organization_id"]}
    assert connect(client, placeholder, sample()).status_code == 204
    kinds = [c["kind"] for c in client.get(f"{BASE}/changes").json()["changes"] if c["collection"] == "organizations"]
    assert kinds == ["create", "create"]  # the placeholder's, then its filling in
    again = post(client, "organizations", [ext("crm", "o9")], name="Again")
    assert (again.status_code, again.json()["result"]) == (200, "updated")


def test_connecting_a_placeholder_to_an_id_another_placeholder_holds_leaves_one_placeholder(
    client: TestClient,
) -> None:
    """Two references made two placeholders of one organization; connecting one to the id the other holds merges
    them, and with no value for the hub it stays a placeholder, as connecting one alone does, until a connect with
    values fills it in (its `create` naming the placeholder merged into it). The merge made it a real record of no
    values, and recorded a `create` of it sent to every integration."""
    person = post(client, "people", [ext("crm", "p1")], organization_id=[ext("crm", "o9")]).json()["people"]
    post(client, "people", [ext("crm", "p2")], organization_id=[ext("erp", "C-1001", "726")])
    placeholder = {"id": person["organization_id"]}
    own = sample(field_values=[{"field": "name", "value": "the ERP's", "sync_to_hub": False}])
    start = client.get(f"{BASE}/changes").json()["cursor"]
    assert connect(client, placeholder, own).status_code == 204
    assert fetch(client, placeholder)["placeholder"] is True
    kinds = [c["kind"] for c in client.get(f"{BASE}/changes", params={"since": start}).json()["changes"]]
    assert "create" not in kinds
    start = client.get(f"{BASE}/changes").json()["cursor"]
    assert connect(client, placeholder, sample()).status_code == 204  # values for the hub: filled in
    made = client.get(f"{BASE}/changes", params={"since": start}).json()["changes"]
    assert [(c["kind"], len(c["details"]["merged"])) for c in made] == [("create", 1)]


def test_connecting_a_placeholder_again_as_connected_already_records_nothing(client: TestClient) -> None:
    """No value for the hub: it stays a placeholder, and connecting it again as before recorded an `update` (and
    moved its `updated_at`) each time, sent on to every integration, as if it changed."""
    person = post(client, "people", [ext("crm", "p1")], organization_id=[ext("crm", "o9")]).json()["people"]
    placeholder = {"id": person["organization_id"]}
    own = sample(field_values=[{"field": "name", "value": "the ERP's", "sync_to_hub": False}])
    assert connect(client, placeholder, own).status_code == 204
    before = fetch(client, placeholder)
    start = client.get(f"{BASE}/changes").json()["cursor"]
    assert connect(client, placeholder, own).status_code == 204
    assert fetch(client, placeholder) == before
    assert client.get(f"{BASE}/changes", params={"since": start}).json()["changes"] == []
    assert connect(client, placeholder, sample()).status_code == 204  # values for the hub: filled in, recorded
    kinds = [c["kind"] for c in client.get(f"{BASE}/changes", params={"since": start}).json()["changes"]]
    assert kinds == ["create"]


def test_connecting_again_naming_a_field_at_the_directions_it_had_records_nothing(client: TestClient) -> None:
    """A field no connect named syncs both ways: naming it so (the defaults) changes no direction, yet it was
    recorded as an `update`, sent on to every integration."""
    acme = org(client, name="Acme")
    assert connect(client, acme, sample()).status_code == 204
    start = client.get(f"{BASE}/changes").json()["cursor"]
    both = sample(field_values=[{"field": "industry"}, {"field": "is_customer", "sync_to_hub": True}])
    assert connect(client, acme, both).status_code == 204
    assert client.get(f"{BASE}/changes", params={"since": start}).json()["changes"] == []


def test_connecting_a_placeholder_with_a_status_alone_fills_it_in(client: TestClient) -> None:
    """A status is a value as much as any field: it was written, yet the record stayed a placeholder (an `archive` or
    `link` recorded of it, sent to no integration), where an upsert of that status alone fills it in."""
    person = post(client, "people", [ext("crm", "p1")], organization_id=[ext("crm", "o9")]).json()["people"]
    placeholder = {"id": person["organization_id"]}
    client.post(f"{BASE}/integrations", json=OUT_TO_ERP)
    archived = sample(field_values=[{"field": "status", "value": "ARCHIVED"}])
    assert connect(client, placeholder, archived).status_code == 204
    now = fetch(client, placeholder)
    assert now["status"] == "ARCHIVED" and "placeholder" not in now
    changes = client.get(f"{BASE}/changes").json()["changes"]
    assert [c["kind"] for c in changes if c["collection"] == "organizations"] == ["create", "create"]
    assert [i["kind"] for i in client.post(f"{BASE}/integrations/to-erp/lease").json()["items"]] == ["create"]


def test_archiving_a_placeholder_fills_it_in_as_a_write_of_its_status_does(client: TestClient) -> None:
    """A DELETE archived a placeholder and left it one: the real organization arriving later was answered `201
    created` yet ARCHIVED, out of every list, its create sent as an archived record; a PUT or connect of the status
    alone fills the placeholder in. The DELETE does so too, and the organization arriving is an update of it."""
    person = post(client, "people", [ext("crm", "p1")], organization_id=[ext("crm", "o9")]).json()["people"]
    client.post(f"{BASE}/integrations", json=OUT_TO_ERP)
    placeholder = {"id": person["organization_id"]}
    assert client.delete(f"{BASE}/organizations/{hub_id(fetch(client, placeholder))}").status_code == 200
    now = fetch(client, placeholder)
    assert now["status"] == "ARCHIVED" and "placeholder" not in now
    arrived = post(client, "organizations", [ext("crm", "o9")], name="Acme")
    assert arrived.status_code == 200 and arrived.json()["organizations"]["status"] == "ARCHIVED"
    changes = client.get(f"{BASE}/changes").json()["changes"]
    assert [c["kind"] for c in changes if c["collection"] == "organizations"] == ["create", "create", "update"]
    assert [i["kind"] for i in client.post(f"{BASE}/integrations/to-erp/lease").json()["items"]] == ["create"]


def test_a_bad_reference_value_is_named_where_the_body_holds_it(client: TestClient) -> None:
    """A reference the store refused (an unknown hub id, two ids of one app) was named `organization_id`, and a
    value's problem named it so in `detail`: a connect body has no such field, its values are in `field_values`."""
    person = post(client, "people", [ext("crm", "p1")], first_name="Ann").json()["people"]
    url = f"{BASE}/people/{hub_id(person)}/connect"
    for value, status in [
        ("no-such-hub-id", 422),
        ([ext("erp", "O7", "726"), ext("erp", "O8", "726")], 409),
        ([{"provider": "connec", "realm": "org-elsewhere", "id": "x"}], 422),
        ([{"provider": "erp"}], 422),
    ]:
        body = {**ERP, "id": "P1", "field_values": [{"field": "organization_id", "value": value}]}
        response = client.post(url, json=body)
        assert response.status_code == status, response.text
        problem = response.json()
        assert "field_values.organization_id" in problem["detail"], problem
        assert not re.search(r"(?<!field_values\.)organization_id", problem["detail"]), problem
        assert all(e["field"].startswith("field_values.organization_id") for e in problem.get("errors", [])), problem
    assert app_ids(client.get(f"{BASE}/people/{hub_id(person)}", headers=IDS).json()["people"]) == [ext("crm", "p1")]


def test_connecting_a_placeholder_with_only_nulls_leaves_a_placeholder(client: TestClient) -> None:
    """A null is no value (as a merge's chosen null is none): the placeholder became a real record holding nothing,
    recorded as its create, and the real record arriving after was an update, which creates-only integrations never
    sent."""
    person = post(client, "people", [ext("crm", "p1")], organization_id=[ext("crm", "o9")]).json()["people"]
    placeholder = {"id": person["organization_id"]}
    client.post(f"{BASE}/integrations", json=OUT_TO_ERP)
    nulls = sample(field_values=[{"field": "name", "value": None}, {"field": "address", "value": {"city": None}}])
    assert connect(client, placeholder, nulls).status_code == 204
    assert fetch(client, placeholder)["placeholder"] is True
    arrived = post(client, "organizations", [ext("crm", "o9")], name="Acme")
    assert arrived.status_code == 201 and arrived.json()["result"] == "created"
    changes = client.get(f"{BASE}/changes").json()["changes"]
    assert [c["kind"] for c in changes if c["collection"] == "organizations"] == ["create", "link", "create"]
    assert [i["kind"] for i in client.post(f"{BASE}/integrations/to-erp/lease").json()["items"]] == ["create"]


def test_the_hubs_own_provider_is_named_beside_the_other_fields_at_fault(client: TestClient) -> None:
    """It was said in `detail` alone, and only once the body's other faults were mended: a client reading `errors`
    found no field to mend."""
    acme = org(client, name="Acme")
    body = sample(provider="connec", field_values=[{"field": "colour"}])
    problem = connect(client, acme, body).json()
    assert [e["field"] for e in problem["errors"]] == ["provider", "field_values.0.field"], problem
    assert "provider: 'connec' is the hub itself, not an app" in problem["detail"]


def queued(client: TestClient, name: str, record: dict[str, Any]) -> list[str]:
    """The kinds of the items of the integration's queue that name the record, leased and acked."""
    lease = client.post(f"{BASE}/integrations/{name}/lease", json={"limit": 1000}).json()
    client.post(
        f"{BASE}/integrations/{name}/ack", json={"lease": lease["lease"], "items": [i["item"] for i in lease["items"]]}
    )
    return [i["kind"] for i in lease["items"] if hub_id(i["record"]) == hub_id(record)]


def written_by_crm(client: TestClient, how: str, record: dict[str, Any], **fields: Any) -> None:
    """Write the fields to the record as crm: by a POST, a batch, a PUT, or a connect of its id."""
    crm = ext("crm", "o1")
    if how == "post":
        response = post(client, "organizations", [crm], **fields)
    elif how == "batch":  # two plain items: written together as one run
        items = [{"id": [crm], **fields}, {"id": [ext("crm", "o2")], "name": "Other"}]
        response = client.post(f"{BASE}/organizations", json={"organizations": items})
    elif how == "put":
        response = client.put(f"{BASE}/organizations/{hub_id(record)}", json={"organizations": fields})
    else:
        response = connect(
            client, record, {**crm, "field_values": [{"field": k, "value": v} for k, v in fields.items()]}
        )
    assert response.status_code < 300, response.text


@pytest.mark.parametrize("how", ["post", "batch", "put", "connect"])
def test_an_update_of_fields_that_do_not_sync_to_an_app_is_not_queued_for_it(client: TestClient, how: str) -> None:
    """It reached the app as an `update` showing nothing new to it: each write of a field it does not receive came as
    one more item, sent and applied for nothing. A write of a field it receives brings its update as before."""
    acme = org(client, name="Acme")
    for name, provider, realm in (("to-erp", "erp", "726"), ("to-crm", "crm", "2243")):
        body = {"name": name, "entity": "organizations", "direction": "outbound", "provider": provider, "realm": realm}
        assert client.post(f"{BASE}/integrations", json={**body, "include_update": True}).status_code == 201
    assert connect(client, acme, sample()).status_code == 204  # annual_revenue does not sync to erp
    assert queued(client, "to-erp", acme) == queued(client, "to-crm", acme) == ["link"]
    written_by_crm(client, how, acme, annual_revenue=3.5)
    assert queued(client, "to-erp", acme) == []
    assert queued(client, "to-crm", acme) == ["update"]
    written_by_crm(client, how, acme, annual_revenue=4.5, industry="Retail")
    assert queued(client, "to-erp", acme) == queued(client, "to-crm", acme) == ["update"]


def test_a_connect_that_starts_a_field_syncing_out_to_the_app_queues_an_update_for_it(client: TestClient) -> None:
    """The app is sent the field it now receives; a change of what syncs into the hub alone shows it nothing new, and
    a change of what syncs to one app shows another app nothing new (crm was sent an update of it too)."""
    acme = org(client, name="Acme", annual_revenue=2.5)
    client.post(f"{BASE}/integrations", json={**OUT_TO_ERP, "include_update": True})
    to_crm = {**OUT_TO_ERP, "name": "to-crm", "provider": "crm", "realm": "2243", "include_update": True}
    client.post(f"{BASE}/integrations", json=to_crm)
    assert connect(client, acme, sample()).status_code == 204  # annual_revenue does not sync to erp
    assert queued(client, "to-erp", acme) == queued(client, "to-crm", acme) == ["link"]
    into_hub = sample(field_values=[{"field": "notes", "sync_to_hub": True}])
    assert connect(client, acme, into_hub).status_code == 204
    assert queued(client, "to-erp", acme) == queued(client, "to-crm", acme) == []
    assert connect(client, acme, sample(field_values=[{"field": "annual_revenue"}])).status_code == 204
    assert queued(client, "to-crm", acme) == []
    leased = client.post(f"{BASE}/integrations/to-erp/lease").json()["items"]
    assert [(i["kind"], i["record"]["annual_revenue"]) for i in leased] == [("update", 2.5)]


@pytest.mark.parametrize("how", ["post", "batch", "put", "connect"])
def test_a_record_leaving_archived_reaches_an_app_its_status_does_not_sync_to(client: TestClient, how: str) -> None:
    """The app is sent each archive whatever syncs to it (its kind tells it): the record coming back is news too,
    though the app is not sent its status; another status (INACTIVE) is not."""
    acme = org(client, name="Acme")
    client.post(f"{BASE}/integrations", json={**OUT_TO_ERP, "include_update": True})
    hidden = sample(field_values=[{"field": "status", "sync_to_app": False}])
    assert connect(client, acme, hidden).status_code == 204
    assert client.delete(f"{BASE}/organizations/{hub_id(acme)}").status_code == 200
    assert queued(client, "to-erp", acme) == ["link", "archive"]
    written_by_crm(client, how, acme, status="ACTIVE")
    assert queued(client, "to-erp", acme) == ["update"]
    written_by_crm(client, how, acme, status="INACTIVE")
    assert queued(client, "to-erp", acme) == []


@pytest.mark.parametrize("how", ["post", "batch", "put", "connect"])
def test_an_update_of_a_field_the_app_does_not_receive_reaches_it_where_its_filter_names_the_field(
    client: TestClient, how: str
) -> None:
    """The write may bring the record into the filter, and the app was never sent it: passed over as showing the
    app nothing new, the record it now wants never came."""
    acme = org(client, name="Acme", annual_revenue=1.0)
    filtered = {**OUT_TO_ERP, "include_update": True, "filter": "annual_revenue gt 5"}
    assert client.post(f"{BASE}/integrations", json=filtered).status_code == 201
    assert connect(client, acme, sample()).status_code == 204  # annual_revenue does not sync to erp
    assert queued(client, "to-erp", acme) == []  # left out by the filter
    written_by_crm(client, how, acme, annual_revenue=6.0)
    assert queued(client, "to-erp", acme) == ["update"]


@pytest.mark.parametrize("how", ["post", "batch", "put", "connect"])
@pytest.mark.parametrize("filtered", ["annual_revenue gt 5", "updated_at gt '2000-01-01T00:00:00Z'"])
def test_an_update_of_a_field_the_app_does_not_receive_leaving_the_filter_as_it_was_is_not_queued(
    client: TestClient, how: str, filtered: str
) -> None:
    """The record matched the filter before and after: the app holds it and the update shows it nothing new. It
    reached the app wherever the filter named the field or `updated_at` (which every update moves), so an app
    filtering on `updated_at` was sent every write of a field it does not receive."""
    acme = org(client, name="Acme", annual_revenue=6.0)
    definition = {**OUT_TO_ERP, "include_update": True, "filter": filtered}
    assert client.post(f"{BASE}/integrations", json=definition).status_code == 201
    assert connect(client, acme, sample()).status_code == 204  # annual_revenue does not sync to erp
    assert queued(client, "to-erp", acme) == ["link"]
    written_by_crm(client, how, acme, annual_revenue=7.0)
    assert queued(client, "to-erp", acme) == []
    written_by_crm(client, how, acme, annual_revenue=8.0, industry="Retail")
    assert queued(client, "to-erp", acme) == ["update"]


def test_an_item_says_whether_its_record_matches_a_filter_on_a_field_the_app_does_not_receive(
    client: TestClient,
) -> None:
    """The update taking the record out of `annual_revenue gt 5` is sent, but the app is never shown the field:
    without `matches` it could not tell the record left, and kept it."""
    acme = org(client, name="Acme", annual_revenue=1.0)
    filtered = {**OUT_TO_ERP, "include_update": True, "filter": "annual_revenue gt 5"}
    assert client.post(f"{BASE}/integrations", json=filtered).status_code == 201
    assert connect(client, acme, sample()).status_code == 204  # annual_revenue does not sync to erp
    shown = []
    for revenue in (6.0, 1.0):
        written_by_crm(client, "put", acme, annual_revenue=revenue)
        leased = client.post(f"{BASE}/integrations/to-erp/lease").json()
        shown += [(i["kind"], i["matches"], "annual_revenue" in i["record"]) for i in leased["items"]]
        settle = {"lease": leased["lease"], "items": [i["item"] for i in leased["items"]]}
        acked = client.post(f"{BASE}/integrations/to-erp/ack", json=settle)
        assert acked.status_code == 200, acked.text
    assert shown == [("update", True, False), ("update", False, False)]
