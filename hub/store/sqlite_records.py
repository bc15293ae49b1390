"""The rows of records on SQLite: read by hub id or by app id, written with their ids, merged and touched, and the
group they belong to. Each function runs on a connection the adapter hands it: a reader's, or the writer's inside a
transaction (the store's own, or a use case's `SQLiteTransaction`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from hub.model import timefmt
from hub.model.ids import ExternalId
from hub.model.list_query import COUNTED_APART
from hub.model.record import Group, Record
from hub.store import sqlite_fields as fields
from hub.store.sqlite_counts import count_added, counted_apart, listed, statuses_among
from hub.store.sqlite_query import RECORD_COLUMNS, each_id, id_array


def ensure_group(conn: sqlite3.Connection, group_id: str, channel_id: str) -> Group:
    """The group as stored, stored with `channel_id` if new."""
    conn.execute("INSERT OR IGNORE INTO groups VALUES (?, ?, ?)", (group_id, channel_id, timefmt.now()))
    return Group(*conn.execute("SELECT group_id, channel_id FROM groups WHERE group_id = ?", (group_id,)).fetchone())


def _record(r: Any) -> Record:
    """A row of `records` (its first columns in `RECORD_COLUMNS` order) as a Record without its ids."""
    return Record(r[0], r[1], r[2], r[3], r[4], r[5], r[6], orjson.loads(r[7]), [], r[8], bool(r[9]))


def from_rows(conn: sqlite3.Connection, rows: list[Any]) -> list[Record]:
    """Rows of `records` as Records, each with its ids in link order (one query for all)."""
    records = [_record(r) for r in rows]
    if records:
        by_id = {r.hub_id: r for r in records}
        marks = ",".join("?" * len(by_id))
        for hub_id, provider, realm, ext_id in conn.execute(
            f"SELECT hub_id, provider, realm, ext_id FROM external_ids WHERE hub_id IN ({marks}) ORDER BY link",
            list(by_id),
        ):
            by_id[hub_id].ids.append(ExternalId(provider, realm, ext_id))
    return records


def get(conn: sqlite3.Connection, group_id: str, collection: str, hub_ids: Sequence[str]) -> dict[str, Record]:
    """Records by hub id, following tombstones to their survivors."""
    found: dict[str, Record] = {}
    wanted = {h: h for h in hub_ids}
    for _ in range(8):
        if not wanted:
            break
        current = list(set(wanted.values()))
        rows = conn.execute(
            # The unary + keeps the planner on the hub id index: for ten ids or more it would otherwise
            # pick records_created and read every record of the group.
            f"SELECT {RECORD_COLUMNS} FROM records WHERE hub_id IN ({','.join('?' * len(current))})"
            " AND +group_id = ? AND +collection = ?",
            [*current, group_id, collection],
        ).fetchall()
        live = {r.hub_id: r for r in from_rows(conn, [row for row in rows if row[8] is None])}
        onward = {row[0]: row[8] for row in rows if row[8] is not None}
        found.update({asked: live[now] for asked, now in wanted.items() if now in live})
        wanted = {asked: onward[now] for asked, now in wanted.items() if now in onward}
    return found


def touch(conn: sqlite3.Connection, group_id: str, collection: str, hub_ids: list[str], updated_at: str) -> None:
    """One statement: in a savepoint (group commit), a statement per record grew dearer with each, as SQLite's
    in-memory sub-journal grew (an undo touching 20,000 people took 15 s, now a fraction of a second). The unary
    `+` keeps it on the hub id index: SQLite read every record of the group's entity type instead, touching none
    or a few (100,150 steps of its machine at 10k records, 1,000,150 at 100k; 183 at both now), in every key link of
    an organization moved or deleted and every undo of a merge of organizations."""
    conn.execute(
        "UPDATE records SET updated_at = ? WHERE hub_id IN (SELECT value FROM json_each(?))"
        " AND +group_id = ? AND +collection = ?",
        (updated_at, orjson.dumps(hub_ids).decode(), group_id, collection),
    )


def referrers(conn: sqlite3.Connection, group_id: str, collection: str, field: str, hub_ids: list[str]) -> list[Record]:
    return from_rows(conn, fields.referrers(conn, group_id, collection, field, hub_ids))


_HELD = ", ".join("r." + c for c in RECORD_COLUMNS.split(", "))


def match(conn: sqlite3.Connection, group_id: str, collection: str, ids: Sequence[ExternalId]) -> list[Record]:
    """The records holding any of `ids`, oldest code first, each with its ids in link order.

    One statement (so one snapshot even outside a transaction): matching is on every write's and
    every GET's path, and each statement and row costs the reader or writer thread a round trip
    through the GIL that the event loop waits on. An app id always names a live record (a merge
    moves the ids to its survivor). The ids are one JSON array, each looked up in the unique index
    from it (`each_id`).
    """
    if not ids:
        return []
    rows = conn.execute(
        f"SELECT {_HELD}, e.provider, e.realm, e.ext_id FROM records AS r JOIN external_ids AS e ON e.hub_id = r.hub_id"
        f" WHERE r.hub_id IN (SELECT k.hub_id FROM {each_id('external_ids', 'k')}) ORDER BY r.seq, e.link",
        [id_array(ids), group_id, collection],
    ).fetchall()
    found: dict[str, Record] = {}
    for row in rows:
        if row[0] not in found:
            found[row[0]] = _record(row)
        found[row[0]].ids.append(ExternalId(*row[10:]))
    return list(found.values())


def _link(
    conn: sqlite3.Connection,
    links: Sequence[tuple[Record, Sequence[ExternalId]]],
    listed: set[str],
    apart: Mapping[str, str],
) -> None:
    """Link each record's ids to it (in the order given: link order); `listed`: the hub ids of those listed, `apart`
    the status of those counted apart (`counted_apart`)."""
    now = timefmt.now()
    rows = [
        (r.group_id, r.collection, e.provider, e.realm, e.id, r.hub_id, now, r.seq) for r, ids in links for e in ids
    ]
    if rows:  # most updates link nothing new; an empty executemany still costs a statement
        conn.executemany(
            "INSERT INTO external_ids (group_id, collection, provider, realm, ext_id, hub_id, created_at, seq)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        count_added(conn, "link_counts", (row[:4] for row in rows))
        count_added(conn, "live_counts", (row[:4] for row in rows if row[5] in listed))
        count_added(conn, "app_status_counts", ((*row[:4], apart[row[5]]) for row in rows if row[5] in apart))


def write(conn: sqlite3.Connection, writes: Sequence[tuple[Record, Sequence[ExternalId] | None]]) -> None:
    """Insert each (record, None) and save each (record, new ids), then link the ids each brings in the order
    given: link order follows the writes, not the statements (a batch's inserts are one, its updates another)."""
    inserted = [r for r, new_ids in writes if new_ids is None]
    shown = _insert_rows(conn, inserted)
    saves = [(r, new_ids) for r, new_ids in writes if new_ids is not None]
    _update_rows(conn, saves)
    stored = statuses_among(conn, [r.hub_id for r, new_ids in saves if new_ids])
    shown |= {hub_id for hub_id, status in stored.items() if status != "ARCHIVED"}
    apart = {r.hub_id: r.status for r in inserted if counted_apart(r)}
    apart |= {hub_id: status for hub_id, status in stored.items() if status in COUNTED_APART}
    _link(conn, [(r, r.ids if new_ids is None else new_ids) for r, new_ids in writes], shown, apart)


def _insert_rows(conn: sqlite3.Connection, records: Sequence[Record]) -> set[str]:
    """Insert the records' rows (not their ids), counted in `status_counts` if so; the hub ids of those listed, which
    `live_counts` now counts."""
    if not records:
        return set()
    conn.executemany(
        f"INSERT INTO records ({RECORD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                r.hub_id,
                r.group_id,
                r.collection,
                r.seq,
                r.status,
                r.created_at,
                r.updated_at,
                orjson.dumps(r.fields).decode(),
                r.merged_into,
                int(r.placeholder),
            )
            for r in records
        ],
    )
    shown = [r for r in records if listed(r)]
    count_added(conn, "live_counts", ((r.group_id, r.collection, "", "") for r in shown))
    count_added(conn, "status_counts", ((r.group_id, r.collection, r.status) for r in records if counted_apart(r)))
    return {r.hub_id for r in shown}


def _update_rows(conn: sqlite3.Connection, saves: Sequence[tuple[Record, Sequence[ExternalId]]]) -> None:
    """The status is set apart, on the rows where it changes: a row updated by a statement naming `status` runs
    `live_counts_record_turn`, and in a savepoint (group commit) that cost a batch's update 20-35 µs, against 7."""
    if saves:
        conn.executemany(
            "UPDATE records SET updated_at = ?, data = ?, placeholder = ? WHERE hub_id = ?",
            [(r.updated_at, orjson.dumps(r.fields).decode(), int(r.placeholder), r.hub_id) for r, _ in saves],
        )
        conn.executemany(
            "UPDATE records SET status = ? WHERE hub_id = ? AND status IS NOT ?",
            [(r.status, r.hub_id, r.status) for r, _ in saves],
        )


def merge(conn: sqlite3.Connection, survivor: Record, merged: Sequence[Record]) -> None:
    for other in merged:
        moved = (survivor.hub_id, survivor.seq, other.hub_id)
        conn.execute("UPDATE external_ids SET hub_id = ?, seq = ? WHERE hub_id = ?", moved)
        for where in ("hub_id = ?", "merged_into = ?"):
            conn.execute(
                f"UPDATE records SET merged_into = ?, updated_at = ? WHERE {where}",
                (survivor.hub_id, survivor.updated_at, other.hub_id),
            )
