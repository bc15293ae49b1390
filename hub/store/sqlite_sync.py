"""The SQLite side of sync: the change feed (and, below, what hangs off it), as functions of a connection.

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
from hub.model.queue import QueueItem
from hub.store.sqlite_query import each_id, id_array, lacks_column

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
CREATE TABLE IF NOT EXISTS outbound_items (
    item INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id TEXT NOT NULL,
    integration TEXT NOT NULL,
    change_seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    collection TEXT NOT NULL,
    hub_id TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    available_at TEXT NOT NULL,
    lease_id TEXT,
    lease_until TEXT,
    last_error TEXT,
    details TEXT NOT NULL DEFAULT '{}',
    resend INTEGER NOT NULL DEFAULT 0,
    UNIQUE (group_id, integration, change_seq)
);
CREATE INDEX IF NOT EXISTS outbound_ready ON outbound_items (group_id, integration, state, available_at, item);
CREATE INDEX IF NOT EXISTS outbound_leased ON outbound_items (group_id, integration, state, lease_until)
    WHERE state = 'leased';
CREATE INDEX IF NOT EXISTS outbound_dead ON outbound_items (group_id, integration, item) WHERE state = 'dead';
CREATE INDEX IF NOT EXISTS outbound_records ON outbound_items (group_id, integration, hub_id);
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
Dead items are listed and retried by number from `outbound_dead` (through `outbound_ready`, each page
sorted every dead item of the integration).
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
    return [Integration(r[0], Definition.model_validate_json(r[1]), r[2], r[3], r[4]) for r in rows]


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
    clear_queue(conn, group_id, name)
    conn.execute("DELETE FROM integrations WHERE group_id = ? AND name = ?", (group_id, name))


def clear_queue(conn: sqlite3.Connection, group_id: str, name: str) -> None:
    conn.execute("DELETE FROM outbound_items WHERE group_id = ? AND integration = ?", (group_id, name))


_ITEM_COLUMNS = (
    "group_id, integration, change_seq, kind, collection, hub_id, changed_at,"
    " state, attempts, available_at, lease_id, lease_until, last_error, details, resend"
)
_ITEM = f"SELECT {_ITEM_COLUMNS}, item FROM outbound_items WHERE group_id = ? AND integration = ?"


def carry_item_details(conn: sqlite3.Connection) -> None:
    """Give the queue of a database written before items kept their change's details, or whether they are resends,
    columns for them: the items queued then show no details, and none of them is a resend (as `_again` once armed
    them, they all were; one handed out once more, whatever the filter, ends its resends at its ack)."""
    if lacks_column(conn, "outbound_items", "details"):
        conn.execute("ALTER TABLE outbound_items ADD COLUMN details TEXT NOT NULL DEFAULT '{}'")
    if lacks_column(conn, "outbound_items", "resend"):
        conn.execute("ALTER TABLE outbound_items ADD COLUMN resend INTEGER NOT NULL DEFAULT 0")


def _items(rows: list[Any]) -> list[QueueItem]:
    return [
        QueueItem(*row[:-3], item=row[-1], details=orjson.loads(row[-3]), resend=bool(row[-2]))  # type: ignore[misc]
        for row in rows
    ]


def _row(item: QueueItem) -> tuple[Any, ...]:
    return (
        item.group_id,
        item.integration,
        item.change_seq,
        item.kind,
        item.collection,
        item.hub_id,
        item.changed_at,
        item.state,
        item.attempts,
        item.available_at,
        item.lease_id,
        item.lease_until,
        item.last_error,
        orjson.dumps(item.details).decode(),
        item.resend,
    )


def enqueue(conn: sqlite3.Connection, items: list[QueueItem]) -> None:
    """Insert the items, numbered in order: the writer alone inserts, so their numbers are consecutive."""
    if items:
        first = insert_all(conn, f"outbound_items ({_ITEM_COLUMNS})", [_row(item) for item in items])
        for number, item in enumerate(items, start=first):
            item.item = number


def due_items(conn: sqlite3.Connection, group_id: str, integration: str, now: str, limit: int) -> list[QueueItem]:
    query = f"{_ITEM} AND state = 'ready' AND available_at <= ? ORDER BY available_at, item LIMIT ?"
    return _items(conn.execute(query, (group_id, integration, now, limit)).fetchall())


def expired_items(conn: sqlite3.Connection, group_id: str, integration: str, now: str, limit: int) -> list[QueueItem]:
    query = f"{_ITEM} AND state = 'leased' AND lease_until <= ? ORDER BY lease_until, item LIMIT ?"
    return _items(conn.execute(query, (group_id, integration, now, limit)).fetchall())


def dead_items(conn: sqlite3.Connection, group_id: str, integration: str, after: int, limit: int) -> list[QueueItem]:
    query = f"{_ITEM} AND state = 'dead' AND item > ? ORDER BY item LIMIT ?"
    return _items(conn.execute(query, (group_id, integration, after, limit)).fetchall())


def queued_items(conn: sqlite3.Connection, group_id: str, integration: str, items: list[int]) -> list[QueueItem]:
    query = f"{_ITEM} AND item IN ({', '.join('?' * len(items))}) ORDER BY item"
    return _items(conn.execute(query, (group_id, integration, *items)).fetchall()) if items else []


def waiting_for(
    conn: sqlite3.Connection, group_id: str, integration: str, hub_ids: list[str], besides: list[int]
) -> set[str]:
    if not hub_ids:
        return set()
    query = (
        "SELECT DISTINCT hub_id FROM outbound_items WHERE group_id = ? AND integration = ?"
        f" AND hub_id IN ({', '.join('?' * len(hub_ids))}) AND state != 'dead'"
        f" AND item NOT IN ({', '.join('?' * len(besides))})"
    )
    return {str(row[0]) for row in conn.execute(query, (group_id, integration, *hub_ids, *besides))}


def update_items(conn: sqlite3.Connection, items: list[QueueItem]) -> None:
    conn.executemany(
        "UPDATE outbound_items SET state = ?, attempts = ?, available_at = ?, lease_id = ?, lease_until = ?,"
        " last_error = ?, details = ?, resend = ? WHERE item = ?",
        [
            (
                i.state,
                i.attempts,
                i.available_at,
                i.lease_id,
                i.lease_until,
                i.last_error,
                orjson.dumps(i.details).decode(),
                i.resend,
                i.item,
            )
            for i in items
        ],
    )


def remove_items(conn: sqlite3.Connection, group_id: str, integration: str, items: list[int]) -> None:
    conn.executemany(
        "DELETE FROM outbound_items WHERE group_id = ? AND integration = ? AND item = ?",
        [(group_id, integration, item) for item in items],
    )


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
