"""The SQLite outbound queue: one row per change an outbound integration is to send, as functions of a connection.

SQLiteStore and SQLiteTransaction call these on its reader threads or its single writer thread; nothing here opens a
transaction of its own. Dead items are listed and retried by number from `outbound_dead` (through `outbound_ready`,
each page sorted every dead item of the integration).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from hub.model.queue import QueueItem
from hub.store.sqlite_query import lacks_column
from hub.store.sqlite_sync import insert_all

QUEUE_SCHEMA = """
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
"""


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
    """The items of the integration among `items`, each looked up by its number. Past a few numbers SQLite read
    every item of the integration (by `outbound_records`) and sorted them, for every ack, fail and retry: the
    unary `+` keeps the group and integration off the indexes."""
    query = (
        f"SELECT {_ITEM_COLUMNS}, item FROM outbound_items WHERE item IN ({', '.join('?' * len(items))})"
        " AND +group_id = ? AND +integration = ? ORDER BY item"
    )
    return _items(conn.execute(query, (*items, group_id, integration)).fetchall()) if items else []


def waiting_for(
    conn: sqlite3.Connection, group_id: str, integration: str, hub_ids: list[str], besides: list[int], dead: bool
) -> set[str]:
    if not hub_ids:
        return set()
    live = "" if dead else " AND state != 'dead'"
    query = (
        "SELECT DISTINCT hub_id FROM outbound_items WHERE group_id = ? AND integration = ?"
        f" AND hub_id IN ({', '.join('?' * len(hub_ids))}){live}"
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
