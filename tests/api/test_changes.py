"""The change feed over HTTP: every kind of write in commit order, cursors, paging, retention (410) and errors."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from starlette.testclient import TestClient

from hub.app import create_app
from hub.config import Settings
from hub.model import timefmt
from hub.model.change import cursor, position
from hub.service import changes
from tests.api.helpers import BASE, IDS, ext, hub_id, post
from tests.conftest import admin_client

FEED = f"{BASE}/changes"


def feed(client: TestClient, **params: Any) -> Any:
    response = client.get(FEED, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_every_write_is_recorded_in_commit_order_with_the_records_ids(client: TestClient) -> None:
    org = post(client, "organizations", [ext("crm", "o1")], name="Acme").json()["organizations"]
    ada = post(client, "people", [ext("crm", "1")], first_name="Ada", organization_id=[ext("erp", "o9")])
    post(client, "people", [ext("crm", "1")], last_name="Lovelace")
    young = post(client, "people", [ext("erp", "2")], first_name="A.").json()["people"]
    post(client, "people", [ext("crm", "1"), ext("erp", "2")])
    client.delete(f"{BASE}/people/{hub_id(ada.json()['people'])}")
    post(client, "people", [ext("crm", "3")], organization_id=[ext("crm", "o1"), ext("mail", "o1")])

    got = feed(client)["changes"]
    ada_id = hub_id(ada.json()["people"])
    placeholder = ada.json()["people"]["organization_id"][-1]["id"]
    assert [(c["kind"], c["collection"], c["id"]) for c in got] == [
        ("create", "organizations", hub_id(org)),
        ("create", "organizations", placeholder),
        ("create", "people", ada_id),
        ("update", "people", ada_id),
        ("create", "people", hub_id(young)),
        ("merge", "people", ada_id),
        ("archive", "people", ada_id),
        ("link", "organizations", hub_id(org)),
        ("create", "people", got[-1]["id"]),
    ]
    assert got[1]["details"] == {"placeholder": True}
    assert got[5]["details"]["merged"] == [hub_id(young)] and got[5]["details"]["merge_id"]
    assert [e for e in got[5]["ids"] if e["provider"] != "connec"] == [ext("crm", "1"), ext("erp", "2")]
    assert got[5]["ids"][-1] == {"realm": org["channel_id"], "provider": "connec", "id": ada_id}
    assert ext("mail", "o1") in got[7]["ids"]
    assert all(c["at"].endswith("Z") for c in got)


def test_a_write_that_changes_nothing_is_answered_but_not_recorded_nor_sent(client: TestClient) -> None:
    """Recorded, it moved `updated_at` and made a change an integration sent on: an app writing back what it was
    sent made another, sent back to it in turn, without end."""
    body = {"name": "out", "entity": "people", "direction": "outbound", "provider": "crm", "realm": "2243"}
    client.post(f"{BASE}/integrations", json={**body, "include_update": True})
    first = post(client, "people", [ext("crm", "1")], first_name="Ada", email={"address": "a@x.io"}).json()["people"]
    start = feed(client)["cursor"]
    sent = client.post(f"{BASE}/integrations/out/lease").json()
    echoed = {"people": {k: v for k, v in sent["items"][0]["record"].items() if k != "code"}}
    answers = [
        client.post(f"{BASE}/people", json=echoed),  # the app writes back what it was sent
        post(client, "people", [ext("crm", "1")], first_name="Ada"),  # a value it holds
        client.post(f"{BASE}/people", json={"people": [{"id": [ext("crm", "1")], "status": "ACTIVE"}]}),  # batch
        client.put(f"{BASE}/people/{hub_id(first)}", json={"people": {"email": {"address": "a@x.io"}}}),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 200], [a.text for a in answers]
    shown = [answers[0].json(), answers[1].json(), answers[2].json()["results"][0], answers[3].json()]
    assert all(a["result"] == "unchanged" and a["people"]["updated_at"] == first["updated_at"] for a in shown), shown
    client.delete(f"{BASE}/people/{hub_id(first)}")
    archived = feed(client, since=start)["changes"]
    client.delete(f"{BASE}/people/{hub_id(first)}")  # archived already
    assert [c["kind"] for c in feed(client, since=start)["changes"]] == [c["kind"] for c in archived] == ["archive"]
    client.post(f"{BASE}/integrations/out/ack", json={"lease": sent["lease"], "items": [sent["items"][0]["item"]]})
    assert [i["kind"] for i in client.post(f"{BASE}/integrations/out/lease").json()["items"]] == ["archive"]


def test_writing_back_a_reference_to_a_record_merged_away_since_changes_nothing(client: TestClient) -> None:
    """The person shows (and the write resolves to) the survivor, though it holds the id it was given: recorded,
    the echo moved its reference, and undoing the merge no longer gave the person its organization back."""
    kept = post(client, "organizations", [ext("erp", "o1")], name="Acme").json()["organizations"]
    gone = post(client, "organizations", [ext("sf", "o2")], name="Beta").json()["organizations"]
    person = post(client, "people", [ext("crm", "p1")], organization_id=hub_id(gone)).json()["people"]
    merge = client.post(f"{BASE}/organizations/{hub_id(kept)}/merge", json={"records": [hub_id(gone)]}).json()
    start = feed(client)["cursor"]
    shown = client.get(f"{BASE}/people/{hub_id(person)}", headers=IDS).json()["people"]
    assert shown["organization_id"][-1]["id"] == hub_id(kept)
    echoed = client.post(f"{BASE}/people", json={"people": shown}, headers=IDS).json()["people"]
    assert echoed["updated_at"] == person["updated_at"] and feed(client, since=start)["changes"] == []
    client.post(f"{BASE}/organizations/{hub_id(kept)}/unmerge", json={"merge_id": merge["merge"]["id"]})
    assert client.get(f"{BASE}/people/{hub_id(person)}").json()["people"]["organization_id"] == hub_id(gone)


def test_pages_resume_from_the_cursor_without_skips_or_repeats(client: TestClient) -> None:
    for n in range(7):
        post(client, "people", first_name=str(n))
    seen: list[str] = []
    page = feed(client, limit=3)
    while True:
        seen += [c["id"] for c in page["changes"]]
        assert page["more"] == (len(seen) < 7)
        if not page["more"]:
            break
        page = feed(client, since=page["cursor"], limit=3)
    assert len(seen) == len(set(seen)) == 7
    # At the end the cursor stays put until something new is written.
    idle = feed(client, since=page["cursor"])
    assert idle == {"changes": [], "cursor": page["cursor"], "more": False}
    post(client, "people", first_name="late")
    assert [c["kind"] for c in feed(client, since=page["cursor"])["changes"]] == ["create"]


def test_a_refused_write_records_nothing(client: TestClient) -> None:
    post(client, "people", [ext("crm", "1")])
    post(client, "people", [ext("crm", "2"), ext("erp", "5")])
    start = feed(client)["cursor"]
    assert post(client, "people", [ext("crm", "1"), ext("erp", "5")], first_name="C").status_code == 409
    assert post(client, "people", first_name=["not", "text"]).status_code == 422
    assert feed(client, since=start)["changes"] == []


def test_bad_requests_are_clear(client: TestClient) -> None:
    assert client.get(FEED).status_code == 404  # no such group yet
    post(client, "people", first_name="A")
    for params in ({"since": "nonsense"}, {"since": ""}, {"limit": "0"}, {"limit": "x"}, {"from": "1"}):
        response = client.get(FEED, params=params)
        assert response.status_code == 400, params
        assert response.headers["content-type"] == "application/problem+json"
    post(client, "people", first_name="B")
    client.post("/api/v2/other/people", json={"people": {"first_name": "C"}})
    theirs = client.get("/api/v2/other/changes").json()["cursor"]
    refused = client.get(FEED, params={"since": theirs})
    assert refused.status_code == 400 and "another group" in refused.json()["detail"]
    ours = feed(client)["cursor"]
    cut = client.get(FEED, params={"since": ours[:-2]})
    assert cut.status_code == 400 and "cut short" in cut.json()["detail"]


def test_a_cursor_past_the_last_change_is_refused_and_every_one_handed_out_is_taken(
    client: TestClient, settings: Settings
) -> None:
    """A made-up cursor beyond the feed would be read from silently, and the changes up to it never shown."""
    post(client, "people", first_name="A")
    last = feed(client)["cursor"]
    after_all = feed(client, since=last)["cursor"]
    assert after_all == last and feed(client, since=after_all)["changes"] == []
    for ahead in (1, 10**11):
        made_up = cursor("cld-1", position("cld-1", last) + ahead)
        refused = client.get(FEED, params={"since": made_up})
        assert refused.status_code == 400 and "past the last change" in refused.json()["detail"], refused.text
    post(client, "people", first_name="B")
    assert [c["kind"] for c in feed(client, since=last)["changes"]] == ["create"]
    later = timefmt.shift(timefmt.now(), settings.changes_retention_seconds + 1)
    client.portal.call(changes.prune, client.app.state.store, settings, later)  # type: ignore[attr-defined]
    horizon = feed(client)["cursor"]  # every change pruned: the cursor stands at the horizon
    assert feed(client, since=horizon)["changes"] == []


def test_changes_older_than_the_retention_are_pruned_and_a_stale_cursor_is_gone(
    client: TestClient, settings: Settings
) -> None:
    post(client, "people", first_name="A")
    after_a = feed(client)["cursor"]
    post(client, "people", first_name="B")
    post(client, "people", first_name="C")
    b, c = feed(client, since=after_a)["changes"]

    # Retention counts back from now: at C's time plus the retention, A and B are older than it.
    now = timefmt.shift(timefmt.canonical(c["at"]), settings.changes_retention_seconds)
    assert client.portal.call(changes.prune, client.app.state.store, settings, now) == 2  # type: ignore[attr-defined]

    gone = client.get(FEED, params={"since": after_a})
    assert gone.status_code == 410 and gone.headers["content-type"] == "application/problem+json"
    assert gone.json()["horizon"] == b["cursor"]
    assert feed(client, since=b["cursor"])["changes"] == [c]  # a reader who had B lost nothing
    assert feed(client)["changes"] == [c]  # without `since`: from the oldest kept
    assert client.portal.call(changes.prune, client.app.state.store, settings, now) == 0  # type: ignore[attr-defined]


def test_a_fully_pruned_feed_starts_from_its_horizon(client: TestClient, settings: Settings) -> None:
    post(client, "people", first_name="A")
    later = timefmt.shift(timefmt.now(), settings.changes_retention_seconds + 1)
    client.portal.call(changes.prune, client.app.state.store, settings, later)  # type: ignore[attr-defined]
    empty = feed(client)
    assert empty["changes"] == []
    post(client, "people", first_name="B")
    assert [c["kind"] for c in feed(client, since=empty["cursor"])["changes"]] == ["create"]


def test_a_retention_longer_than_the_calendar_keeps_every_change(client: TestClient, settings: Settings) -> None:
    """Counting back past year 1 overflowed: the pruning task failed each time it ran, logging a traceback."""
    post(client, "people", first_name="A")
    forever = replace(settings, changes_retention_seconds=10**11)
    assert client.portal.call(changes.prune, client.app.state.store, forever) == 0  # type: ignore[attr-defined]
    assert [c["kind"] for c in feed(client)["changes"]] == ["create"]


def test_the_app_prunes_in_the_background(settings: Settings) -> None:
    quick = replace(settings, changes_retention_seconds=0, prune_interval_seconds=1)
    with admin_client(create_app(quick)) as client:
        post(client, "people", first_name="A")
        post(client, "people", first_name="B")
        after_a = feed(client)["changes"][0]["cursor"]
        deadline = time.monotonic() + 5
        while client.get(FEED, params={"since": after_a}).status_code != 410:
            assert time.monotonic() < deadline, "the changes were never pruned"
            time.sleep(0.1)


def test_links_unlinks_explicit_merges_and_their_undo_are_in_the_feed(client: TestClient) -> None:
    a = client.post(f"{BASE}/organizations", json={"organizations": {"name": "A"}}).json()["organizations"]
    b = client.post(f"{BASE}/organizations", json={"organizations": {"name": "B"}}).json()["organizations"]
    body = {"entity_type": "organizations", "internal_id": b["id"], "provider": "sf", "realm": "eu", "external_id": "1"}
    link = client.post(f"{BASE}/key_links", json=body).json()["key_links"]
    moved = client.put(f"{BASE}/key_links/{link['id']}", json={"internal_id": a["id"]})
    assert moved.status_code == 200, moved.text
    merged = client.post(f"{BASE}/organizations/{a['id']}/merge", json={"records": [b["id"]]}).json()
    undo = client.post(f"{BASE}/organizations/{a['id']}/unmerge", json={"merge_id": merged["merge"]["id"]})
    assert undo.status_code == 200, undo.text
    assert client.delete(f"{BASE}/key_links/{link['id']}").status_code == 204
    got = [(c["kind"], c["id"]) for c in feed(client)["changes"]]
    assert got[2:] == [
        ("link", b["id"]),
        ("unlink", b["id"]),
        ("link", a["id"]),
        ("merge", a["id"]),
        ("unmerge", a["id"]),
        ("unmerge", b["id"]),
        ("unlink", a["id"]),
    ]
    # each key link's change names the link and the app id it links: the id an `unlink` took off its record
    named = {"key_link": link["id"], "external_id": {"provider": "sf", "realm": "eu", "id": "1"}}
    linking = [c["details"] for c in feed(client)["changes"] if c["kind"] in ("link", "unlink")]
    assert linking == [named] * 4, linking


def test_a_write_that_archives_a_record_is_recorded_as_an_archive(client: TestClient) -> None:
    """A feed reader mirroring archives saw an `update` when the status came in a body rather than a DELETE."""
    post(client, "people", [ext("crm", "1")], first_name="Ada")
    post(client, "people", [ext("crm", "2")], first_name="Bob")
    post(client, "people", [ext("crm", "1")], status="ARCHIVED")
    batch = [{"id": [ext("crm", "2")], "status": "ARCHIVED"}, {"id": [ext("crm", "3")], "status": "ARCHIVED"}]
    assert client.post(f"{BASE}/people", json={"people": batch}).status_code == 200
    put = client.put(
        f"{BASE}/people/2",
        params={"opts[provider]": "crm", "opts[realm]": "2243"},
        json={"people": {"status": "ARCHIVED", "last_name": "B."}},
    )
    assert put.status_code == 200
    post(client, "people", [ext("crm", "1")], status="ACTIVE")
    kinds = [(c["kind"], c["ids"][0]["id"]) for c in feed(client)["changes"]]
    assert kinds == [
        ("create", "1"),
        ("create", "2"),
        ("archive", "1"),
        ("archive", "2"),
        ("create", "3"),
        ("update", "2"),
        ("update", "1"),
    ]


def test_a_merge_or_a_connect_that_archives_a_record_is_recorded_as_an_archive(client: TestClient) -> None:
    """A merge (by upsert or on request) or a connect setting the status to ARCHIVED was recorded as a `merge`, a
    `link` or an `update` only: a feed reader mirroring archives by the change's kind never saw it."""
    a, _, c, d, e = (post(client, "organizations", [ext(app, "1")]).json()["organizations"] for app in "abcde")
    post(client, "organizations", [ext("a", "1"), ext("b", "1")], status="ARCHIVED")
    post(client, "organizations", [ext("a", "1"), ext("x", "1")], status="ARCHIVED")  # archived already
    chosen = {"records": [hub_id(d)], "fields": {"status": "ARCHIVED"}}
    assert client.post(f"{BASE}/organizations/{hub_id(c)}/merge", json=chosen).status_code == 200
    archive = {"provider": "erp", "realm": "9", "id": "e", "field_values": [{"field": "status", "value": "ARCHIVED"}]}
    assert client.post(f"{BASE}/organizations/{hub_id(e)}/connect", json=archive).status_code == 204
    got = [(change["kind"], change["id"]) for change in feed(client)["changes"]][5:]
    assert got == [
        ("merge", hub_id(a)),
        ("archive", hub_id(a)),
        ("update", hub_id(a)),
        ("merge", hub_id(c)),
        ("archive", hub_id(c)),
        ("archive", hub_id(e)),
    ]
