"""Every error is RFC 9457 problem+json with a clear 4xx; no input makes a 500."""

from __future__ import annotations

import gzip
from typing import Any

import httpx2
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from hub.errors import quoted
from tests.api.helpers import BASE, ext

PROBLEM_KEYS = {"type", "title", "status", "detail"}


def assert_problem(response: Any, status: int, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert set(body) >= PROBLEM_KEYS and body["status"] == status
    for word in words:
        assert word in body["detail"], body
    return body


def test_the_problem_shape_is_locked(client: TestClient) -> None:
    body = assert_problem(client.get(f"{BASE}/people/nobody"), 404)
    assert body == {"type": "about:blank", "title": "Not found", "status": 404, "detail": body["detail"]}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "words"),
    [
        ("GET", "/nowhere", None, 404, ["/nowhere"]),
        ("PATCH", f"{BASE}/people", None, 405, []),
        ("GET", f"{BASE}/spaceships", None, 404, ["spaceships"]),
        ("GET", f"{BASE}/people/", None, 404, ["people/"]),  # not a 307 to an `http://` URL built from `Host`
        ("POST", f"{BASE}/people/", {"people": {}}, 404, ["people/"]),
        ("GET", "/api/v2/bad group!/people", None, 400, ["group"]),
        ("POST", "/api/v2/cld-1%0A/people", {"people": {}}, 400, ["group"]),  # `$` matched before a final newline
        ("POST", f"{BASE}/people", b"{not json", 400, ["JSON"]),
        ("POST", f"{BASE}/people", b"", 400, ["body"]),
        ("POST", f"{BASE}/people", {"persons": {}}, 422, ["people"]),
        ("POST", f"{BASE}/people", {"people": "Ada"}, 422, ["object"]),
        ("POST", f"{BASE}/people", {"people": {"first_name": 7}}, 422, ["first_name"]),
        ("POST", f"{BASE}/people", {"people": {"email": {"address": "not-an-email"}}}, 422, ["email.address"]),
        ("POST", f"{BASE}/people", {"people": {"email": {"address": "a@b.co\n"}}}, 422, ["email.address"]),
        ("POST", f"{BASE}/people", {"people": {"email": {"fax": "1"}}}, 422, ["email.fax"]),
        ("POST", f"{BASE}/people", {"people": {"birth_date": "someday"}}, 422, ["birth_date"]),
        ("POST", f"{BASE}/people", {"people": {"birth_date": "0001-01-01T00:00:00+05:00"}}, 422, ["years 1 to"]),
        ("POST", f"{BASE}/people", {"people": {"id": [{"realm": "1", "provider": "crm"}]}}, 422, ["id.0.id"]),
        ("POST", f"{BASE}/people", {"people": {"id": [{"realm": "1", "provider": "crm", "id": 5}]}}, 422, ["id.0.id"]),
        ("POST", f"{BASE}/people", {"people": {"id": ["x"]}}, 422, ["id.0"]),
        ("POST", f"{BASE}/people", {"people": {"id": [ext("a", "1") | {"extra": "1"}]}}, 422, ["extra"]),
        ("POST", f"{BASE}/people", {"people": {"id": [ext("a", "1\x002")]}}, 422, ["id.0.id", "U+0000"]),
        ("POST", f"{BASE}/people", {"people": {"id": [ext("a\x00", "1")]}}, 422, ["id.0.provider", "U+0000"]),
        ("GET", f"{BASE}/people/1?opts[provider]=a&opts[realm]=22%0043", None, 400, ["opts[realm]", "U+0000"]),
        ("POST", f"{BASE}/people", {"people": {"status": "DELETED"}}, 422, ["status"]),
        (
            "POST",
            f"{BASE}/organizations",
            b'{"organizations": {"number_of_employees": 18446744073709551616}}',
            422,
            ["number_of"],
        ),
        ("POST", f"{BASE}/people?$top=1", {"people": {}}, 400, ["$top"]),
        ("PUT", f"{BASE}/people/x", {"people": {}}, 404, ["x"]),
        ("DELETE", f"{BASE}/people/x", None, 404, ["x"]),
    ],
)
def test_bad_requests(client: TestClient, method: str, path: str, body: Any, status: int, words: list[str]) -> None:
    client.post(f"{BASE}/people", json={"people": {"first_name": "seed"}})
    content = body if isinstance(body, bytes) or body is None else orjson.dumps(body)
    assert_problem(client.request(method, path, content=content), status, *words)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/people", {"people": {"email": "ada@example.com"}}, "email"),
        ("/people", {"people": {"id": ["x"]}}, "id.0"),
        ("/people", {"people": {"organization_id": [5]}}, "organization_id.0"),
        (
            "/integrations",
            {
                "name": "s",
                "entity": "people",
                "direction": "outbound",
                "provider": "crm",
                "realm": "1",
                "webhook": "https://crm.example/hook",
            },
            "webhook",
        ),
        (
            "/people/{id}/connect",
            {"provider": "erp", "realm": "1", "id": "e", "field_values": ["notes"]},
            "field_values.0",
        ),
    ],
)
def test_a_value_that_must_be_an_object_is_said_so_in_json_words(
    client: TestClient, path: str, body: Any, field: str
) -> None:
    """Pydantic's message named the hub's own classes, `a valid dictionary or instance of Email` (or `LeaseIn`,
    `ExternalIdIn`…): Python words, not the body's, for a client that sent `"email": "ada@example.com"`."""
    made = client.post(f"{BASE}/people", json={"people": {"first_name": "seed"}}).json()["people"]["id"]
    sync = {"name": "sync", "entity": "people", "direction": "outbound", "provider": "crm", "realm": "1"}
    assert client.post(f"{BASE}/integrations", json=sync).status_code == 201
    problem = assert_problem(client.post(BASE + path.format(id=made), json=body), 422)
    assert problem["errors"] == [{"field": field, "message": "Input should be a JSON object"}], problem


@pytest.mark.parametrize(
    "path",
    [
        "/integrations/sync/lease",
        "/integrations/sync/ack",
        "/integrations/sync/fail",
        "/integrations/sync/dead/retry",
        "/integrations/sync/consent",
        "/people/{id}/connect",
    ],
)
@pytest.mark.parametrize("body", [[], "17", 17, None])
def test_a_body_that_is_no_object_is_said_so_in_detail_alone(client: TestClient, path: str, body: Any) -> None:
    """As a record, a merge or an integration that is no object: these bodies were answered with a member named
    `(body)`, a path no body holds, and pydantic's words ("invalid field(s): (body): Input should be a JSON object")."""
    made = client.post(f"{BASE}/people", json={"people": {"first_name": "seed"}}).json()["people"]["id"]
    sync = {"name": "sync", "entity": "people", "direction": "outbound", "provider": "crm", "realm": "1"}
    assert client.post(f"{BASE}/integrations", json=sync).status_code == 201
    content = orjson.dumps(body)
    problem = assert_problem(client.post(BASE + path.format(id=made), content=content), 422)
    assert problem["detail"] == "the body must be a JSON object" and "errors" not in problem, problem


def test_read_only_output_fields_echoed_back_are_ignored(client: TestClient) -> None:
    """A record sent back as read, with an edit and other values in its output fields: the edit is written, the
    output fields are the hub's as before."""
    created = client.post(f"{BASE}/people", json={"people": {"first_name": "Ada"}}).json()["people"]
    output = {"code": "PE9", "created_at": "2001-01-01T00:00:00Z", "group_id": "x", "channel_id": "y"}
    echoed = {**created, **output, "resource_type": "organizations", "last_name": "Lovelace"}
    again = client.put(f"{BASE}/people/{created['id']}", json={"people": echoed})
    assert again.status_code == 200, again.text
    shown = client.get(f"{BASE}/people/{created['id']}").json()["people"]
    assert shown["last_name"] == "Lovelace"
    assert {k: shown[k] for k in created if k != "updated_at"} == {
        k: v for k, v in created.items() if k != "updated_at"
    }


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
field_names = st.sampled_from(["id", "first_name", "email", "birth_date", "organization_id", "status", "phone", "x"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(record=st.dictionaries(field_names, json_values, max_size=5) | json_values)
def test_no_body_makes_a_500(client: TestClient, record: Any) -> None:
    response = client.post(f"{BASE}/people", json={"people": record})
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"


def test_an_app_id_holding_nul_names_no_record_and_is_refused_in_a_batch_alone(client: TestClient) -> None:
    """Ids are looked up and linked through SQLite's JSON, which ends a string at U+0000: `a<NUL>b` is not `a`."""
    created = client.post(f"{BASE}/people", json={"people": {"id": [ext("sf", "a")], "first_name": "A"}})
    assert created.status_code == 201, created.text
    assert_problem(client.get(f"{BASE}/people/a%00b?opts[provider]=sf&opts[realm]=2243"), 404, r"'a\x00b'")
    assert_problem(client.put(f"{BASE}/people/a%00b?opts[provider]=sf&opts[realm]=2243", json={"people": {}}), 404)
    items = [{"id": [ext("sf", "c\x00d")], "first_name": "C"}, {"id": [ext("sf", "c")], "first_name": "D"}]
    results = client.post(f"{BASE}/people", json={"people": items}).json()["results"]
    assert [r["status"] for r in results] == [422, 201]
    assert "U+0000" in results[0]["error"]["detail"]
    assert client.get(f"{BASE}/people/a?opts[provider]=sf&opts[realm]=2243").json()["people"]["first_name"] == "A"


def test_every_write_to_a_record_of_an_unknown_group_says_no_group(client: TestClient) -> None:
    """A PUT found its record before the group, and said there was no such record."""
    unknown = "/api/v2/cld-404/people/x"
    for answer in (
        client.put(unknown, json={"people": {"first_name": "A"}}),
        client.put(unknown, params={"opts[provider]": "sf", "opts[realm]": "1"}, json={"people": {}}),
        client.delete(unknown),
        client.get(unknown),
    ):
        assert_problem(answer, 404, "no group cld-404")


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("authorization", [None, "Bearer hk_unknown.secret"]),
        ("connec-external-ids", ["true", "false"]),
        ("content-type", ["application/json", "text/plain"]),
        ("content-encoding", ["identity", "gzip"]),
    ],
)
def test_a_header_read_once_given_twice_is_refused(client: TestClient, name: str, values: list[str | None]) -> None:
    """Each was read as its first value: a second Authorization passed unseen, `true` and `false` answered arrays, and
    a body said to be gzip after `identity` was written as plain JSON."""
    client.post(f"{BASE}/people", json={"people": {"first_name": "seed"}})
    token = client.auth.token  # type: ignore[union-attr]
    given = [(name, value or f"Bearer {token}") for value in values]
    headers = httpx2.Headers([("authorization", f"Bearer {token}"), *given] if name != "authorization" else given)
    answer = client.post(f"{BASE}/people", content=b'{"people": {"first_name": "A"}}', headers=headers)
    assert_problem(answer, 400, name, "more than once")
    assert client.get(f"{BASE}/people").json()["pagination"]["total"] == 1
    same = [*given[:1], *given[:1]]  # one value twice, as a proxy repeating the client's header sends it
    headers = httpx2.Headers([("authorization", f"Bearer {token}"), *same] if name != "authorization" else same)
    assert client.post(f"{BASE}/people", content=b'{"people": {"first_name": "A"}}', headers=headers).is_success


@pytest.mark.parametrize("compress", [gzip.compress, lambda body: body])
def test_an_encoded_body_is_refused_naming_its_encoding(client: TestClient, compress: Any) -> None:
    """Read as sent: gzip was "not valid JSON: str is not valid UTF-8", and a plain body labelled gzip was written.
    The refusal says, as RFC 9110 (12.5.3) asks, which coding the hub reads: a 415 for the media type says none."""
    headers = {"content-type": "application/json", "content-encoding": "gzip"}
    body = compress(b'{"people": {"first_name": "A"}}')
    refused = client.post(f"{BASE}/people", content=body, headers=headers)
    assert_problem(refused, 415, "Content-Encoding", "gzip")
    assert refused.headers["accept-encoding"] == "identity"
    typed = client.post(f"{BASE}/people", content=b"{}", headers={"content-type": "text/plain"})
    assert_problem(typed, 415, "text/plain")
    assert "accept-encoding" not in typed.headers
    plain = client.post(f"{BASE}/people", json={"people": {}}, headers={"content-encoding": "identity"})
    assert plain.status_code == 201 and plain.json()["people"]["code"] == "PE1", plain.text


@pytest.mark.parametrize("charset", ["latin-1", "ISO-8859-1", '"utf-16"'])
def test_a_body_declared_in_another_charset_than_utf8_is_refused_naming_it(client: TestClient, charset: str) -> None:
    """JSON is UTF-8 (RFC 8259): a charset parameter was passed over and the body read as UTF-8 all the same, so a
    Latin-1 body got a 400 in the JSON parser's words ("str is not valid UTF-8: surrogates not allowed")."""
    assert client.post(f"{BASE}/people", json={"people": {"first_name": "Ann"}}).status_code == 201
    body = '{"people": {"first_name": "Renée"}}'.encode("latin-1")
    headers = {"content-type": f"application/json; charset={charset}"}
    assert_problem(client.post(f"{BASE}/people", content=body, headers=headers), 415, "UTF-8", charset.strip('"'))
    assert client.get(f"{BASE}/people").json()["pagination"]["total"] == 1


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", '"utf-8"', "utf8"])
def test_a_body_declared_utf8_or_opening_with_a_byte_order_mark_is_read(client: TestClient, charset: str) -> None:
    """A byte order mark opening a body was "not valid JSON", where RFC 8259 lets a parser pass it over (and `hub
    import` does)."""
    body = "\ufeff".encode() + '{"people": {"first_name": "Renée"}}'.encode()
    answer = client.post(
        f"{BASE}/people", content=body, headers={"content-type": f"application/json; charset={charset}"}
    )
    assert answer.status_code == 201 and answer.json()["people"]["first_name"] == "Renée", answer.text


def test_a_client_gone_before_its_body_arrived_whole_writes_nothing_and_is_no_server_error(client: TestClient) -> None:
    """A client that went (or that `hub serve` cut off as too slow) mid-body ended its request in a ClientDisconnect
    the hub logged, with a traceback, as its own unhandled error."""
    body = orjson.dumps({"people": {"id": [ext("crm", "gone-1")], "first_name": "Ann"}})
    arriving = [
        {"type": "http.request", "body": body[:20], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []
    assert client.post(f"{BASE}/people", json={"people": {"id": [ext("crm", "here")]}}).status_code == 201

    async def receive() -> dict[str, Any]:
        return arriving.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers.append((b"authorization", f"Bearer {client.auth.token}".encode()))  # type: ignore[union-attr]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"{BASE}/people",
        "raw_path": f"{BASE}/people".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    assert client.portal is not None
    client.portal.call(client.app, scope, receive, send)
    assert sent[0]["status"] == 400
    assert orjson.loads(sent[1]["body"])["detail"] == "the client went away before its request body arrived whole"
    listed = client.get(f"{BASE}/people", headers={"CONNEC-EXTERNAL-IDS": "true"}).json()["people"]
    assert [e["id"] for p in listed for e in p["id"] if e["provider"] == "crm"] == ["here"]


@pytest.mark.parametrize("collection", ["people", "organizations"])
def test_a_record_that_is_not_an_object_is_said_so_in_plain_words(client: TestClient, collection: str) -> None:
    """It read "a organizations record must be a JSON object", alone and for each such item of a batch."""
    said = f"a record of {collection} must be a JSON object"
    assert assert_problem(client.post(f"{BASE}/{collection}", json={collection: "x"}), 422)["detail"] == said
    batch = client.post(f"{BASE}/{collection}", json={collection: [{}, 5]})
    assert batch.status_code == 200 and batch.json()["results"][1]["error"]["detail"] == said, batch.text


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/people", {"people": {"first_name": "Ann", "": 1}}, '""'),
        ("/people", {"people": {"email": {"address": "ann@example.com", "": 1}}}, 'email.""'),
        ("/people", {"people": {"id": [{**ext("crm", "c1"), "": 1}]}}, 'id.0.""'),
        ("/people/{id}/merge", {"records": ["x"], "": 1}, '""'),
        ("/people/{id}/connect", {"provider": "erp", "realm": "1", "id": "e", "": 1}, '""'),
        (
            "/integrations",
            {"name": "n", "entity": "people", "direction": "outbound", "provider": "a", "realm": "1", "": 1},
            '""',
        ),
        ("/key_links", {"": 1}, '""'),
    ],
)
def test_a_member_named_by_the_empty_string_is_named_so(client: TestClient, path: str, body: Any, field: str) -> None:
    """The empty name was left out of the path: `{"email": {"": 1}}` was said to have `email` unknown, and `{"": 1}`
    the body itself ("(body)"), or nothing at all ("unknown field(s): ")."""
    made = client.post(f"{BASE}/people", json={"people": {"first_name": "seed"}}).json()["people"]["id"]
    problem = assert_problem(client.post(BASE + path.format(id=made), json=body), 422)
    assert problem["errors"] == [{"field": field, "message": "unknown field"}], problem
    assert problem["detail"] == f"unknown field(s): {field}"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/people", {"people": {"id": "{hub_id}"}}, "id"),
        ("/people", {"people": {"organization_id": "{hub_id}"}}, "organization_id"),
        ("/people/{made}/merge", {"records": ["{hub_id}"]}, "records.0"),
        ("/key_links", {"entity_type": "people", "provider": "crm", "realm": "1", "external_id": "7"}, "internal_id"),
    ],
)
@pytest.mark.parametrize("hub_id", ["nobody", "x" * 200])
def test_an_unknown_hub_id_in_a_body_is_said_as_a_path_naming_one_says_it(
    client: TestClient, path: str, body: dict[str, Any], field: str, hub_id: str
) -> None:
    """A `GET` by an unknown hub id answers "no people record with hub id 'nobody'"; in a body the same mistake was
    "no people record has hub id nobody", or "no people record nobody" in a key link, unquoted and uncut: an id of
    hundreds of characters came back whole, twice."""
    made = client.post(f"{BASE}/people", json={"people": {"first_name": "seed"}}).json()["people"]["id"]
    text = orjson.dumps(body).decode().replace("{hub_id}", hub_id)
    sent = orjson.loads(text) | ({"internal_id": hub_id} if field == "internal_id" else {})
    collection = "organizations" if field == "organization_id" else "people"
    said = f"no {collection} record with hub id {quoted(hub_id)}"
    problem = client.post(BASE + path.format(made=made), json=sent).json()
    assert problem["detail"] == f"{field}: {said}", problem
    assert problem.get("errors", [{"field": field, "message": said}]) == [{"field": field, "message": said}]
    assert client.get(f"{BASE}/{collection}/{hub_id}").json()["detail"] == said


@pytest.mark.parametrize(
    ("path", "body", "said"),
    [
        (
            "/organizations",
            {"organizations": {"annual_revenue": -1e16}},
            {"annual_revenue": "at least -1000000000000000"},
        ),
        ("/integrations/sync/ack", {"lease": "l", "items": []}, {"items": "at least 1 item(s)"}),
        ("/integrations/sync/fail", {"lease": "l", "items": list(range(1, 1002))}, {"items": "at most 1000 items"}),
        ("/integrations/sync/ack", {}, {"lease": "required", "items": "required"}),
        ("/people/{id}/connect", {"provider": "erp"}, {"realm": "required", "id": "required"}),
        ("/people/{id}/unmerge", {}, {"merge_id": "required"}),
    ],
)
def test_a_bound_or_a_missing_member_is_said_as_the_limits_say_it(
    client: TestClient, path: str, body: dict[str, Any], said: dict[str, str]
) -> None:
    """Pydantic's own words came through for these: "List should have at least 1 item after validation, not 0",
    "Field required" (where an unmerge said "required"), and a bound written as a float, "at most 1000000000000000.0"
    for the 10¹⁵ of the README's Limits."""
    made = client.post(f"{BASE}/people", json={"people": {"first_name": "seed"}}).json()["people"]["id"]
    sync = {"name": "sync", "entity": "people", "direction": "outbound", "provider": "crm", "realm": "1"}
    assert client.post(f"{BASE}/integrations", json=sync).status_code == 201
    answer = assert_problem(client.post(BASE + path.format(id=made), json=body), 422)
    assert {e["field"]: e["message"] for e in answer["errors"]} == said


@pytest.mark.parametrize(("body", "position"), [(b'{"people": {"first_name": "Ren\xe9"}}', 30), (b"\xff", 0)])
def test_a_body_that_is_no_utf8_names_its_byte(client: TestClient, body: bytes, position: int) -> None:
    """Undeclared Latin-1 was refused in the parser's words, "str is not valid UTF-8: surrogates not allowed: line 1
    column 1", a Python type and a surrogate the body did not hold, at its first byte wherever the bad one was."""
    problem = assert_problem(client.post(f"{BASE}/people", content=body), 400)
    said = f"the body is not valid JSON: byte 0x{body[position]:02x} at position {position} is not UTF-8, which JSON is"
    assert problem["detail"] == said
