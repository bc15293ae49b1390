"""Request bodies as /openapi.json describes them: what the hub takes is valid against its schema, and what it refuses
is not, wherever a schema can say so (the rest is told in the description)."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
from starlette.testclient import TestClient

from tests.api.records import BASE, create, ext

INTEGRATION = "/api/v2/{group_id}/integrations/{name}"


def body_schema(client: TestClient, path: str, method: str) -> tuple[jsonschema_rs.Validator, dict[str, Any]]:
    """A validator of the body `method` on `path` takes (the document's references resolved), and its schema (the
    one it refers to, if it is a reference)."""
    doc = client.get("/openapi.json").json()
    schema = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    valid = jsonschema_rs.validator_for({**schema, "components": doc["components"]})
    return valid, doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]] if "$ref" in schema else schema


def test_an_integration_update_is_described_as_the_definition_s_members_each_optional(client: TestClient) -> None:
    """The update body was described as any object: it is a definition's members, none required, as read too."""
    valid, schema = body_schema(client, INTEGRATION, "put")
    hook = {"url": "https://crm.example/hook", "secret": "s" * 16}
    definition = {"name": "sync", "entity": "people", "direction": "outbound", "provider": "crm", "realm": "2243"}
    assert client.post(f"{BASE}/integrations", json={**definition, "webhook": hook}).status_code == 201
    read = client.get(f"{BASE}/integrations/sync").json()
    taken = [
        read,  # its times passed over, its webhook shown without the secret
        {},
        {"notes": "n", "batch_size": 5},
        {"batch_size": None, "notes": None, "filter": None},
        {"name": "sync", "entity": "organizations"},
        {"webhook": {"url": "https://crm.example/other", "secret": "t" * 16}},
        {"webhook": None},
    ]
    for body in taken:
        assert valid.is_valid(body), body
        answer = client.put(f"{BASE}/integrations/sync", json=body)
        assert answer.status_code == 200, (body, answer.text)
    refused: list[Any] = [
        [],
        {"color": "red"},
        {"batch_size": 0},
        {"entity": None},
        {"entity": "invoices"},
        {"direction": "sideways"},
        {"webhook": {"secret": "s" * 16}},
    ]
    for body in refused:
        assert not valid.is_valid(body), body
        assert client.put(f"{BASE}/integrations/sync", json=body).status_code == 422, body
    beyond = [({"name": "other"}, "`name`"), ({"webhook": {"url": "https://elsewhere.example/"}}, "`secret`")]
    for body, told in beyond:  # what the schema cannot say, its description does
        assert valid.is_valid(body) and told in schema["description"], body
        assert client.put(f"{BASE}/integrations/sync", json=body).status_code == 422, body


def test_a_key_link_body_is_described_with_the_members_each_operation_needs(client: TestClient) -> None:
    """KeyLinkIn was described with no member required, where each operation needs some: a link named in full (its
    entity type and app by name or number), the record, or the link's id."""
    create(client, "organizations", ext("crm", "x", "c1"), name="Acme")  # crm, an integration system
    a, b, c, d = (create(client, "organizations", name=name)["id"] for name in "ABCD")
    kind = client.get("/api/v2/entity_types", params={"entity_type_name": "organizations"}).json()["entity_types"]
    system = client.get("/api/v2/integration_systems", params={"system_name": "crm"}).json()["integration_systems"]
    by_names = {"entity_type": "organizations", "provider": "crm", "realm": "r", "external_id": "a", "internal_id": a}
    by_numbers = {
        "integration_entity_type_id": kind[0]["integration_entity_type_id"],
        "integration_system_id": system[0]["integration_system_id"],
        "realm": "r",
        "external_id": "b",
    }
    create_link, _ = body_schema(client, "/api/v2/{group_id}/key_links", "post")
    for body in [by_names, {"key_links": {**by_numbers, "internal_id": b}}]:
        assert create_link.is_valid(body), body
        assert client.post(f"{BASE}/key_links", json=body).status_code == 201, body
    for body in [by_numbers, {**by_names, "external_id": None}, {**by_names, "provider": None}, {"internal_id": a}]:
        assert not create_link.is_valid(body), body
        assert client.post(f"{BASE}/key_links", json=body).status_code == 422, body
    link = client.get(f"{BASE}/key_links", params={"provider": "crm", "external_id": "a"}).json()["key_links"][0]
    move_named, _ = body_schema(client, "/api/v2/{group_id}/key_links", "put")
    move, _ = body_schema(client, "/api/v2/{group_id}/key_links/{link_id}", "put")
    for valid, url, body in [
        (move_named, f"{BASE}/key_links", {"id": link["id"], "internal_id": c}),
        (move_named, f"{BASE}/key_links", {**by_numbers, "internal_id": d}),
        (move, f"{BASE}/key_links/{link['id']}", {"internal_id": a}),
    ]:
        assert valid.is_valid(body), body
        assert client.put(url, json=body).status_code == 200, body
    for valid, url, body in [
        (move_named, f"{BASE}/key_links", {"internal_id": c}),
        (move_named, f"{BASE}/key_links", {"id": link["id"]}),
        (move_named, f"{BASE}/key_links", {"id": None, "internal_id": c}),
        (move, f"{BASE}/key_links/{link['id']}", {"id": link["id"]}),
    ]:
        assert not valid.is_valid(body), body
        assert client.put(url, json=body).status_code == 422, body


def test_an_integration_s_entity_is_a_collection_s_name_of_whatever_length(client: TestClient) -> None:
    """Beside its collections, `entity` kept a bound of 450 characters that meant nothing: a longer name was refused
    for its length, where any other is refused for naming no collection."""
    valid, _ = body_schema(client, "/api/v2/{group_id}/integrations", "post")
    definition = {"name": "sync", "direction": "outbound", "provider": "crm", "realm": "2243"}
    for entity in ("invoices", "x" * 451):
        assert not valid.is_valid({**definition, "entity": entity})
        refused = client.post(f"{BASE}/integrations", json={**definition, "entity": entity}).json()
        [error] = refused["errors"]
        assert error["field"] == "entity" and error["message"].startswith("no collection"), error
        assert len(refused["detail"]) < 200, refused["detail"]


def test_an_integration_as_read_is_described_as_taken_by_a_post(client: TestClient) -> None:
    """A POST's body was a Definition refusing every other member: the times of an integration as read, which the hub
    passes over, were described as refused."""
    valid, _ = body_schema(client, "/api/v2/{group_id}/integrations", "post")
    definition = {"name": "sync", "entity": "people", "direction": "outbound", "provider": "crm", "realm": "2243"}
    assert client.post(f"{BASE}/integrations", json=definition).status_code == 201
    copy = {**client.get(f"{BASE}/integrations/sync").json(), "name": "copy"}
    assert valid.is_valid(copy), copy
    assert client.post(f"{BASE}/integrations", json=copy).status_code == 201
    assert not valid.is_valid({**definition, "color": "red"})


def test_a_text_holding_u0000_is_described_as_refused(client: TestClient) -> None:
    """Ids were described without U+0000, as the hub takes them, but texts, emails, a reference's hub id, a consent
    flow, a failure's reason and opts[provider]/opts[realm] were described as taking it, and were refused."""
    person, _ = body_schema(client, "/api/v2/{group_id}/people", "post")
    nul = "a\x00b"
    for body in [
        {"people": {"first_name": nul}},
        {"people": {"email": {"address": "a\x00@b.com"}}},
        {"people": {"organization_id": nul}},
        {"people": {"address": {"city": nul}}},
    ]:
        assert not person.is_valid(body), body
        assert client.post(f"{BASE}/people", json=body).status_code == 422, body
    definition = {"name": "sync", "entity": "people", "direction": "inbound", "provider": "crm", "realm": "2243"}
    assert client.post(f"{BASE}/integrations", json=definition).status_code == 201
    consent, _ = body_schema(client, f"{INTEGRATION}/consent", "post")
    assert not consent.is_valid({"consent_type": nul})
    assert client.post(f"{BASE}/integrations/sync/consent", json={"consent_type": nul}).status_code == 422
    fail, _ = body_schema(client, f"{INTEGRATION}/fail", "post")
    assert not fail.is_valid({"lease": "l", "items": [1], "error": nul})
    assert (
        client.post(f"{BASE}/integrations/sync/fail", json={"lease": "l", "items": [1], "error": nul}).status_code
        == 422
    )
    parameters = client.get("/openapi.json").json()["paths"]["/api/v2/{group_id}/people"]["get"]["parameters"]
    realm = next(p["schema"] for p in parameters if p["name"] == "opts[realm]")
    assert not jsonschema_rs.is_valid(realm, nul) and jsonschema_rs.is_valid(realm, "2243")
    assert client.get(f"{BASE}/people", params={"opts[provider]": "crm", "opts[realm]": nul}).status_code == 400


def test_a_key_link_s_entity_type_is_described_as_the_names_it_may_take(client: TestClient) -> None:
    """`entity_type` was described as any id part, where the hub takes a collection's name alone (in any case, spaces
    around it passed over) and refuses every other text with a 422."""
    create_link, _ = body_schema(client, "/api/v2/{group_id}/key_links", "post")
    link = {"provider": "crm", "realm": "r"}
    for n, name in enumerate(["organizations", " Organizations ", "ORGANIZATIONS"]):
        record = create(client, "organizations", name=name)["id"]
        body = {**link, "entity_type": name, "external_id": f"x{n}", "internal_id": record}
        assert create_link.is_valid(body), body
        assert client.post(f"{BASE}/key_links", json=body).status_code == 201, body
    for name in ["0", "organization", "people organizations", "invoices"]:
        body = {**link, "entity_type": name, "external_id": "y", "internal_id": record}
        assert not create_link.is_valid(body), body
        assert client.post(f"{BASE}/key_links", json=body).status_code == 422, body


def test_a_connect_s_values_are_described_as_the_fields_of_its_collection(client: TestClient) -> None:
    """A connect's `field_values` were described as any field name (1-64 characters) with any value, where the hub
    takes only the collection's fields, each with a value its field takes, and refuses the rest with a 422."""
    valid, _ = body_schema(client, "/api/v2/{group_id}/organizations/{id}/connect", "post")
    app = {"provider": "erp", "realm": "726"}
    taken: list[Any] = [
        [{"field": "name", "value": "Initech", "sync_to_app": False}],
        [{"field": "number_of_employees", "value": 12}, {"field": "notes", "sync_to_hub": False}],
        [{"field": "address", "value": {"city": "Paris"}}, {"field": "is_customer", "value": None}],
    ]
    for n, values in enumerate(taken):
        body = {**app, "id": f"c{n}", "field_values": values}
        org = create(client, "organizations", name=f"Acme {n}")["id"]
        assert valid.is_valid(body), body
        assert client.post(f"{BASE}/organizations/{org}/connect", json=body).status_code == 204, body
    refused: list[Any] = [
        [{"field": "first_name", "value": "Ann"}],  # a field of people
        [{"field": "color", "value": "red"}],
        [{"field": "number_of_employees", "value": "12"}],
        [{"field": "is_customer", "value": 1}],
        [{"field": "status", "value": "GONE"}],
    ]
    for values in refused:
        body = {**app, "id": "c9", "field_values": values}
        assert not valid.is_valid(body), body
        assert client.post(f"{BASE}/organizations/{org}/connect", json=body).status_code == 422, body


def test_a_key_link_wrapped_in_key_links_is_described_with_nothing_beside_it(client: TestClient) -> None:
    """`{"key_links": {...}}` was described as taking other members beside `key_links`, which the hub refuses."""
    record = create(client, "organizations", name="A")["id"]
    link = {"entity_type": "organizations", "provider": "crm", "realm": "r", "external_id": "x", "internal_id": record}
    valid, _ = body_schema(client, "/api/v2/{group_id}/key_links", "post")
    assert not valid.is_valid({"key_links": link, "note": "n"})
    assert client.post(f"{BASE}/key_links", json={"key_links": link, "note": "n"}).status_code == 422
    assert valid.is_valid({"key_links": link})
    assert client.post(f"{BASE}/key_links", json={"key_links": link}).status_code == 201


def test_a_key_link_s_entity_type_number_is_described_as_one_of_the_collections(client: TestClient) -> None:
    """`integration_entity_type_id` was described as any number below 2^31, where the hub takes only the numbers
    `entity_types` gives, one per collection, and refuses every other with a 422."""
    record = create(client, "organizations", name="A")["id"]
    kinds = client.get("/api/v2/entity_types").json()["entity_types"]
    number = next(k["integration_entity_type_id"] for k in kinds if k["entity_type_name"] == "organizations")
    valid, _ = body_schema(client, "/api/v2/{group_id}/key_links", "post")
    link = {"provider": "crm", "realm": "r", "external_id": "x", "internal_id": record}
    for other in (0, number + 1):
        assert not valid.is_valid({**link, "integration_entity_type_id": other}), other
        answer = client.post(f"{BASE}/key_links", json={**link, "integration_entity_type_id": other})
        assert answer.status_code == 422, answer.text
    assert valid.is_valid({**link, "integration_entity_type_id": number})
    assert client.post(f"{BASE}/key_links", json={**link, "integration_entity_type_id": number}).status_code == 201


def test_an_id_part_of_whitespace_is_described_as_the_hub_judges_whitespace(client: TestClient) -> None:
    """Id parts and emails were described with the regex class `\\s`, whose members differ by engine from the
    whitespace the hub strips (Python's): an id of U+0085 or U+001F alone was described as valid and refused as
    blank, one of U+FEFF (no whitespace to Python) described as invalid in ECMA's sense and taken."""
    valid, _ = body_schema(client, "/api/v2/{group_id}/people", "post")
    for blank in ("\x85", "\x1f", " \u3000"):
        body = {"people": {"id": [ext("crm", "r", blank)]}}
        assert not valid.is_valid(body), repr(blank)
        assert client.post(f"{BASE}/people", json=body).status_code == 422, repr(blank)
    for email in ("a\x85b@c.com", "a@b\x1f.com"):
        body = {"people": {"email": {"address": email}}}
        assert not valid.is_valid(body), repr(email)
        assert client.post(f"{BASE}/people", json=body).status_code == 422, repr(email)
    parameters = client.get("/openapi.json").json()["paths"]["/api/v2/{group_id}/key_links"]["get"]["parameters"]
    realm = next(p["schema"] for p in parameters if p["name"] == "realm")
    assert not jsonschema_rs.is_valid(realm, "\x85")
    assert client.get(f"{BASE}/key_links", params={"realm": "\x85"}).status_code == 400
    body = {"people": {"id": [ext("crm", "r", "\ufeff")], "email": {"address": "a\ufeff@b.com"}}}
    assert valid.is_valid(body)
    assert client.post(f"{BASE}/people", json=body).status_code == 201
