"""Which rows a page of a collection reads, and how SQLite is made to find them without reading the group.

A page is chosen by rowid first, so that sorting carries the sort keys and not whole records
(with records_live_updated, an updated_at window is sorted from the index alone).

An `opts[linked]=true` page in code order comes from the app's own links, which carry their
record's code number (`external_ids_held`): the app's records in code order, however few it holds
and wherever they lie. Walking the group's records in code order, each looked up among the app's
links, found a page of an app holding the newest 20,000 of 1M records past the million it lacks
(0.75-1.26 s), and an app holding 5 at the start of the code order had its last page looked for from
the end (1.4 s). But a filtered one whose matches are few (`_picked`) reads them by the filter: from the
links, `email/address eq …` walked every link of the app past the index that finds the one record.

Where the counts are kept (an unfiltered page, `sqlite_counts`), they also say how to find the page:

- it ends at the total: an `opts[linked]=false` page stops at the last record the app lacks
  rather than walk past every one it holds to the end;
- under another `$orderby`, an app holding few records (`sqlite_counts.few` of those listed) has
  them read from its links and sorted, rather than looked for among all the records of the group
  (at 10k records, an app holding half of them had its 5,000 sorted, 13 ms, where a walk finds its
  page in 1.9 ms);
- the last page in code order is the list's (or the app's) last records, read from the end of the
  code index (new records an app lacks are there);
- so is an `opts[linked]=false` page whose records, and all that follow, are newer than the last
  record the app holds (`_lacked_after`): an app polling for more than a page of new records.

After a `$skiptoken`, records before it may have gone since: only the total bounds what follows. Under
`$orderby` the token holds the last record's sort values too, and the page starts after them (`keyset`).

A filtered page counts its matches first (`_matching`, from the records it leaves out where those are found
as simply), and the count says how to find the page (`_picked`): sort the few matching, in any order, or walk
the code index when nearly all match (in code order). Left uncounted (`$count=false`), it counts the part of its
filter an index serves, only as far as "few" goes (`_matches_few`). A page whose order starts with a field its filter
names is read in that field's index, counted or not (`_in_its_order`).
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from functools import cache, partial
from typing import Any, Literal

from hub.model.collections import Collection
from hub.model.field_index import FieldIndex
from hub.model.filter import And, Comparison, fields_of, pinned
from hub.model.keyset import Order, codes_descend
from hub.model.list_query import ListQuery
from hub.store.sqlite_counts import (
    count_rows,
    few,
    fewer_counted,
    kept_total,
    listed_in,
    nearly_all,
    status_total,
    unfiltered_total,
)
from hub.store.sqlite_fields import field_indexes, holds_nulls, indexed_fields
from hub.store.sqlite_indexed import count_query, indexed, kept_off, read_apart
from hub.store.sqlite_query import (
    CODE_INDEX,
    RECORD_COLUMNS,
    STATUS_INDEXES,
    Fewest,
    by_hub_id,
    column,
    compile_filter,
    compile_list,
    compile_order,
)


def read_page(
    conn: sqlite3.Connection, group_id: str, collection: Collection, query: ListQuery
) -> tuple[list[Any], int | None]:
    """The page's rows of `records` (in `RECORD_COLUMNS` order) and its total (None unless `query.count`)."""
    linked = query.app is not None and query.linked
    kept = _kept(conn, group_id, collection, query)
    if kept is None:
        declared = cache(partial(field_indexes, conn))  # the catalog, read once for the page if at all
        parts, merged = _parts(collection, query, declared)
        window = [query.top, query.offset]
        fewest = None if parts else kept_off(conn, group_id, collection, query, sum(window), declared)
        total = (
            _matching(conn, group_id, collection, query, tuple(p for p, _ in parts), fewest) if query.count else None
        )
        if total is not None and total <= query.offset:  # none on the page: its walk passed over every record read
            return [], total
        if merged:
            return _merged(conn, group_id, collection, query, parts, window, declared), total
        picked = "sort" if fewest is not None else _how(conn, group_id, collection, query, total, declared)  # few match
        from_links = linked and not query.order and picked != "sort"  # the few matching are found by the filter
        return _rows(conn, group_id, collection, query, window, from_links, picked, fewest), total
    total, listed = kept
    shown = total if query.count else None
    if (left := total - query.offset) <= 0:
        return [], shown
    from_links = linked and (not query.order or few(total, query.offset + query.top, listed))
    in_code_order = query.after is None and not query.order
    if in_code_order and left <= query.top:
        return _rows(conn, group_id, collection, query, [left, 0], from_links, backwards=True), shown
    lacked = in_code_order and not linked and left <= TAIL_MOST
    if lacked and (last := _lacked_after(conn, group_id, collection, query, left)) is not None:
        tail = replace(query, after=last)  # the `left` last records it lacks are the last after the last it holds
        return _rows(conn, group_id, collection, tail, [query.top, left - query.top], False, backwards=True), shown
    return _rows(conn, group_id, collection, query, [min(query.top, left), query.offset], from_links), shown


def _kept(conn: sqlite3.Connection, group_id: str, collection: Collection, query: ListQuery) -> tuple[int, int] | None:
    """The total of an unfiltered page from the kept counts, and how many records a plain list shows (None for a
    filtered one); of one listing archived records too, plus those, kept as well (`status_counts`, an app's in
    `app_status_counts`): a page of every status (`status ne null`, an initial sync that wants the archived records
    too) counted the group's records (84-179 ms at 100k records)."""
    kept = kept_total(conn, group_id, collection.name, query)
    if kept is None or not query.include_archived:
        return kept
    return status_total(conn, group_id, collection.name, query), kept[1]


TAIL_MOST = 10_000
"""The most records an app lacks that `_lacked_after` counts and reads from the end (each costs about 1 µs twice);
past that, its page is walked from the start, which costs as much only where it holds them all before."""


def _lacked_after(
    conn: sqlite3.Connection, group_id: str, collection: Collection, query: ListQuery, left: int
) -> int | None:
    """The code of the last record an app holds, if the `left` last records it lacks all come after it (at least
    `left` records are listed after it, where it holds none): so they are read there, from the end, as new
    records an app has yet to import are. Walked from the start, an app that lacked the 150 newest of 1M records
    had its first page of 100 found past the million it holds."""
    if query.app is None:
        return None
    last = conn.execute(
        "SELECT MAX(seq) FROM external_ids WHERE group_id = ? AND collection = ? AND provider = ? AND realm = ?",
        [group_id, collection.name, *query.app],
    ).fetchone()[0]
    if last is None:
        return None
    where, params = compile_list(group_id, collection, replace(query, app=None))
    after = count_rows(conn, f"records r WHERE {where} AND r.seq > ?", [*params, last], left)
    return int(last) if after == left else None


def _matching(
    conn: sqlite3.Connection,
    group_id: str,
    collection: Collection,
    query: ListQuery,
    parts: tuple[ListQuery, ...],
    fewest: Fewest | None = None,
) -> int:
    """How many records a filtered page's query matches (counted: the filter may name any field), or those it leaves
    out (`ListQuery.complement`) where they are fewer (`fewer_counted`): an initial sync by `updated_at gt` a time
    before every record counted all of them for every page (278 ms at 1M records; 796 ms for an app's records,
    `opts[linked]`, each looked up among its links). One of statuses alone is read from the kept counts, an app's
    too (`ListQuery.statuses`); one of several statuses beside another condition is the sum of those of each
    (`parts`, as `_parts` reads it), each counted in its status's own index, as are the values and the null of an
    `in (…, null)`. It is read as `fewest` says (`kept_off`)."""
    if query.statuses is not None:
        return status_total(conn, group_id, collection.name, query)
    if parts:  # each of one status or value: split no further
        return sum(_matching(conn, group_id, collection, part, ()) for part in parts)
    other = query.complement()
    return fewer_counted(
        lambda most: count_query(conn, group_id, collection, query, most, fewest),
        None if other is None else lambda most: count_query(conn, group_id, collection, other, most),
        lambda: unfiltered_total(conn, group_id, collection.name, query)[0],
    )


Part = tuple[ListQuery, str | None]
"""A query whose records are some of a page's, and the index it is read from (None: as SQLite plans it)."""


def _parts(
    collection: Collection, query: ListQuery, declared: Callable[[], list[FieldIndex]]
) -> tuple[tuple[Part, ...], bool]:
    """The queries whose records together are `query`'s, each counted and read from an index of its own (and whether
    the page's rows are read as their union, `_merged`, or as one query): one per status
    (`ListQuery.by_status`, read from the status's index if it has one: `_status_index`), unless another condition of
    its filter names a field with an index of its own other than the code (which each status's index holds): SQLite
    reads that index once for all the statuses (updated_at's holds the status), where a query per status read it once
    each (at 100k records, 11,000 of them inactive or archived, `status ne 'ACTIVE' and created_at gt` a time long past
    took 67 ms, and 226 ms so split). Beside the code or a field no index serves, the statuses' own indexes read fewer
    records than the group's: `and code gt …` 23 -> 1 ms, `and last_name eq …` 307 -> 72 ms. Else the values and the
    null of `f in (…, null)`, `f` a field whose index holds its nulls (`ListQuery.or_null`): SQLite read the group's
    records for the `OR` of both (at 100k records, 2,000 lacking a last name, its total took 143 ms, and 7 ms so split);
    under an `$orderby` starting with `f`, whose index gives the page in order (`_in_its_order`), only counted so:
    merged, each part was read from the group's records and sorted (at 20k records, 1.7 ms a page uncounted, 46 ms).
    Nor is a filter picking its records by hub id (`by_hub_id`) split: the hub id index finds those few, where each
    status's index, its group kept off it, was scanned whole (every group's records of that status), and `id in (null)`
    found no plan at all in it."""
    parts, split = query.by_status(), query.or_null()
    if by_hub_id(query.filter) or not (parts or split):
        return (), False
    # the catalog (the indexes of `hub index add`), read only if a field besides the status and the code may have an
    # index of its own
    named = fields_of(query.filter) if query.filter is not None else set()
    indexes = declared() if split or named - {("status",), ("code",)} else []
    indexed = indexed_fields(collection, indexes)
    if parts and not _beside_index(query, ("status",), indexed):
        return tuple((part, _status_index(part)) for part in parts), True
    if split and len(split[1]) <= MOST_PARTS and holds_nulls(collection, split[0], indexes):
        if _beside_index(query, split[0], indexed):
            return (), False
        in_its_order = bool(query.order) and query.order[0][0] == split[0]
        return tuple((part, None) for part in split[1]), not in_its_order
    return (), False


MOST_PARTS = 20
"""The most values (the null among them) of an `in (…, null)` read apart (`_parts`); one of more is read as SQLite
plans it. Each part is a SELECT of the page's statement, carrying the rest of the filter and the start: a `$filter`
holds hundreds of values, past SQLite's 500 SELECTs in one statement (a 500), and parts of a long filter each passed
1,000 parameters, of 32,766 in a statement as SQLite is built by default."""


def _beside_index(query: ListQuery, field: tuple[str, ...], indexed: set[tuple[str, ...]]) -> bool:
    """Whether a condition of the page's filter on another field than `field` names one with an index of its own
    (`indexed`), other than the code (each index the page is split by holds it)."""
    others = fields_of(query.filter) - {field, ("code",)} if query.filter is not None else set()
    return bool(others & indexed)


Picked = Literal["sort", "walk"]


def _how(
    conn: sqlite3.Connection,
    group_id: str,
    collection: Collection,
    query: ListQuery,
    total: int | None,
    declared: Callable[[], list[FieldIndex]],
) -> Picked | None:
    """How a filtered page is best found: by the index of its order if its filter names the order's first field
    (None: as SQLite plans it), else as its count says (`_picked`), or, left uncounted, as far as "few" goes
    (`_matches_few`)."""
    if _in_its_order(query):
        return None
    if by_hub_id(query.filter):
        return "sort"  # the records of the ids it names, however many match: a walk would read the group's
    window, listed = query.top + query.offset, listed_in(conn, group_id, collection.name)
    if total is not None:
        return _picked(total, window, listed)
    return "sort" if _matches_few(conn, group_id, collection, query, window, listed, declared) else None


def _in_its_order(query: ListQuery) -> bool:
    """Whether the page's order (code order without `$orderby`) starts with a field its filter names: the index of
    that order finds the matching records in their order, few or many, where sorting them apart read them all. A key
    the filter holds at one value orders nothing (`_unpinned`): the next one says."""
    if query.filter is None:
        return False
    order = _unpinned(query.order, query)
    return (order[0][0] if order else ("code",)) in fields_of(query.filter)


def _matches_few(
    conn: sqlite3.Connection,
    group_id: str,
    collection: Collection,
    query: ListQuery,
    window: int,
    listed: int,
    declared: Callable[[], list[FieldIndex]],
) -> bool:
    """Whether a page left uncounted (`$count=false`), or a part of a merged one (`_merged`), matches few records
    (`few`), to be sorted rather than planned by SQLite. Not counted, a page of the two records an `in (…)` on an
    indexed field picks walked the group (48,083 VM steps at 4,000 records). What is counted is the part of the filter
    an index serves (`indexed`), and only as far as "few" goes (`sqrt(window * listed)` rows at most): it matches at
    least the records the whole filter does, and it is read from its index, where counting the whole filter read the
    group's records until that many matched (those of an `and` with a field no index serves), and a walk would have
    stopped at the page's. The part is counted without the app of `opts[linked]`, whose records a sort reads it all to
    find: looked up among the app's links, each of its records had the count of an app holding 4 read all those it
    matches (150,256 steps at 4,000 records). An `or` whose records its items' indexes find (`read_apart`) is not
    counted again: `kept_off` counted them there, and found many; its SQL `OR` read the group's records until that many
    matched (of the five first records and the 200 last, those between: 53,497 steps at 4,000 records)."""
    if query.filter is None:
        return False
    fields = indexed_fields(collection, declared())
    part = indexed(query.filter, fields)
    if part is None or read_apart(part, fields):
        return False
    most = math.isqrt(window * listed) + 1  # past it, few() no longer holds
    return few(count_query(conn, group_id, collection, replace(query, filter=part, app=None), most), window, listed)


def _picked(matching: int, window: int, listed: int) -> Picked | None:
    """How a filtered page whose query matches `matching` of the `listed` records is best found: "sort" the few
    matching, read by the filter's own index, in any order; "walk" the code index when nearly all match (it passes
    over no more than the others; `_rows` walks it in code order only); or as SQLite plans it (None).

    Left to plan it without statistics of the data, SQLite walked the group to find the two records of an
    `in (…)` on an indexed field (`sqlite_fields`), and read and sorted every record of an initial sync
    (`updated_at gt` a time before all of them: 170 ms at 1M records) rather than walk to the first 100."""
    if few(matching, window, listed):
        return "sort"
    return "walk" if nearly_all(matching, listed) else None


def _rows(
    conn: sqlite3.Connection,
    group_id: str,
    collection: Collection,
    query: ListQuery,
    window: list[int],
    from_links: bool,
    picked: Picked | None = None,
    fewest: Fewest | None = None,
    backwards: bool = False,
) -> list[Any]:
    """The page's rows, chosen by rowid (from the app's links if `from_links`: CROSS JOIN keeps them the outer loop)
    in code order (`backwards` from the end) unless `$orderby` says another, then read in the page's order; a
    filtered one as `picked` says (to sort: an order and a start no index gives, a unary `+`, so that the filter's
    index finds the few matching, where SQLite walked the group in the index of the order or of the start; to walk:
    the code index). Keys the filter holds at one value are left out of the order that finds them (`_unpinned`), and
    its filter read as `fewest` says (`kept_off`)."""
    walked = picked == "walk" and not query.order
    found, code, held = f"records r {f'INDEXED BY {CODE_INDEX} ' if walked else ''}WHERE", "r.seq", []
    if from_links and query.app is not None:
        found = (
            "external_ids e INDEXED BY external_ids_held CROSS JOIN records r"
            " ON r.group_id = e.group_id AND r.collection = e.collection AND r.seq = e.seq"
            " WHERE e.group_id = ? AND e.collection = ? AND e.provider = ? AND e.realm = ? AND"
        )
        code, held = "e.seq", [group_id, collection.name, *query.app]
        query = replace(query, app=None)  # the links are the app's: its records need not be looked for again
    where, params = compile_list(group_id, collection, query, fewest)
    ties = codes_descend(query.order)
    order = compile_order(query.order, ties)
    apart = picked == "sort"
    code_order = f"{'+' * apart}{code} {'DESC' if backwards else 'ASC'}"
    rows: list[Any] = []
    for start, starts, in_order in _starts(collection, query, code):
        chosen_by = compile_order(_unpinned(in_order, query), ties, apart) if query.order else code_order
        # The start comes before the filter: of two lower bounds on one column of an index, SQLite starts from the
        # first it reads, and a sync's `updated_at gt` a time long past had a page by `updated_at` read from there
        # to the token's time (70 ms half-way through 1M records, 0.3 ms from the token's).
        statement = (
            f"SELECT {RECORD_COLUMNS} FROM records r WHERE r.rowid IN (SELECT r.rowid FROM {found}"
            f" {f'+({start})' if apart else start} AND {where} ORDER BY {chosen_by} LIMIT ? OFFSET ?) ORDER BY {order}"
        )
        rows += conn.execute(statement, [*held, *starts, *params, window[0] - len(rows), window[1]]).fetchall()
        if len(rows) >= window[0]:
            break
    return rows


def _unpinned(order: Order, query: ListQuery) -> Order:
    """`order` without the keys the page's filter holds at one value (`pinned`): they order none of its records, and
    named in the ORDER BY they made SQLite walk the group's records and sort those matching, where the field's index
    gives them in code order (`email/address eq … $orderby=email/address`: 4,106 steps of its machine at 400 records,
    a tenth of them read by their own index)."""
    steady = pinned(query.filter) if query.filter is not None else set()
    return [(path, desc) for path, desc in order if path not in steady]


def _merged(
    conn: sqlite3.Connection,
    group_id: str,
    collection: Collection,
    query: ListQuery,
    parts: tuple[Part, ...],
    window: list[int],
    declared: Callable[[], list[FieldIndex]],
) -> list[Any]:
    """The page's rows of a query that is the union of `parts` (`_parts`), each read from its own index from the
    page's start on, in the page's order (sorted, under an `$orderby` the index does not give: SQLite walked the group
    in the index of the order), and merged as SQLite reads them (the ORDER BY of a compound SELECT merges its parts,
    each in that order), from the index each names (SQLite finds the values and the null of a field in its index).
    A part naming none is sorted where it matches few records (`_matches_few`), its sort keys kept off every index (a
    unary `+`) so that its filter's index finds them, else read as SQLite plans it: in the order of another index,
    SQLite walked each part to its records (`first_name in ('F3', null)` by `$orderby=code` or `updated_at desc` read
    the group's records for one person: 6,766-8,394 steps of its machine at 400 records, 64,366-80,394 at 4,000;
    461-510 now). A part matching many, the nulls of a field most records lack, is walked in order."""
    chosen: list[str] = []
    params: list[Any] = []
    keys = [column(path) for path, _ in query.order]
    listed = listed_in(conn, group_id, collection.name) if query.order else 0
    for part, index in parts:
        where, found = compile_list(group_id, collection, part)
        if part.start is not None:  # its parameters come first, as it does
            where = f"{compile_filter(collection, part.start, params)} AND {where}"
        table = f"records r INDEXED BY {index}" if index else "records r"
        sorted_apart = index is None and bool(query.order)
        apart = "+" * (sorted_apart and _matches_few(conn, group_id, collection, part, sum(window), listed, declared))
        shown = ", ".join(apart + key for key in [*keys, "r.seq"])
        chosen.append(f"SELECT r.rowid AS found, {shown} FROM {table} WHERE {where}")
        params += found
    order = [f"{n} {'DESC' if desc else 'ASC'}" for n, (_, desc) in enumerate(query.order, 2)]
    ties = codes_descend(query.order)
    codes = f"{len(keys) + 2} {'DESC' if ties else 'ASC'}"
    merged = f"{' UNION ALL '.join(chosen)} ORDER BY {', '.join([*order, codes])} LIMIT ? OFFSET ?"
    statement = (
        f"SELECT {RECORD_COLUMNS} FROM records r WHERE r.rowid IN (SELECT found FROM ({merged}))"
        f" ORDER BY {compile_order(query.order, ties)}"
    )
    return conn.execute(statement, [*params, *window]).fetchall()


def _status_index(part: ListQuery) -> str | None:
    """The index of the status a part of `ListQuery.by_status` is of, if it has one (`ACTIVE`, most records, has none):
    that of the value of its `status eq`, which its statement says (so the status's partial index serves it), not of
    another condition on the status beside it (`status gt 'ARCHIVED'`, for which SQLite finds no plan in the archived
    records' index)."""
    items = part.filter.items if isinstance(part.filter, And) else (part.filter,)
    status = next(i.value for i in items if isinstance(i, Comparison) and i.field == ("status",) and i.op == "eq")
    return STATUS_INDEXES.get(status) if isinstance(status, str) else None


def _starts(collection: Collection, query: ListQuery, code: str) -> list[tuple[str, list[Any], Order]]:
    """Where the page starts, as SQL conditions (with their parameters, and the order their records come in) whose
    records follow one another in its order, each read only if those before leave the page short (`ListQuery.starts`):
    a descending key's values from the token's down, then its nulls. A page after a token passes over none, so each
    part reads on from where the one before ended."""
    if query.after is not None and not query.order:  # in code order: the code of the links it comes from, if so
        return [(f"{code} > ?", [query.after], ())]
    made: list[tuple[str, list[Any], Order]] = []
    for part, in_order in query.starts:  # after the sort values of the last record of the page before
        params: list[Any] = []
        made.append((compile_filter(collection, part, params), params, in_order))
    return made or [("true", [], query.order)]
