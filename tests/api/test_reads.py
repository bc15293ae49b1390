"""Reading collections: pagination with next, $filter, $orderby, $select, opts[linked], and bad query strings."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.api.helpers import BASE, IDS, ext, post


@pytest.fixture
def people(client: TestClient) -> TestClient:
    rows = [
        ("Ada", "ada@example.com", "crm", "1990-05-01"),
        ("Bo", "bo@example.com", "crm", "1980-01-01"),
        ("Cy", "cy@example.org", "erp", "2001-12-31"),
        ("Di", None, "erp", None),
        ("Ed", "ed@example.com", None, "0975-07-07"),  # a year of three digits still sorts first
    ]
    for n, (name, email, app, born) in enumerate(rows):
        fields = {"first_name": name, "email": {"address": email} if email else None, "birth_date": born}
        post(client, "people", [ext(app, str(n))] if app else None, **{k: v for k, v in fields.items() if v})
    return client


def names(response: object) -> list[str]:
    return [p["first_name"] for p in response.json()["people"]]  # type: ignore[attr-defined]


def test_pages_follow_next_to_the_end(people: TestClient) -> None:
    url: str | None = f"{BASE}/people?$top=2"
    seen = []
    while url:
        page = people.get(url).json()
        assert page["pagination"]["total"] == 5 and page["pagination"]["top"] == 2
        seen += [p["first_name"] for p in page["people"]]
        url = page["pagination"].get("next")
    assert seen == ["Ada", "Bo", "Cy", "Di", "Ed"]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("first_name eq 'Bo'", ["Bo"]),
        ("first_name ne 'Bo'", ["Ada", "Cy", "Di", "Ed"]),
        ("email/address eq 'cy@example.org'", ["Cy"]),
        ("email/address eq null", ["Di"]),
        ("birth_date gt '1985-01-01' and birth_date lt 2000-01-01", ["Ada"]),
        ("birth_date ge '1980-01-01T00:00:00Z'", ["Ada", "Bo", "Cy"]),
        ("first_name in ('Ada', 'Ed') or birth_date lte '1980-01-01'", ["Ada", "Bo", "Ed"]),
        ("not (first_name eq 'Ada')", ["Bo", "Cy", "Di", "Ed"]),
        # A comparison with a missing field is false, never unknown: `not` takes in the records without it.
        ("not (birth_date gt '1985-01-01')", ["Bo", "Di", "Ed"]),
        ("not (email/address in ('bo@example.com'))", ["Ada", "Cy", "Di", "Ed"]),
        ("birth_date in ('1980-01-01', null)", ["Bo", "Di"]),
        ("not (email/address in ('cy@example.org', null))", ["Ada", "Bo", "Ed"]),
        ("code eq 'PE3'", ["Cy"]),
        ("code gt 'PE3'", ["Di", "Ed"]),
        ("code eq 'PE99999999999999999999'", []),
        ("updated_at gt '2000-01-01T00:00:00Z'", ["Ada", "Bo", "Cy", "Di", "Ed"]),
        ("updated_at lt '2000-01-01T00:00:00Z'", []),
    ],
)
def test_filters(people: TestClient, expression: str, expected: list[str]) -> None:
    response = people.get(f"{BASE}/people", params={"$filter": expression})
    assert response.status_code == 200, response.text
    assert names(response) == expected
    assert response.json()["pagination"]["total"] == len(expected)


@pytest.mark.parametrize(
    "expression",
    ["birth_date lt '1985-01-01'", "email/address ge 'c' or birth_date le 2001-12-31", "first_name in ('Di', null)"],
)
def test_a_filter_and_its_not_split_the_collection(people: TestClient, expression: str) -> None:
    found = people.get(f"{BASE}/people", params={"$filter": expression})
    others = people.get(f"{BASE}/people", params={"$filter": f"not ({expression})"})
    assert sorted(names(found) + names(others)) == ["Ada", "Bo", "Cy", "Di", "Ed"]
    assert found.json()["pagination"]["total"] + others.json()["pagination"]["total"] == 5


def test_incremental_sync_by_updated_at(people: TestClient) -> None:
    last = people.get(f"{BASE}/people", params={"$orderby": "updated_at desc", "$top": "1"}).json()["people"][0]
    post(people, "people", [ext("crm", "1")], last_name="Changed")
    since = people.get(f"{BASE}/people", params={"$filter": f"updated_at gt '{last['updated_at']}'"})
    assert names(since) == ["Bo"]


def test_orderby_and_select(people: TestClient) -> None:
    by_name = people.get(f"{BASE}/people", params={"$orderby": "first_name desc"})
    assert names(by_name) == ["Ed", "Di", "Cy", "Bo", "Ada"]
    by_birth = people.get(f"{BASE}/people", params={"$orderby": "birth_date asc, first_name desc"})
    assert names(by_birth) == ["Di", "Ed", "Bo", "Ada", "Cy"]
    assert by_birth.json()["people"][1]["birth_date"] == "0975-07-07T00:00:00Z"
    selected = people.get(f"{BASE}/people", params={"$select": "first_name,code", "$top": "1"}).json()["people"]
    assert set(selected[0]) == {"id", "first_name", "code"}
    one = people.get(f"{BASE}/people/1", params={"opts[provider]": "crm", "opts[realm]": "2243", "$select": "email"})
    assert one.json()["people"] == {"id": one.json()["people"]["id"], "email": {"address": "bo@example.com"}}


def test_a_field_named_again_in_orderby_keeps_its_first_direction(people: TestClient) -> None:
    """A repeat orders nothing: the first names the direction, and the last key left says the ties' direction."""
    again = people.get(f"{BASE}/people", params={"$orderby": "first_name, first_name desc"})
    assert names(again) == ["Ada", "Bo", "Cy", "Di", "Ed"]


def test_select_names_a_part_of_an_object_field_as_filter_does(people: TestClient) -> None:
    """`email/address` shows the address alone, in its object; a record without it shows no `email`; the whole
    object named beside one of its parts shows whole."""
    post(people, "people", [ext("crm", "9")], first_name="Fy", email={"address": "fy@x.io", "address2": "f@y.io"})
    crm = {"opts[provider]": "crm", "opts[realm]": "2243"}
    one = people.get(f"{BASE}/people/9", params={**crm, "$select": "email/address,first_name"}).json()["people"]
    assert one == {"id": one["id"], "first_name": "Fy", "email": {"address": "fy@x.io"}}
    listed = people.get(f"{BASE}/people", params={"$select": "email/address", "$orderby": "first_name"}).json()
    assert [{k: v for k, v in p.items() if k != "id"} for p in listed["people"]] == [
        {"email": {"address": "ada@example.com"}},
        {"email": {"address": "bo@example.com"}},
        {"email": {"address": "cy@example.org"}},
        {},
        {"email": {"address": "ed@example.com"}},
        {"email": {"address": "fy@x.io"}},
    ]
    whole = people.get(f"{BASE}/people/9", params={**crm, "$select": "email/address, email"}).json()["people"]
    assert whole["email"] == {"address": "fy@x.io", "address2": "f@y.io"}


@pytest.mark.parametrize("select", ["email/nothing", "first_name/part", "email/", "/email", "organization_id/id"])
def test_select_of_a_part_no_field_has_is_a_400_naming_it(people: TestClient, select: str) -> None:
    answer = people.get(f"{BASE}/people", params={"$select": select})
    assert answer.status_code == 400 and select in answer.json()["detail"], answer.json()


def test_an_update_or_an_archive_answers_with_the_fields_select_asks_for(people: TestClient) -> None:
    crm = {"opts[provider]": "crm", "opts[realm]": "2243"}
    put = people.put(f"{BASE}/people/1", params={**crm, "$select": "last_name"}, json={"people": {"last_name": "Z"}})
    assert put.status_code == 200, put.text
    assert put.json()["people"] == {"id": put.json()["people"]["id"], "last_name": "Z"}
    assert put.json()["result"] == "updated"
    archived = people.delete(f"{BASE}/people/1", params={**crm, "$select": "status,first_name"})
    assert archived.status_code == 200, archived.text
    assert archived.json()["people"] == {"id": put.json()["people"]["id"], "status": "ARCHIVED", "first_name": "Bo"}


def test_a_record_is_named_by_any_entry_of_its_id_array_the_hubs_own_too(people: TestClient) -> None:
    """The id array shows the hub id as {realm: <channel>, provider: connec, id}: named so by opts, it was a 404."""
    crm = {"opts[provider]": "crm", "opts[realm]": "2243"}
    shown = people.get(f"{BASE}/people/1", params=crm, headers=IDS).json()["people"]
    own = next(e for e in shown["id"] if e["provider"] == "connec")
    hub = {"opts[provider]": "connec", "opts[realm]": own["realm"]}
    assert people.get(f"{BASE}/people/{own['id']}", params=hub).json()["people"]["id"] == own["id"]
    put = people.put(f"{BASE}/people/{own['id']}", params=hub, json={"people": {"last_name": "Y"}})
    assert (put.status_code, put.json()["people"]["id"]) == (200, own["id"]), put.text
    history = people.get(f"{BASE}/people/{own['id']}/merges", params=hub)
    assert (history.status_code, history.json()["merges"]) == (200, [])
    other = {"opts[provider]": "connec", "opts[realm]": "org-00000000"}  # another group's channel: no such id here
    assert people.get(f"{BASE}/people/{own['id']}", params=other).status_code == 404
    held = people.get(f"{BASE}/people", params={**hub, "opts[linked]": "true"})
    assert (len(names(held)), held.json()["pagination"]["total"]) == (5, 5)  # every record holds the hub's own id
    lacking = people.get(f"{BASE}/people", params={**hub, "opts[linked]": "false"})
    assert (names(lacking), lacking.json()["pagination"]["total"]) == ([], 0)
    archived = people.delete(f"{BASE}/people/{own['id']}", params=hub)
    assert (archived.status_code, archived.json()["people"]["status"]) == (200, "ARCHIVED"), archived.text


def test_opts_linked_lists_what_an_app_holds_or_still_has_to_import(people: TestClient) -> None:
    crm = {"opts[provider]": "crm", "opts[realm]": "2243"}
    assert names(people.get(f"{BASE}/people", params={**crm, "opts[linked]": "true"})) == ["Ada", "Bo"]
    assert names(people.get(f"{BASE}/people", params={**crm, "opts[linked]": "false"})) == ["Cy", "Di", "Ed"]
    other_realm = {"opts[provider]": "crm", "opts[realm]": "9999", "opts[linked]": "false"}
    assert len(names(people.get(f"{BASE}/people", params=other_realm))) == 5


@pytest.mark.parametrize(
    ("expression", "field"),
    [
        ("number_of_employees lt '10'", "number_of_employees"),
        ("annual_revenue in (1.5, 'x')", "annual_revenue"),
        ("name gt 5", "name"),
        ("not (name le 5)", "name"),
        ("is_customer eq 1", "is_customer"),
        ("number_of_employees ne true", "number_of_employees"),
        ("status gt 0", "status"),
        ("id lt 5", "id"),
        ("updated_at gt 20260101", "updated_at"),
        ("created_at in ('2026-01-01', 20260101)", "created_at"),
    ],
)
def test_a_value_of_another_type_than_its_field_is_a_400(client: TestClient, expression: str, field: str) -> None:
    """SQLite orders numbers before text (`name gt 5` listed every named organization) where MongoDB compares
    values of one type only (it listed none), and holds true as 1: the two stores answered such a filter apart."""
    post(client, "organizations", [ext("crm", "1")], name="Acme", number_of_employees=5, is_customer=True)
    response = client.get(f"{BASE}/organizations", params={"$filter": expression})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in response.json()["detail"]


@pytest.mark.parametrize(
    ("param", "value", "words"),
    [
        ("$filter", "email eq 'ada@example.com'", "$filter: email is an object: name one of its parts (email/address,"),
        ("$filter", "address ne null", "$filter: address is an object: name one of its parts (address/line1,"),
        ("$orderby", "email desc", "$orderby: email is an object: name one of its parts (email/address,"),
        ("$filter", "shoe_size eq 4", "$filter: unknown field 'shoe_size'"),
        ("$select", "", "$select names no field: list them, comma-separated"),
        ("$select", " , ", "$select names no field: list them, comma-separated"),
    ],
)
def test_an_object_field_or_an_empty_select_says_what_to_name(
    client: TestClient, param: str, value: str, words: str
) -> None:
    """`email eq '…'` was an "unknown field 'email'", though `email` is a field whose parts are compared, and an
    empty `$select` "unknown field(s): (none given)"."""
    response = client.get(f"{BASE}/people", params={param: value})
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith(words), response.json()


@pytest.mark.parametrize(
    ("expression", "shown"),
    [
        ("name eq true", "not true"),
        ("name in ('Acme', false)", "not false"),
        ("number_of_employees ne 'it''s'", "not 'it''s'"),
        ("number_of_employees gt '" + "x" * 100 + "'", "not '" + "x" * 39 + "…"),
        ("status eq 'archived'", "not 'archived'"),
    ],
)
def test_a_refused_value_is_shown_as_the_filter_writes_it(client: TestClient, expression: str, shown: str) -> None:
    """The value was shown as Python writes it: `True`, `"it's"`, and a text of any length whole."""
    response = client.get(f"{BASE}/organizations", params={"$filter": expression})
    assert response.status_code == 400, response.text
    assert response.json()["detail"].endswith(shown), response.json()


@pytest.mark.parametrize("code", ["'XX1'", "'OR1'", "'PE99999999999999999999'"])
@pytest.mark.parametrize("op", ["gt", "le"])
def test_code_is_ordered_against_a_code_of_its_collection_only(people: TestClient, op: str, code: str) -> None:
    """A text that is no code of people (or one past any code) compared as -1, the number of no record: so
    `code gt 'PE99999999999999999999'` listed every record and `code le` it none, the order backwards."""
    response = people.get(f"{BASE}/people", params={"$filter": f"code {op} {code}"})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "code is compared in order with a code of people" in response.json()["detail"]
    assert code in response.json()["detail"]


def test_a_code_past_the_last_but_of_18_digits_is_no_error(people: TestClient) -> None:
    """The README's "past any code" read as past the last code in use; it is a number longer than a code can be."""
    for code in ("PE999", "PE999999999999999999"):
        response = people.get(f"{BASE}/people", params={"$filter": f"code gt '{code}'"})
        assert response.status_code == 200 and response.json()["people"] == []


@pytest.mark.parametrize(
    "expression",
    [
        "number_of_employees lt 10.5",
        "annual_revenue eq null",
        "is_customer ne false",
        "code gt 0",
        "name in ('Acme', null)",
    ],
)
def test_a_value_of_the_fields_type_or_null_is_compared(client: TestClient, expression: str) -> None:
    post(client, "organizations", [ext("crm", "1")], name="Acme", number_of_employees=5, is_customer=True)
    response = client.get(f"{BASE}/organizations", params={"$filter": expression})
    assert response.status_code == 200, response.text
    assert [o["name"] for o in response.json()["organizations"]] == ["Acme"]


@pytest.mark.parametrize(
    ("params", "names_in_detail"),
    [
        ({"$top": "0"}, "$top"),
        ({"$top": "100000"}, "$top"),
        ({"$skip": "-1"}, "$skip"),
        ({"$filter": "first_name eq"}, "$filter"),
        ({"$filter": "shoe_size eq 4"}, "shoe_size"),
        ({"$filter": "birth_date gt 'yesterday'"}, "birth_date"),
        ({"$filter": "birth_date gt '9999-12-31T23:00:00-05:00'"}, "birth_date"),
        ({"$filter": "first_name eq 99999999999999999999"}, "out of range"),
        ({"$orderby": "first_name sideways"}, "$orderby"),
        ({"$orderby": "nope asc"}, "nope"),
        ({"$select": "first_name,nope"}, "nope"),
        ({"opts[provider]": "crm"}, "opts[realm]"),
        ({"opts[linked]": "true"}, "opts[linked]"),
        ({"opts[provider]": "crm", "opts[realm]": "1", "opts[linked]": "maybe"}, "opts[linked]"),
        ({"$expand": "all"}, "$expand"),
    ],
)
def test_bad_query_strings_are_400_naming_the_problem(
    people: TestClient, params: dict[str, str], names_in_detail: str
) -> None:
    response = people.get(f"{BASE}/people", params=params)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert names_in_detail in response.json()["detail"]


def test_a_404_quotes_the_path_id_cut_short(people: TestClient) -> None:
    """A path id is bounded by the request line alone (16 KiB): the 404 sent it all back, by hub id or an app's."""
    for params in ({}, {"opts[provider]": "crm", "opts[realm]": "2243"}):
        answer = people.get(f"{BASE}/people/{'x' * 10_000}", params=params)
        detail = answer.json()["detail"]
        assert answer.status_code == 404 and len(detail) < 200 and f"{'x' * 40!r}…" in detail, detail


def test_a_filter_number_may_have_an_exponent(client: TestClient) -> None:
    """`1.5e6`, as OData writes a double, compares as the number it is, on a decimal and on a whole-number field."""
    for name, revenue, staff in (("Small", 1e6, 10), ("Large", 2e6, 1000)):
        post(client, "organizations", name=name, annual_revenue=revenue, number_of_employees=staff)
    for expression in ("annual_revenue gt 1.5e6", "number_of_employees ge 1E2", "annual_revenue eq 2e6"):
        listed = client.get(f"{BASE}/organizations", params={"$filter": expression}).json()["organizations"]
        assert [o["name"] for o in listed] == ["Large"], expression
