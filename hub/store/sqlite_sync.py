"""The SQLite side of sync: the change feed, integrations and field sync directions, as functions of a connection
(the outbound queue is `sqlite_queue`).

SQLiteStore and SQLiteTransaction call these on its reader threads or its single
writer thread; nothing here opens a transaction of its own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import orjson

from hub.model.change import Change
from hub.model.connect import Directions
from hub.model.ids import ExternalId
from hub.model.integration import Definition, Integration
from hub.store.sqlite_query import each_id, id_array

SYNC_SCHEMA = """
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    collection TEXT NOT NULL,
    hub_id TEXT NOT NULL,
    ids TEXT NOT NULL,
    details TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_group ON changes (group_id, seq);
CREATE INDEX IF NOT EXISTS changes_at ON changes (at);
CREATE TABLE IF NOT EXISTS change_horizons (
    group_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS integrations (
    group_id TEXT NOT NULL,
    name TEXT NOT NULL,
    entity TEXT NOT NULL,
    direction TEXT NOT NULL,
    webhook INTEGER NOT NULL,
    definition TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    consented_at TEXT,
    PRIMARY KEY (group_id, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS integrations_entity ON integrations (group_id, entity, direction);
CREATE INDEX IF NOT EXISTS integrations_webhook ON integrations (webhook) WHERE webhook = 1;
CREATE TABLE IF NOT EXISTS field_sync (
    group_id TEXT NOT NULL,
    collection TEXT NOT NULL,
    provider TEXT NOT NULL,
    realm TEXT NOT NULL,
    ext_id TEXT NOT NULL,
    field TEXT NOT NULL,
    to_hub INTEGER NOT NULL,
    to_app INTEGER NOT NULL,
    PRIMARY KEY (group_id, collection, provider, realm, ext_id, field)
) WITHOUT ROWID;
"""
"""`field_sync` is keyed by the app's external id, not the hub id, so the directions
travel with the link when a merge moves it to the survivor.
`changes.seq` is AUTOINCREMENT so that a number is never handed out twice, even
after the newest entries were pruned; `change_horizons` keeps, per group, the
newest seq pruned, so a cursor from before it can be told apart (410 Gone)."""


def add_change(conn: sqlite3.Connection, change: Change) -> int:
    """Append a change inside the caller's write transaction; its seq is commit order.

    Why: every write runs on the store's one writer thread between BEGIN IMMEDIATE and
    COMMIT, so write transactions never overlap. A transaction takes the next seq
    while it holds the database's write lock and commits before the next one can take
    any, so seq order is commit order; a rolled-back transaction gives its numbers
    back before anyone saw them. A reader's snapshot therefore holds every change up
    to some seq and none after: a page ending at seq N never lets a change below N
    turn up later. A store with concurrent writers (MongoDB) cannot take a counter
    on trust like this: T1 may take 5, T2 take 6 and commit first, and a reader past
    6 would never see 5. It must make the counter a point of conflict (increment one
    per-group counter document inside the transaction, so concurrent writers of a
    group abort and retry and commit in counter order), or read the feed only up to
    a watermark below which no transaction can still commit.
    """
    # seq is the rowid, so lastrowid tells it: RETURNING would cost the insert twice as much.
    cursor = conn.execute(_ADD_CHANGE, _change_row(change))
    change.seq = int(cursor.lastrowid)  # type: ignore[arg-type]  # an INSERT always sets it
    return change.seq


def add_changes(conn: sqlite3.Connection, changes: Sequence[Change]) -> None:
    """`add_change` each change: the writer alone inserts, and no trigger inserts into `changes`, so their seqs are
    consecutive (`insert_all`)."""
    if changes:
        first = insert_all(conn, _CHANGES, [_change_row(change) for change in changes])
        for seq, change in enumerate(changes, start=first):
            change.seq = seq


ROWS_AT_ONCE = 70
"""The rows one INSERT of `insert_all` takes: within the 999 values a statement could bind before SQLite 3.32."""


def insert_all(conn: sqlite3.Connection, into: str, rows: Sequence[Sequence[Any]]) -> int:
    """Insert the rows `ROWS_AT_ONCE` a statement, in order; the rowid of the first (the others follow it, where the
    writer alone inserts into the table and no trigger does).

    Not one statement a row (`executemany`): in a savepoint, as group commit runs each transaction, every statement
    cost more than the one before, SQLite's in-memory sub-journal growing with them. An undo recording 20,000 people
    as updated spent 1.0 s enqueueing them, 40,000 6.7 s; a statement per 70 rows keeps that growth out of sight.
    """
    marks = f"({', '.join('?' * len(rows[0]))})"
    for start in range(0, len(rows), ROWS_AT_ONCE):
        part = rows[start : start + ROWS_AT_ONCE]
        conn.execute(f"INSERT INTO {into} VALUES {', '.join([marks] * len(part))}", [v for row in part for v in row])
    return int(conn.execute("SELECT last_insert_rowid()").fetchone()[0]) - len(rows) + 1


_CHANGES = "changes (group_id, kind, collection, hub_id, ids, details, at)"
_ADD_CHANGE = f"INSERT INTO {_CHANGES} VALUES (?, ?, ?, ?, ?, ?, ?)"


def _change_row(change: Change) -> tuple[str, ...]:
    return (
        change.group_id,
        change.kind,
        change.collection,
        change.hub_id,
        orjson.dumps([list(e) for e in change.ids]).decode(),
        orjson.dumps(change.details).decode(),
        change.at,
    )


def changes(conn: sqlite3.Connection, group_id: str, after: int, limit: int) -> tuple[int, list[Change]]:
    """The horizon and a page; the store reads them in one transaction, so a prune cannot fall between."""
    horizon = conn.execute("SELECT seq FROM change_horizons WHERE group_id = ?", (group_id,)).fetchone()
    rows = conn.execute(
        "SELECT seq, group_id, kind, collection, hub_id, ids, details, at FROM changes"
        " WHERE group_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        (group_id, after, limit),
    ).fetchall()
    return int(horizon[0]) if horizon else 0, [
        Change(
            group_id=r[1],
            kind=r[2],
            collection=r[3],
            hub_id=r[4],
            ids=[ExternalId(*e) for e in orjson.loads(r[5])],
            details=orjson.loads(r[6]),
            at=r[7],
            seq=r[0],
        )
        for r in rows
    ]


def prune_changes(conn: sqlite3.Connection, before: str) -> int:
    """Drop, per group, every change up to its newest one older than `before`; keep the horizon.

    The changes older than `before` are found by `changes_at` (the `+` keeps SQLite from reading
    every change of every group in group order instead, to spare sorting them).
    """
    cut = conn.execute("SELECT group_id, MAX(seq) FROM changes WHERE at < ? GROUP BY +group_id", (before,)).fetchall()
    dropped = 0
    for group_id, seq in cut:
        dropped += conn.execute("DELETE FROM changes WHERE group_id = ? AND seq <= ?", (group_id, seq)).rowcount
        conn.execute(
            "INSERT INTO change_horizons VALUES (?, ?) ON CONFLICT DO UPDATE SET seq = MAX(seq, excluded.seq)",
            (group_id, seq),
        )
    return dropped


_INTEGRATION = "SELECT group_id, definition, created_at, updated_at, consented_at FROM integrations"


def _integrations(rows: list[Any]) -> list[Integration]:
    return [Integration(r[0], Definition.stored(orjson.loads(r[1])), r[2], r[3], r[4]) for r in rows]


def integrations(conn: sqlite3.Connection, group_id: str) -> list[Integration]:
    return _integrations(conn.execute(f"{_INTEGRATION} WHERE group_id = ? ORDER BY name", (group_id,)).fetchall())


def integration(conn: sqlite3.Connection, group_id: str, name: str) -> Integration | None:
    rows = conn.execute(f"{_INTEGRATION} WHERE group_id = ? AND name = ?", (group_id, name)).fetchall()
    return _integrations(rows)[0] if rows else None


def outbound_integrations(conn: sqlite3.Connection, group_id: str, collection: str) -> list[Integration]:
    rows = conn.execute(
        f"{_INTEGRATION} WHERE group_id = ? AND entity = ? AND direction = 'outbound' ORDER BY name",
        (group_id, collection),
    ).fetchall()
    return _integrations(rows)


def webhook_integrations(conn: sqlite3.Connection) -> list[Integration]:
    return _integrations(conn.execute(f"{_INTEGRATION} WHERE webhook = 1 ORDER BY group_id, name").fetchall())


def put_integration(conn: sqlite3.Connection, integration: Integration, new: bool) -> None:
    """Insert (a taken name raises IntegrityError) or replace an integration."""
    d = integration.definition
    values = (
        integration.group_id,
        d.name,
        d.entity,
        d.direction,
        int(d.webhook is not None),
        d.model_dump_json(),
        integration.created_at,
        integration.updated_at,
        integration.consented_at,
    )
    conflict = (
        ""
        if new
        else " ON CONFLICT (group_id, name) DO UPDATE SET "
        + ", ".join(
            f"{c} = excluded.{c}"
            for c in ("entity", "direction", "webhook", "definition", "updated_at", "consented_at")
        )
    )
    conn.execute(f"INSERT INTO integrations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?){conflict}", values)


def delete_integration(conn: sqlite3.Connection, group_id: str, name: str) -> None:
    """Delete the definition alone: its queue goes by `sqlite_queue.clear_queue`, in the same transaction."""
    conn.execute("DELETE FROM integrations WHERE group_id = ? AND name = ?", (group_id, name))


def set_field_sync(
    conn: sqlite3.Connection, group_id: str, collection: str, ext: ExternalId, directions: dict[str, Directions]
) -> None:
    conn.executemany(
        "INSERT INTO field_sync VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT DO UPDATE SET to_hub = excluded.to_hub, to_app = excluded.to_app",
        [(group_id, collection, *ext, name, int(d.to_hub), int(d.to_app)) for name, d in directions.items()],
    )


def field_sync(
    conn: sqlite3.Connection, group_id: str, collection: str, ids: list[ExternalId]
) -> dict[ExternalId, dict[str, Directions]]:
    """The directions stored for each of `ids` that has any: one statement, each id looked up in the key.

    A batch asks for the ids of every record it updates: one statement per id was 500
    statements in a batch of 1,000 (half updates), 2.8 ms of the writer's time, where one
    statement takes 0.6 ms.
    """
    found: dict[ExternalId, dict[str, Directions]] = {}
    rows = conn.execute(
        f"SELECT f.provider, f.realm, f.ext_id, f.field, f.to_hub, f.to_app FROM {each_id('field_sync', 'f')}",
        [id_array(ids), group_id, collection],
    )
    for provider, realm, ext_id, name, to_hub, to_app in rows:
        found.setdefault(ExternalId(provider, realm, ext_id), {})[name] = Directions(bool(to_hub), bool(to_app))
    return found
