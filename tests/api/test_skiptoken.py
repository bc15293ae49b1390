"""`next` in code order carries a `$skiptoken`: pages start after the last code seen, not after `$skip` records.

So paging neither skips a record when records before the page stop being listed (archived,
merged away, linked by the app that pages through `opts[linked]=false`) nor reads past
every earlier record to find a deep page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
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


def test_ordered_pages_keep_skip(people: TestClient) -> None:
    codes, pages = follow(people, f"{BASE}/people?$top=10&$orderby=first_name desc")
    assert len(codes) == 25 and len(set(codes)) == 25
    assert params(pages[0]["next"])["$skip"] == ["10"] and "$skiptoken" not in params(pages[0]["next"])


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"$skiptoken": "10.10", "$skip": "10"}, "without $skip and $orderby"),
        ({"$skiptoken": "10.10", "$orderby": "first_name"}, "without $skip and $orderby"),
        ({"$skiptoken": "PE10"}, "not one this hub made"),
        ({"$skiptoken": "10.-1"}, "not one this hub made"),
        ({"$skiptoken": "1" * 19 + ".1"}, "not one this hub made"),
    ],
)
def test_a_bad_token_is_a_400(people: TestClient, query: dict[str, str], says: str) -> None:
    answer = people.get(f"{BASE}/people", params=query)
    assert answer.status_code == 400 and answer.headers["content-type"] == "application/problem+json"
    assert says in answer.json()["detail"]
