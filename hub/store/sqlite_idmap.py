"""The id map on SQLite beyond plain upserts: key link searches and moves, tombstones restored,
and the merge history. Each function runs on a connection the adapter hands it."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import orjson

from hub.model.collections import COLLECTIONS
from hub.model.history import HistoryPage, MergeEntry, unknown_merge
from hub.model.ids import ExternalId
from hub.model.key_link import KeyLink, LinkQuery, position_number, position_of, position_parts
from hub.model.record import Record
from hub.store.sqlite_counts import count_rows, counted_apps, counted_links, fewer_counted, kept_links
from hub.store.sqlite_query import WHERE_ID, compile_links, timed_index

_LINK = "SELECT collection, hub_id, provider, realm, ext_id, created_at, link"
_ALIASES = "SELECT hub_id FROM records WHERE merged_into = ? AND +group_id = ? AND +collection = ?"
"""The records merged into one, found by `records_merged`. Left to itself, SQLite walked the group's records in code
order to spare a sort of those few (0.3 s at 1M records, once or more in every merge); the unary `+` keeps it off
that index."""


def aliases(conn: sqlite3.Connection, group_id: str, collection: str, hub_id: str) -> list[str]:
    """The records merged into `hub_id`, oldest code first (`_ALIASES`)."""
    rows = conn.execute(f"{_ALIASES} ORDER BY seq", (hub_id, group_id, collection))
    return [row[0] for row in rows]


def move_ids(conn: sqlite3.Connection, group_id: str, collection: str, ids: Sequence[ExternalId], hub_id: str) -> None:
    """Move `ids` to the record `hub_id`; they take its code number."""
    conn.executemany(
        f"UPDATE external_ids SET hub_id = ?, seq = (SELECT r.seq FROM records r WHERE r.hub_id = ?) WHERE {WHERE_ID}",
        [(hub_id, hub_id, group_id, collection, e.provider, e.realm, e.id) for e in ids],
    )


def restore(conn: sqlite3.Connection, record: Record, pointing: Sequence[str]) -> None:
    """Make a tombstone live again and point its former aliases back to it (they pointed to its survivor)."""
    conn.execute(
        "UPDATE records SET merged_into = NULL, status = ?, created_at = ?, updated_at = ?, data = ?, placeholder = ?"
        " WHERE hub_id = ? AND group_id = ? AND collection = ?",
        (
            record.status,
            record.created_at,
            record.updated_at,
            orjson.dumps(record.fields).decode(),
            int(record.placeholder),
            record.hub_id,
            record.group_id,
            record.collection,
        ),
    )
    conn.executemany(
        "UPDATE records SET merged_into = ? WHERE hub_id = ? AND merged_into IS NOT NULL",
        [(record.hub_id, alias) for alias in pointing],
    )


def merge_entry(conn: sqlite3.Connection, group_id: str, merge_id: str) -> MergeEntry | None:
    row = conn.execute("SELECT body FROM merges WHERE merge_id = ? AND group_id = ?", (merge_id, group_id)).fetchone()
    return MergeEntry.from_json(orjson.loads(row[0])) if row else None


def put_merge(conn: sqlite3.Connection, entry: MergeEntry) -> None:
    seq = conn.execute(
        "INSERT INTO merges (merge_id, group_id, collection, body) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (merge_id) DO UPDATE SET body = excluded.body RETURNING seq",
        (entry.merge_id, entry.group_id, entry.collection, orjson.dumps(entry.as_json()).decode()),
    ).fetchone()[0]
    conn.executemany(
        "INSERT OR IGNORE INTO merge_members (hub_id, merge_seq) VALUES (?, ?)",
        [(hub_id, seq) for hub_id in entry.members],
    )


def merges(
    conn: sqlite3.Connection, group_id: str, collection: str, hub_id: str, page: HistoryPage
) -> tuple[list[MergeEntry], bool]:
    """A page of the merges of `hub_id` and of the records merged into it, by recorded order (`seq`) newest first,
    and whether more follow.

    The page's merges are found from `merge_members` by (hub id, merge seq), each record's from below the merge the
    page starts after, and only the page's entries are read. The records merged into it come from a subquery, not
    one bound value each: a record merged into many times could pass SQLite's limit on those (32,766 as built by
    default). A record merged away has its survivor's (`merged_into` names it: a merge re-points older tombstones),
    read in the same snapshot: one merged since the caller found it showed the merges it took part in alone."""
    held = conn.execute("SELECT merged_into FROM records WHERE hub_id = ?", (hub_id,)).fetchone()
    hub_id = held[0] if held and held[0] else hub_id
    start = None
    if page.after is not None:
        row = conn.execute(
            "SELECT seq FROM merges WHERE merge_id = ? AND group_id = ? AND collection = ?",
            (page.after, group_id, collection),
        ).fetchone()
        if row is None:
            raise unknown_merge(page.after)
        start = row[0]
    found = [
        seq
        for (seq,) in conn.execute(
            f"SELECT DISTINCT merge_seq FROM merge_members WHERE hub_id IN (SELECT ? UNION ALL {_ALIASES})"
            + " AND merge_seq < ?" * (start is not None)
            + " ORDER BY merge_seq DESC LIMIT ?",
            [hub_id, hub_id, group_id, collection, *([start] if start is not None else []), page.top + 1],
        )
    ]
    shown = found[: page.top]
    rows = conn.execute(
        f"SELECT body FROM merges WHERE seq IN ({','.join('?' * len(shown))}) AND group_id = ? AND collection = ?"
        " ORDER BY seq DESC",
        [*shown, group_id, collection],
    )
    return [MergeEntry.from_json(orjson.loads(body)) for (body,) in rows], len(found) > page.top


def links(conn: sqlite3.Connection, group_id: str, query: LinkQuery) -> tuple[list[KeyLink], int]:
    """A page of the search in the order links were made, and its total.

    A search by a span of time comes in (created_at, link) order, read from its index however many links the
    group holds (at 1M links, 0.2-0.5 s when it came in link order); a link's position is then its time and
    number. Any other search comes in link order, a link's position its number: a search by record or external
    id from their index, any other from the searches it is made of (`_parts`), merged.
    """
    total = kept_links(conn, group_id, query)
    parts = _parts(conn, group_id, query) if total != 0 else []
    if not parts:
        if query.after is not None:
            _after(query, query.after)  # a $skiptoken not of this hub is a 400 all the same
        return [], 0
    arms = [_page(group_id, part) for part in parts]
    rows = conn.execute(
        " UNION ALL ".join(select for select, _ in arms)
        + f" ORDER BY {'created_at, link' if query.spanned else 'link'} LIMIT ? OFFSET ?",
        [*itertools.chain.from_iterable(params for _, params in arms), query.top, query.offset],
    ).fetchall()
    if total is None:  # a search by record or external id (one part, itself), or by a span: each part's
        total = sum(_counted(conn, group_id, part) for part in parts)
    return [
        KeyLink(c, h, ExternalId(p, r, e), at, position_of(at, n) if query.spanned else str(n))
        for c, h, p, r, e, at, n in rows
    ], int(total)


def _counted(conn: sqlite3.Connection, group_id: str, query: LinkQuery) -> int:
    """The total of a search by record, external id or span of time. A span is counted from the links outside
    it where they are fewer (`fewer_counted`), less the kept count of the search without it: one from before
    the first link counted every link (65 ms at 1M links; 187 ms for one app's, each looked up in the table)."""
    table, where, params = compile_links(group_id, query)
    whole = replace(query, created_after=None, created_before=None)
    return fewer_counted(
        lambda most: count_rows(conn, f"{table} WHERE {where}", params, most),
        (lambda most: _outside(conn, group_id, query, whole, most)) if query.spanned and whole.kept else None,
        lambda: counted_links(conn, group_id, whole),
    )


def _outside(conn: sqlite3.Connection, group_id: str, query: LinkQuery, whole: LinkQuery, most: int) -> int:
    """How many links of `whole`, the search without its span, were made at or before the span's start or at or
    after its end (up to `most` of each), read from the time index."""
    _, where, params = compile_links(group_id, whole)
    found = 0
    for bound, at in (("<=", query.created_after), (">=", query.created_before)):
        if at is not None:
            timed = f"external_ids INDEXED BY {timed_index(whole)}"  # those outside a span are at either end of it
            found += count_rows(conn, f"{timed} WHERE {where} AND created_at {bound} ?", [*params, at], most)
    return found


MOST_APPS = 64
"""The most apps (entity type, provider, realm) a search is read from one by one; past that, by entity type."""


def _parts(conn: sqlite3.Connection, group_id: str, query: LinkQuery) -> list[LinkQuery]:
    """The searches whose pages, merged in link order, make a counted search's: each read in link order from an
    index, whatever else the group holds.

    A search by provider or realm is one per app and entity type it finds links of (the kept counts say which),
    read from (group, collection, provider, realm); any other one per entity type, from (group, collection),
    leaving out those holding none. Walking the group's links in link order, an app connected after 1M links
    were made had its first page in 124-140 ms, 20,000 organizations linked after 1M people in 153-172 ms; a
    search of an app in several realms or by realm alone walked too (0.5-0.8 ms each now).

    A span of time searched by entity type, provider or realm is likewise one per app and entity type, each read
    in the order of its time from (group, collection, provider, realm, created_at), none where it finds no link:
    read from the group's time index, the links of an app connected last came after walking every link made before
    them (0.3 s at 200k records, 4M steps of SQLite's machine, ten times those at 20k)."""
    named = any(part is not None for part in (query.collection, query.provider, query.realm))
    by_app_in_span = named and query.spanned and query.hub_id is None and query.ext_id is None
    if not query.kept and not by_app_in_span:
        return [query]
    by_app = query.provider is not None or query.realm is not None or by_app_in_span
    if by_app and (apps := counted_apps(conn, group_id, query, MOST_APPS)):
        return [replace(query, collection=c, provider=p, realm=r) for c, p, r in apps]
    if query.spanned:  # past MOST_APPS apps, or none: the group's time index, or no link
        return [query] if counted_links(conn, group_id, query) else []
    typed = [replace(query, collection=name) for name in ([query.collection] if query.collection else COLLECTIONS)]
    return [part for part in typed if kept_links(conn, group_id, part)] or typed


def _page(group_id: str, query: LinkQuery) -> tuple[str, list[Any]]:
    """The SELECT of a search's links from its page on (after its `$skiptoken`), in no order yet, with its
    parameters."""
    at, n = (None, None) if query.after is None else _after(query, query.after)
    table, where, params = compile_links(group_id, query, since=at)  # a span's page: read from the token's time on
    if at is not None:
        where, params = f"{where} AND (+created_at, link) > (?, ?)", [*params, at, n]
    elif n is not None:
        where, params = f"{where} AND link > ?", [*params, n]
    return f"{_LINK} FROM {table} WHERE {where}", params


def _after(query: LinkQuery, after: str) -> tuple[str | None, int]:
    """The time (in a span of time, else None) and the number of the link a `$skiptoken` starts after; a 400 for a
    token no such search of this hub made, read alike where no link is left after it."""
    if query.spanned:
        at, n = position_parts(after, 2)
        return at, position_number(after, n)
    return None, position_number(after, after)


def providers(conn: sqlite3.Connection) -> list[str]:
    """The providers holding any link, one index seek each in the kept counts rather than a scan of every link."""
    rows = conn.execute(
        "WITH RECURSIVE p (name) AS ("
        " SELECT MIN(provider) FROM link_counts WHERE n > 0"
        " UNION ALL SELECT (SELECT MIN(provider) FROM link_counts WHERE n > 0 AND provider > p.name) FROM p"
        " WHERE p.name IS NOT NULL"
        ") SELECT name FROM p WHERE name IS NOT NULL"
    )
    return [row[0] for row in rows]
