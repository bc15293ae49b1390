"""What of a page's filter the indexes serve: the part whose records an index finds (`indexed`), and, of an `and`
naming several indexed fields or of an `or` each of whose items an index serves, the part whose index reads fewest
rows (`kept_off`).

SQLite plans without statistics of the data. Of two indexes an `and` could be read by, it took the one of a range
over the one of an equality: `last_name eq … and updated_at gt` a time long past (an initial sync with a filter) had
its total, and its page in any order, read from the time index, every record of the group looked at for the few the
name picks (33,755 steps of its machine at 2,000 records, 132,635 at 8,000); `first_name eq … and last_name gt …`
alike read the range of last names; and where a recent time picks few, it read a range of names picking most instead.
Nor does its OR optimisation read a field's partial index for an item of an `or`: `first_name eq … or last_name eq …`
(an app looking for a duplicate by either key) read the group's records for the forty either name picks (52,373 steps
at 2,000 records, 208,373 at 8,000).
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Mapping, Set
from dataclasses import replace
from typing import Any, TypeGuard

from hub.model.collections import Collection
from hub.model.field_index import REFERENCE_FIELDS, FieldIndex
from hub.model.filter import And, Comparison, In, Node, Or, fields_of
from hub.model.list_query import ListQuery
from hub.store.sqlite_counts import FLIP_AFTER, count_rows, few, listed_in
from hub.store.sqlite_fields import indexed_fields
from hub.store.sqlite_query import Fewest, by_hub_id, compile_list, equality_of, items_apart, union_of


def count_query(
    conn: sqlite3.Connection,
    group_id: str,
    collection: Collection,
    query: ListQuery,
    most: int | None,
    fewest: Fewest | None = None,
) -> int:
    """How many records `query` matches (no more than `most`), read as `fewest` says (`kept_off`)."""
    where, params = compile_list(group_id, collection, query, fewest)
    return count_rows(conn, f"records r WHERE {where}", params, most)


def indexed(node: Node, fields: Set[tuple[str, ...]]) -> Node | None:
    """The part of `node` an index finds the records of, if any: a comparison (but `ne`) or an `in (…)` of an
    indexed field, not null (a reference's index holds none; `eq null` is found in any other field's, `_nulls_found`);
    the items of an `and` that are; an `or` all of whose items are."""
    if isinstance(node, Comparison):
        known = node.value is not None or _nulls_found(node)
        return node if node.field in fields and node.op != "ne" and known else None
    if isinstance(node, In):
        return node if node.field in fields and None not in node.values else None
    if isinstance(node, Or):
        return node if all(indexed(item, fields) is not None for item in node.items) else None
    if isinstance(node, And):
        parts = [part for item in node.items if (part := indexed(item, fields)) is not None]
        return None if not parts else parts[0] if len(parts) == 1 else And(tuple(parts))
    return None


REFERENCE_PATHS = frozenset(index.path for index in REFERENCE_FIELDS)


def _nulls_found(node: Comparison) -> bool:
    """Whether the index of the field of an `eq null` finds its records: a declared field's holds the records lacking
    it, and a record's own fields are never null, but a reference's holds only the records having one (a field of
    that name in any entity type is taken for one). Not found so, `first_name eq null or last_name eq …` read the
    group's records, and `first_name eq null and last_name gt …` the range of last names (104,624 and 40,271 steps of
    SQLite's machine at 4,000 records; 1,780 and 323 now)."""
    return node.op == "eq" and node.field not in REFERENCE_PATHS


def kept_off(
    conn: sqlite3.Connection,
    group_id: str,
    collection: Collection,
    query: ListQuery,
    window: int,
    declared: Callable[[], list[FieldIndex]],
) -> Fewest | None:
    """How the page's filter is read by the index of the part picking fewest records, where those are few (`few`: the
    page sorts them), the others' conditions kept off their indexes (a unary `+`): a field of its `and`, or an `or`
    each of whose items an index serves, the filter or an item of its `and`, read as the union of its items' records
    (`Fewest`). The rows each part's index holds for its conditions are read in turn (`_fewest`; an `or`'s, of each
    item in turn, a record matching two counted once), no further than `sqrt(window x listed)` nor `FLIP_AFTER`, a
    bound that does not grow with the data past 25M / window records. None (as SQLite plans it) where no part picks
    few, nor where the filter names fewer than two indexed fields and no such `or`. `INDEXED BY` could not say it: a
    field index is partial, and SQLite finds "no query solution" in one for a statement whose collection is a
    parameter."""
    candidates, fields = _candidates(collection, query, declared)
    if not candidates:
        return None
    listed = listed_in(conn, group_id, collection.name)
    most = min(math.isqrt(window * listed) + 1, FLIP_AFTER)
    rows = {}
    try:
        for key, node in candidates.items():  # the rows its index holds: the status is tested after
            rows[key] = _rows_of(conn, group_id, collection, replace(query, filter=node), most, fields)
        fewest = _fewest(rows, most)
    finally:
        for found in rows.values():
            found.close()
    if fewest is None or not few(fewest[1], window, listed):
        return None
    others = [fields_of(node) for key, node in candidates.items() if key != fewest[0]]
    off = frozenset(set().union(*others) - fields_of(candidates[fewest[0]]))
    return Fewest(off, fewest[0] if isinstance(fewest[0], Or) else None, fields)


def _rows_of(
    conn: sqlite3.Connection,
    group_id: str,
    collection: Collection,
    query: ListQuery,
    most: int,
    fields: Set[tuple[str, ...]],
) -> sqlite3.Cursor:
    """The rows (no more than `most`) the index of the filter of `query`, one part of a page's (`_candidates`), holds:
    of an `or`, its records' (`_union_rows`, by the `fields` indexed)."""
    if isinstance(query.filter, Or):
        found, params = _union_rows(group_id, collection, query.filter, fields)
        return conn.execute(f"{found} LIMIT ?", [*params, most])
    where, params = compile_list(group_id, collection, replace(query, app=None, include_archived=True))
    return conn.execute(f"SELECT 1 FROM records r WHERE {where} LIMIT ?", [*params, most])


Candidate = tuple[str, ...] | Or
"""A part of a page's filter `kept_off` may read by its index: a field of its `and`, or an `or`."""


def _candidates(
    collection: Collection, query: ListQuery, declared: Callable[[], list[FieldIndex]]
) -> tuple[dict[Candidate, Node], frozenset[tuple[str, ...]]]:
    """Each field an index finds records of (`indexed`) among the items of the page's `and`, with its conditions there
    (`updated_at gt … and updated_at lt …` is one range of its index), and each `or` there (or the filter) each of
    whose items an index serves (`read_apart`); none if that is one field alone. None for a filter picking its
    records by hub id (`by_hub_id`), whose index finds them. With them, the fields indexed: the catalog is read only
    if the filter names two fields besides the status or holds an `or`."""
    if query.filter is None or by_hub_id(query.filter):
        return {}, frozenset()
    items = query.filter.items if isinstance(query.filter, And) else (query.filter,)
    named = {item.field for item in items if isinstance(item, Comparison | In)} - {("status",)}
    ors = [item for item in items if isinstance(item, Or)]
    if len(named) < 2 and not ors:
        return {}, frozenset()
    fields = frozenset(indexed_fields(collection, declared()))
    found: dict[Candidate, list[Node]] = {}
    for item in dict.fromkeys(items):  # an item named twice is one condition
        if _read_by_index(item, fields):
            found.setdefault(item.field, []).append(item)
        elif read_apart(item, fields):
            found[item] = [item]
    if len(found) < 2 and not any(isinstance(key, Or) for key in found):
        return {}, fields
    return {key: nodes[0] if len(nodes) == 1 else And(tuple(nodes)) for key, nodes in found.items()}, fields


def _read_by_index(node: Node, fields: Set[tuple[str, ...]]) -> TypeGuard[Comparison | In]:
    """Whether `node` is one condition whose records an index finds (`indexed`)."""
    return isinstance(node, Comparison | In) and indexed(node, fields) is not None


def read_apart(node: Node | None, fields: Set[tuple[str, ...]]) -> TypeGuard[Or]:
    """Whether `node` is an `or` each of whose items is one condition whose records an index finds (of the `fields`
    indexed; an `in (…, null)` as its values and its null, `items_apart`), or an `and` holding an equality it finds
    (`equality_of`): its records are read by those indexes (`_union_rows`), counted by `kept_off` and found by rowid.
    An `and` with none (`first_name gt … and last_name gt …`) may be read by a range picking most: left to SQLite."""
    return isinstance(node, Or) and all(
        _read_by_index(item, fields) or (isinstance(item, And) and equality_of(item, fields) is not None)
        for item in items_apart(node)
    )


def _union_rows(group_id: str, collection: Collection, node: Or, fields: Set[tuple[str, ...]]) -> tuple[str, list[Any]]:
    """A SELECT (and its parameters) of the rowid of each record of an `or` (`read_apart`), of any status (a page tests
    it after), read by its items' indexes in turn (`union_of`) and given as they are found, each once. As the rowids
    of a page's `r.rowid IN (…)`, they were all read before the first was given."""
    params: list[Any] = []
    return f"SELECT DISTINCT found FROM ({union_of(group_id, collection, node, params, fields)})", params


BATCH = 64
"""How many rows of each field `_fewest` reads at a time."""


def _fewest(rows: Mapping[Candidate, sqlite3.Cursor], most: int) -> tuple[Candidate, int] | None:
    """The part whose `rows` (no more than `most` each) are fewest, and how many, if fewer than `most`: each part's
    are read in turn, `BATCH` at a time, until one's end, so that each is read about as far as the fewest. Counted in
    turn, one part picking many cost up to `most` rows before one picking few was counted."""
    counted = dict.fromkeys(rows, 0)
    while counted:
        for part in list(counted):
            read = len(rows[part].fetchmany(BATCH))
            counted[part] += read
            if read < BATCH and counted[part] < most:
                return part, counted[part]
            if read < BATCH:  # as many as `most`: not one of few
                del counted[part]
    return None
