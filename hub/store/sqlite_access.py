"""The SQLite side of access: API keys and app-group connections, as functions of a connection.

SQLiteStore calls these on its reader threads or its single writer thread, each write in a
transaction of its own: a file another process holds past the busy wait is said to be busy (not
sqlite3's error), and a connect reads back the row it inserted or found in the same snapshot. A key
keeps only the hash of its secret; an app holds one realm per group it is connected to.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from hub.model.access import ApiKey, Connection
from hub.store.sqlite_records import ensure_group

_KEY = "key_id, provider, secret_hash, created_at, revoked_at"
_CONNECTION = "provider, group_id, realm, created_at"


def _key_row(key: ApiKey) -> tuple[str, str | None, str, str, str | None]:
    """A key's values in `_KEY` order."""
    return (key.key_id, key.provider, key.secret_hash, key.created_at, key.revoked_at)


def add_key(conn: sqlite3.Connection, key: ApiKey) -> None:
    conn.execute(f"INSERT INTO api_keys ({_KEY}) VALUES (?, ?, ?, ?, ?)", _key_row(key))


def add_first_admin_key(conn: sqlite3.Connection, key: ApiKey) -> bool:
    """Run in a write transaction (BEGIN IMMEDIATE): a racing process waits for it, then finds the key."""
    sql = (
        f"INSERT INTO api_keys ({_KEY}) SELECT ?, ?, ?, ?, ?"
        " WHERE NOT EXISTS (SELECT 1 FROM api_keys WHERE provider IS NULL)"
    )
    return conn.execute(sql, _key_row(key)).rowcount == 1


def key(conn: sqlite3.Connection, key_id: str) -> ApiKey | None:
    row = conn.execute(f"SELECT {_KEY} FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
    return ApiKey(*row) if row else None


def keys(conn: sqlite3.Connection) -> Sequence[ApiKey]:
    return [ApiKey(*row) for row in conn.execute(f"SELECT {_KEY} FROM api_keys ORDER BY created_at, key_id")]


def revoke_key(conn: sqlite3.Connection, key_id: str, revoked_at: str) -> bool:
    sql = "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL"
    return conn.execute(sql, (revoked_at, key_id)).rowcount == 1


def connect(conn: sqlite3.Connection, c: Connection, channel_id: str) -> Connection:
    ensure_group(conn, c.group_id, channel_id)
    conn.execute(
        f"INSERT OR IGNORE INTO connections ({_CONNECTION}) VALUES (?, ?, ?, ?)",
        (c.provider, c.group_id, c.realm, c.created_at),
    )
    sql = f"SELECT {_CONNECTION} FROM connections WHERE provider = ? AND group_id = ?"
    return Connection(*conn.execute(sql, (c.provider, c.group_id)).fetchone())


def disconnect(conn: sqlite3.Connection, provider: str, group_id: str) -> bool:
    sql = "DELETE FROM connections WHERE provider = ? AND group_id = ?"
    return conn.execute(sql, (provider, group_id)).rowcount == 1


def connections(conn: sqlite3.Connection, provider: str | None) -> Sequence[Connection]:
    where, params = ("WHERE provider = ?", (provider,)) if provider is not None else ("", ())
    sql = f"SELECT {_CONNECTION} FROM connections {where} ORDER BY provider, group_id"
    return [Connection(*row) for row in conn.execute(sql, params)]
