"""One connection to the SQLite file: opened with the settings every connection needs, a write transaction begun,
committed or undone on it, its WAL checkpointed, and the file backed up through a connection of its own. The store
(`sqlite.py`) runs these on its threads."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from typing import Any, TypeVar

from hub.errors import BadRequest, Unavailable

T = TypeVar("T")
BUSY_MS = 10_000
"""How long a write waits for another process (another hub, `hub import`, `hub index add`) to let go of the file."""


class NotAStore(sqlite3.DatabaseError):
    """A SQLite file of another application, named as the store (a mistyped `--store`)."""


HUB_TABLES = frozenset({"groups", "records", "api_keys"})
"""Tables of every hub file (`groups` is made first: a file the hub began and stopped making has it)."""


def connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        _ours(conn, path)
    except BaseException:
        conn.close()
        raise
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA busy_timeout={BUSY_MS}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _ours(conn: sqlite3.Connection, path: str) -> None:
    """NotAStore if the file holds tables, none of them the hub's: opened as a store, another application's database
    was switched to WAL and given the hub's tables beside its own."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables and not tables & HUB_TABLES:
        shown = ", ".join(sorted(tables)[:5])
        raise NotAStore(f"{path} is a SQLite database of something else (its tables: {shown}), not the hub's store")


def backup(path: str, target: str) -> None:
    """Copy the whole database at `path` to the new file `target`, as one committed state (SQLite's online backup, in
    a read transaction): writers, in any process, go on meanwhile, and a copy of the files would not be a database (a
    WAL copied apart from the file it belongs to). A connection of its own that only reads: opened as a store, the
    file took the write lock first (its schema brought up to date), and a long write made the backup fail."""
    try:
        with closing(connect(path)) as conn, closing(sqlite3.connect(target)) as out:
            conn.backup(out)
    except sqlite3.Error as error:  # not a database, or one busy past BUSY_MS: said, not a traceback
        raise BadRequest(f"cannot back up the store {path}: {error}") from error


def connect_writer(path: str) -> sqlite3.Connection:
    """The writer's connection: what a batch writes stays in memory until it commits.

    A batch item's savepoint keeps the original of each page it changes in a sub-journal,
    a temporary file by default: in memory, an item's inserts cost half as much. And the
    default 2 MiB page cache fills with a batch's dirty pages, so SQLite spilled them to the
    WAL in mid-transaction and read back pages it had just let go; 64 MiB holds a batch of
    1,000. Readers keep the defaults: their large sorts may still spill to disk.
    """
    conn = connect(path)
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA cache_size=-65536")
    return conn


def checkpoint(conn: sqlite3.Connection) -> int:
    """Copy what it can of the WAL into the database file: the pages the WAL holds."""
    _, pages, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(pages)


def rollback(conn: sqlite3.Connection) -> None:
    """Undo the open transaction, if a failed COMMIT left one."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def begin(conn: sqlite3.Connection) -> None:
    """Begin a write transaction; Unavailable if another process held the file's write lock for all of `BUSY_MS`
    (sqlite3's "database is locked" was a traceback in the CLI and a 500 in the API)."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        if error.sqlite_errorcode != sqlite3.SQLITE_BUSY:
            raise
        raise Unavailable(
            f"the SQLite file is busy: another process held its write lock for over {BUSY_MS / 1000:g} s; try again"
        ) from error


def in_transaction(conn: sqlite3.Connection, fn: Callable[..., T], *args: Any) -> T:
    """Run `fn` on the writer connection as one transaction of its own."""
    begin(conn)
    try:
        result = fn(conn, *args)
        conn.execute("COMMIT")
    except BaseException as error:
        rollback(conn)
        if said := unwritable(error):
            raise said from error
        raise
    return result


UNWRITABLE = (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_FULL)
"""SQLite's (primary) codes of a write the file cannot take until an operator acts: opened read-only, disk full."""


def unwritable(error: BaseException) -> Unavailable | None:
    """Unavailable naming `error` if it says the file cannot take writes, else None. A file this process may read
    but not write (a store run by another user, a read-only disk) opens, and only its first write fails; so does a
    write to a full disk: sqlite3's error was a traceback in the CLI and a 500 in the API."""
    if isinstance(error, sqlite3.OperationalError) and error.sqlite_errorcode & 0xFF in UNWRITABLE:
        return Unavailable(f"the SQLite file cannot be written: {error}")
    return None
