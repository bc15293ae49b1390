"""/openapi.json: served without a key, covering every route, its record schemas taken from the collection models."""

from __future__ import annotations

import re
from urllib.parse import quote

import jsonschema_rs
import pytest
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from starlette.routing import Route
from starlette.testclient import TestClient

from hub.model.collections import COLLECTIONS
from hub.model.ids import MAX_RECORD_IDS
from hub.service import transact
from hub.store.base import IdTaken
from tests.api.helpers import BASE, IDS, answer_schema, described, ext, post
from tests.conftest import Keys


def test_every_route_and_method_is_described(client: TestClient) -> None:
    doc = client.get("/openapi.json", auth=None).json()
    assert doc["openapi"].startswith("3.1")
    for route in client.app.routes:  # type: ignore[attr-defined]
        assert isinstance(route, Route)
        paths = (
            [route.path_format.replace("{collection}", name) for name in COLLECTIONS]
            if "{collection}" in route.path_format
            else [route.path_format]
        )
        for path in paths:
            for method in route.methods or ():
                if method != "HEAD":
                    assert method.lower() in doc["paths"][path], f"{method} {path} is not in /openapi.json"


def test_record_schemas_are_the_models(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for collection in COLLECTIONS.values():
        model = collection.model.model_json_schema()["properties"]
        prefix = collection.name.title()
        assert set(model) <= set(schemas[f"{prefix}Write"]["properties"])
        assert set(model) <= set(schemas[f"{prefix}Record"]["properties"])
        assert schemas[f"{prefix}Write"]["additionalProperties"] is False
    assert schemas["ExternalIdIn"]["required"] == ["realm", "provider", "id"]


def test_a_lease_is_described_as_long_as_the_running_hub_allows(client: TestClient) -> None:
    seconds = client.get("/openapi.json").json()["components"]["schemas"]["LeaseIn"]["properties"]["seconds"]
    assert seconds["anyOf"][0]["maximum"] == 3600  # max_lease_seconds, which the endpoint checks


def test_only_the_description_itself_is_public(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    public = [
        (path, method)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if method != "parameters" and op.get("security") == []
    ]
    assert public == [("/openapi.json", "get")]
    assert {"basic", "bearer"} == set(doc["components"]["securitySchemes"])


def test_the_answers_a_write_may_give_are_described(client: TestClient, keys: Keys) -> None:
    """A PUT filling a placeholder in answers 201 (its create), a DELETE by another app's id 403."""
    doc = client.get("/openapi.json").json()["paths"]
    one = doc["/api/v2/{group_id}/organizations/{id}"]
    person = client.post(
        f"{BASE}/people", json={"people": {"id": [ext("crm", "p1")], "organization_id": [ext("crm", "o1")]}}
    )
    placeholder = person.json()["people"]["organization_id"]
    filled = client.put(f"{BASE}/organizations/{placeholder}", json={"organizations": {"name": "Filled"}})
    assert filled.status_code == 201 and "201" in one["put"]["responses"], filled.text
    erp = keys.app("erp", cld_1="2243")
    by_crm = {"opts[provider]": "crm", "opts[realm]": "2243"}
    refused = client.delete(f"{BASE}/organizations/o1", params=by_crm, headers=erp)
    assert refused.status_code == 403 and "403" in one["delete"]["responses"], refused.text


def test_a_read_of_dead_items_declares_no_answer_about_a_body(client: TestClient) -> None:
    """It takes no body: a 413, 415 or 422 it can never give was declared, as for the queue's writes."""
    base = "/api/v2/{group_id}/integrations/{name}"
    doc = client.get("/openapi.json").json()["paths"]
    assert not {"413", "415", "422"} & set(doc[f"{base}/dead"]["get"]["responses"])
    assert {"413", "415", "422"} <= set(doc[f"{base}/ack"]["post"]["responses"])


def test_a_record_shown_with_every_id_it_may_hold_is_a_write_s_id_array(client: TestClient) -> None:
    """MAX_RECORD_IDS app ids and the hub's own: the answer's id array is a valid IdArrayIn (a write of it passes), one
    more id is not. The description said at most 100, fewer than a record shows."""
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    ids = [ext(f"app{n}", "z") for n in range(MAX_RECORD_IDS)]
    shown = client.post(f"{BASE}/organizations", json={"organizations": {"id": ids}}, headers=IDS).json()
    assert len(shown["organizations"]["id"]) == MAX_RECORD_IDS + 1 == schemas["IdArrayIn"]["maxItems"]
    assert "maxItems" not in schemas["IdArray"]
    again = client.post(f"{BASE}/organizations", json={"organizations": shown["organizations"]}, headers=IDS)
    assert again.status_code == 200 and again.json()["organizations"] == shown["organizations"], again.text
    refused = client.post(
        f"{BASE}/organizations", json={"organizations": {"id": [*shown["organizations"]["id"], ext("x", "z")]}}
    )
    assert refused.status_code == 422


def test_the_description_refuses_a_parameter_it_does_not_take_as_it_says(client: TestClient) -> None:
    """Every endpoint refuses unknown query parameters; /openapi.json answered them with the description."""
    answer = client.get("/openapi.json", params={"format": "yaml"}, auth=None)
    assert answer.status_code == 400 and "format" in answer.json()["detail"], answer.text
    assert "400" in client.get("/openapi.json").json()["paths"]["/openapi.json"]["get"]["responses"]


def test_a_merge_and_an_undo_declare_the_header_their_records_are_shown_by(client: TestClient) -> None:
    """Both answer records, as id arrays with CONNEC-EXTERNAL-IDS: true; the description did not name the header."""
    doc = client.get("/openapi.json").json()["paths"]
    a = client.post(f"{BASE}/people", json={"people": {"first_name": "A"}}).json()["people"]["id"]
    b = client.post(f"{BASE}/people", json={"people": {"first_name": "B"}}).json()["people"]["id"]
    merged = client.post(f"{BASE}/people/{a}/merge", json={"records": [b]}, headers=IDS).json()
    undone = client.post(f"{BASE}/people/{a}/unmerge", json={"merge_id": merged["merge"]["id"]}, headers=IDS).json()
    assert isinstance(merged["people"]["id"], list) and all(isinstance(r["id"], list) for r in undone["people"])
    for step in ("merge", "unmerge"):
        declared = doc[f"/api/v2/{{group_id}}/people/{{id}}/{step}"]["post"].get("parameters", [])
        assert "CONNEC-EXTERNAL-IDS" in [p["name"] for p in declared], step


def test_an_undo_naming_a_merge_by_spaces_alone_is_refused_as_described(client: TestClient) -> None:
    """The description let a blank merge_id through (minLength 1), which the hub answers with 422."""
    schema = client.get("/openapi.json").json()["paths"]["/api/v2/{group_id}/people/{id}/unmerge"]["post"]
    merge_id = schema["requestBody"]["content"]["application/json"]["schema"]["properties"]["merge_id"]
    a = client.post(f"{BASE}/people", json={"people": {"first_name": "A"}}).json()["people"]["id"]
    assert client.post(f"{BASE}/people/{a}/unmerge", json={"merge_id": "\n"}).status_code == 422
    assert not re.search(merge_id["pattern"], "\n") and re.search(merge_id["pattern"], "m1")


def test_a_select_naming_no_field_is_refused_as_described(client: TestClient) -> None:
    """The description let `$select=` and `$select=,` through (any string), which the hub answers with 400."""
    described = client.get("/openapi.json").json()["paths"]["/api/v2/{group_id}/people"]["get"]["parameters"]
    pattern = next(p["schema"]["pattern"] for p in described if p["name"] == "$select")
    for empty in ("", " , "):
        assert client.get(f"{BASE}/people", params={"$select": empty}).status_code == 400
        assert not re.search(pattern, empty)
    assert re.search(pattern, "first_name,code")


def test_an_id_part_of_spaces_alone_in_a_query_is_refused_as_described(client: TestClient) -> None:
    """The description let opts[realm]=" " and a key link search for " " through (minLength 1); both are a 400."""
    paths = client.get("/openapi.json").json()["paths"]
    for path, name in (("/api/v2/{group_id}/people", "opts[realm]"), ("/api/v2/{group_id}/key_links", "realm")):
        pattern = next(p["schema"]["pattern"] for p in paths[path]["get"]["parameters"] if p["name"] == name)
        assert not re.search(pattern, " ") and re.search(pattern, "2243")
    assert client.get(f"{BASE}/people", params={"opts[provider]": "crm", "opts[realm]": " "}).status_code == 400
    assert client.get(f"{BASE}/key_links", params={"realm": " "}).status_code == 400


@pytest.mark.parametrize("name", ["integration_system_id", "integration_entity_type_id"])
def test_a_key_link_search_by_number_is_described_as_the_hub_takes_it(client: TestClient, name: str) -> None:
    """Described as at most 2^31 - 1 (the numbers the hub gives), while a search takes any number of up to 18 digits
    and answers it an empty page."""
    parameters = client.get("/openapi.json").json()["paths"]["/api/v2/{group_id}/key_links"]["get"]["parameters"]
    schema = next(p["schema"] for p in parameters if p["name"] == name)
    assert client.post(f"{BASE}/organizations", json={"organizations": {"id": [ext("crm", "1")]}}).status_code == 201
    for number, status in ((schema["maximum"], 200), (schema["maximum"] + 1, 400)):
        answer = client.get(f"{BASE}/key_links", params={name: str(number)})
        assert answer.status_code == status and (status == 400 or answer.json()["key_links"] == []), answer.text


def test_every_group_id_is_described_as_the_hub_checks_it(client: TestClient) -> None:
    """JSON Schema patterns are ECMA-262: Python's `\\Z` is an invalid escape there (ajv refused the description) or a
    literal `Z` (`cld-1234` did not match); and most paths let any string through, where the hub answers 400."""
    paths = client.get("/openapi.json").json()["paths"]
    for path in (path for path in paths if "{group_id}" in path):
        [pattern] = [p["schema"].get("pattern") for p in paths[path]["parameters"] if p["name"] == "group_id"]
        assert pattern is not None and "\\Z" not in pattern, path
        assert re.search(pattern, "cld-1234") and not re.search(pattern, "-cld") and not re.search(pattern, "cld 1")
    for path in ("changes", "key_links", "integrations", "people/x/merges"):
        assert client.get(f"/api/v2/-cld/{path}").status_code == 400, path
    assert client.get("/api/v2/cld-1%0A/people").status_code == 400


def test_a_connect_by_an_app_id_part_of_spaces_alone_is_refused_as_described(client: TestClient) -> None:
    """Connect described opts[provider]/opts[realm] as any non-empty string: " " (a 400) or one over 255 characters."""
    declared = client.get("/openapi.json").json()["paths"]["/api/v2/{group_id}/people/{id}/connect"]["parameters"]
    for name in ("opts[provider]", "opts[realm]"):
        schema = next(p["schema"] for p in declared if p["name"] == name)
        assert not re.search(schema["pattern"], " ") and schema["maxLength"] == 255, name
    a = client.post(f"{BASE}/people", json={"people": {"first_name": "A"}}).json()["people"]["id"]
    body = {"provider": "crm", "realm": "2243", "id": "c1"}
    for realm in (" ", "r" * 256):
        by_app = {"opts[provider]": "crm", "opts[realm]": realm}
        assert client.post(f"{BASE}/people/{a}/connect", params=by_app, json=body).status_code == 400


def test_an_archive_and_an_unlink_declare_the_409_of_races_they_kept_losing(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write re-runs after a concurrent writer took its record first (MongoDB) and, out of tries, answers
    `409 … try again`: an archive and an unlink can, and their descriptions did not list it."""
    doc = client.get("/openapi.json").json()["paths"]
    a = client.post(f"{BASE}/organizations", json={"organizations": {"id": [ext("crm", "o1")]}}).json()
    link = client.get(f"{BASE}/key_links", params={"external_id": "o1"}).json()["key_links"][0]["id"]

    async def lost(*args: object) -> None:
        raise IdTaken

    monkeypatch.setattr(transact, "once", lost)
    monkeypatch.setattr(transact, "BACKOFF", 0)
    for path, method, answer in (
        (
            "/api/v2/{group_id}/organizations/{id}",
            "delete",
            client.delete(f"{BASE}/organizations/{a['organizations']['id']}"),
        ),
        ("/api/v2/{group_id}/key_links/{link_id}", "delete", client.delete(f"{BASE}/key_links/{link}")),
        ("/api/v2/{group_id}/key_links", "delete", client.delete(f"{BASE}/key_links", params={"id": link})),
    ):
        assert answer.status_code == 409 and "try again" in answer.json()["detail"], answer.text
        assert "409" in doc[path][method]["responses"], (method, path)


def test_a_merge_naming_a_record_by_spaces_alone_is_refused_as_described(client: TestClient) -> None:
    """The description let a hub id of spaces alone through (minLength 1), which the hub answers with 422."""
    schema = client.get("/openapi.json").json()["paths"]["/api/v2/{group_id}/people/{id}/merge"]["post"]
    records = schema["requestBody"]["content"]["application/json"]["schema"]["properties"]["records"]
    [hub_id] = [s for s in records["items"]["oneOf"] if s.get("type") == "string"]
    a = client.post(f"{BASE}/people", json={"people": {"first_name": "A"}}).json()["people"]["id"]
    refused = client.post(f"{BASE}/people/{a}/merge", json={"records": [" "]})
    assert refused.status_code == 422 and "records.0" in refused.json()["detail"], refused.text
    assert not re.search(hub_id["pattern"], " ") and re.search(hub_id["pattern"], a)


def test_the_merge_history_declares_its_page_as_the_hub_checks_it(client: TestClient) -> None:
    described = client.get("/openapi.json", auth=None).json()["paths"]["/api/v2/{group_id}/people/{id}/merges"]["get"]
    params = {p["name"]: p["schema"] for p in described["parameters"]}
    assert params["$top"] == {"type": "integer", "minimum": 1, "maximum": 20} and "$skip" not in params
    token = "01a24ed1-95c0-77de-9bbf-629ad9829640.01a24ed1-95c0-77de-9bbf-629ad982964c.10"  # record, merge, count
    assert re.fullmatch(params["$skiptoken"]["pattern"].strip("^$"), token)
    answer = described["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["required"] == ["merges", "pagination"]


def test_an_integration_s_entity_is_described_as_the_collections_it_may_name(client: TestClient) -> None:
    """The description let any text of up to 450 characters through, where the hub takes a collection's name alone."""
    described = client.get("/openapi.json").json()["components"]["schemas"]["Definition"]["properties"]["entity"]
    assert described["enum"] == list(COLLECTIONS)
    definition = {"name": "sync", "direction": "outbound", "provider": "crm", "realm": "2243"}
    refused = client.post(f"{BASE}/integrations", json={**definition, "entity": "0"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "entity", refused.text
    for entity in described["enum"]:
        made = client.post(f"{BASE}/integrations", json={**definition, "name": entity, "entity": entity})
        assert made.status_code == 201, made.text


def test_every_operation_declares_what_hub_serve_answers_a_request_it_cannot_read_whole(client: TestClient) -> None:
    """`hub serve` answers a request head over 16 KiB with 431, and one arriving too slowly with 408, before any
    route: no operation declared them, though a `$filter` within its 2000 characters, in text beyond ASCII, is over
    16 KiB percent-encoded (`€` is `%E2%82%AC`)."""
    doc = client.get("/openapi.json", auth=None).json()
    [described] = [p for p in doc["paths"]["/api/v2/{group_id}/people"]["get"]["parameters"] if p["name"] == "$filter"]
    assert len(quote("€" * described["schema"]["maxLength"])) > DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if method != "parameters":
                assert {"408", "431"} <= set(operation["responses"]), (method, path)
    assert {"E408", "E431"} <= set(doc["components"]["responses"])


def test_an_unlink_by_a_query_is_described_as_the_hub_reads_it(client: TestClient) -> None:
    """The query of `DELETE …/key_links` was described as a search's (any number of up to 18 digits, any text),
    where the hub reads it as a key link body: a number past 2^31, an entity type that is no collection's name or
    U+0000 in a part is a 422, as in a body."""
    declared = client.get("/openapi.json").json()["paths"]["/api/v2/{group_id}/key_links"]["delete"]["parameters"]
    schemas = {p["name"]: p["schema"] for p in declared}
    assert client.post(f"{BASE}/organizations", json={"organizations": {"id": [ext("crm", "1")]}}).status_code == 201
    link = {"entity_type": "organizations", "provider": "crm", "realm": "2243", "external_id": "1"}
    for name, value in [
        ("integration_system_id", 2**31),
        ("integration_entity_type_id", 2**31),
        ("entity_type", "invoices"),
        ("provider", "c\x00rm"),
    ]:
        assert not jsonschema_rs.is_valid(schemas[name], value), name
        assert client.delete(f"{BASE}/key_links", params={**link, name: str(value)}).status_code == 422, name
    assert all(jsonschema_rs.is_valid(schemas[name], value) for name, value in link.items())
    assert client.delete(f"{BASE}/key_links", params=link).status_code == 204


def test_the_external_ids_header_is_described_in_any_case_as_the_hub_reads_it(client: TestClient) -> None:
    """The header was described as `true` or `false` alone, where the hub reads it in any case (`True`, `FALSE`),
    as Connec! clients may send it, and refuses any other value with a 400."""
    declared = client.get("/openapi.json").json()["paths"]["/api/v2/{group_id}/people"]["parameters"]
    schema = next(p["schema"] for p in declared if p["name"] == "CONNEC-EXTERNAL-IDS")
    for value in ("true", "True", "FALSE", "false"):
        assert jsonschema_rs.is_valid(schema, value), value
        assert client.get(f"{BASE}/people", headers={"CONNEC-EXTERNAL-IDS": value}).status_code in (200, 404), value
    for value in ("1", "yes", "truex"):
        assert not jsonschema_rs.is_valid(schema, value), value
        assert client.get(f"{BASE}/people", headers={"CONNEC-EXTERNAL-IDS": value}).status_code == 400, value


def test_the_headers_an_error_answer_carries_are_described(client: TestClient) -> None:
    """Each header `problems` sends beside a problem is declared on its response: a 503 said nothing of `Retry-After`,
    which tells a client when to try the write again."""
    answers = client.get("/openapi.json", auth=None).json()["components"]["responses"]
    declared = {code: set(answers[f"E{code}"].get("headers", {})) for code in (401, 415, 503)}
    assert declared == {401: {"WWW-Authenticate"}, 415: {"Accept-Encoding"}, 503: {"Retry-After"}}


def test_every_operation_may_answer_503(client: TestClient) -> None:
    """A MongoDB server out of reach makes any route a 503 (`problems.unreachable`), a read too (its key is read from
    the store when not cached): reads declared none. The description itself reads no store."""
    paths = client.get("/openapi.json", auth=None).json()["paths"]
    del paths["/openapi.json"]
    lacking = [
        f"{verb.upper()} {path}"
        for path, operations in paths.items()
        for verb, operation in operations.items()
        if verb in {"get", "post", "put", "delete"} and "503" not in operation["responses"]
    ]
    assert lacking == []


def _consts(node: object) -> list[dict[str, object]]:
    """Every schema of `node` (a part of the description) that states a `const`."""
    if isinstance(node, list):
        return [found for child in node for found in _consts(child)]
    if not isinstance(node, dict):
        return []
    own = [node] if "const" in node else []
    return own + [found for child in node.values() for found in _consts(child)]


def test_every_constant_states_its_type_as_a_placeholder_shows_it(client: TestClient) -> None:
    """`placeholder` was `{"const": true}` alone: a client generator (openapi-python-client) wrote it as
    `placeholder != Trueand …`, and the generated models did not import. Each const states its value's JSON type."""
    doc = client.get("/openapi.json").json()
    kinds = {bool: "boolean", str: "string"}
    for schema in _consts(doc):
        assert schema.get("type") == kinds[type(schema["const"])], schema
    person = client.post(f"{BASE}/people", json={"people": {"organization_id": [ext("crm", "o1")]}}).json()
    shown = client.get(f"{BASE}/organizations/{person['people']['organization_id']}").json()
    assert shown["organizations"]["placeholder"] is True
    described(doc, answer_schema(doc, "/api/v2/{group_id}/organizations/{id}", "get"), shown)


def _refs(node: object) -> list[str]:
    """Every `$ref` of `node`, a part of the description."""
    if isinstance(node, list):
        return [found for child in node for found in _refs(child)]
    if not isinstance(node, dict):
        return []
    own = [node["$ref"]] if "$ref" in node else []
    return own + [found for child in node.values() for found in _refs(child)]


def test_a_connect_body_is_described_as_client_generators_read_it(client: TestClient) -> None:
    """Each of a connect's `field_values` was a `FieldValue` whose `value` referred into a write schema's
    `properties`: openapi-python-client found no model under that name, nor told the alternatives, all titled
    alike, apart, and left the connect operations out of the client. Every reference names a component, and each
    alternative has a title of its own; the body the hub takes is still valid."""
    doc = client.get("/openapi.json").json()
    assert all(re.fullmatch(r"#/components/(schemas|responses)/\w+", ref) for ref in _refs(doc)), _refs(doc)
    connect = doc["components"]["schemas"]["PeopleConnectIn"]
    titles = [variant["title"] for variant in connect["properties"]["field_values"]["items"]["oneOf"]]
    assert len(set(titles)) == len(titles) == len(COLLECTIONS["people"].model.model_fields), titles
    a = client.post(f"{BASE}/people", json={"people": {"first_name": "A"}}).json()["people"]["id"]
    body = {
        "provider": "crm",
        "realm": "2243",
        "id": "c1",
        "field_values": [{"field": "first_name", "value": "Ann", "sync_to_app": False}, {"field": "status"}],
    }
    described(doc, {"$ref": "#/components/schemas/PeopleConnectIn"}, body)
    assert client.post(f"{BASE}/people/{a}/connect", json=body).status_code == 204
    refused = {**body, "field_values": [{"field": "first_name", "value": 1}]}
    with pytest.raises(jsonschema_rs.ValidationError):
        described(doc, {"$ref": "#/components/schemas/PeopleConnectIn"}, refused)
    assert client.post(f"{BASE}/people/{a}/connect", json=refused).status_code == 422


def test_an_integration_is_described_with_every_member_the_hub_shows(client: TestClient) -> None:
    """An integration was described by its name, app and times alone: a generated client read its `entity`,
    `direction`, `webhook`, `consented_at`… as untyped extra members. Each member shown is described, and required,
    as the hub always shows it, the webhook without its secret."""
    doc = client.get("/openapi.json").json()
    definition = {
        "name": "sync",
        "entity": "people",
        "direction": "outbound",
        "provider": "crm",
        "realm": "2243",
        "consent_type": "gdpr",
        "webhook": {"url": "https://crm.example/hook", "secret": "s" * 16},
    }
    made = client.post(f"{BASE}/integrations", json=definition)
    consented = client.post(f"{BASE}/integrations/sync/consent")
    cleared = client.put(f"{BASE}/integrations/sync", json={"webhook": None})
    schema = answer_schema(doc, "/api/v2/{group_id}/integrations/{name}", "get")
    for answer in (made, consented, cleared):
        assert answer.status_code in (200, 201), answer.text
        described(doc, schema, answer.json())
        assert set(doc["components"]["schemas"]["Integration"]["required"]) == set(answer.json())
    with pytest.raises(jsonschema_rs.ValidationError):
        described(doc, schema, {**made.json(), "webhook": definition["webhook"]})


def test_a_merge_is_described_with_every_member_the_hub_shows(client: TestClient) -> None:
    """A merge was described by its id, actor and survivor alone: a generated client read `merged` (the hub ids to
    drop), `undone` and the rest as untyped extra members. Each member is described, all but the `id` and `undone` a
    dry run leaves out required, in the merge's, its dry run's, its undo's and its history's answers."""
    doc = client.get("/openapi.json").json()
    schema = doc["components"]["schemas"]["MergeEntry"]
    base = "/api/v2/{group_id}/people/{id}"
    a = client.post(f"{BASE}/people", json={"people": {"id": [ext("crm", "1")], "first_name": "A"}}).json()
    b = client.post(f"{BASE}/people", json={"people": {"id": [ext("erp", "2")], "birth_date": "1985-01-29"}}).json()
    a, b = a["people"]["id"], b["people"]["id"]
    dry = client.post(f"{BASE}/people/{a}/merge", json={"records": [b], "dry_run": True})
    merged = client.post(f"{BASE}/people/{a}/merge", json={"records": [b], "fields": {"last_name": "M"}})
    undone = client.post(f"{BASE}/people/{a}/unmerge", json={"merge_id": merged.json()["merge"]["id"]})
    history = client.get(f"{BASE}/people/{b}/merges")
    for answer, path in ((dry, "/merge"), (merged, "/merge"), (undone, "/unmerge"), (history, "/merges")):
        assert answer.status_code == 200, answer.text
        described(doc, answer_schema(doc, base + path, "get" if path == "/merges" else "post"), answer.json())
        for entry in answer.json()["merges"] if path == "/merges" else [answer.json()["merge"]]:
            assert set(schema["required"]) <= set(entry) <= set(schema["properties"])
    assert (
        set(schema["properties"]) - set(schema["required"])
        == {"id", "undone"}
        == set(merged.json()["merge"]) - set(dry.json()["merge"])
    )
    with pytest.raises(jsonschema_rs.ValidationError):
        described(doc, schema, {**merged.json()["merge"], "merged": b})


def test_a_key_link_and_its_page_are_described_with_every_member_the_hub_shows(client: TestClient) -> None:
    """A key link's system and entity type numbers were described as optional, and a search's `pagination` as a bare
    object: a generated client typed the numbers as maybe unset and read `skip`, `total` and the `next` link to walk
    on as untyped extra members, though every answer shows them."""
    doc = client.get("/openapi.json").json()
    for n in range(3):
        post(client, "people", [ext("crm", f"{n}")], first_name="A")
    search = client.get(f"{BASE}/key_links", params={"$top": 2})
    schema = answer_schema(doc, "/api/v2/{group_id}/key_links", "get")
    described(doc, schema, search.json())
    link = doc["components"]["schemas"]["KeyLink"]
    assert all(set(link["required"]) == set(shown) for shown in search.json()["key_links"])
    pagination = schema["properties"]["pagination"]
    assert set(pagination["required"]) | {"next"} == set(search.json()["pagination"]) == set(pagination["properties"])
    with pytest.raises(jsonschema_rs.ValidationError):
        described(doc, schema, {**search.json(), "pagination": {**search.json()["pagination"], "total": None}})


def test_the_members_a_system_an_entity_type_and_a_list_of_integrations_always_show_are_required(
    client: TestClient,
) -> None:
    """Described as optional, a generated client typed each as maybe unset (`int | Unset`), though every answer shows
    them: an app reading its system's number had to check for a value the hub never leaves out."""
    doc = client.get("/openapi.json").json()
    assert client.post(f"{BASE}/organizations", json={"organizations": {"id": [ext("crm", "1")]}}).status_code == 201
    for path, key in (
        ("/api/v2/integration_systems", "integration_systems"),
        ("/api/v2/entity_types", "entity_types"),
        ("/api/v2/{group_id}/integrations", "integrations"),
    ):
        answer = client.get(path.replace("{group_id}", "cld-1"))
        schema = answer_schema(doc, path, "get")
        described(doc, schema, answer.json())
        assert schema["required"] == [key], path
        items = schema["properties"][key]["items"]
        shown = answer.json()[key]
        if "$ref" not in items:
            assert shown and all(set(items["required"]) == set(item) for item in shown), path


def test_an_integration_s_name_is_described_as_the_hub_takes_it(client: TestClient) -> None:
    """The description let `.`, `..` and a name of spaces alone through (any text without `/` or a control
    character), which the hub refuses with 422: no name once the surrounding spaces go, or a path segment clients
    drop."""
    described = client.get("/openapi.json").json()["components"]["schemas"]["Definition"]["properties"]["name"]
    definition = {"entity": "people", "direction": "outbound", "provider": "crm", "realm": "2243"}
    for name, status in (
        (".", 422),
        ("..", 422),
        (" .. ", 422),
        ("   ", 422),
        ("\u3000", 422),
        ("...", 201),
        (" .x", 201),
        ("a b", 201),
        ("x\u00a0", 201),
    ):
        answer = client.post(f"{BASE}/integrations", json={**definition, "name": name})
        assert answer.status_code == status, (name, answer.text)
        assert jsonschema_rs.is_valid(described, name) == (status == 201), name


def test_a_webhook_s_url_is_described_as_the_hub_takes_it(client: TestClient) -> None:
    """The description let any text of up to 2048 characters through as a webhook's `url`, which the hub refuses
    with 422 unless it is an http(s) URL without whitespace, a control character, a user or a fragment."""
    doc = client.get("/openapi.json").json()
    url = doc["components"]["schemas"]["Webhook"]["properties"]["url"]
    definition = {"entity": "people", "direction": "outbound", "provider": "crm", "realm": "2243"}
    for n, (given, status) in enumerate(
        [
            ("ftp://crm.example/hook", 422),
            ("mailto:hook@crm.example", 422),
            ("crm.example/hook", 422),
            ("https://crm.example/a b", 422),
            ("https://crm.example/a\u00a0b", 422),
            ("https://crm.example/\x7f", 422),
            ("https://crm.example/hook#part", 422),
            ("https://user@crm.example/hook", 422),
            ("https://user:secret@crm.example/hook", 422),
            ("https://crm.example/hook", 201),
            ("HTTP://crm.example:8080/a/b?c=d@e", 201),
            ("https://[2606:4700::1111]/hook", 201),
        ]
    ):
        webhook = {"url": given, "secret": "s" * 16}
        answer = client.post(f"{BASE}/integrations", json={**definition, "name": f"i{n}", "webhook": webhook})
        assert answer.status_code == status, (given, answer.text)
        assert jsonschema_rs.is_valid(url, given) == (status == 201), given


def test_a_consent_type_is_described_as_the_hub_takes_it(client: TestClient) -> None:
    """A consent type of spaces alone was valid to the description (any text without U+0000), where the hub drops the
    surrounding spaces and answers 422: nothing is left, in a definition or in a consent's body."""
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    definition = {"name": "sync", "entity": "people", "direction": "outbound", "provider": "crm", "realm": "2243"}
    for blank in (" ", "\t\u3000"):
        refused = client.post(f"{BASE}/integrations", json={**definition, "consent_type": blank})
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "consent_type", refused.text
        assert not jsonschema_rs.is_valid(schemas["Definition"]["properties"]["consent_type"], blank)
        assert not jsonschema_rs.is_valid(schemas["ConsentIn"]["properties"]["consent_type"]["anyOf"][0], blank)
    made = client.post(f"{BASE}/integrations", json={**definition, "consent_type": " gdpr "})
    assert made.status_code == 201 and made.json()["consent_type"] == "gdpr", made.text
    assert client.post(f"{BASE}/integrations/sync/consent", json={"consent_type": " "}).status_code == 422
    assert jsonschema_rs.is_valid(schemas["Definition"]["properties"]["consent_type"], " gdpr ")


def test_a_page_of_the_change_feed_is_described_with_every_member_required(client: TestClient, keys: Keys) -> None:
    """A change's `details` and the page's `cursor` were described as optional, the cursor as maybe null, so a
    generated client typed them as maybe unset or none, though the hub shows both on every page (`{}` where there is
    nothing more to say; a cursor in a group that has no change yet too): the cursor to resume from is the one member
    a reader of the feed must keep."""
    doc = client.get("/openapi.json").json()
    schema = answer_schema(doc, "/api/v2/{group_id}/changes", "get")
    keys.app("crm", cld_9="1")  # a group, and no change in it
    none_yet = client.get("/api/v2/cld-9/changes").json()
    post(client, "people", [ext("crm", "1")], first_name="A")
    first = client.get(f"{BASE}/changes").json()
    empty = client.get(f"{BASE}/changes", params={"since": first["cursor"]}).json()
    for page in (none_yet, first, empty):
        described(doc, schema, page)
        assert set(schema["required"]) == set(page)
    change = schema["properties"]["changes"]["items"]
    assert [set(change["required"])] == [set(shown) for shown in first["changes"]] and first["changes"][0][
        "details"
    ] == {}


def test_the_location_of_what_a_post_made_is_described(client: TestClient) -> None:
    """A create (upsert), a key link and an integration's definition answer 201 with `Location`, the address of what
    they made, and the description declared no header: a generated client could not tell a reader it was there. A
    key link answered none at all, alone of the three."""
    doc = client.get("/openapi.json").json()["paths"]
    made = client.post(f"{BASE}/people", json={"people": {"first_name": "A"}})
    link = {"entity_type": "people", "internal_id": made.json()["people"]["id"], "provider": "crm", "realm": "2243"}
    linked = client.post(f"{BASE}/key_links", json={**link, "external_id": "a/b?c"})
    definition = {"name": "sync €", "entity": "people", "direction": "outbound", "provider": "crm", "realm": "2243"}
    defined = client.post(f"{BASE}/integrations", json=definition)
    for path, answer in {"people": made, "key_links": linked, "integrations": defined}.items():
        assert answer.status_code == 201 and client.get(answer.headers["location"]).status_code == 200, answer.text
        declared = doc[f"/api/v2/{{group_id}}/{path}"]["post"]["responses"]["201"]["headers"]["Location"]
        assert declared["required"] is True and jsonschema_rs.is_valid(declared["schema"], answer.headers["location"])


def test_the_times_of_the_change_feed_and_a_lease_are_described_as_times(client: TestClient) -> None:
    """A change's `at`, an item's `changed_at` and a lease's `expires_at` were described as any text, where records'
    times are `date-time`: a generated client handed an app strings to parse before comparing them with a record's
    `updated_at`, as the sync loop does. Each is an RFC 3339 time, described so."""
    doc = client.get("/openapi.json").json()
    definition = {"name": "sync", "entity": "people", "direction": "outbound", "provider": "crm", "realm": "2243"}
    assert client.post(f"{BASE}/integrations", json=definition).status_code == 201
    post(client, "people", [ext("crm", "1")], first_name="A")
    change = client.get(f"{BASE}/changes").json()["changes"][0]
    lease = client.post(f"{BASE}/integrations/sync/lease").json()
    item = lease["items"][0]
    schemas = doc["components"]["schemas"]
    feed = answer_schema(doc, "/api/v2/{group_id}/changes", "get")["properties"]["changes"]["items"]
    for schema, value in (
        (feed["properties"]["at"], change["at"]),
        (schemas["QueueItem"]["properties"]["changed_at"], item["changed_at"]),
        (schemas["Lease"]["properties"]["expires_at"], lease["expires_at"]),
        (schemas["DeadItem"]["properties"]["changed_at"], item["changed_at"]),
    ):
        assert schema == {"type": "string", "format": "date-time"}, schema
        assert jsonschema_rs.validator_for(schema, validate_formats=True).is_valid(value), value


def test_the_details_of_every_kind_of_change_are_described(client: TestClient) -> None:
    """`details` was a bare object: a generated client read none of `merged`, `merge_id`, `key_link`… Each member a
    change shows is described, with its type."""
    doc = client.get("/openapi.json").json()
    schema = answer_schema(doc, "/api/v2/{group_id}/changes", "get")
    integration = {"name": "out", "entity": "people", "direction": "outbound", "provider": "hr", "realm": "2243"}
    assert client.post(f"{BASE}/integrations", json={**integration, "filter": "first_name eq 'A'"}).status_code == 201
    kept = post(client, "organizations", [ext("erp", "o")], name="O").json()["organizations"]["id"][-1]["id"]
    gone = post(client, "organizations", [ext("mail", "b")], name="B").json()["organizations"]["id"][-1]["id"]
    post(client, "people", [ext("hr", "p")], first_name="A", organization_id=[ext("crm", "x")])  # a placeholder
    post(client, "people", [ext("hr", "q")], first_name="B", organization_id=gone)
    merge = client.post(f"{BASE}/organizations/{kept}/merge", json={"records": [gone]}).json()["merge"]
    assert client.post(f"{BASE}/organizations/{kept}/unmerge", json={"merge_id": merge["id"]}).status_code == 200
    link = {"entity_type": "organizations", "internal_id": kept, "provider": "sales", "realm": "1", "external_id": "s"}
    assert client.post(f"{BASE}/key_links", json=link).status_code == 201
    connect = {**ext("crm", "c", "1"), "field_values": [{"field": "name", "sync_to_app": False}]}
    assert client.post(f"{BASE}/organizations/{kept}/connect", json=connect).status_code == 204
    page = client.get(f"{BASE}/changes", params={"limit": 100}).json()
    described(doc, schema, page)
    shown = {name for change in page["changes"] for name in change["details"]}
    details = doc["components"]["schemas"]["ChangeDetails"]["properties"]
    assert shown == set(details)  # every member described is shown by some change
    with pytest.raises(jsonschema_rs.ValidationError):
        described(doc, schema, {**page, "changes": [{**page["changes"][0], "details": {"merged": "not a list"}}]})


def test_the_links_from_a_record_made_say_how_to_follow_them_under_the_external_ids_header(
    client: TestClient,
) -> None:
    """A link passes the answer's `id` on as the path's: with `CONNEC-EXTERNAL-IDS: true` that is the id array, and
    a client following the link as written asked for `…/people/[{…}]`."""
    doc = client.get("/openapi.json").json()
    links = doc["paths"]["/api/v2/{group_id}/people"]["post"]["responses"]["201"]["links"]
    made = client.post(f"{BASE}/people", json={"people": {"first_name": "Ada"}}, headers=IDS).json()["people"]
    hub = next(e["id"] for e in made["id"] if e["provider"] == "connec")
    assert client.get(f"{BASE}/people/{hub}").status_code == 200
    assert all("CONNEC-EXTERNAL-IDS" in link["description"] for link in links.values())
