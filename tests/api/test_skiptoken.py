"""`next` carries a `$skiptoken`: pages start after the last record seen (its code, and under `$orderby` its sort
values), not after `$skip` records.

So paging neither skips a record when records before the page stop being listed (archived,
merged away, linked by the app that pages through `opts[linked]=false`, edited past it) nor reads past
every earlier record to find a deep page.
"""

from __future__ import annotations

import base64
import zlib
from collections import Counter
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson
import pytest
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from starlette.testclient import TestClient

from tests.api.helpers import BASE, IDS, ext

APP = {"opts[provider]": "erp", "opts[realm]": "2243"}


@pytest.fixture
def people(client: TestClient) -> TestClient:
    """25 people PE1…PE25, each held by the crm app as c1…c25."""
    batch = [{"id": [ext("crm", f"c{n}")], "first_name": f"P{n}"} for n in range(1, 26)]
    assert client.post(f"{BASE}/people", json={"people": batch}).status_code == 200
    return client


def follow(client: TestClient, url: str, between: Any = None) -> tuple[list[str], list[dict[str, Any]]]:
    """Every record's code along the next links, and each page's pagination; `between` runs on each page first."""
    codes: list[str] = []
    pages: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        answer = client.get(next_url, headers=IDS)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        codes += [p["code"] for p in body["people"]]
        pages.append(body["pagination"])
        if between:
            between(body["people"])
        next_url = body["pagination"].get("next")
    return codes, pages


def params(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_next_carries_a_token_in_place_of_skip(people: TestClient) -> None:
    codes, pages = follow(people, f"{BASE}/people?$top=10&$skip=0&$select=first_name,code")
    assert codes == [f"PE{n}" for n in range(1, 26)]
    assert [(p["skip"], p["top"], p["total"]) for p in pages] == [(0, 10, 25), (10, 10, 25), (20, 10, 25)]
    first = params(pages[0]["next"])
    assert "$skip" not in first and first["$top"] == ["10"] and first["$select"] == ["first_name,code"]
    assert first["$skiptoken"] == ["10.10"]
    assert "next" not in pages[-1]


def test_a_full_last_page_after_a_token_is_followed_by_an_empty_one(people: TestClient) -> None:
    codes, pages = follow(people, f"{BASE}/people?$top=5")
    assert codes == [f"PE{n}" for n in range(1, 26)]
    assert [p["skip"] for p in pages] == [0, 5, 10, 15, 20, 25]  # the sixth page is empty and the last


def test_records_archived_before_the_page_do_not_shift_it(people: TestClient) -> None:
    first = people.get(f"{BASE}/people", params={"$top": "10"}).json()
    for person in first["people"][:3]:
        assert people.delete(f"{BASE}/people/{person['id']}").status_code == 200
    rest, pages = follow(people, first["pagination"]["next"])
    assert rest == [f"PE{n}" for n in range(11, 26)]  # after $skip=10 of the 22 left it would start at PE14
    assert pages[0]["total"] == 22


def test_an_app_linking_back_each_page_of_what_it_lacks_sees_every_record_once(people: TestClient) -> None:
    def link_back(page: list[dict[str, Any]]) -> None:
        for person in page:
            ids = [*person["id"], ext("erp", f"e-{person['code']}")]
            assert people.post(f"{BASE}/people", json={"people": {"id": ids}}).status_code == 200

    query = "&".join(f"{k}={v}" for k, v in {**APP, "opts[linked]": "false", "$top": "7"}.items())
    codes, _ = follow(people, f"{BASE}/people?{query}", link_back)
    assert codes == [f"PE{n}" for n in range(1, 26)]  # by $skip, each page would pass over as many as it linked
    assert people.get(f"{BASE}/people", params={**APP, "opts[linked]": "false"}).json()["pagination"]["total"] == 0


def test_new_records_show_on_later_pages(people: TestClient) -> None:
    first = people.get(f"{BASE}/people", params={"$top": "20"}).json()
    people.post(f"{BASE}/people", json={"people": {"id": [ext("crm", "c26")]}})
    rest, _ = follow(people, first["pagination"]["next"])
    assert rest == [f"PE{n}" for n in range(21, 27)]


def test_ordered_pages_carry_a_token_with_the_order(people: TestClient) -> None:
    codes, pages = follow(people, f"{BASE}/people?$top=10&$orderby=first_name desc&$select=code")
    assert codes == [f"PE{n}" for n in sorted(range(1, 26), key=lambda n: f"P{n}", reverse=True)]
    assert [(p["skip"], p["total"]) for p in pages] == [(0, 25), (10, 25), (20, 25)]
    link = params(pages[0]["next"])
    assert "$skip" not in link and link["$orderby"] == ["first_name desc"] and link["$skiptoken"][0].endswith(".10")


def test_ordered_records_archived_before_the_page_do_not_shift_it(people: TestClient) -> None:
    first = people.get(f"{BASE}/people", params={"$top": "10", "$orderby": "first_name"}, headers=IDS).json()
    for person in first["people"][:4]:
        assert people.delete(f"{BASE}/people/{person['id'][-1]['id']}").status_code == 200
    rest, pages = follow(people, first["pagination"]["next"])
    everyone = sorted(range(1, 26), key=lambda n: f"P{n}")
    assert rest == [f"PE{n}" for n in everyone[10:]]  # after $skip=10 of the 21 left, four would be passed over
    assert pages[0]["total"] == 21


def test_a_sync_by_updated_at_sees_each_record_once_and_an_edited_one_again_later(people: TestClient) -> None:
    url = f"{BASE}/people?$top=5&$orderby=updated_at asc&$filter=updated_at gt '2000-01-01'"
    edited: list[str] = []

    def edit_the_first_of_a_page(page: list[dict[str, Any]]) -> None:
        if len(edited) < 3:
            edited.append(page[0]["code"])
            ids = {"id": page[0]["id"], "first_name": f"edited {page[0]['code']}"}
            assert people.post(f"{BASE}/people", json={"people": ids}, headers=IDS).status_code == 200

    codes, _ = follow(people, url, edit_the_first_of_a_page)
    assert Counter(codes) == Counter([f"PE{n}" for n in range(1, 26)] + edited)
    assert codes[-3:] == edited  # each edit moved its record to the end of the order, past the walk


ORDERS = [
    "name",
    "name desc",
    "name asc, number_of_employees desc",
    "number_of_employees, is_customer desc",
    "is_customer, annual_revenue desc, name",
    "annual_revenue",
    "email/address desc",
    "industry desc, code desc",
    "id desc",
    "created_at desc, name",
    "status, updated_at desc",
]


@pytest.fixture
def organizations(client: TestClient) -> TestClient:
    """23 organizations whose values tie and go missing: every kind of sort key, nulls first or last."""
    batch = [
        {
            "id": [ext("crm", f"o{n}")],
            "name": f"Org {n % 4}",
            "industry": None if n % 3 == 0 else f"industry {n % 5}",
            "number_of_employees": None if n % 4 == 1 else n % 6,
            "annual_revenue": None if n % 5 == 2 else (n % 7) * 1.5,
            "is_customer": None if n % 6 == 3 else n % 2 == 0,
            "email": {"address": f"o{n % 8}@example.com"} if n % 7 else None,
        }
        for n in range(23)
    ]
    assert client.post(f"{BASE}/organizations", json={"organizations": batch}).status_code == 200
    return client


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("where", [None, "number_of_employees ne 2"])
def test_an_ordered_walk_shows_the_one_page_order(organizations: TestClient, order: str, where: str | None) -> None:
    query = {"$orderby": order, "$select": "code"} | ({"$filter": where} if where else {})
    whole = organizations.get(f"{BASE}/organizations", params={**query, "$top": "100"}).json()["organizations"]
    walked: list[str] = []
    url: str | None = f"{BASE}/organizations?{urlencode({**query, '$top': '4'})}"
    while url:
        body = organizations.get(url).json()
        walked += [o["code"] for o in body["organizations"]]
        url = body["pagination"].get("next")
    assert walked == [o["code"] for o in whole] and len(whole) > 15


def _long_notes(client: TestClient) -> None:
    """PE1 and PE2 get notes too long for a link's token, PE3 short ones; the others have none."""
    for n, notes in ((1, "€" * 4096), (2, "€" * 4096), (3, "short")):
        client.post(f"{BASE}/people", json={"people": {"id": [ext("crm", f"c{n}")], "notes": notes}})


def test_a_token_starts_after_the_last_record_whose_sort_values_fit_a_link(people: TestClient) -> None:
    _long_notes(people)
    first = people.get(f"{BASE}/people", params={"$top": "24", "$orderby": "notes", "$select": "code"}).json()
    assert [p["code"] for p in first["people"]][-2:] == ["PE3", "PE1"]  # the 22 without notes first
    link = params(first["pagination"]["next"])
    assert "$skip" not in link and link["$skiptoken"][0].endswith(".23")  # after PE3: PE1 shows again
    codes, _ = follow(people, first["pagination"]["next"])
    assert codes == ["PE1", "PE2"]


def test_sort_values_too_long_for_a_link_move_skip_on(people: TestClient) -> None:
    _long_notes(people)
    first = people.get(f"{BASE}/people", params={"$top": "2", "$orderby": "notes desc"}).json()
    link = params(first["pagination"]["next"])
    assert link["$skip"] == ["2"] and "$skiptoken" not in link
    after = people.get(first["pagination"]["next"]).json()
    assert after["pagination"]["skip"] == 2 and "$skiptoken" in params(after["pagination"]["next"])
    codes, _ = follow(people, f"{BASE}/people?$top=2&$orderby=notes desc")
    assert sorted(codes) == sorted(f"PE{n}" for n in range(1, 26))


def _token(client: TestClient, order: str) -> str:
    answer = client.get(f"{BASE}/people", params={"$top": "2", "$orderby": order}).json()
    return params(answer["pagination"]["next"])["$skiptoken"][0]


def _forged(values: list[Any], order: list[tuple[str, bool]]) -> str:
    """A token of the hub's shape for `order`, with `values` of the caller's choosing."""
    made = orjson.dumps([1, zlib.crc32(orjson.dumps([list(o) for o in order])), values])
    return base64.urlsafe_b64encode(made).rstrip(b"=").decode() + ".2"


def test_an_ordered_token_goes_with_its_own_order(people: TestClient) -> None:
    token = _token(people, "first_name desc")
    assert people.get(f"{BASE}/people", params={"$skiptoken": token, "$orderby": "first_name desc"}).status_code == 200
    for query in ({"$orderby": "first_name"}, {"$orderby": "last_name desc"}, {"$orderby": "first_name desc,code"}):
        answer = people.get(f"{BASE}/people", params={"$skiptoken": token, **query})
        assert answer.status_code == 400 and "made for another $orderby" in answer.json()["detail"], query
    answer = people.get(f"{BASE}/people", params={"$skiptoken": token})
    assert answer.status_code == 400 and "not one this hub made" in answer.json()["detail"]


def test_a_token_of_a_descending_order_whose_ties_came_ascending_is_a_400(people: TestClient) -> None:
    """Ties by code come in the direction of the last key; a walk going on from a token made while they came
    ascending would pass over the ties after it, so such a token (its order's number without the ties) is refused."""
    order = [("first_name", True)]
    answer = people.get(f"{BASE}/people", params={"$skiptoken": _forged(["Ann"], order), "$orderby": "first_name desc"})
    assert answer.status_code == 400 and "start the walk again" in answer.json()["detail"], answer.text
    asc = people.get(
        f"{BASE}/people", params={"$skiptoken": _forged(["Ann"], [("first_name", False)]), "$orderby": "first_name"}
    )
    assert asc.status_code == 200


@pytest.mark.parametrize(
    ("values", "order"),
    [
        ([5], [("first_name", False)]),
        ([True], [("updated_at", False)]),
        ([2**63], [("code", False)]),
        ([{"a": 1}], [("first_name", False)]),
    ],
)
def test_a_token_of_values_the_fields_cannot_hold_is_a_400(
    people: TestClient, values: list[Any], order: list[tuple[str, bool]]
) -> None:
    query = {"$orderby": ",".join(f"{name} {'desc' if desc else 'asc'}" for name, desc in order)}
    answer = people.get(f"{BASE}/people", params={"$skiptoken": _forged(values, order), **query})
    assert answer.status_code == 400 and "not one this hub made" in answer.json()["detail"], answer.text


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"$skiptoken": "10.10", "$skip": "10"}, "without $skip"),
        ({"$skiptoken": "10.10", "$orderby": "first_name"}, "not one this hub made"),
        ({"$skiptoken": "bm90IGpzb24.10", "$orderby": "first_name"}, "not one this hub made"),
        ({"$skiptoken": "W10.10", "$orderby": "first_name"}, "not one this hub made"),
        ({"$skiptoken": "x" * 9000 + ".10"}, "not one this hub made"),
        ({"$skiptoken": "PE10"}, "not one this hub made"),
        ({"$skiptoken": "10.-1"}, "not one this hub made"),
        ({"$skiptoken": "1" * 19 + ".1"}, "not one this hub made"),
    ],
)
def test_a_bad_token_is_a_400(people: TestClient, query: dict[str, str], says: str) -> None:
    answer = people.get(f"{BASE}/people", params=query)
    assert answer.status_code == 400 and answer.headers["content-type"] == "application/problem+json"
    assert says in answer.json()["detail"] and len(answer.json()["detail"]) < 200


def test_a_next_link_fits_the_request_head_the_hub_reads(people: TestClient) -> None:
    """A token of sort values under 8,000 characters beside a long `%`-escaped `$filter` made a link the server
    refused ("Receive buffer too long") wherever its head came in more than one packet."""
    for n in (1, 2, 3):
        notes = f"{n}" + "n" * 4000
        people.post(f"{BASE}/people", json={"people": {"id": [ext("crm", f"c{n}")], "notes": notes, "title": "一"}})
    query = {"$orderby": "notes desc", "$filter": f"title ne '{'一' * 1300}'", "$select": "code", "$top": "1"}
    first = people.get(f"{BASE}/people", params=query).json()["pagination"]["next"]
    url = urlsplit(first)
    assert len(f"GET {url.path}?{url.query} HTTP/1.1\r\n") + 4096 <= DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
    codes, _ = follow(people, f"{BASE}/people?{urlencode(query)}")
    assert codes == ["PE3", "PE2", "PE1", *[f"PE{n}" for n in range(25, 3, -1)]]  # those without notes last, ties desc


def test_the_count_a_token_carries_stays_one_the_hub_reads(people: TestClient) -> None:
    first = people.get(f"{BASE}/people", params={"$skiptoken": f"0.{'9' * 18}", "$top": "10"}).json()
    assert first["pagination"]["skip"] == 10**18 - 1
    assert people.get(first["pagination"]["next"]).status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "$top=10",
        "$top=5&$filter=first_name ne 'nobody'",
        "$top=7&$orderby=first_name desc",
        "$top=2&$orderby=notes desc",  # PE1 and PE2 come first, their notes too long for a link: `$skip`
    ],
)
def test_without_a_count_next_follows_full_pages(people: TestClient, query: str) -> None:
    _long_notes(people)
    codes, pages = follow(people, f"{BASE}/people?$count=false&{query}")
    assert sorted(codes) == sorted(f"PE{n}" for n in range(1, 26)) and len(codes) == 25
    assert all(p["total"] is None for p in pages)


def test_count_is_true_or_false(people: TestClient) -> None:
    assert people.get(f"{BASE}/people", params={"$count": "true"}).json()["pagination"]["total"] == 25
    answer = people.get(f"{BASE}/people", params={"$count": "yes"})
    assert answer.status_code == 400 and "$count is true or false" in answer.json()["detail"]
