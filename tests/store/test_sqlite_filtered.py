"""A filtered page or a key link search by a span of time on SQLite: its page and total whichever way they are
counted and found, and one of nearly every record or link (an initial sync) found without reading all it matches."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import pytest

from hub.model.key_link import LinkQuery
from hub.model.query import parse_list
from hub.store import sqlite_counts, sqlite_idmap, sqlite_pages
from hub.store.sqlite import SQLiteStore
from tests.store.contract import FILTERS, PEOPLE, G, at, ext, rec, write_people
from tests.store.test_sqlite_plans import steps, written


@pytest.mark.parametrize("flip_after", [0, 2, 10_000])
@pytest.mark.parametrize(("expression", "expected"), FILTERS)
async def test_a_filtered_page_and_its_total_are_what_the_filter_picks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flip_after: int, expression: str, expected: list[str]
) -> None:
    """The records a filter picks counted whatever their number (0), the fewer of those it picks and those it
    leaves out (2: `code gt 'PE1'` counts PE1 alone), or those it picks (10,000), and the page then sorted,
    walked in code order or planned by SQLite."""
    monkeypatch.setattr(sqlite_counts, "FLIP_AFTER", flip_after)
    store = SQLiteStore(str(tmp_path / "hub.db"))
    await store.open()
    await write_people(store)
    for top in ("1", "100"):
        query, _ = parse_list(PEOPLE, {"$filter": expression, "$top": top}, 100, 1000)
        records, total = await store.list(G, PEOPLE, query)
        assert ([PEOPLE.code(r.seq) for r in records], total) == (expected[: int(top)], len(expected))
    await store.close()


@pytest.mark.parametrize(
    "expression", ["updated_at gt '2020-01-11T00:00:00Z'", "created_at ge 2020-01-11", "code gt 'PE10'"]
)
async def test_a_page_of_nearly_every_record_counts_the_others_and_walks_to_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, expression: str
) -> None:
    """All but the 10 oldest of 400 records match: counted, they took 5,000-10,000 steps of SQLite's machine, and
    read in their index and sorted as many again (an initial sync at 1M records: 432 ms a page, 1.5 ms now)."""
    monkeypatch.setattr(sqlite_counts, "FLIP_AFTER", 50)
    path = await written(tmp_path / "hub.db", (rec(n, [ext("sf", str(n))]) for n in range(1, 401)))
    conn = sqlite3.connect(path)
    conn.execute("UPDATE records SET created_at = ?, updated_at = ? WHERE seq > 10", [at(11), at(12)])
    conn.commit()
    query = parse_list(PEOPLE, {"$filter": expression, "$top": "5"}, 5, 1000)[0]
    page, total = sqlite_pages.read_page(conn, G, PEOPLE, query)  # and the schema is read
    taken = steps(conn, lambda: sqlite_pages.read_page(conn, G, PEOPLE, query))
    conn.close()
    assert ([row[3] for row in page], total) == (list(range(11, 16)), 390)
    assert taken < 1_500, taken


@pytest.mark.parametrize(
    ("expression", "first", "expected"),
    [("status eq 'ACTIVE'", 14, 387), ("status eq 'INACTIVE'", 1, 10), ("status eq 'ARCHIVED'", 11, 3)],
)
async def test_a_page_by_status_reads_the_few_records_not_active(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, expression: str, first: int, expected: int
) -> None:
    """Of 400 records, 10 inactive and 3 archived: the total of `status eq 'ACTIVE'` is the listed records less
    the inactive (counting it read every record: 320 ms at 1M records, 2.7 ms now), and the inactive are read
    from their own index as the archived are (620 ms, 1.9 ms now)."""
    monkeypatch.setattr(sqlite_counts, "FLIP_AFTER", 50)
    path = await written(tmp_path / "hub.db", (rec(n, [ext("sf", str(n))]) for n in range(1, 401)))
    conn = sqlite3.connect(path)
    conn.execute("UPDATE records SET status = 'INACTIVE' WHERE seq <= 10")
    conn.execute("UPDATE records SET status = 'ARCHIVED' WHERE seq BETWEEN 11 AND 13")
    conn.commit()
    query = parse_list(PEOPLE, {"$filter": expression, "$top": "3"}, 3, 1000)[0]
    page, total = sqlite_pages.read_page(conn, G, PEOPLE, query)  # and the schema is read
    taken = steps(conn, lambda: sqlite_pages.read_page(conn, G, PEOPLE, query))
    conn.close()
    assert ([row[3] for row in page], total) == ([first, first + 1, first + 2], expected)
    assert taken < 1_500, taken  # 3,462 and 5,831 steps, counted and found by reading every record


@pytest.mark.parametrize("app", [("hs", "true"), ("sf", "true"), ("sf", "false")], ids="-".join)
@pytest.mark.parametrize("expression", [expression for expression, _ in FILTERS])
async def test_an_apps_filtered_page_and_total_are_the_same_however_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app: tuple[str, str], expression: str
) -> None:
    store = SQLiteStore(str(tmp_path / "hub.db"))
    await store.open()
    await write_people(store)
    params = {"$filter": expression, "opts[provider]": app[0], "opts[realm]": "r1", "opts[linked]": app[1]}
    query, _ = parse_list(PEOPLE, params, 100, 1000)
    found = []
    for flip_after in (0, 2, 10_000):
        monkeypatch.setattr(sqlite_counts, "FLIP_AFTER", flip_after)
        records, total = await store.list(G, PEOPLE, query)
        found.append(([r.seq for r in records], total))
    await store.close()
    assert found[0] == found[1] == found[2] and found[0][1] == len(found[0][0]), found


GIVEN = [{}, {"provider": "sf"}, {"collection": "people"}, {"collection": "organizations", "provider": "sf"}]


async def test_a_span_of_key_links_has_the_same_page_and_total_however_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The links outside a span counted instead of those in it (at 1, 9), or those in it (at 0: both sides past
    it; 10,000), for spans open at either end, closed, empty, and wider than every link."""
    people = (rec(n, [ext("sf", str(n)), ext("hs", str(n), realm="r2")]) for n in range(1, 13))
    path = await written(tmp_path / "hub.db", people, (rec(n, [ext("sf", f"o{n}")], "organizations") for n in (1, 2)))
    conn = sqlite3.connect(path)
    times = sorted(at for (at,) in conn.execute("SELECT DISTINCT created_at FROM external_ids"))
    spans = [(times[3], None), (None, times[-4]), (times[2], times[-3]), (times[5], times[5]), (at(1), None)]
    found = {}
    for flip_after in (0, 1, 9, 10_000):
        monkeypatch.setattr(sqlite_counts, "FLIP_AFTER", flip_after)
        for (after, before), given in itertools.product(spans, GIVEN):
            span = LinkQuery(**given, created_after=after, created_before=before, top=1000)
            page, total = sqlite_idmap.links(conn, G, span)
            assert total == len(page), (flip_after, span)
            found.setdefault((after, before, *given.items()), set()).add(tuple(link.ext for link in page))
    conn.close()
    assert len(times) == 14 and all(len(pages) == 1 for pages in found.values()), found


async def test_a_span_from_before_the_first_link_counts_none_of_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key link search from a time before every link (an app's first sync of them) counted all of them: 65 ms
    at 1M links, 187 ms for one app's, each looked up in the table (0.7 and 1.0 ms now)."""
    monkeypatch.setattr(sqlite_counts, "FLIP_AFTER", 50)
    path = await written(tmp_path / "hub.db", (rec(n, [ext("sf", str(n)), ext("hs", str(n))]) for n in range(1, 301)))
    conn = sqlite3.connect(path)
    span = LinkQuery(provider="sf", created_after=at(1), top=10)
    page, total = sqlite_idmap.links(conn, G, span)  # and the schema is read
    taken = steps(conn, lambda: sqlite_idmap.links(conn, G, span))
    conn.close()
    assert ([link.ext.id for link in page], total) == ([str(n) for n in range(1, 11)], 300)
    assert taken < 1_500, taken
