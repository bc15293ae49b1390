"""The merge history of a record comes in pages, newest first: `$top` entries a page (each may take megabytes), and
`next` carries a `$skiptoken` naming the last merge shown, so that merges and undos between pages neither show an
entry twice nor pass over one."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from tests.api.records import BASE, create, ext

DEFAULT_TOP, MAX_TOP = 10, 20


def merged_into(client: TestClient, survivor: str, count: int) -> list[str]:
    """Merge `count` new organizations into `survivor`, one merge each; the merge ids, oldest first."""
    made = []
    for n in range(count):
        other = create(client, "organizations", name=f"O{n}")
        answer = client.post(f"{BASE}/organizations/{survivor}/merge", json={"records": [other["id"]]})
        assert answer.status_code == 200, answer.text
        made.append(answer.json()["merge"]["id"])
    return made


def walk(client: TestClient, url: str, between: Any = None) -> tuple[list[str], list[dict[str, Any]]]:
    """The merge ids along the next links, and each page's pagination; `between` runs after each page."""
    shown: list[str] = []
    pages: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        answer = client.get(next_url)
        assert answer.status_code == 200, answer.text
        shown += [entry["id"] for entry in answer.json()["merges"]]
        pages.append(answer.json()["pagination"])
        if between:
            between()
        next_url = answer.json()["pagination"].get("next")
    return shown, pages


@pytest.fixture
def acme(client: TestClient) -> str:
    return str(create(client, "organizations", ext("salesforce", "eu", "acme"), name="Acme")["id"])


def test_the_history_comes_in_pages_newest_first_with_no_next_on_the_last(client: TestClient, acme: str) -> None:
    made = merged_into(client, acme, 5)
    shown, pages = walk(client, f"{BASE}/organizations/{acme}/merges?$top=2")
    assert shown == made[::-1]
    assert [(p["skip"], p["top"], p["total"]) for p in pages] == [(0, 2, None), (2, 2, None), (4, 2, None)]
    assert parse_qs(urlsplit(pages[0]["next"]).query)["$skiptoken"] == [f"{acme}.{made[3]}.2"]
    assert "next" not in pages[-1]
    deep = client.get(
        f"{BASE}/organizations/{acme}/merges", params={"$top": "2", "$skiptoken": f"{acme}.{made[4]}.{'9' * 18}"}
    )
    assert deep.json()["pagination"]["skip"] == 10**18 - 1 and client.get(deep.json()["pagination"]["next"]).is_success
    full, pages = walk(client, f"{BASE}/organizations/{acme}/merges?$top=5")
    assert full == made[::-1] and len(pages) == 1 and "next" not in pages[0]  # a full last page is the last


def test_a_page_holds_ten_merges_unless_top_says_otherwise_up_to_twenty(client: TestClient, acme: str) -> None:
    made = merged_into(client, acme, MAX_TOP + 1)
    first = client.get(f"{BASE}/organizations/{acme}/merges").json()
    assert [e["id"] for e in first["merges"]] == made[::-1][:DEFAULT_TOP]
    assert first["pagination"]["top"] == DEFAULT_TOP and "next" in first["pagination"]
    most = client.get(f"{BASE}/organizations/{acme}/merges", params={"$top": str(MAX_TOP)}).json()
    assert len(most["merges"]) == MAX_TOP


def test_the_pages_take_in_the_merges_of_the_records_merged_into_it(client: TestClient, acme: str) -> None:
    other = create(client, "organizations", ext("hubspot", "7", "other"), name="Other")["id"]
    earlier = merged_into(client, other, 3)
    joined = client.post(f"{BASE}/organizations/{acme}/merge", json={"records": [other]}).json()["merge"]["id"]
    later = merged_into(client, acme, 2)
    shown, _ = walk(client, f"{BASE}/organizations/{other}/merges?$top=2")  # a merged-away id shows its survivor's
    assert shown == [*later[::-1], joined, *earlier[::-1]]


def test_merges_and_undos_between_pages_neither_repeat_nor_pass_over_an_entry(client: TestClient, acme: str) -> None:
    made = merged_into(client, acme, 6)
    first = client.get(f"{BASE}/organizations/{acme}/merges", params={"$top": "2"}).json()
    assert [e["id"] for e in first["merges"]] == made[:3:-1]
    merged_into(client, acme, 2)  # newer: before the walk's place
    undo = client.post(f"{BASE}/organizations/{acme}/unmerge", json={"merge_id": made[5]})
    assert undo.status_code == 200, undo.text
    rest, _ = walk(client, first["pagination"]["next"])
    assert rest == made[3::-1]  # by $skip=2 the two new merges would have shown made[5] and made[4] again


def test_a_walk_goes_on_after_the_record_is_merged_into_another(client: TestClient) -> None:
    older = create(client, "organizations", ext("zoho", "z", "older"), name="Older")["id"]
    acme = create(client, "organizations", ext("salesforce", "eu", "acme"), name="Acme")["id"]
    made = merged_into(client, acme, 4)
    first = client.get(f"{BASE}/organizations/{acme}/merges", params={"$top": "2"}).json()
    response = client.post(f"{BASE}/organizations/{acme}/merge", json={"records": [older]})
    assert response.status_code == 200 and response.json()["organizations"]["id"] == older  # the oldest survives
    rest, _ = walk(client, first["pagination"]["next"])  # the path's id now shows its survivor's history
    assert rest == made[1::-1]


def test_a_walk_goes_on_when_the_merge_that_brought_its_place_in_is_undone(client: TestClient, acme: str) -> None:
    own = merged_into(client, acme, 1)
    other = create(client, "organizations", ext("hubspot", "7", "other"), name="Other")["id"]
    theirs = merged_into(client, other, 1)
    joined = client.post(f"{BASE}/organizations/{acme}/merge", json={"records": [other]}).json()["merge"]["id"]
    first = client.get(f"{BASE}/organizations/{acme}/merges", params={"$top": "2"}).json()
    assert [e["id"] for e in first["merges"]] == [joined, *theirs]  # the page ends on a merge of the other's
    undo = client.post(f"{BASE}/organizations/{acme}/unmerge", json={"merge_id": joined})
    assert undo.status_code == 200, undo.text
    rest, _ = walk(client, first["pagination"]["next"])  # that merge left the history; the walk did not
    assert rest == own


def test_a_walk_by_a_merged_away_id_goes_on_when_its_merge_is_undone(client: TestClient, acme: str) -> None:
    other = create(client, "organizations", ext("hubspot", "7", "other"), name="Other")["id"]
    theirs = merged_into(client, other, 3)
    joined = client.post(f"{BASE}/organizations/{acme}/merge", json={"records": [other]}).json()["merge"]["id"]
    later = merged_into(client, acme, 2)
    first = client.get(f"{BASE}/organizations/{other}/merges", params={"$top": "2"}).json()
    assert [e["id"] for e in first["merges"]] == later[::-1]  # the survivor's history
    undo = client.post(f"{BASE}/organizations/{acme}/unmerge", json={"merge_id": joined})
    assert undo.status_code == 200, undo.text
    rest, _ = walk(client, first["pagination"]["next"])  # the path's id names the other again: its own history
    assert rest == [joined, *theirs[::-1]]


def test_a_walk_by_an_apps_id_goes_on_when_the_merge_that_took_the_id_is_undone(client: TestClient, acme: str) -> None:
    """The token named the record the app's id was on, its survivor; given back by the undo, the id names the other
    record, and the next link the hub had just given was a 400 naming no merge, in the middle of the walk."""
    other = create(client, "organizations", ext("hubspot", "7", "other"), name="Other")["id"]
    theirs = merged_into(client, other, 3)
    joined = client.post(f"{BASE}/organizations/{acme}/merge", json={"records": [other]}).json()["merge"]["id"]
    later = merged_into(client, acme, 2)
    by_app = {"opts[provider]": "hubspot", "opts[realm]": "7", "$top": "2"}
    first = client.get(f"{BASE}/organizations/other/merges", params=by_app).json()
    assert [e["id"] for e in first["merges"]] == later[::-1]  # the survivor's history
    undo = client.post(f"{BASE}/organizations/{acme}/unmerge", json={"merge_id": joined})
    assert undo.status_code == 200, undo.text
    rest, _ = walk(client, first["pagination"]["next"])  # the app's id names the other again: its own history
    assert rest == [joined, *theirs[::-1]]
    by_other_app = {"opts[provider]": "salesforce", "opts[realm]": "eu", "$top": "2"}
    token = parse_qs(urlsplit(first["pagination"]["next"]).query)["$skiptoken"][0]
    answer = client.get(f"{BASE}/organizations/acme/merges", params={**by_other_app, "$skiptoken": token})
    assert answer.status_code == 400 and "this record's history" in answer.json()["detail"]  # another walk's token


def test_an_entry_shows_times_and_dates_as_the_records_do(client: TestClient) -> None:
    """The entry kept them in the stored form: a birth date the records show as `1985-01-29T00:00:00Z` read
    `1985-01-29T00:00:00.000000Z` in its `before`, `after` and `requested`, so an app comparing them saw a change."""
    ada = create(client, "people", first_name="Ada", birth_date="1985-01-29")
    bo = create(client, "people", first_name="Bo", birth_date="1985-01-29T01:00:00+01:00")
    body = {"records": [bo["id"]], "fields": {"birth_date": "1990-05-05T02:00:00+02:00"}}
    merged = client.post(f"{BASE}/people/{ada['id']}/merge", json=body)
    assert merged.status_code == 200, merged.text
    undone = client.post(f"{BASE}/people/{ada['id']}/unmerge", json={"merge_id": merged.json()["merge"]["id"]})
    assert undone.status_code == 200, undone.text
    history = client.get(f"{BASE}/people/{ada['id']}/merges").json()["merges"]
    for entry in (merged.json()["merge"], undone.json()["merge"], *history):
        assert entry["requested"] == {"birth_date": "1990-05-05T00:00:00Z"}
        assert [s["fields"]["birth_date"] for s in entry["before"]] == ["1985-01-29T00:00:00Z"] * 2
        assert entry["after"]["fields"]["birth_date"] == "1990-05-05T00:00:00Z"
    assert history[0]["before"][0]["created_at"] == ada["created_at"]


def test_a_token_of_another_records_history_is_a_400(client: TestClient, acme: str) -> None:
    merged_into(client, acme, 3)
    other = create(client, "organizations", ext("hubspot", "7", "other"), name="Other")["id"]
    merged_into(client, other, 3)
    theirs = client.get(f"{BASE}/organizations/{other}/merges", params={"$top": "1"}).json()["pagination"]["next"]
    token = parse_qs(urlsplit(theirs).query)["$skiptoken"][0]
    answer = client.get(f"{BASE}/organizations/{acme}/merges", params={"$skiptoken": token})
    assert answer.status_code == 400 and answer.headers["content-type"] == "application/problem+json"
    assert "$skiptoken" in answer.json()["detail"] and "this record's history" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"$top": "0"}, "$top must be a whole number from 1 to 20"),
        ({"$top": str(MAX_TOP + 1)}, "$top must be a whole number from 1 to 20"),
        ({"$top": "ten"}, "$top must be a whole number"),
        ({"$skiptoken": "nope"}, "$skiptoken 'nope' is not one this hub made"),
        ({"$skiptoken": "{acme}.0190f0e0-0000-7000-8000-000000000000.2"}, "$skiptoken: no merge"),
        ({"$skip": "2"}, "unknown query parameter(s): '$skip'"),
    ],
)
def test_a_bad_page_is_a_400_naming_the_parameter(
    client: TestClient, acme: str, query: dict[str, str], says: str
) -> None:
    merged_into(client, acme, 1)
    params = {name: value.format(acme=acme) for name, value in query.items()}
    answer = client.get(f"{BASE}/organizations/{acme}/merges", params=params)
    assert answer.status_code == 400 and answer.headers["content-type"] == "application/problem+json"
    assert says in answer.json()["detail"], answer.json()
