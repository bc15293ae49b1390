"""Which rows a page of a collection reads, and how SQLite is made to find them without reading the group.

A page is chosen by rowid first, so that sorting carries the sort keys and not whole records
(with records_live_updated, an updated_at window is sorted from the index alone). Where the
counts are kept (an unfiltered page, `sqlite_counts`), they also say how to find the page:

- it ends at the total: an `opts[linked]=false` page stops at the last record the app lacks
  rather than walk past every one it holds to the end;
- an app holding few records (`opts[linked]=true`, `sqlite_counts.few` of those listed) has them
  found from its own links and sorted, rather than looked for among all the records of the group
  (at 1M records an app holding 5 at the start of the code order had its last page looked for from
  the end, 1.4 s; at 10k records, an app holding half of them had its 5,000 sorted, 13 ms, where a
  walk finds its page in 1.9 ms);
- the last page in code order is the list's last records, read from the end of the code index
  (new records an app lacks are there).

After a `$skiptoken`, records before it may have gone since: only the total bounds what follows.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from hub.model.collections import Collection
from hub.model.query import ListQuery
from hub.store.sqlite_counts import few, kept_total
from hub.store.sqlite_query import RECORD_COLUMNS, compile_list, compile_order


def read_page(
    conn: sqlite3.Connection, group_id: str, collection: Collection, query: ListQuery
) -> tuple[list[Any], int | None]:
    """The page's rows of `records` (in `RECORD_COLUMNS` order) and its total (None unless `query.count`)."""
    where, params = compile_list(group_id, collection, query)
    order = compile_order(collection, query)
    start, starts = ("r.seq > ?", [query.after]) if query.after is not None else ("true", [])
    kept = kept_total(conn, group_id, collection.name, query)
    if kept is None:
        rows = conn.execute(_select(where, start, order, order), [*params, *starts, query.top, query.offset])
        counted = conn.execute(f"SELECT COUNT(*) FROM records r WHERE {where}", params) if query.count else None
        return rows.fetchall(), counted.fetchone()[0] if counted else None
    total, listed = kept
    shown = total if query.count else None
    if (left := total - query.offset) <= 0:
        return [], shown
    window = [min(query.top, left), query.offset]
    app = query.app if query.linked else None
    if app is not None and few(total, query.offset + query.top, listed):
        held = [group_id, collection.name, *app]
        rows = conn.execute(_select(where, start, order, order, held=True), [*held, *params, *starts, *window])
    elif query.after is None and not query.order and left <= query.top:
        rows = conn.execute(_select(where, start, "r.seq DESC", order), [*params, *starts, left, 0])
    else:
        rows = conn.execute(_select(where, start, order, order), [*params, *starts, *window])
    return rows.fetchall(), shown


def _select(where: str, start: str, chosen_by: str, order: str, held: bool = False) -> str:
    """The page's statement: the rowids of the page chosen in `chosen_by` order (from the app's links if `held`:
    CROSS JOIN keeps them the outer loop), then its records in `order`."""
    found = (
        "external_ids e CROSS JOIN records r ON r.hub_id = e.hub_id WHERE e.group_id = ? AND e.collection = ?"
        " AND e.provider = ? AND e.realm = ? AND"
        if held
        else "records r WHERE"
    )
    return (
        f"SELECT {RECORD_COLUMNS} FROM records r WHERE r.rowid IN (SELECT r.rowid FROM {found}"
        f" {where} AND {start} ORDER BY {chosen_by} LIMIT ? OFFSET ?) ORDER BY {order}"
    )
