"""Indexes on declared fields: a store keeps those it is asked for, pages list the same records with them as
without (however the records were written), and on SQLite such a page reads the index, not the group."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.model.field_index import FieldIndex
from hub.model.list_query import ListQuery
from hub.model.query import parse_list
from hub.model.record import Record
from hub.service import field_indexes
from hub.store import sqlite_pages
from hub.store.base import Store
from hub.store.sqlite import SQLiteStore
from tests.store.contract import FILTERS, ORDERS, PEOPLE, G, OpenStore, codes, ext, insert, rec, write_people
from tests.store.test_sqlite_plans import plans, steps, written

EMAIL, LAST, FIRST = (FieldIndex("people", path) for path in (("email", "address"), ("last_name",), ("first_name",)))
ORGANIZATION = FieldIndex("people", ("organization_id",))


async def test_a_store_keeps_the_field_indexes_it_is_asked_for(open_store: OpenStore) -> None:
    store = await open_store()
    assert list(await store.field_indexes()) == []
    assert await store.add_field_index(LAST) is True
    assert await store.add_field_index(LAST) is False
    assert await store.add_field_index(EMAIL) is True
    other = await open_store()  # another process on the same database
    assert list(await other.field_indexes()) == [EMAIL, LAST]
    assert await other.drop_field_index(LAST) is True
    assert await store.drop_field_index(LAST) is False
    assert list(await store.field_indexes()) == [EMAIL]


async def test_a_reference_field_is_indexed_always_and_takes_no_field_index(open_store: OpenStore) -> None:
    """Every reference field has an index of its own, of the keys a field index of it has. MongoDB refuses a second
    index of the same keys under another name (IndexOptionsConflict, which mongomock does not raise): a field index of
    `organization_id` made before kept the store from opening, and one asked for after failed."""
    store = await open_store()
    assert await store.add_field_index(ORGANIZATION) is True  # as `hub index add` made it before
    other = await open_store()  # the hub opening the store after
    assert list(await other.field_indexes()) == []
    assert await field_indexes.add_index(other, ORGANIZATION) is False  # `hub index add`: indexed already
    assert list(await other.field_indexes()) == []


@pytest.fixture(params=["indexed-before", "indexed-after"])
async def indexed_people(request: pytest.FixtureRequest, store: Store) -> dict[str, Record]:
    """The contract's `people` records, with first name, last name and email address indexed before they were
    written (each record then enters the index as written, merged, archived) or after (the index is made from them)."""
    before = request.param == "indexed-before"
    for index in (EMAIL, LAST, FIRST) if before else ():
        await store.add_field_index(index)
    people = await write_people(store)
    for index in () if before else (EMAIL, LAST, FIRST):
        await store.add_field_index(index)
    return people


@pytest.mark.parametrize(("expression", "expected"), FILTERS)
async def test_a_filter_lists_what_it_lists_unindexed(
    store: Store, indexed_people: dict[str, Record], expression: str, expected: list[str]
) -> None:
    assert await codes(store, {"$filter": expression}) == expected


@pytest.mark.parametrize(("orderby", "expected"), ORDERS)
async def test_an_order_lists_what_it_lists_unindexed(
    store: Store, indexed_people: dict[str, Record], orderby: str, expected: list[str]
) -> None:
    assert await codes(store, {"$orderby": orderby}) == expected


async def test_an_indexed_field_is_found_by_its_new_value_once_changed(store: Store) -> None:
    await store.add_field_index(EMAIL)
    ann = rec(1, [ext("sf", "1")], email={"address": "old@x.io"})
    await insert(store, ann)
    ann.fields["email"] = {"address": "new@x.io"}
    async with store.transaction(G) as tx:
        await tx.save(ann, [])
    assert await codes(store, {"$filter": "email/address eq 'old@x.io'"}) == []
    assert await codes(store, {"$filter": "email/address eq 'new@x.io'"}) == ["PE1"]
    query, _ = parse_list(PEOPLE, {"$filter": "email/address eq 'new@x.io'"}, 100, 1000)
    assert (await store.list(G, PEOPLE, query))[1] == 1


def _page(path: Path, params: dict[str, str]) -> tuple[list[int], int]:
    """The codes of a page of `params` and the steps of SQLite's machine it took."""
    query: ListQuery = parse_list(PEOPLE, params, 5, 1000)[0]
    conn = sqlite3.connect(path)
    page, _ = sqlite_pages.read_page(conn, G, PEOPLE, query)  # and the schema is read
    taken = steps(conn, lambda: sqlite_pages.read_page(conn, G, PEOPLE, query))
    conn.close()
    return [row[3] for row in page], taken


def _email(n: int) -> str:
    return f"p{n}@x.io"


BY_EMAIL = sorted(range(1, 401), key=_email)
"""The codes of the records in the order of their email address (as text: p1, p10, p100, p101, …)."""


@pytest.mark.parametrize(
    ("params", "codes_found"),
    [
        ({"$filter": "email/address eq 'p250@x.io'"}, [250]),
        ({"$filter": "email/address in ('p7@x.io', 'p399@x.io')"}, [7, 399]),
        ({"$filter": "email/address in ('p7@x.io', 'p399@x.io')", "$orderby": "updated_at desc"}, [399, 7]),
        ({"$filter": "email/address in ('p7@x.io', 'p399@x.io')", "$count": "false"}, [7, 399]),
        ({"$filter": "email/address eq 'p250@x.io'", "opts[provider]": "sf", "opts[realm]": "r1"}, [250]),
        ({"$orderby": "email/address desc"}, BY_EMAIL[::-1][:5]),
        ({"$filter": "email/address eq 'p250@x.io'", "$orderby": "email/address desc"}, [250]),
        ({"$filter": "email/address eq 'p250@x.io'", "$orderby": "email/address, updated_at desc"}, [250]),
        (
            {"$orderby": "email/address", "$filter": "email/address ge 'p398'"},
            [n for n in BY_EMAIL if _email(n) >= "p398"][:5],
        ),
    ],
    ids=[
        "eq",
        "in",
        "in-by-another-order",
        "in-uncounted",
        "eq-of-an-app",
        "orderby",
        "eq-by-itself",
        "eq-by-itself-then-another",
        "orderby-range",
    ],
)
async def test_a_page_by_an_indexed_field_reads_the_index_not_the_group(
    tmp_path: Path, params: dict[str, str], codes_found: list[int]
) -> None:
    """Unindexed, each of these pages reads every record of the group: 400 here, 1M in 1.2 s."""
    path = await written(
        tmp_path / "hub.db", (rec(n, [ext("sf", str(n))], email={"address": _email(n)}) for n in range(1, 401))
    )
    found, unindexed = _page(path, params)
    store = SQLiteStore(str(path))
    await store.open()
    await store.add_field_index(EMAIL)
    await store.close()
    assert _page(path, params)[0] == found == codes_found
    indexed = _page(path, params)[1]
    assert unindexed > 5_000 and indexed < 1_000, (unindexed, indexed)
    query = parse_list(PEOPLE, params, 5, 1000)[0]
    for plan in plans(path, lambda conn: sqlite_pages.read_page(conn, G, PEOPLE, query)):
        indexes = ("records_field__people__email__address", "live_counts", "sqlite_master")  # which fields are indexed
        assert any(index in plan for index in indexes), plan


def _person(n: int) -> Record:
    """Ten people have no last name, however many there are: a descending order lists them last."""
    named = n % 10 or n > 100
    return rec(n, [ext("sf", str(n))], email={"address": _email(n)}, **({"last_name": f"L{n:05}"} if named else {}))


NAMELESS = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]


async def _last_name_indexed(path: Path, size: int) -> Path:
    await written(path, (_person(n) for n in range(1, size + 1)))
    store = SQLiteStore(str(path))
    await store.open()
    await store.add_field_index(LAST)
    await store.close()
    return path


@pytest.fixture(scope="module")
def last_name_indexed(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """SQLite databases of 400 and 4,000 `_person`s, the last name indexed, by their size: made once for the pages
    read from them (a few seconds each, one record a transaction), which only read."""
    folder = tmp_path_factory.mktemp("last-name-indexed")
    return {size: asyncio.run(_last_name_indexed(folder / f"{size}.db", size)) for size in (400, 4_000)}


@pytest.mark.parametrize(
    ("orderby", "after", "codes_found", "bounded"),
    [
        ("last_name desc", 11, [9, 8, 7, 6, 5], True),
        ("last_name desc", 3, [2, 1, *NAMELESS[::-1][:3]], True),  # ties by code descending, as the last key
        ("last_name desc", 80, NAMELESS[::-1][3:8], True),
        ("last_name desc, email/address", 11, [9, 8, 7, 6, 5], True),
        ("last_name desc, email/address", 3, [2, 1, *sorted(NAMELESS, key=_email)[:3]], False),
    ],
    ids=["named", "into-the-nulls", "among-the-nulls", "then-email", "then-email-into-the-nulls"],
)
def test_a_page_after_a_token_descending_reads_the_index_from_the_token(
    last_name_indexed: dict[int, Path], orderby: str, after: int, codes_found: list[int], bounded: bool
) -> None:
    """A descending key's page starts at the token's value, or among the nulls that follow every value: read as one
    range with them (`x <= v OR x IS NULL`), it was no range of the index, and SQLite read every record before the
    token (3,061 steps at 400 records, 28,261 at 4,000; 389 at both now). Nulls ordered by another key are still
    sorted from the group's records (SQLite ties the field's index with the group's `records_created` and takes
    that), but only on the page that reaches them."""
    taken = []
    for path in last_name_indexed.values():
        token = parse_list(PEOPLE, {"$orderby": orderby}, 5, 1000)[0].token(_person(after), 5)
        assert token is not None
        found, steps_taken = _page(path, {"$orderby": orderby, "$skiptoken": token})
        assert found == codes_found
        taken.append(steps_taken)
    assert taken[1] < taken[0] * 1.5 or not bounded, taken


def _timed(n: int, size: int) -> Record:
    """A person made and written `n` minutes into 2020; of `size`, twenty (spread over the codes) are first named Ann
    and twenty others last named Lee, whatever the size: every other name is the person's own."""
    made = (datetime(2020, 1, 1, tzinfo=UTC) + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    spread = n % (size // 20)
    person = rec(n, [], first_name="Ann" if spread == 0 else f"F{n}", last_name="Lee" if spread == 7 else f"L{n:05}")
    return replace(person, created_at=made, updated_at=made)


async def _names_indexed(path: Path, size: int) -> Path:
    store = SQLiteStore(str(path))
    await store.open()
    async with store.transaction(G) as tx:
        for n in range(1, size + 1):
            await tx.insert(_timed(n, size))
    await store.add_field_index(FIRST)
    await store.add_field_index(LAST)
    await store.close()
    return path


@pytest.fixture(scope="module")
def names_indexed(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """SQLite databases of 400 and 4,000 `_timed` people, first and last names indexed, by their size (read only)."""
    folder = tmp_path_factory.mktemp("names-indexed")
    return {size: asyncio.run(_names_indexed(folder / f"{size}.db", size)) for size in (400, 4_000)}


LONG_PAST = "2000-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"$filter": f"last_name eq 'Lee' and updated_at gt '{LONG_PAST}'"}, "Lee"),
        ({"$filter": f"last_name eq 'Lee' and updated_at gt '{LONG_PAST}'", "$count": "false"}, "Lee"),
        ({"$filter": f"updated_at ge '{LONG_PAST}' and last_name eq 'Lee'", "$orderby": "updated_at"}, "Lee"),
        (
            {"$filter": f"last_name eq 'Lee' and updated_at gt '{LONG_PAST}'", "$orderby": "updated_at desc"},
            "Lee",
        ),
        (
            {
                "$filter": f"last_name eq 'Lee' and updated_at gt '{LONG_PAST}'",
                "$orderby": "updated_at",
                "$count": "false",
            },
            "Lee",
        ),
        ({"$filter": f"created_at gt '{LONG_PAST}' and first_name eq 'Ann'", "$orderby": "last_name"}, "Ann"),
        ({"$filter": "first_name eq 'Ann' and last_name gt 'L'"}, "Ann"),
        ({"$filter": "first_name eq 'Ann' and last_name gt 'L'", "$count": "false"}, "Ann"),
    ],
    ids=[
        "counted",
        "uncounted",
        "by-time",
        "by-time-desc",
        "by-time-uncounted",
        "created-by-name",
        "eq-and-range",
        "eq-and-range-uncounted",
    ],
)
def test_a_page_of_an_indexed_field_and_a_range_reads_the_index_that_finds_fewer(
    names_indexed: dict[int, Path], params: dict[str, str], named: str
) -> None:
    """SQLite, without statistics, read an `and` of a field's `eq` and a range of another indexed field by the range's
    index, a time long past (an initial sync with a filter) walking the group's records to the twenty the `eq` picks,
    by `updated_at` or not, counted or not (1,150-8,731 steps at 400 records, 8,350-80,731 at 4,000); `first_name eq
    … and last_name gt …` alike. Each field's index is read as far as the fewer's ends: the page reads that one
    (900-1,750 steps at either size)."""
    taken = []
    for size, path in names_indexed.items():
        people = [_timed(n, size) for n in range(1, size + 1)]
        matching = [p for p in people if named in (p.fields["first_name"], p.fields["last_name"])]
        descending = params.get("$orderby", "").endswith("desc")
        by_name = params.get("$orderby") == "last_name"
        ordered = sorted(matching, key=lambda p: p.fields["last_name"]) if by_name else matching
        found, steps_taken = _page(path, params)
        assert found == [p.seq for p in (ordered[::-1] if descending else ordered)][:5]
        taken.append(steps_taken)
    assert taken[1] < taken[0] * 1.5, taken


@pytest.mark.parametrize("count", ["true", "false"], ids=["counted", "uncounted"])
def test_a_page_of_a_recent_time_and_a_wide_range_reads_the_time_index(
    names_indexed: dict[int, Path], count: str
) -> None:
    """Where the time is recent and the other field's condition picks most records, the time index is the one to
    read, at any size: SQLite read the range of last names (7,397 and 72,197 steps; 860-1,070 now)."""
    taken = []
    for size, path in names_indexed.items():
        recent = _timed(size - 3, size).updated_at
        found, steps_taken = _page(path, {"$filter": f"last_name gt 'L' and updated_at gt '{recent}'", "$count": count})
        assert found == [size - 2, size - 1, size]
        taken.append(steps_taken)
    assert taken[1] < taken[0] * 1.5, taken


EITHER = "first_name eq 'Ann' or last_name eq 'Lee'"


@pytest.mark.parametrize(
    ("params", "after"),
    [
        ({"$filter": EITHER}, None),
        ({"$filter": EITHER, "$count": "false"}, None),
        ({"$filter": EITHER, "$orderby": "updated_at desc"}, None),
        ({"$filter": EITHER, "$orderby": "updated_at", "$count": "false"}, None),
        ({"$filter": EITHER}, 3),
        ({"$filter": EITHER, "$orderby": "updated_at desc", "$count": "false"}, 3),
        ({"$filter": f"({EITHER}) and updated_at gt '{LONG_PAST}'"}, None),
        ({"$filter": f"updated_at gt '{LONG_PAST}' and ({EITHER})", "$count": "false"}, None),
        ({"$filter": f"({EITHER}) and last_name gt 'L'", "$orderby": "last_name"}, None),
        ({"$filter": f"({EITHER}) and ({EITHER})"}, None),
    ],
    ids=[
        "counted",
        "uncounted",
        "by-time-desc",
        "by-time-uncounted",
        "after-token",
        "by-time-desc-uncounted-after-token",
        "and-a-time",
        "a-time-and-uncounted",
        "and-a-range-by-name",
        "the-same-twice",
    ],
)
def test_a_page_of_an_or_of_indexed_fields_reads_their_indexes(
    names_indexed: dict[int, Path], params: dict[str, str], after: int | None
) -> None:
    """An app looking for a duplicate by either of two keys: SQLite does not read the partial index of a field for an
    item of an `or`, and read the group's records for the forty either name picks, counted and paged, alone or in an
    `and` (6,165-20,400 steps at 400 records, 60,165-195,180 at 4,000). Each item is read by its own index, and its
    records looked up by rowid (1,844-3,088 steps at either size)."""
    taken = []
    for size, path in names_indexed.items():
        people = [_timed(n, size) for n in range(1, size + 1)]
        matching = [p for p in people if p.fields["first_name"] == "Ann" or p.fields["last_name"] == "Lee"]
        if params.get("$orderby", "").endswith("desc"):
            matching.reverse()
        elif params.get("$orderby") == "last_name":
            matching.sort(key=lambda p: (p.fields["last_name"], p.seq))
        token = None if after is None else parse_list(PEOPLE, params, 5, 1000)[0].token(matching[after - 1], after)
        found, steps_taken = _page(path, params if token is None else {**params, "$skiptoken": token})
        assert found == [p.seq for p in matching[after or 0 :][:5]]
        taken.append(steps_taken)
    assert taken[1] < taken[0] * 1.5, taken


@pytest.mark.parametrize("count", ["true", "false"], ids=["counted", "uncounted"])
@pytest.mark.parametrize("lacking", ["first_name eq null", "first_name in ('Nobody', null)"], ids=["eq", "in"])
def test_an_or_of_a_declared_field_lacking_and_another_reads_their_indexes(
    names_indexed: dict[int, Path], count: str, lacking: str
) -> None:
    """A declared field's index holds the records lacking it, so `first_name eq null` is a condition it serves, as is
    `in (…, null)`, read as its values and its null: an `or` of either beside another indexed field was read as
    SQLite plans it, the group's records read for the twenty named Lee, counted or not (`eq null`: 11,024 and 1,601
    steps at 400 records, 104,624 and 10,961 at 4,000; `in`: 13,426 and 1,863, 128,626 and 13,383; 1,326-1,807 now
    at either size)."""
    taken = []
    for size, path in names_indexed.items():
        lee = [n for n in range(1, size + 1) if _timed(n, size).fields["last_name"] == "Lee"]
        found, steps_taken = _page(path, {"$filter": f"{lacking} or last_name eq 'Lee'", "$count": count})
        assert found == lee[:5]
        taken.append(steps_taken)
    assert taken[1] < taken[0] * 1.5, taken


@pytest.mark.parametrize("count", ["true", "false"], ids=["counted", "uncounted"])
@pytest.mark.parametrize(
    "both",
    [
        f"first_name eq 'Ann' and updated_at gt '{LONG_PAST}'",
        "last_name gt 'L' and first_name eq 'Ann'",
        "first_name eq 'Ann' and first_name gt 'A'",
    ],
)
def test_an_or_of_an_and_and_another_reads_their_indexes(names_indexed: dict[int, Path], count: str, both: str) -> None:
    """A duplicate looked for by two keys together or a third alone: an `and` item is read by the index of its
    equality, the other conditions kept off theirs (SQLite took a range's index over an equality's), where the `or`
    was read as SQLite plans it, the group's records read for the forty records it picks (11,106-13,635 steps at 400
    records, 104,706-128,835 at 4,000; 2,210-3,189 now at either size). A range of the equality's own field beside it
    is kept off the index too, as SQLite took the range over the equality on one column (`first_name gt 'A'`: 11,106
    and 86,706 steps counted)."""
    taken = []
    for size, path in names_indexed.items():
        people = [_timed(n, size) for n in range(1, size + 1)]
        either = [p.seq for p in people if p.fields["first_name"] == "Ann" or p.fields["last_name"] == "Lee"]
        found, steps_taken = _page(path, {"$filter": f"({both}) or last_name eq 'Lee'", "$count": count})
        assert found == either[:5]
        taken.append(steps_taken)
    assert taken[1] < taken[0] * 1.5, taken


@pytest.mark.parametrize("count", ["true", "false"], ids=["counted", "uncounted"])
@pytest.mark.parametrize("order", ["code", "updated_at desc", "last_name"])
def test_a_page_of_a_value_or_null_in_another_order_reads_the_field_s_index(
    names_indexed: dict[int, Path], count: str, order: str
) -> None:
    """`in (…, null)` is read per value and for the null, merged in the page's order: under an order its field's index
    does not give, SQLite read each part by walking the order's index, the group's records for the one person first
    named F3 (6,766-8,394 steps at 400 records, 64,366-80,394 at 4,000; 461-510 now at either size)."""
    taken = []
    for path in names_indexed.values():
        found, steps_taken = _page(path, {"$filter": "first_name in ('F3', null)", "$orderby": order, "$count": count})
        assert found == [3]
        taken.append(steps_taken)
    assert taken[1] < taken[0] * 1.5, taken


def test_an_or_counts_a_record_matching_both_items_once(names_indexed: dict[int, Path]) -> None:
    """The items' records are read apart, and one matching both is one of the page's: the ten first records and the
    twenty last named Lee, one (the 7th) of both, are 29 at either size."""
    for size, path in names_indexed.items():
        early = _timed(11, size).created_at
        query = parse_list(PEOPLE, {"$filter": f"created_at lt '{early}' or last_name eq 'Lee'"}, 5, 1000)[0]
        conn = sqlite3.connect(path)
        page, total = sqlite_pages.read_page(conn, G, PEOPLE, query)
        conn.close()
        assert [row[3] for row in page] == [1, 2, 3, 4, 5] and total == 29


@pytest.mark.parametrize("count", ["true", "false"], ids=["counted", "uncounted"])
def test_an_or_picking_many_records_is_read_as_sqlite_plans_it(names_indexed: dict[int, Path], count: str) -> None:
    """Where the items pick many records, the page (its last statement) walks the group to its first matches, as
    before: only the counts of the items' rows, as far as "few" goes, read them apart."""
    params = {"$filter": "first_name gt 'F' or last_name eq 'Lee'", "$count": count}
    query = parse_list(PEOPLE, params, 5, 1000)[0]
    for path in names_indexed.values():
        assert _page(path, params)[0] == [1, 2, 3, 4, 5]
        found = plans(path, lambda conn: sqlite_pages.read_page(conn, G, PEOPLE, query))
        assert "UNION ALL" not in found[-1], found


def test_an_uncounted_page_of_an_or_picking_many_counts_it_only_as_far_as_few_goes(
    names_indexed: dict[int, Path],
) -> None:
    """A `$count=false` page counts the part of its filter an index serves as far as "few" goes; of an `or`, SQL's
    `OR` read the group's records until that many matched: the five first records and the 200 last, the first page
    those five, had the records between read (4,195 steps at 400 records, 53,497 at 4,000). The count of the items'
    rows, read by their indexes no further than that bound (which grows as the root of the records, not as they do),
    says it: 1,240 and 2,695 steps now."""
    taken = []
    for size, path in names_indexed.items():
        either = f"last_name lt 'L00006' or last_name gt 'L{size - 200:05}'"
        found, steps_taken = _page(path, {"$filter": either, "$count": "false"})
        assert found == [1, 2, 3, 4, 5]
        taken.append(steps_taken)
    assert taken[1] < taken[0] * 4, taken
