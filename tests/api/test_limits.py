"""Limits and bad input: each gets its own clear problem+json status, and none writes anything."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from hub.config import Settings
from tests.api.helpers import ext
from tests.conftest import Keys

PEOPLE = "/api/v2/cld-1/people"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        store=f"sqlite:///{tmp_path / 'hub.db'}",
        max_body_bytes=2000,
        max_batch=3,
        default_top=10,
        max_top=10,
        max_json_depth=5,
    )


def problem(response: Any, status: int, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= set(body) and body["status"] == status
    for word in words:
        assert word in body["detail"], body["detail"]
    return body


def nothing_written(client: TestClient) -> None:
    listing = client.get(PEOPLE)
    assert listing.status_code == 404 or listing.json()["pagination"]["total"] == 0


def test_a_body_over_the_limit_is_413_declared_or_streamed(client: TestClient) -> None:
    big = b'{"people": {"notes": "' + b"x" * 3000 + b'"}}'
    problem(client.post(PEOPLE, content=big, headers={"content-type": "application/json"}), 413, "2000 bytes")

    def chunks() -> Iterator[bytes]:
        yield big[:1500]
        yield big[1500:]

    problem(client.post(PEOPLE, content=chunks(), headers={"content-type": "application/json"}), 413)
    nothing_written(client)


def test_a_batch_over_the_limit_is_413(client: TestClient) -> None:
    problem(client.post(PEOPLE, json={"people": [{}] * 4}), 413, "at most 3")
    nothing_written(client)


@pytest.mark.parametrize("top", ["11", "0", "-1", "ten", "1.5", "", "²", "\u0665", "1_0", " 5"])
def test_top_outside_its_range_is_400(client: TestClient, top: str) -> None:
    """`²` passed `str.isdigit` and then failed `int` (a 500); `int` reads Arabic-Indic digits, `1_0` and ` 5`."""
    problem(client.get(PEOPLE, params={"$top": top}), 400, "$top")


@pytest.mark.parametrize(
    ("path", "params", "words"),
    [
        (PEOPLE, {"$skip": "²"}, ("$skip",)),
        ("/api/v2/cld-1/changes", {"limit": "²"}, ("limit",)),
        ("/api/v2/cld-1/changes", {"since": "YzE6OTIyMzM3MjAzNjg1NDc3NTgwODpjbGQtMQ"}, ("not a cursor",)),  # 2**63
        ("/api/v2/cld-1/changes", {"since": "YzE6MV8wOmNsZC0x"}, ("not a cursor",)),  # c1:1_0:cld-1
        ("/api/v2/cld-1/key_links", {"$top": "²"}, ("$top",)),
        ("/api/v2/cld-1/key_links", {"integration_system_id": "²"}, ("integration_system_id",)),
        ("/api/v2/cld-1/integrations/q/dead", {"after": "¹"}, ("after",)),
        ("/api/v2/cld-1/integrations/q/dead", {"after": str(10**18)}, ("from 0 to 999999999999999999",)),
        (PEOPLE, {"$skiptoken": "\u0661.\u0661"}, ("$skiptoken",)),  # Arabic-Indic digits passed as a token
        ("/api/v2/cld-1/key_links", {"$skiptoken": "10.\u0661"}, ("$skiptoken",)),
    ],
)
def test_a_number_in_the_query_string_not_written_in_ascii_digits_is_400(
    client: TestClient, path: str, params: dict[str, str], words: tuple[str, ...]
) -> None:
    assert client.post(PEOPLE, json={"people": {"id": [ext("crm", "1")]}}).status_code == 201  # the group exists
    problem(client.get(path, params=params), 400, *words)


@pytest.mark.parametrize("path", ["ack", "dead/retry"])
def test_an_item_number_past_64_bits_is_422(client: TestClient, path: str) -> None:
    body = {"lease": "l", "items": [2**63]} if path == "ack" else {"items": [2**63]}
    problem(client.post(f"/api/v2/cld-1/integrations/q/{path}", json=body), 422, "items")


@pytest.mark.parametrize("code", ["PE²", "PE¹¹", "PE\u0665", "PE1_0", "PE 1"])
def test_a_code_not_written_in_ascii_digits_names_no_record(client: TestClient, code: str) -> None:
    """`PE²` passed `str.isdigit` and failed `int`: a 500 for a list, and for every write of the entity type once
    an integration's filter held it."""
    assert client.post(PEOPLE, json={"people": {"id": [ext("crm", "1")]}}).status_code == 201
    for expression in (f"code eq '{code}'", f"code in ('{code}')", f"code ne '{code}'"):
        listed = client.get(PEOPLE, params={"$filter": expression})
        assert listed.status_code == 200 and listed.json()["pagination"]["total"] == ("ne" in expression), listed.text
    definition = {"name": "q", "entity": "people", "direction": "outbound", "provider": "crm", "realm": "2243"}
    definition["filter"] = f"code eq '{code}'"
    assert client.post("/api/v2/cld-1/integrations", json=definition).status_code == 201
    assert client.post(PEOPLE, json={"people": {"id": [ext("crm", "2")]}}).status_code == 201


def test_json_nested_deeper_than_the_limit_is_400(client: TestClient) -> None:
    deep: Any = 1
    for _ in range(6):
        deep = [deep]
    problem(client.post(PEOPLE, json={"people": {"notes": deep}}), 400, "deeper than 5")
    problem(client.post(PEOPLE, content=b"[" * 990 + b"]" * 990), 400, "deeper than 5")
    batch = client.post(PEOPLE, json={"people": [{"id": [ext("crm", "1")]}]})  # five levels: the limit itself
    assert batch.status_code == 200 and batch.json()["results"][0]["status"] == 201, batch.text
    assert client.post(PEOPLE, json={"people": {"email": {"address": "a@b.co"}}}).status_code == 201


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("first_name eq 'a' or " * 60 + "first_name eq 'b'", ("more than 50 conditions",)),
        ("first_name eq '" + "x" * 2001 + "'", ("too long",)),
        ("(" * 40 + "first_name eq 'a'" + ")" * 40, ("nesting deeper",)),
        ("nope eq 1", ("unknown field 'nope'",)),
        ("first_name eq", ("expected a value",)),
        ("updated_at gt 'yesterday'", ("needs a date", "'yesterday' is not an ISO 8601 date or datetime")),
        ("created_at le '0001-01-01T00:00:00+01:00'", ("created_at needs a date", "outside the years 1 to 9999")),
        ("updated_at lt 2016-12-31T23:59:60Z", ("updated_at needs a date", "a leap second")),
        ("updated_at gt '2016-12-31T10:00:00Z\x00 or 1'", ("updated_at needs a date", "U+0000")),
        ("status eq 'archived'", ("status is 'ACTIVE', 'INACTIVE' or 'ARCHIVED', not 'archived'",)),  # listed none
        ("not (status in ('ACTIVE', 'Inactive'))", ("not 'Inactive'",)),
    ],
)
def test_filters_too_complex_or_malformed_are_400(client: TestClient, expression: str, words: tuple[str, ...]) -> None:
    problem(client.get(PEOPLE, params={"$filter": expression}), 400, *words)


@pytest.mark.parametrize(
    ("method", "path", "query"),
    [
        ("GET", PEOPLE, "top=5"),
        ("GET", PEOPLE, "opts[foo]=1"),
        ("GET", PEOPLE + "/x", "$top=1"),
        ("POST", PEOPLE, "$select=first_name"),
        ("PUT", PEOPLE + "/x", "$filter=a"),
        ("DELETE", PEOPLE + "/x", "$skip=1"),
    ],
)
def test_unknown_query_parameters_are_refused_on_every_endpoint(
    client: TestClient, method: str, path: str, query: str
) -> None:
    body = problem(client.request(method, f"{path}?{query}", json={"people": {}}), 400, "unknown query parameter")
    assert isinstance(body["allowed"], list)


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"opts[provider]": "crm"}, ("go together",)),
        ({"opts[realm]": "2243"}, ("go together",)),
        ({"opts[provider]": " ", "opts[realm]": "2243"}, ("must not be empty",)),
        ({"opts[provider]": "x" * 256, "opts[realm]": "2243"}, ("at most 255",)),
        ({"opts[linked]": "false"}, ("opts[linked] needs opts[provider] and opts[realm]",)),
        ({"opts[provider]": "crm", "opts[realm]": "1", "opts[linked]": "maybe"}, ("true or false, not 'maybe'",)),
        ({"$orderby": ",".join(["first_name"] * 9)}, ("at most 8",)),
        ({"$orderby": "first_name sideways"}, ("asc|desc",)),
        ({"$select": "first_name,nope"}, ("nope",)),
    ],
)
def test_malformed_opts_and_options_are_400(client: TestClient, params: dict[str, str], words: tuple[str, ...]) -> None:
    problem(client.get(PEOPLE, params=params), 400, *words)


def test_a_parameter_given_twice_is_400(client: TestClient) -> None:
    problem(client.get(f"{PEOPLE}?$top=1&$top=2"), 400, "more than once: '$top'")


def test_unknown_query_parameters_are_named_quoted(client: TestClient) -> None:
    """An empty or blank name showed as nothing (`unknown query parameter(s): ,  , x`), one with a comma as two."""
    body = problem(client.get(f"{PEOPLE}?=1&%20=2&a,b=3"), 400)
    assert body["detail"] == "unknown query parameter(s): '', ' ', 'a,b'"


def test_a_body_that_is_not_json_gets_415_or_400(client: TestClient) -> None:
    problem(client.post(PEOPLE, content=b"first_name=Ada", headers={"content-type": "text/plain"}), 415)
    problem(client.post(PEOPLE, content=b"{", headers={"content-type": "application/json"}), 400, "not valid JSON")
    problem(client.post(PEOPLE, content=b""), 400, "needs a JSON body")
    assert client.post(PEOPLE, json={"people": {}}, headers={"content-type": "application/merge+json"}).is_success
    nothing_written_besides_one = client.get(PEOPLE).json()["pagination"]["total"]
    assert nothing_written_besides_one == 1


@pytest.mark.parametrize(
    ("header", "value", "status"),
    [("CONNEC-EXTERNAL-IDS", "trué", 400), ("content-type", "text/plaîn", 415), ("content-encoding", "gzïp", 415)],
)
def test_a_header_value_in_utf_8_is_quoted_as_written(client: TestClient, header: str, value: str, status: int) -> None:
    """Header bytes are read as Latin-1: the problem quoted `trué` as `truÃ©`."""
    answer = client.post(PEOPLE, content=b"{}", headers={header: value.encode()})
    problem(answer, status, repr(value))


def test_a_malformed_external_ids_header_is_400_before_anything_is_written(client: TestClient) -> None:
    problem(client.post(PEOPLE, json={"people": {}}, headers={"CONNEC-EXTERNAL-IDS": "yes"}), 400, "true or false")
    nothing_written(client)


def test_a_wrong_method_is_405_with_allow(client: TestClient) -> None:
    response = client.patch(f"{PEOPLE}/x", json={})
    problem(response, 405)
    assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "PUT", "DELETE"}


@pytest.mark.parametrize(
    "fields", [{"number_of_employees": 10**20}, {"number_of_employees": 2**63}, {"annual_revenue": 1e300}]
)
def test_numbers_past_what_clients_and_the_store_hold_are_422(client: TestClient, fields: dict[str, Any]) -> None:
    problem(client.post("/api/v2/cld-1/organizations", json={"organizations": fields}), 422)


@pytest.mark.parametrize(
    "fields",
    [
        {"number_of_employees": True},
        {"number_of_employees": "5"},
        {"number_of_employees": 5.0},
        {"annual_revenue": True},
        {"annual_revenue": "1.5"},
        {"is_customer": 1},
        {"is_customer": "true"},
    ],
)
def test_a_value_of_another_type_is_422_not_read_as_one(client: TestClient, fields: dict[str, Any]) -> None:
    """`true` was kept as 1 and `"5"` as 5: an app sending the wrong type hears of it."""
    [name] = fields
    problem(client.post("/api/v2/cld-1/organizations", json={"organizations": fields}), 422, name)
    nothing_written(client)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/api/v2/cld-1/organizations",
            '{"organizations": {"number_of_employees": 99999999999999999999}}',
            "number_of_employees",
        ),
        ("/api/v2/cld-1/organizations", '{"organizations": {"number_of_employees": 5.0}}', "number_of_employees"),
        ("/api/v2/cld-1/integrations/out/lease", '{"seconds": 99999999999999999999}', "seconds"),
        ("/api/v2/cld-1/integrations/out/ack", '{"lease": "l", "items": [18446744073709551616]}', "items.0"),
    ],
)
def test_an_integer_past_64_bits_or_with_a_point_is_said_to_be_one(
    client: TestClient, path: str, body: str, field: str
) -> None:
    """JSON reads an integer past 64 bits as a float: "Input should be a valid integer" answered one that was."""
    definition = {"name": "out", "entity": "people", "direction": "outbound", "provider": "crm", "realm": "1"}
    assert client.post("/api/v2/cld-1/integrations", json=definition).status_code == 201
    sent = client.post(path, content=body, headers={"Content-Type": "application/json"})
    problem(sent, 422, f'{field}: expected an integer within 64 bits (not 5.0, "5" or true)')


def test_a_whole_number_is_a_number_with_a_fraction_too(client: TestClient) -> None:
    made = client.post("/api/v2/cld-1/organizations", json={"organizations": {"annual_revenue": 5}})
    assert made.status_code == 201 and made.json()["organizations"]["annual_revenue"] == 5


def test_a_filter_number_past_64_bits_is_400(client: TestClient) -> None:
    query = {"$filter": "number_of_employees gt 99999999999999999999"}
    problem(client.get("/api/v2/cld-1/organizations", params=query), 400, "out of range")


def test_an_unexpected_failure_is_a_generic_500_without_internals(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: Any) -> Any:
        raise RuntimeError("internal detail: /srv/hub.db is locked")

    assert client.post(PEOPLE, json={"people": {}}).status_code == 201
    monkeypatch.setattr(client.app.state.store, "list", broken)  # type: ignore[attr-defined]
    response = client.get(PEOPLE)
    body = problem(response, 500)
    assert "internal detail" not in response.text and "Traceback" not in response.text
    assert body["detail"] == "the hub failed to handle this request; it has been logged"
    assert "internal detail" in caplog.text


def test_an_id_is_kept_as_given_spaces_and_all(client: TestClient) -> None:
    """`" sp "` was stored as `sp`: the app then asking for `" sp "` was told 404, and its `x` and `" x"` were one."""
    padded = client.post(PEOPLE, json={"people": {"id": [ext("crm", " sp ")]}})
    assert padded.status_code == 201, padded.text
    found = client.get(f"{PEOPLE}/%20sp%20", params={"opts[provider]": "crm", "opts[realm]": "2243"})
    assert found.status_code == 200 and found.json()["people"]["id"] == padded.json()["people"]["id"]
    assert client.post(PEOPLE, json={"people": {"id": [ext("crm", "sp")]}}).status_code == 201  # another id
    problem(client.post(PEOPLE, json={"people": {"id": [ext("crm", "   ")]}}), 422, "blank")


@pytest.mark.parametrize(
    "fields",
    [
        {"last_name": "zed\u0000hidden"},
        {"email": {"address": "a\u0000@x.io"}},
        {"organization_id": "a\u0000"},
        {"birth_date": "1985-01-29T10:00:00Z\u0000hidden"},  # Python's parser ended the offset there: stored, cut
        {"birth_date": "1985-01-29T10:00:00+01:00\u0000"},
    ],
)
def test_a_text_holding_u0000_is_422(client: TestClient, fields: dict[str, Any]) -> None:
    """SQLite's JSON functions end a string at U+0000: `last_name eq 'zed'` found `zed<NUL>hidden`."""
    problem(client.post(PEOPLE, json={"people": fields}), 422, "U+0000")
    nothing_written(client)


@pytest.mark.parametrize("group_id", [".x", "-x", "a" * 65])
def test_a_malformed_group_id_is_400_saying_its_shape(client: TestClient, keys: Keys, group_id: str) -> None:
    """`.x` was refused by a message listing `.` among the characters allowed; an app's key was told "no group", as
    for a group it is not connected to, where no group can ever have that id."""
    problem(client.get(f"/api/v2/{group_id}/people"), 400, "the first a letter or digit")
    app = keys.app("crm", cld_1="2243")
    problem(client.get(f"/api/v2/{group_id}/people", headers=app), 400, "the first a letter or digit")


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        (5, "organization_id", "expected a hub id or an id array"),
        ("", "organization_id", "at least 1 character"),
        ([], "organization_id", "at least 1 item"),
        ([ext("crm", " ")], "organization_id.0.id", "must not be blank"),
        ([{"provider": "crm"}], "organization_id.0.realm", "required"),
    ],
)
def test_a_bad_reference_is_422_naming_where_in_plain_words(
    client: TestClient, value: Any, field: str, message: str
) -> None:
    """Each error named the field with pydantic's internals (`organization_id.list[ExternalIdIn].0.id`,
    `organization_id.function-after[without_nul(), constrained-str]`), once per form a reference may take."""
    body = problem(client.post(PEOPLE, json={"people": {"organization_id": value}}), 422)
    first = body["errors"][0]
    assert (first["field"], message in first["message"]) == (field, True), body
    assert "[" not in body["detail"], body["detail"]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v2/cld-1/people", {"$count": "x" * 500}),
        ("/api/v2/cld-1/people", {"$orderby": "first_name " + "x" * 500}),
        ("/api/v2/cld-1/people", {"$filter": "x" * 500 + " eq 1"}),
        ("/api/v2/cld-1/key_links", {"integration_system_id": "9" * 500}),
        ("/api/v2/cld-1/" + "x" * 500, {}),
    ],
)
def test_a_long_value_a_problem_quotes_is_cut(client: TestClient, path: str, params: dict[str, str]) -> None:
    """A problem quotes what was sent cut to 40 characters (`errors.quoted`): these came back whole, or cut without
    saying so."""
    answer = client.get(path, params=params)
    assert answer.status_code in (400, 404), answer.text
    detail = answer.json()["detail"]
    assert "x" * 41 not in detail and "9" * 41 not in detail and "…" in detail, detail
