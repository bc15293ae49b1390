"""What of a page's filter the indexes serve: the part whose records an index finds (`indexed`), and, of an `and`
naming several indexed fields, the one field whose index reads fewest rows (`kept_off`).

SQLite plans without statistics of the data. Of two indexes an `and` could be read by, it took the one of a range
over the one of an equality: `last_name eq … and updated_at gt` a time long past (an initial sync with a filter) had
its total, and its page in any order, read from the time index, every record of the group looked at for the few the
name picks (33,755 steps of its machine at 2,000 records, 132,635 at 8,000); `first_name eq … and last_name gt …`
alike read the range of last names; and where a recent time picks few, it read a range of names picking most instead.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import replace

from hub.model.collections import Collection
from hub.model.field_index import FieldIndex
from hub.model.filter import And, Comparison, In, Node, Or
from hub.model.list_query import ListQuery
from hub.store.sqlite_counts import FLIP_AFTER, count_rows, few, listed_in
from hub.store.sqlite_fields import indexed_fields
from hub.store.sqlite_query import by_hub_id, compile_list


def count_query(
    conn: sqlite3.Connection,
    group_id: str,
    collection: Collection,
    query: ListQuery,
    most: int | None,
    off: frozenset[tuple[str, ...]] = frozenset(),
) -> int:
    """How many records `query` matches (no more than `most`), its conditions on the fields `off` kept off their
    indexes (`kept_off`)."""
    where, params = compile_list(group_id, collection, query, off)
    return count_rows(conn, f"records r WHERE {where}", params, most)


def indexed(node: Node, fields: set[tuple[str, ...]]) -> Node | None:
    """The part of `node` an index finds the records of, if any: a comparison (but `ne`) or an `in (…)` of an
    indexed field, not null (a reference's index holds none); the items of an `and` that are; an `or` all of whose
    items are."""
    if isinstance(node, Comparison):
        return node if node.field in fields and node.op != "ne" and node.value is not None else None
    if isinstance(node, In):
        return node if node.field in fields and None not in node.values else None
    if isinstance(node, Or):
        return node if all(indexed(item, fields) is not None for item in node.items) else None
    if isinstance(node, And):
        parts = [part for item in node.items if (part := indexed(item, fields)) is not None]
        return None if not parts else parts[0] if len(parts) == 1 else And(tuple(parts))
    return None


def kept_off(
    conn: sqlite3.Connection,
    group_id: str,
    collection: Collection,
    query: ListQuery,
    window: int,
    declared: Callable[[], list[FieldIndex]],
) -> frozenset[tuple[str, ...]]:
    """The fields of the page's `and` whose conditions are kept off their indexes (a unary `+`), so that SQLite reads
    the index of the field picking fewest records, where those are few (`few`: the page sorts them): the rows each
    field's index holds for its conditions are read in turn (`_fewest`), no further than `sqrt(window x listed)` nor
    `FLIP_AFTER`, a bound that does not grow with the data past 25M / window records. None are kept off where no field
    picks few, nor where the filter names fewer than two indexed fields. `INDEXED BY` could not say it: a field
    index is partial, and SQLite finds "no query solution" in one for a statement whose collection is a parameter."""
    candidates = _candidates(collection, query, declared)
    if len(candidates) < 2:
        return frozenset()
    listed = listed_in(conn, group_id, collection.name)
    most = min(math.isqrt(window * listed) + 1, FLIP_AFTER)
    rows = {}
    try:
        for field, node in candidates.items():  # the rows its index holds: the status is tested after
            where, params = compile_list(
                group_id, collection, replace(query, filter=node, app=None, include_archived=True)
            )
            rows[field] = conn.execute(f"SELECT 1 FROM records r WHERE {where} LIMIT ?", [*params, most])
        fewest = _fewest(rows, most)
    finally:
        for found in rows.values():
            found.close()
    if fewest is None or not few(fewest[1], window, listed):
        return frozenset()
    return frozenset(candidates) - {fewest[0]}


def _candidates(
    collection: Collection, query: ListQuery, declared: Callable[[], list[FieldIndex]]
) -> dict[tuple[str, ...], Node]:
    """Each field an index finds records of (`indexed`) among the items of the page's `and`, with its conditions there
    (`updated_at gt … and updated_at lt …` is one range of its index). None for a filter picking its records by hub id
    (`by_hub_id`), whose index finds them; the catalog is read only if the `and` names two fields besides the status."""
    items = query.filter.items if isinstance(query.filter, And) and not by_hub_id(query.filter) else ()
    named = {item.field for item in items if isinstance(item, Comparison | In)} - {("status",)}
    if len(named) < 2:
        return {}
    fields = indexed_fields(collection, declared())
    found: dict[tuple[str, ...], list[Node]] = {}
    for item in items:
        if isinstance(item, Comparison | In) and indexed(item, fields) is not None:
            found.setdefault(item.field, []).append(item)
    return {field: nodes[0] if len(nodes) == 1 else And(tuple(nodes)) for field, nodes in found.items()}


BATCH = 64
"""How many rows of each field `_fewest` reads at a time."""


def _fewest(rows: Mapping[tuple[str, ...], sqlite3.Cursor], most: int) -> tuple[tuple[str, ...], int] | None:
    """The field whose `rows` (no more than `most` each) are fewest, and how many, if fewer than `most`: each field's
    are read in turn, `BATCH` at a time, until one's end, so that each is read about as far as the fewest. Counted in
    turn, one field picking many cost up to `most` rows before one picking few was counted."""
    counted = dict.fromkeys(rows, 0)
    while counted:
        for field in list(counted):
            read = len(rows[field].fetchmany(BATCH))
            counted[field] += read
            if read < BATCH and counted[field] < most:
                return field, counted[field]
            if read < BATCH:  # as many as `most`: not one of few
                del counted[field]
    return None
