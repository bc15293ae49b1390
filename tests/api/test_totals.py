"""A page's `total` is the number of records its query lists, whatever wrote them.

The totals of unfiltered pages (plain, and `opts[linked]` either way) and, without an app, of a filter on the
status alone come from kept counts: on SQLite triggers keep them, on MongoDB each write of record documents. These
tests write in every way that lists a record or stops listing it, changes its status, or gives or takes an app's id
(creates, placeholders, batches, imports, merges by upsert and by request, unmerges, archives and revivals, statuses
changed by upsert and PUT, key links made, moved and deleted), then compare each total and page with the same query
through a filter that changes nothing, which each store counts and pages by reading records: so on SQLite the ways
it finds a page with the counts (stopping at the total, from the end, from an app's links) are checked too; and with
a filter that leaves none out, which SQLite counts from those it leaves out, and with `status eq 'ACTIVE'` and
`'INACTIVE'`, which together list the same records; and filters admitting every status, which list the archived
ones too, or two statuses, or the archived alone, against the same filters counted by reading the records.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, cast

import httpx2
import pytest
from mongomock_motor import AsyncMongoMockClient
from starlette.testclient import TestClient

from hub import cli
from hub.app import create_app
from hub.config import Settings
from hub.model.collections import COLLECTIONS
from hub.service.bulk import import_records
from hub.store import mongo_counts as counts
from hub.store import sqlite_counts
from hub.store.mongo import MongoStore
from tests.api.helpers import BASE, IDS, ext
from tests.conftest import admin_client

APPS = (("sf", "2243"), ("hs", "9"))
STEPS = 80


def in_app(client: TestClient, check: Callable[[httpx2.AsyncClient], Awaitable[None]]) -> None:
    """Run `check` with a client of the app in the app's own event loop: the same requests through the same app,
    without the test client's hops between threads for each of them (thousands of reads here, most of the time)."""

    async def run() -> None:
        transport = httpx2.ASGITransport(client.app)
        async with httpx2.AsyncClient(transport=transport, base_url=str(client.base_url), auth=client.auth) as reader:
            await check(reader)

    assert client.portal is not None
    client.portal.call(run)


async def listed(reader: httpx2.AsyncClient, collection: str, **params: str) -> list[str]:
    """The codes of the records the query lists, checked against its total and against the same query counted
    by a filter that changes nothing (`id ne 'none'`), which SQLite counts by reading the rows, and by the statuses a
    listed record has, which the stores leave out of a filter; and its first and last pages by `$skip`, against the
    whole list."""

    async def codes(**extra: str) -> tuple[int, list[str]]:
        answer = (await reader.get(f"{BASE}/{collection}", params={"$top": "1000", **params, **extra})).json()
        assert "next" not in answer["pagination"] or extra.get("$top"), "each collection stays under one page"
        return answer["pagination"]["total"], [record["code"] for record in answer[collection]]

    total, every = await codes()
    assert (total, every) == await codes(**{"$filter": "id ne 'none'"}) and total == len(every), (params, every)
    assert (total, every) == await codes(**{"$filter": "status in ('ACTIVE', 'INACTIVE')"}), (params, every)
    assert (total, every) == await codes(**{"$filter": "updated_at gt '2000-01-01T00:00:00Z'"}), (params, every)
    (active, some), (inactive, others) = [
        await codes(**{"$filter": f"status eq '{s}'"}) for s in ("ACTIVE", "INACTIVE")
    ]
    assert (active, inactive) == (len(some), len(others)) and sorted([*some, *others]) == sorted(every), (params, every)
    assert (await codes(**{"$top": "2"}))[1] == every[:2]
    assert (await codes(**{"$top": "3", "$skip": str(max(0, total - 2))}))[1] == every[-2:]

    async def agree(expression: str, expected: list[str]) -> None:
        """A filter on the status alone, which the stores answer from the kept counts and the statuses' own indexes,
        against the same statuses and `id ne 'none'`, which they count by reading the records; and its first and last
        pages."""
        given = {"$filter": expression}
        assert await codes(**given) == (len(expected), expected), (params, expression)
        assert await codes(**{"$filter": f"id ne 'none' and ({expression})"}) == (len(expected), expected), params
        assert (await codes(**given, **{"$top": "2"}))[1] == expected[:2]
        assert (await codes(**given, **{"$top": "3", "$skip": str(max(0, len(expected) - 2))}))[1] == expected[-2:]

    archived = (await codes(**{"$filter": "status eq 'ARCHIVED'"}))[1]
    await agree("status eq 'ARCHIVED'", archived)
    for expression in EVERY_STATUS:
        await agree(expression, sorted([*every, *archived], key=number))
    for expression in ("status in ('ARCHIVED', 'INACTIVE')", "status ne 'ACTIVE'"):
        await agree(expression, sorted([*others, *archived], key=number))
    await agree("status in ('ARCHIVED', 'ACTIVE')", sorted([*some, *archived], key=number))
    if params.get("opts[linked]") == "true":  # sorted otherwise than in code order: from the links if they are few
        assert (await codes(**{"$orderby": "code desc"}))[1] == every[::-1]
    return every


EVERY_STATUS = ("status ne null", "status in ('ACTIVE', 'INACTIVE', 'ARCHIVED')")
"""Filters admitting every status: archived records are listed too."""


def number(code: str) -> int:
    """The number of a record's code, the order of a page without `$orderby`."""
    return int(code[2:])


async def found(reader: httpx2.AsyncClient, **params: str) -> None:
    """Check the total of a key link search against its page and against the same search with a span of time
    that leaves none out."""

    async def search(**extra: str) -> tuple[int, list[str]]:
        answer = (await reader.get(f"{BASE}/key_links", params={"$top": "1000", **params, **extra})).json()
        return answer["pagination"]["total"], [link["id"] for link in answer["key_links"]]

    total, every = await search()
    assert (total, every) == await search(created_after="2000-01-01") and total == len(every), (params, every)


async def totals_right(reader: httpx2.AsyncClient) -> None:
    """Each total and page, and an app's pages against the whole list picked by the ids each record shows."""
    for collection in ("people", "organizations"):
        every = await listed(reader, collection)
        answer = await reader.get(f"{BASE}/{collection}", params={"$top": "1000"}, headers=IDS)
        shown = answer.json()[collection]
        for app in APPS:
            holds = {r["code"] for r in shown if any((e["provider"], e["realm"]) == app for e in r["id"])}
            params = {"opts[provider]": app[0], "opts[realm]": app[1]}
            linked = await listed(reader, collection, **params, **{"opts[linked]": "true"})
            assert linked == [c for c in every if c in holds]
            unlinked = await listed(reader, collection, **params, **{"opts[linked]": "false"})
            assert unlinked == [c for c in every if c not in holds]


async def link_totals_right(reader: httpx2.AsyncClient) -> None:
    """A miscounted link stays miscounted, so checking every few writes finds it too."""
    (provider, realm), _ = APPS
    for search in ({}, {"entity_type": "people"}, {"provider": provider}, {"realm": realm, "entity_type": "people"}):
        await found(reader, **search)


def assert_totals_right(client: TestClient) -> None:
    in_app(client, totals_right)


def assert_link_totals_right(client: TestClient) -> None:
    in_app(client, link_totals_right)


class Walk:
    """Random writes of every kind that changes what a list shows, over a small pool of app ids."""

    def __init__(self, client: TestClient, seed: int) -> None:
        self.client = client
        self.rng = random.Random(seed)
        self.merges: list[tuple[str, str]] = []
        self.upsert()  # the group exists from the first write on

    def some_ids(self, most: int = 2) -> list[dict[str, str]]:
        chosen = self.rng.sample(APPS, self.rng.randint(0, most))
        return [ext(provider, str(self.rng.randrange(12)), realm) for provider, realm in chosen]

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.some_ids(), "first_name": "P"}
        if self.rng.random() < 0.2:
            body["status"] = self.rng.choice(["ARCHIVED", "ACTIVE", "INACTIVE"])
        if self.rng.random() < 0.3:
            body["organization_id"] = [ext("sf", f"org{self.rng.randrange(6)}")]
        return body

    def any_person(self) -> str | None:
        people = self.client.get(f"{BASE}/people", params={"$top": "1000", "$filter": "status ne null"}).json()[
            "people"
        ]
        return str(self.rng.choice(people)["id"]) if people else None

    def step(self) -> None:
        kinds = [
            "upsert",
            "upsert",
            "batch",
            "imported",
            "put",
            "archive",
            "merge",
            "unmerge",
            "link",
            "move",
            "unlink",
        ]
        getattr(self, self.rng.choice(kinds))()

    def upsert(self) -> None:
        self.client.post(f"{BASE}/people", json={"people": self.body()}, headers=IDS)

    def batch(self) -> None:
        self.client.post(f"{BASE}/people", json={"people": [self.body() for _ in range(3)]}, headers=IDS)

    def imported(self) -> None:
        """Records written by `hub import`, in chunks of two."""
        app = self.client.app.state  # type: ignore[attr-defined]
        items = [self.body() for _ in range(3)]
        assert self.client.portal is not None
        done = partial(import_records, app.store, app.settings, "cld-1", COLLECTIONS["people"], items, chunk=2)
        self.client.portal.call(done)

    def put(self) -> None:
        """A record's status changed (or not) by PUT, and its fields."""
        if target := self.any_person():
            body = {"status": self.rng.choice(["ARCHIVED", "ACTIVE", "INACTIVE"]), "last_name": "Q"}
            self.client.put(f"{BASE}/people/{target}", json={"people": body})

    def archive(self) -> None:
        if target := self.any_person():
            self.client.delete(f"{BASE}/people/{target}")

    def merge(self) -> None:
        first, second = self.any_person(), self.any_person()
        if first and second:
            answer = self.client.post(f"{BASE}/people/{first}/merge", json={"records": [second]})
            if answer.status_code == 200:
                self.merges.append((first, answer.json()["merge"]["id"]))

    def unmerge(self) -> None:
        if self.merges:
            record, merge_id = self.merges.pop(self.rng.randrange(len(self.merges)))
            self.client.post(f"{BASE}/people/{record}/unmerge", json={"merge_id": merge_id})

    def link(self) -> None:
        if target := self.any_person():
            provider, realm = self.rng.choice(APPS)
            self.client.post(
                f"{BASE}/key_links",
                json={
                    "entity_type": "people",
                    "internal_id": target,
                    "provider": provider,
                    "realm": realm,
                    "external_id": str(self.rng.randrange(12)),
                },
            )

    def a_link(self) -> dict[str, Any] | None:
        links = self.client.get(f"{BASE}/key_links", params={"entity_type": "people", "$top": "1000"}).json()
        return self.rng.choice(links["key_links"]) if links["key_links"] else None

    def move(self) -> None:
        link, target = self.a_link(), self.any_person()
        if link and target:
            self.client.put(f"{BASE}/key_links/{link['id']}", json={"internal_id": target})

    def unlink(self) -> None:
        if link := self.a_link():
            self.client.delete(f"{BASE}/key_links/{link['id']}")


def test_every_total_counts_what_the_query_lists_after_any_write(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With FLIP_AFTER at 2, SQLite counts the records `updated_at gt` a time before all of them leaves out (none)
    and walks to its page (`sqlite_counts.fewer_counted`), and so a key link search from that time; and the total
    of `status eq 'ACTIVE'` is the listed records less the inactive ones, where those are fewer."""
    monkeypatch.setattr(sqlite_counts, "FLIP_AFTER", 2)
    walk = Walk(client, 1)
    for step in range(STEPS):
        walk.step()
        assert_totals_right(client)
        if step % 5 == 4:
            assert_link_totals_right(client)


def walked(tmp_path: Path, seed: int, steps: int) -> Settings:
    """The settings of a SQLite store in `tmp_path` written by a walk of `steps` steps, its hub stopped."""
    settings = Settings(store=f"sqlite:///{tmp_path / 'hub.db'}")
    with admin_client(create_app(settings)) as client:
        walk = Walk(client, seed)
        for _ in range(steps):
            walk.step()
    return settings


def forget_counts_sqlite(path: Path, tables: tuple[str, ...]) -> None:
    """Make the SQLite database as it was before these counts were kept: no such table, none of its triggers."""
    with sqlite3.connect(path) as conn:
        for table in tables:
            kept_by = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE ?"
            triggers = conn.execute(kept_by, [f"{table}%"]).fetchall()
            assert (
                len(triggers) == {"live_counts": 3, "link_counts": 1, "status_counts": 1, "app_status_counts": 3}[table]
            )
            for (name,) in triggers:
                conn.execute(f"DROP TRIGGER {name}")
            conn.execute(f"DROP TABLE {table}")


@pytest.mark.parametrize(
    "tables",
    [
        ("live_counts", "link_counts", "status_counts", "app_status_counts"),
        ("link_counts",),
        ("status_counts",),
        ("app_status_counts",),
    ],
    ids=["none", "no-link-counts", "no-status-counts", "no-app-status-counts"],
)
def test_a_sqlite_database_written_before_counts_were_kept_counts_right_when_opened(
    tmp_path: Path, tables: tuple[str, ...]
) -> None:
    """The counts of an older database are made from what it holds, once, as the hub opens it."""
    settings = walked(tmp_path, 3, 40)
    forget_counts_sqlite(tmp_path / "hub.db", tables)
    with admin_client(create_app(settings)) as client:
        keeps_counting(client)


def test_a_sqlite_database_whose_triggers_counted_each_row_inserted_counts_each_once_when_opened(
    tmp_path: Path,
) -> None:
    """Rows inserted were counted by triggers, one per row, before the store counted them as it inserts them: an
    older database's triggers go as the hub opens it, or each record and link made after would count twice."""
    settings = walked(tmp_path, 6, 20)
    older = (
        ("live_counts_record_in", "records", "live_counts", "'', ''"),
        ("live_counts_link_in", "external_ids", "live_counts", "NEW.provider, NEW.realm"),
        ("link_counts_in", "external_ids", "link_counts", "NEW.provider, NEW.realm"),
    )
    with sqlite3.connect(tmp_path / "hub.db") as conn:
        for name, table, counted, app in older:
            conn.execute(
                f"CREATE TRIGGER {name} AFTER INSERT ON {table} BEGIN INSERT INTO {counted}"
                f" VALUES (NEW.group_id, NEW.collection, {app}, 1) ON CONFLICT DO UPDATE SET n = n + excluded.n; END"
            )
    with admin_client(create_app(settings)) as client:
        keeps_counting(client)


def test_a_sqlite_database_written_before_links_carried_codes_lists_apps_records_when_opened(tmp_path: Path) -> None:
    """The code number each link carries is given to the links of an older database, once, as the hub opens it."""
    settings = walked(tmp_path, 5, 40)
    with sqlite3.connect(tmp_path / "hub.db") as conn:
        conn.execute("DROP INDEX external_ids_held")
        conn.execute("ALTER TABLE external_ids DROP COLUMN seq")
    with admin_client(create_app(settings)) as client:
        keeps_counting(client)


@pytest.mark.parametrize(
    "dropped",
    [(counts.COUNTS, counts.STATUSES, counts.APP_STATUSES), (counts.STATUSES,), (counts.APP_STATUSES,)],
    ids=["none", "no-statuses", "no-app-statuses"],
)
def test_a_mongodb_database_written_before_counts_were_kept_counts_right_once_counted(
    settings: Settings, dropped: tuple[str, ...]
) -> None:
    """What `MongoStore.open` does with a database that has no counts, or none of statuses: count what it holds, once.

    Called here by hand: mongomock cannot reopen a database (it refuses to make the partial unique
    index of the ids again over records without ids, which mongod accepts). That `open` calls it
    shows in the marker it leaves in a new database: without it, pages would count their totals.
    """
    database = cast(Any, AsyncMongoMockClient()["hub"])
    with admin_client(create_app(settings, MongoStore(database=database, transactions=False))) as client:
        for name in (counts.COUNTS, counts.STATUSES, counts.APP_STATUSES):
            assert asyncio.run(database[name].find_one({"_id": counts.MARKER})) is not None
        walk = Walk(client, 3)
        for _ in range(40):
            walk.step()
        for name in dropped:
            asyncio.run(database[name].drop())
        asyncio.run(counts.keep_counts(database, None))
        keeps_counting(client)


def test_hub_recount_counts_again_what_a_sqlite_database_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Counts gone wrong (as a hub from before one was kept leaves it, writing the same database) are counted again
    from the records and their ids by `hub recount`."""
    settings = walked(tmp_path, 3, 25)
    with sqlite3.connect(tmp_path / "hub.db") as conn:
        conn.execute("UPDATE live_counts SET n = n + 3")
        conn.execute("UPDATE link_counts SET n = n * 2")
        conn.execute("DELETE FROM status_counts")
        conn.execute("UPDATE app_status_counts SET n = n + 1")
    with admin_client(create_app(settings)) as client, pytest.raises(AssertionError):
        assert_totals_right(client)
    assert cli.main(["recount", "--store", settings.store]) == 0
    assert "counted again" in capsys.readouterr().out
    with admin_client(create_app(settings)) as client:
        assert_totals_right(client)
        assert_link_totals_right(client)


def test_a_total_from_counts_gone_wrong_is_never_below_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counts gone too low (as a hub from before one was kept leaves them) gave negative totals, every listed record
    less those an app holds, the inactive ones, or those a filter leaves out, until `hub recount`: no list holds
    fewer than none. A filter's count that found more rows than the kept count says is counted whole instead."""
    settings = Settings(store=f"sqlite:///{tmp_path / 'hub.db'}")
    with admin_client(create_app(settings)) as client:
        written = [
            client.post(f"{BASE}/people", json={"people": {"id": [ext("sf", str(n), "2243")], "status": status}})
            for n, status in enumerate(["INACTIVE", "ACTIVE", "ACTIVE", "ACTIVE"])
        ]
    first = written[0].json()["people"]["updated_at"]
    with sqlite3.connect(tmp_path / "hub.db") as conn:
        conn.execute("UPDATE live_counts SET n = 0 WHERE provider = ''")
    monkeypatch.setattr(sqlite_counts, "FLIP_AFTER", 2)  # counted as the listed records less the one left out
    unlinked = {"opts[provider]": "sf", "opts[realm]": "2243", "opts[linked]": "false"}
    with admin_client(create_app(settings)) as client:
        for params, total in (
            (unlinked, 0),
            ({"$filter": "status eq 'ACTIVE'"}, 0),
            ({**unlinked, "$filter": "status eq 'ACTIVE'"}, 0),
            ({"$filter": f"updated_at gt '{first}'"}, 3),  # counted whole: it found more than the kept count
        ):
            answer = client.get(f"{BASE}/people", params=params)
            assert answer.status_code == 200 and answer.json()["pagination"]["total"] == total, (params, answer.text)


def test_a_mongodb_store_recounts_what_it_holds(settings: Settings) -> None:
    database = cast(Any, AsyncMongoMockClient()["hub"])
    store = MongoStore(database=database, transactions=False)
    with admin_client(create_app(settings, store)) as client:
        walk = Walk(client, 3)
        for _ in range(25):
            walk.step()
        asyncio.run(database[counts.COUNTS].update_many({"_id": {"$ne": counts.MARKER}}, {"$inc": {"n": 3}}))
        asyncio.run(database[counts.STATUSES].delete_many({"_id": {"$ne": counts.MARKER}}))
        asyncio.run(database[counts.APP_STATUSES].update_many({"_id": {"$ne": counts.MARKER}}, {"$inc": {"n": 1}}))
        with pytest.raises(AssertionError):
            assert_totals_right(client)
        client.portal.call(store.recount)  # type: ignore[union-attr]
        assert_totals_right(client)
        assert_link_totals_right(client)


def keeps_counting(client: TestClient) -> None:
    assert client.get(f"{BASE}/people").json()["pagination"]["total"] > 0
    assert_totals_right(client)
    assert_link_totals_right(client)
    walk = Walk(client, 4)
    for _ in range(20):
        walk.step()
        assert_totals_right(client)
    assert_link_totals_right(client)
