"""Checks the id map as a collection: integration systems, entity types, key link search, link, move, unlink."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from hub.app import create_app
from hub.config import Settings
from hub.model.key_link import position_of, position_parts, stable_id
from hub.model.keyset import MAX_POSITION
from tests.api.records import BASE, app_ids, create, ext, get
from tests.conftest import Keys, admin_client

SF = ext("salesforce", "eu", "0012D")
HS = ext("hubspot", "7", "h-1")


def links(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    response = client.get(f"{BASE}/key_links", params=params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["key_links"]
    return found


def link_body(record: dict[str, Any], provider: str = "salesforce", external_id: str = "new-1") -> dict[str, Any]:
    return {
        "entity_type": "organizations",
        "internal_id": record["id"],
        "provider": provider,
        "realm": "eu",
        "external_id": external_id,
    }


def test_integration_systems_are_the_hub_and_every_provider_holding_a_link(client: TestClient) -> None:
    assert client.get("/api/v2/integration_systems").json() == {
        "integration_systems": [{"integration_system_id": stable_id("connec"), "system_name": "connec"}]
    }
    create(client, "organizations", SF, name="Acme")
    create(client, "people", HS, first_name="Ann")
    names = [s["system_name"] for s in client.get("/api/v2/integration_systems").json()["integration_systems"]]
    assert names == ["connec", "hubspot", "salesforce"]
    found = client.get("/api/v2/integration_systems", params={"system_name": "HubSpot"}).json()
    assert found == {"integration_systems": [{"integration_system_id": stable_id("hubspot"), "system_name": "hubspot"}]}
    assert client.get("/api/v2/integration_systems", params={"system_name": "nope"}).json()["integration_systems"] == []


def test_system_ids_stay_the_same_across_restarts(settings: Settings) -> None:
    numbers = []
    for _ in range(2):
        with admin_client(create_app(settings)) as client:
            if not numbers:
                create(client, "organizations", SF, name="Acme")
            numbers.append(client.get("/api/v2/integration_systems").json())
    assert numbers[0] == numbers[1]


def test_entity_types_are_the_collections(client: TestClient) -> None:
    every = client.get("/api/v2/entity_types").json()["entity_types"]
    assert [t["entity_type_name"] for t in every] == ["people", "organizations"]
    assert len({t["integration_entity_type_id"] for t in every}) == 2
    found = client.get("/api/v2/entity_types", params={"entity_type_name": "People"}).json()["entity_types"]
    assert found == [{"integration_entity_type_id": stable_id("people"), "entity_type_name": "people"}]
    assert client.get("/api/v2/entity_types", params={"entity_type_name": "Bill"}).json()["entity_types"] == []


@pytest.mark.parametrize("path", ["/api/v2/integration_systems", "/api/v2/entity_types", f"{BASE}/key_links"])
def test_unknown_query_parameters_are_refused(client: TestClient, path: str) -> None:
    create(client, "organizations", SF, name="Acme")
    response = client.get(path, params={"name": "x"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert "name" in response.json()["detail"]


def test_key_links_are_the_records_id_arrays(client: TestClient) -> None:
    org = create(client, "organizations", SF, HS, name="Acme")
    person = create(client, "people", ext("salesforce", "eu", "003X"), first_name="Ann")
    every = links(client)
    assert [(k["entity_type"], k["internal_id"], k["provider"], k["external_id"]) for k in every] == [
        ("organizations", org["id"], "salesforce", "0012D"),
        ("organizations", org["id"], "hubspot", "h-1"),
        ("people", person["id"], "salesforce", "003X"),
    ]
    first = every[0]
    assert first["integration_system_id"] == stable_id("salesforce")
    assert first["integration_entity_type_id"] == stable_id("organizations")
    assert first["realm"] == "eu" and first["created_at"].endswith("Z")
    assert client.get(f"{BASE}/key_links/{first['id']}").json() == {"key_links": first}


def test_search_by_any_field_and_combination(client: TestClient) -> None:
    org = create(client, "organizations", SF, HS, name="Acme")
    person = create(client, "people", ext("salesforce", "us", "003X"), first_name="Ann")

    def ids(**params: Any) -> list[str]:
        return [k["external_id"] for k in links(client, **params)]

    assert ids(provider="salesforce") == ["0012D", "003X"]
    assert ids(provider="salesforce", realm="us") == ["003X"]
    assert ids(external_id="h-1") == ["h-1"]
    assert ids(external_id="unknown") == []
    assert ids(internal_id=org["id"]) == ["0012D", "h-1"]
    assert ids(internal_id=person["id"], entity_type="organizations") == []
    assert ids(entity_type="PEOPLE") == ["003X"]
    assert ids(entity_type="bills") == []
    assert ids(integration_entity_type_id=stable_id("people")) == ["003X"]
    assert ids(integration_system_id=stable_id("hubspot")) == ["h-1"]
    assert ids(integration_system_id=stable_id("hubspot"), provider="salesforce") == []
    assert ids(integration_system_id=1) == []
    org_stamp = links(client, external_id="h-1")[0]["created_at"]
    person_stamp = links(client, external_id="003X")[0]["created_at"]
    assert ids(created_after=org_stamp) == ["003X"]
    assert ids(created_before=person_stamp) == ["0012D", "h-1"]


def test_search_pages_like_the_resource_lists(client: TestClient) -> None:
    create(client, "organizations", *(ext(f"app{n}", "r", str(n)) for n in range(5)), name="Acme")
    page = client.get(f"{BASE}/key_links", params={"$top": 2, "$skip": 1}).json()
    assert [k["external_id"] for k in page["key_links"]] == ["1", "2"]
    assert page["pagination"]["total"] == 5
    after = parse_qs(urlsplit(page["pagination"]["next"]).query)
    assert "$skip" not in after and after["$top"] == ["2"] and after["$skiptoken"][0].endswith(".3")
    last = client.get(f"{BASE}/key_links", params={"$top": 2, "$skip": 4}).json()
    assert "next" not in last["pagination"]


def test_the_count_a_token_carries_stays_one_the_hub_reads(client: TestClient) -> None:
    """Past 18 digits, the next link's count was one the hub refuses (a 400 for following the link it gave)."""
    create(client, "organizations", *(ext(f"app{n}", "r", str(n)) for n in range(5)), name="Acme")
    first = client.get(f"{BASE}/key_links", params={"$top": 2}).json()["pagination"]["next"]
    position = parse_qs(urlsplit(first).query)["$skiptoken"][0].split(".")[0]
    deep = client.get(f"{BASE}/key_links", params={"$top": 2, "$skiptoken": f"{position}.{'9' * 18}"}).json()
    assert deep["pagination"]["skip"] == 10**18 - 1
    assert client.get(deep["pagination"]["next"]).status_code == 200


def walk(client: TestClient, url: str, between: Callable[[], object] = lambda: None) -> tuple[list[str], list[int]]:
    """Every external id along the next links, and each page's skip; `between` runs after each page."""
    ids: list[str] = []
    skips: list[int] = []
    next_url: str | None = url
    while next_url:
        assert len(skips) < 20, "the next links go round"
        answer = client.get(next_url)
        assert answer.status_code == 200, answer.text
        ids += [link["external_id"] for link in answer.json()["key_links"]]
        skips.append(answer.json()["pagination"]["skip"])
        next_url = answer.json()["pagination"].get("next")
        between()
    return ids, skips


@pytest.fixture
def twelve(client: TestClient) -> TestClient:
    """Twelve people, each linked to the crm app as c1…c12 and to the erp app as e1…e12 (in that order)."""
    for n in range(1, 13):
        create(client, "people", ext("crm", "r", f"c{n}"), ext("erp", "r", f"e{n}"), first_name=f"P{n}")
    return client


SPANS = ["", "&created_after=2000-01-01T00:00:00Z"]
"""No span, and one holding every link: a store may read a search by time span from another index, in another
order and with positions of another kind."""


@pytest.mark.parametrize("span", SPANS, ids=["any time", "span"])
def test_next_starts_after_the_last_link_shown_and_walks_every_link_once(twelve: TestClient, span: str) -> None:
    ids, skips = walk(twelve, f"{BASE}/key_links?provider=crm&$top=5{span}")
    assert ids == [f"c{n}" for n in range(1, 13)] and skips == [0, 5, 10]
    ids, skips = walk(twelve, f"{BASE}/key_links?entity_type=people&$top=4{span}")
    assert ids == [x for n in range(1, 13) for x in (f"c{n}", f"e{n}")] and skips == [0, 4, 8, 12, 16, 20, 24]


def test_a_mongodb_next_link_handed_out_before_links_were_ordered_by_their_names_goes_on(
    twelve: TestClient, store_kind: str
) -> None:
    """A MongoDB hub before c66cea1 broke ties in link order by the record, and its `$skiptoken` held the last link's
    time, number and hub id: an app walking the key links as the hub was upgraded got a 400 saying the hub never
    made it. Its walk goes on after that link, each link shown once."""
    if store_kind == "sqlite":
        pytest.skip("SQLite's positions are the links' numbers, unchanged")
    first = twelve.get(f"{BASE}/key_links?provider=crm&$top=5")
    last = first.json()["key_links"][-1]
    position = parse_qs(urlsplit(first.json()["pagination"]["next"]).query)["$skiptoken"][0].rsplit(".", 1)[0]
    at, n, *_names = position_parts(position, 6)
    earlier = position_of(at, n, last["internal_id"])
    ids, skips = walk(twelve, f"{BASE}/key_links?provider=crm&$top=5&$skiptoken={earlier}.5")
    assert ids == [f"c{n}" for n in range(6, 13)] and skips == [5, 10]


@pytest.mark.parametrize("span", SPANS, ids=["any time", "span"])
def test_a_walk_through_links_of_the_longest_names_goes_on_by_its_next_links(client: TestClient, span: str) -> None:
    """A MongoDB position holds the link's names: with an app, realm and id of 255 characters each, its `$skiptoken`
    was over the 512 letters the hub reads one of, and the hub refused the next link it had just given."""
    app, realm = "p" * 255, "r" * 255
    for n in range(3):
        create(client, "people", ext(app, realm, f"{n}".ljust(255, "x")), first_name=f"P{n}")
    ids, _ = walk(client, f"{BASE}/key_links?provider={app}&$top=1{span}")
    assert ids == [f"{n}".ljust(255, "x") for n in range(3)]


@pytest.mark.parametrize("name", ["created_after", "created_before"])
def test_a_moment_longer_than_an_id_part_is_a_400(twelve: TestClient, name: str) -> None:
    """A time was taken to any number of decimals: a search as long as a request head takes had a next link that
    passed it (sent back, "Receive buffer too long"). A moment needs far less than an id part's 255 characters."""
    moment = "2000-01-01T00:00:00." + "0" * 234 + "Z"
    assert twelve.get(f"{BASE}/key_links", params={name: moment}).status_code == 200
    answer = twelve.get(f"{BASE}/key_links", params={name: moment.replace("Z", "0Z")})
    assert answer.status_code == 400 and answer.json()["detail"] == f"{name} holds at most 255 characters", answer.text


@pytest.mark.parametrize("name", ["provider", "realm", "external_id", "internal_id", "entity_type"])
def test_a_search_naming_an_id_part_holding_u0000_is_a_400_as_described(twelve: TestClient, name: str) -> None:
    """No id holds U+0000 (a write refuses it): a search by one answered an empty page, where `opts[provider]` and
    `opts[realm]` refuse it, and the description said the parameter takes it."""
    answer = twelve.get(f"{BASE}/key_links", params={name: "crm\x00"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"] == f"{name} must not contain the character U+0000"
    described = {
        p["name"]: p["schema"]
        for p in twelve.get("/openapi.json").json()["paths"]["/api/v2/{group_id}/key_links"]["get"]["parameters"]
    }
    assert not re.search(described[name]["pattern"], "crm\x00") and re.search(described[name]["pattern"], "crm")


@pytest.mark.parametrize("span", SPANS, ids=["any time", "span"])
def test_links_deleted_before_the_page_do_not_shift_it(twelve: TestClient, span: str) -> None:
    first = twelve.get(f"{BASE}/key_links?provider=crm&$top=5{span}").json()
    for link in first["key_links"][:3]:
        assert twelve.delete(f"{BASE}/key_links/{link['id']}").status_code == 204
    rest, _ = walk(twelve, first["pagination"]["next"])
    assert rest == [f"c{n}" for n in range(6, 13)]  # by $skip=5 of the 9 left, it would start at c9


@pytest.mark.parametrize("span", SPANS, ids=["any time", "span"])
def test_a_next_link_after_every_link_of_its_search_is_gone_is_an_empty_page(twelve: TestClient, span: str) -> None:
    """A span's token, a time and a number, was read as a number alone once no link of the app was left: a 400
    naming the next link the hub gave as no position of a link."""
    first = twelve.get(f"{BASE}/key_links?provider=crm&$top=5{span}").json()
    for link in links(twelve, provider="crm"):
        assert twelve.delete(f"{BASE}/key_links/{link['id']}").status_code == 204
    answer = twelve.get(first["pagination"]["next"])
    assert answer.status_code == 200 and answer.json()["key_links"] == [], answer.text


@pytest.mark.parametrize("span", SPANS, ids=["any time", "span"])
def test_links_made_during_a_walk_show_on_later_pages(twelve: TestClient, span: str) -> None:
    made = iter(range(13, 15))  # after the first and the second page

    def link_one_more() -> None:
        if (n := next(made, None)) is not None:
            create(twelve, "people", ext("crm", "r", f"c{n}"), first_name=f"P{n}")

    ids, _ = walk(twelve, f"{BASE}/key_links?provider=crm&$top=5{span}", link_one_more)
    assert ids == [f"c{n}" for n in range(1, 15)]


def test_the_links_of_an_app_come_after_the_last_shown_whatever_else_the_group_holds(twelve: TestClient) -> None:
    """A late app's few links in two realms, and those of one realm: read from the app's index rather than by
    walking the group's links, they still come in the order they were made, each once."""
    for n in range(1, 6):
        create(twelve, "people", ext("late", "ab"[n % 2], f"l{n}"), first_name=f"L{n}")
    ids, skips = walk(twelve, f"{BASE}/key_links?provider=late&$top=2")
    assert ids == [f"l{n}" for n in range(1, 6)] and skips == [0, 2, 4]
    ids, _ = walk(twelve, f"{BASE}/key_links?provider=late&realm=a&$top=1")
    assert ids == ["l2", "l4"]
    assert links(twelve, provider="nobody") == links(twelve, realm="nowhere") == []


def test_the_links_of_every_entity_type_come_in_the_order_they_were_made(twelve: TestClient) -> None:
    """The group's links and a realm's, organizations and people made in turns after 24 links of people: a store
    may read each entity type's links apart (SQLite does, so that one whose links were all made late is not found
    by walking past the others); by token or by `$skip`, each comes once, in the order they were made."""
    for n in range(1, 4):
        create(twelve, "organizations", ext("crm", "r", f"o{n}"), name=f"O{n}")
        create(twelve, "people", ext("crm", "r", f"p{n}"), first_name=f"Q{n}")
    made = [x for n in range(1, 13) for x in (f"c{n}", f"e{n}")] + [x for n in range(1, 4) for x in (f"o{n}", f"p{n}")]
    for search in ("", "&realm=r"):
        assert walk(twelve, f"{BASE}/key_links?$top=5{search}") == (made, [0, 5, 10, 15, 20, 25, 30])
        by_skip = [links(twelve, **{"$top": 7, "$skip": skip}) for skip in range(0, 30, 7)]
        assert [link["external_id"] for page in by_skip for link in page] == made
    ids, _ = walk(twelve, f"{BASE}/key_links?entity_type=organizations&$top=2")
    assert ids == ["o1", "o2", "o3"]


def test_a_walk_through_a_span_of_time_shows_the_links_made_in_it(twelve: TestClient) -> None:
    made = links(twelve, provider="crm")
    after, before = made[3]["created_at"], made[9]["created_at"]
    ids, _ = walk(twelve, f"{BASE}/key_links?provider=crm&$top=2&created_after={after}&created_before={before}")
    assert ids == [f"c{n}" for n in range(5, 10)]


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"$skiptoken": "1.5", "$skip": "5"}, "without $skip"),
        ({"$skiptoken": "15"}, "not one this hub made"),
        ({"$skiptoken": "a.b.5"}, "not one this hub made"),
        ({"$skiptoken": "z.-1"}, "not one this hub made"),
        ({"$skiptoken": "a" * (MAX_POSITION + 1) + ".5"}, "not one this hub made"),
        ({"$skiptoken": "z.5"}, "no position of a link here"),
        ({"$skiptoken": "1" * 19 + ".5"}, "no position of a link here"),
        ({"$skiptoken": "YR85OTk5OTk5OTk5OTk5OTk5OTk5OR9o.5"}, "no position of a link here"),  # n of 20 digits
        ({"$skiptoken": "15.5", "created_after": "2000-01-01"}, "no position of a link here"),
        ({"$skiptoken": "z.5", "provider": "nobody"}, "no position of a link here"),  # in a search holding none
        ({"$skiptoken": "MjAyNi0wMS0wMVQwMDowMDowMFofeno.5", "created_after": "2000-01-01"}, "no position of a link"),
    ],
)
def test_a_bad_token_is_a_400(twelve: TestClient, query: dict[str, str], says: str) -> None:
    answer = twelve.get(f"{BASE}/key_links", params=query)
    assert answer.status_code == 400 and answer.headers["content-type"] == "application/problem+json"
    assert says in answer.json()["detail"], answer.json()["detail"]


@pytest.mark.parametrize(
    "params",
    [
        {"$top": "0"},
        {"$skip": "-1"},
        {"created_after": "yesterday"},
        {"created_before": "0001-01-01T00:00:00+01:00"},
        {"provider": " "},
        {"internal_id": ""},
        {"realm": "r" * 256},
        {"external_id": "x" * 256},
    ],
)
def test_bad_search_parameters_are_400(client: TestClient, params: dict[str, str]) -> None:
    create(client, "organizations", SF, name="Acme")
    assert client.get(f"{BASE}/key_links", params=params).status_code == 400


@pytest.mark.parametrize(
    ("moment", "says"),
    [("yesterday", "is not an ISO 8601"), ("9999-12-31T23:59:59-05:00", "falls outside the years 1 to 9999")],
)
def test_a_bad_time_of_a_span_says_why(client: TestClient, moment: str, says: str) -> None:
    """A time valid in ISO 8601 but past the year 9999 in UTC was said not to be ISO 8601."""
    create(client, "organizations", SF, name="Acme")
    answer = client.get(f"{BASE}/key_links", params={"created_after": moment})
    assert answer.status_code == 400 and says in answer.json()["detail"], answer.text


def test_an_unknown_group_or_link_is_404(client: TestClient) -> None:
    assert client.get("/api/v2/nobody/key_links").status_code == 404
    create(client, "organizations", SF, name="Acme")
    for link_id in ("nonsense", "b3JnYW5pemF0aW9ucx9zZh8xH2E", "cGVvcGxlHx8fHw"):
        response = client.get(f"{BASE}/key_links/{link_id}")
        assert response.status_code == 404, link_id
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == f"no key link {link_id!r}"
    long_id = "x" * 5000  # named, not echoed whole
    for response in (client.get(f"{BASE}/key_links/{long_id}"), client.delete(f"{BASE}/key_links/{long_id}")):
        assert response.status_code == 404 and response.json()["detail"] == f"no key link {'x' * 40!r}…", response.text


def test_post_links_an_external_id_to_a_record(client: TestClient) -> None:
    org = create(client, "organizations", HS, name="Acme")
    response = client.post(f"{BASE}/key_links", json=link_body(org))
    assert response.status_code == 201, response.text
    link = response.json()["key_links"]
    assert link["internal_id"] == org["id"] and link["external_id"] == "new-1"
    after = get(client, "organizations", org["id"], ids=True)
    assert app_ids(after) == [HS, ext("salesforce", "eu", "new-1")]
    assert after["updated_at"] > org["updated_at"]
    found = client.get(f"{BASE}/organizations/new-1", params={"opts[provider]": "salesforce", "opts[realm]": "eu"})
    assert found.json()["organizations"]["id"] == org["id"]


def test_post_accepts_the_numbers_and_the_wrapped_form(client: TestClient) -> None:
    create(client, "organizations", SF, name="Known")
    org = create(client, "organizations", name="Acme")
    body = {
        "integration_system_id": stable_id("salesforce"),
        "integration_entity_type_id": stable_id("organizations"),
        "internal_id": org["id"],
        "realm": "eu",
        "external_id": 1015,
    }
    response = client.post(f"{BASE}/key_links", json={"key_links": body})
    assert response.status_code == 201, response.text
    assert response.json()["key_links"]["external_id"] == "1015"


@pytest.mark.parametrize("number", ["1.10", "1e2", "12345678901234567890123"])
def test_an_id_written_as_a_fraction_is_a_422_not_another_id(client: TestClient, number: str) -> None:
    """Taken as text, `1.10` was linked as `1.1` and a whole number past 64 bits as `1.2345678901234568e+22`: ids the
    app never sent, which a search by the id it holds did not find."""
    body = json.dumps({**link_body(create(client, "organizations", name="Acme")), "external_id": None})
    response = client.post(f"{BASE}/key_links", content=body.replace("null", number))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "external_id"
    assert links(client) == []


@pytest.mark.parametrize("number", ['"%d"', "%d.0"])
def test_a_system_or_type_number_must_be_a_json_integer(client: TestClient, number: str) -> None:
    """`"<n>"` or `<n>.0` was taken for n (and `true` for 1): a body saying something else than the link it made."""
    create(client, "organizations", SF, name="Known")  # salesforce holds a link: its number names it
    org = create(client, "organizations", name="Acme")
    body = {**link_body(org), "integration_system_id": None}
    del body["provider"]
    text = json.dumps(body).replace("null", number.replace("%d", str(stable_id("salesforce"))))
    response = client.post(f"{BASE}/key_links", content=text)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "integration_system_id"
    assert links(client, external_id="new-1") == []


def test_post_validates_record_and_ids(client: TestClient) -> None:
    org = create(client, "organizations", SF, name="Acme")
    other = create(client, "organizations", name="Other")
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({**link_body(org), "internal_id": "no-such-record"}, 404, "no organizations record"),
        ({**link_body(other), "external_id": "0012D"}, 409, "linked already"),
        (link_body(org), 409, "two ids of the same app"),
        ({**link_body(org), "entity_type": "people"}, 404, "no people record"),
        ({k: v for k, v in link_body(other).items() if k != "realm"}, 422, "realm: required"),
        ({**link_body(other), "provider": "connec"}, 422, "the hub itself"),
        ({**link_body(other), "color": "red"}, 422, "unknown field"),
        ({**link_body(other), "entity_type": "bills"}, 422, "no entity type"),
        ({**link_body(other), "integration_system_id": 3}, 422, "integration_system_id"),
        ({**link_body(other), "integration_entity_type_id": stable_id("people")}, 422, "integration_entity_type_id"),
        ({**link_body(other), "external_id": ""}, 422, "external_id"),
    ]
    for body, status, words in cases:
        response = client.post(f"{BASE}/key_links", json=body)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert words in response.json()["detail"], response.json()
    assert len(links(client)) == 1
    assert client.post(f"{BASE}/key_links", content=b"[").status_code == 400


@pytest.mark.parametrize(
    ("method", "path", "body", "missing"),
    [
        ("POST", "/key_links", {}, ["entity_type", "provider", "realm", "external_id", "internal_id"]),
        ("POST", "/key_links", {"provider": "salesforce", "internal_id": "x"}, ["entity_type", "realm", "external_id"]),
        ("PUT", "/key_links", {"entity_type": "organizations"}, ["provider", "realm", "external_id", "internal_id"]),
        ("PUT", "/key_links/{link}", {}, ["internal_id"]),
    ],
)
def test_every_part_a_key_link_lacks_is_named_at_once(
    client: TestClient, method: str, path: str, body: dict[str, Any], missing: list[str]
) -> None:
    """Only the first part missing was named ("provider is required"), so a client learnt of the others one request
    at a time; a provider or entity type may be given by number, which the problem now says."""
    create(client, "organizations", SF, name="Acme")
    link = links(client)[0]["id"]
    response = client.request(method, BASE + path.format(link=link), json=body)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == missing
    said = {
        "entity_type": "required (or integration_entity_type_id)",
        "provider": "required (or integration_system_id)",
    }
    for error in errors:
        assert error["message"] == said.get(error["field"], "required")
        assert f"{error['field']}: {error['message']}" in response.json()["detail"]


def test_put_moves_a_link_to_another_record(client: TestClient) -> None:
    org = create(client, "organizations", SF, HS, name="Acme")
    other = create(client, "organizations", name="Other")
    link = links(client, provider="salesforce")[0]
    moved = client.put(f"{BASE}/key_links/{link['id']}", json={"internal_id": other["id"]})
    assert moved.status_code == 200, moved.text
    assert moved.json()["key_links"] == {**link, "internal_id": other["id"]}
    assert app_ids(get(client, "organizations", org["id"], ids=True)) == [HS]
    assert app_ids(get(client, "organizations", other["id"], ids=True)) == [SF]
    echoed = client.put(f"{BASE}/key_links/{link['id']}", json={**link, "internal_id": org["id"]})
    assert echoed.status_code == 200 and echoed.json()["key_links"]["internal_id"] == org["id"]


@pytest.mark.parametrize("span", SPANS, ids=["any time", "span"])
def test_a_link_moved_during_a_walk_keeps_its_place_in_it(client: TestClient, span: str) -> None:
    """A moved link stays where it was made in link order: on MongoDB its place held its record's hub id, so a link
    shown last on a page and then moved to a newer record came again on the next page."""
    create(client, "organizations", SF, HS, name="Acme")
    other = create(client, "organizations", name="Other")
    moves = iter([SF])

    def move_the_one_shown() -> None:
        if (moved := next(moves, None)) is not None:
            [link] = links(client, provider=moved["provider"])
            assert client.put(f"{BASE}/key_links/{link['id']}", json={"internal_id": other["id"]}).status_code == 200

    ids, _ = walk(client, f"{BASE}/key_links?$top=1{span}", move_the_one_shown)
    assert ids == [SF["id"], HS["id"]]


def test_put_follows_the_rules_of_a_new_link(client: TestClient) -> None:
    org = create(client, "organizations", SF, name="Acme")
    other = create(client, "organizations", ext("salesforce", "eu", "other"), name="Other")
    link_id = links(client, external_id="0012D")[0]["id"]
    cases: list[tuple[str, dict[str, Any], int]] = [
        (link_id, {"internal_id": other["id"]}, 409),
        (link_id, {"internal_id": "nobody"}, 404),
        (link_id, {"internal_id": other["id"], "external_id": "changed"}, 422),
        (link_id, {}, 422),
        ("no-such-link", {"internal_id": org["id"]}, 404),
    ]
    for target, body, status in cases:
        response = client.put(f"{BASE}/key_links/{target}", json=body)
        assert response.status_code == status, (body, response.text)
    assert links(client, external_id="0012D")[0]["internal_id"] == org["id"]


def person_naming(client: TestClient, org_id: dict[str, str]) -> str:
    """The hub id of the placeholder a person referring to an unknown organization id made."""
    person = create(client, "people", ext("crm", "eu", "p1"), first_name="Ada", organization_id=[org_id])
    return str(person["organization_id"])


def merged_by_key_link(client: TestClient, hub_id: str) -> list[str]:
    history = client.get(f"{BASE}/organizations/{hub_id}/merges").json()["merges"]
    return [m["trigger"] for m in history]


def test_a_link_to_an_id_a_placeholder_holds_merges_the_placeholder_in(client: TestClient) -> None:
    """A person synced before its organization made a placeholder holding the organization's id; linking that id
    to the organization was a 409 naming the placeholder, while a connect or an upsert merges them: the person
    kept showing an organization of ids alone."""
    placeholder = person_naming(client, ext("salesforce", "eu", "new-1"))
    org = create(client, "organizations", name="Acme")
    made = client.post(f"{BASE}/key_links", json=link_body(org))
    assert made.status_code == 201, made.text
    survivor = made.json()["key_links"]["internal_id"]
    assert survivor in (org["id"], placeholder)  # the older survives; the other names it still
    assert get(client, "organizations", placeholder)["name"] == get(client, "organizations", org["id"])["name"]
    assert get(client, "organizations", survivor).get("placeholder") is None
    assert merged_by_key_link(client, survivor) == ["key_link"]
    assert client.get(f"{BASE}/organizations").json()["pagination"]["total"] == 1


def test_moving_a_placeholders_link_merges_the_placeholder_into_the_record(client: TestClient) -> None:
    """Moved, the link left the placeholder without an app id, and the person referring to it showed an
    organization of its hub id alone, for good: the id was the organization's, and the placeholder stood for it."""
    placeholder = person_naming(client, ext("salesforce", "eu", "new-1"))
    org = create(client, "organizations", name="Acme")
    [link] = links(client, external_id="new-1")
    moved = client.put(f"{BASE}/key_links/{link['id']}", json={"internal_id": org["id"]})
    assert moved.status_code == 200, moved.text
    assert moved.json()["key_links"]["internal_id"] == placeholder  # the older hub id survives, as in any merge
    assert get(client, "organizations", placeholder)["name"] == "Acme"
    assert app_ids(get(client, "organizations", org["id"], ids=True)) == [ext("salesforce", "eu", "new-1")]
    assert merged_by_key_link(client, moved.json()["key_links"]["internal_id"]) == ["key_link"]
    assert client.get(f"{BASE}/organizations").json()["pagination"]["total"] == 1


def test_delete_unlinks_and_leaves_the_record(client: TestClient) -> None:
    org = create(client, "organizations", SF, HS, name="Acme")
    link_id = links(client, provider="salesforce")[0]["id"]
    response = client.delete(f"{BASE}/key_links/{link_id}")
    assert response.status_code == 204
    after = get(client, "organizations", org["id"], ids=True)
    assert app_ids(after) == [HS] and after["name"] == "Acme"
    assert client.get(f"{BASE}/key_links/{link_id}").status_code == 404
    assert client.delete(f"{BASE}/key_links/{link_id}").status_code == 404
    again = client.post(f"{BASE}/key_links", json={**link_body(org), "external_id": "0012D"})
    assert again.status_code == 201
    assert again.json()["key_links"]["id"] == link_id


def test_internal_id_of_a_merged_record_means_its_survivor(client: TestClient) -> None:
    org = create(client, "organizations", SF, name="Acme")
    dup = create(client, "organizations", HS, name="Acme Inc")
    create(client, "organizations", SF, HS)
    assert [k["external_id"] for k in links(client, internal_id=dup["id"])] == ["0012D", "h-1"]
    response = client.post(f"{BASE}/key_links", json={**link_body(dup), "provider": "other"})
    assert response.status_code == 201
    assert response.json()["key_links"]["internal_id"] == org["id"]


def test_put_and_delete_on_the_collection_name_the_link_in_body_or_query(client: TestClient) -> None:
    org = create(client, "organizations", SF, HS, name="Acme")
    other = create(client, "organizations", name="Other")
    named = {"entity_type": "organizations", "provider": "salesforce", "realm": "eu", "external_id": "0012D"}
    moved = client.put(f"{BASE}/key_links", json={**named, "internal_id": other["id"]})
    assert moved.status_code == 200, moved.text
    assert moved.json()["key_links"]["internal_id"] == other["id"]
    by_id = client.put(f"{BASE}/key_links", json={"id": moved.json()["key_links"]["id"], "internal_id": org["id"]})
    assert by_id.json()["key_links"]["internal_id"] == org["id"]
    assert client.put(f"{BASE}/key_links", json={"internal_id": org["id"]}).status_code == 422

    hubspot = {"integration_entity_type_id": stable_id("organizations"), "integration_system_id": stable_id("hubspot")}
    assert client.delete(f"{BASE}/key_links", params={**hubspot, "realm": "7", "external_id": "h-1"}).status_code == 204
    assert app_ids(get(client, "organizations", org["id"], ids=True)) == [SF]
    assert client.delete(f"{BASE}/key_links", params=named | {"external_id": "gone"}).status_code == 404
    assert client.delete(f"{BASE}/key_links", params={"provider": "salesforce"}).status_code == 422
    assert client.delete(f"{BASE}/key_links", params={"internal_id": org["id"]}).status_code == 400


@pytest.mark.parametrize(
    ("param", "name"), [("integration_system_id", "salesforce"), ("integration_entity_type_id", "organizations")]
)
@pytest.mark.parametrize("written", [" {}", "+{}", "{}.0", "{}_0"])
def test_a_number_in_a_delete_query_is_ascii_digits_as_in_a_search(
    client: TestClient, param: str, name: str, written: str
) -> None:
    """Read as a JSON number is, the query took ` 5`, `+5` and `5.0`, and `1_0` as 10: a DELETE unlinked by what a
    search of the same parameters refuses (`400`)."""
    create(client, "organizations", SF, name="Acme")
    named = {"entity_type": "organizations", "provider": "salesforce", "realm": "eu", "external_id": "0012D"}
    query = {**named, param: written.format(stable_id(name))}
    query.pop("provider" if param == "integration_system_id" else "entity_type")
    response = client.delete(f"{BASE}/key_links", params=query)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert param in response.json()["detail"]
    assert client.get(f"{BASE}/key_links", params={param: written.format(stable_id(name))}).status_code == 400
    assert len(links(client)) == 1


def test_a_link_whose_parts_hold_the_separator_is_read_moved_and_deleted_by_its_id(client: TestClient) -> None:
    """A link id joins its parts with U+001F; an external id holding one split into five parts, and the link listed
    with that id answered 404 to GET, PUT and DELETE. Other links keep the ids they always had."""
    odd = ext("salesforce", "eu", "a\x1fb")
    org = create(client, "organizations", odd, HS, name="Acme")
    other = create(client, "organizations", name="Other")
    assert links(client, external_id="h-1")[0]["id"] == "b3JnYW5pemF0aW9ucx9odWJzcG90HzcfaC0x"
    link_id = links(client, external_id="a\x1fb")[0]["id"]
    assert client.get(f"{BASE}/key_links/{link_id}").json()["key_links"]["external_id"] == "a\x1fb"
    moved = client.put(f"{BASE}/key_links/{link_id}", json={"internal_id": other["id"]})
    assert moved.status_code == 200 and moved.json()["key_links"]["id"] == link_id, moved.text
    assert client.delete(f"{BASE}/key_links/{link_id}").status_code == 204
    assert links(client, external_id="a\x1fb") == [] and get(client, "organizations", org["id"])["name"] == "Acme"
    named = {"entity_type": "organizations", "provider": "salesforce", "realm": "eu", "external_id": "a\x1fb"}
    create(client, "organizations", odd, name="Again")
    assert client.delete(f"{BASE}/key_links", params=named).status_code == 204


@pytest.mark.parametrize("span", SPANS, ids=["any time", "span"])
def test_a_walk_passes_a_link_whose_parts_hold_the_separator(client: TestClient, span: str) -> None:
    """A `$skiptoken` after a link holding U+001F in its names leads on: on MongoDB its place holds the link's names,
    and joined with that separator it split into more parts than a place has (a 400 for the hub's own link)."""
    create(client, "organizations", ext("sales\x1fforce", "e\x1fu", "a\x1fb"), HS, name="Acme")
    ids, _ = walk(client, f"{BASE}/key_links?$top=1{span}")
    assert sorted(ids) == sorted(["a\x1fb", HS["id"]])


def test_names_beside_a_link_id_must_be_that_links(client: TestClient) -> None:
    """A DELETE naming a link by `id` and by other names unlinked the `id`'s link, whatever the names said: a
    client deleting `B` by its names beside a stale `id` lost `A`."""
    org = create(client, "organizations", SF, HS, name="Acme")
    hubspot = links(client, provider="hubspot")[0]["id"]
    named = {"entity_type": "organizations", "provider": "salesforce", "realm": "eu", "external_id": "0012D"}
    for params in [named, {"external_id": "0012D"}, {"integration_system_id": str(stable_id("salesforce"))}]:
        answer = client.delete(f"{BASE}/key_links", params={"id": hubspot, **params})
        assert answer.status_code == 422, answer.text
        assert "names another link than id" in answer.json()["detail"]
    assert client.delete(f"{BASE}/key_links", params={"id": hubspot, "entity_type": "nope"}).status_code == 422
    assert app_ids(get(client, "organizations", org["id"], ids=True)) == [SF, HS]
    own = {"entity_type": "ORGANIZATIONS", "provider": "hubspot", "realm": "7", "external_id": "h-1"}
    assert client.delete(f"{BASE}/key_links", params={"id": hubspot, **own}).status_code == 204
    assert app_ids(get(client, "organizations", org["id"], ids=True)) == [SF]


def test_a_body_id_other_than_the_paths_link_is_refused(client: TestClient) -> None:
    """`PUT …/key_links/{B}` with `"id": A` moved B, the body's `id` ignored: a client meaning A moved another link."""
    org = create(client, "organizations", SF, HS, name="Acme")
    other = create(client, "organizations", name="Other")
    salesforce, hubspot = (links(client, provider=p)[0]["id"] for p in ("salesforce", "hubspot"))
    moved = client.put(f"{BASE}/key_links/{salesforce}", json={"id": hubspot, "internal_id": other["id"]})
    assert moved.status_code == 422 and moved.json()["errors"][0]["field"] == "id", moved.text
    assert app_ids(get(client, "organizations", org["id"], ids=True)) == [SF, HS]
    echoed = client.put(f"{BASE}/key_links/{hubspot}", json={"id": hubspot, "internal_id": other["id"]})
    assert echoed.status_code == 200 and app_ids(get(client, "organizations", other["id"], ids=True)) == [HS]


def test_a_system_or_entity_type_number_past_31_bits_is_refused_naming_it(client: TestClient, keys: Keys) -> None:
    """The numbers are 31 bits (`stable_id`). One past 64 bits in a DELETE's query, by an app's key, was refused
    with a 403 that echoed it, which JSON rendering cannot write: a 500."""
    create(client, "people", ext("crm", "2243", "1"), first_name="A")
    crm = keys.app("crm", g1="2243")
    named = {"entity_type": "people", "realm": "2243", "external_id": "1"}
    for field in ("integration_system_id", "integration_entity_type_id"):
        for number in (str(10**25), str(-(10**25))):  # no whole number of a query string, as in a search
            refused = client.delete(f"{BASE}/key_links", params={**named, field: number}, headers=crm)
            assert refused.status_code == 400 and field in refused.json()["detail"], refused.text
        refused = client.delete(f"{BASE}/key_links", params={**named, field: str(2**31)}, headers=crm)
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == field, refused.text
    assert len(links(client, provider="crm")) == 1
