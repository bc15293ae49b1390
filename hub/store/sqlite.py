"""The embedded store: one SQLite file in WAL mode.

Like datasette's Database, threading stays out of sight: reads run on a small pool
of threads with a connection each, writes one transaction at a time on a single
writer thread, so the event loop never waits on disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import orjson

from hub.model import timefmt
from hub.model.collections import Collection
from hub.model.ids import ExternalId
from hub.model.query import ListQuery
from hub.model.record import Group, Record
from hub.store.base import IdTaken
from hub.store.sqlite_query import SCHEMA, compile_list, compile_order

T = TypeVar("T")
_RECORD_COLUMNS = "hub_id, group_id, collection, seq, status, created_at, updated_at, data, merged_into, placeholder"


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _records(conn: sqlite3.Connection, rows: list[Any]) -> list[Record]:
    """Rows of `records` as Records, each with its ids in link order (one query for all)."""
    records = [Record(r[0], r[1], r[2], r[3], r[4], r[5], r[6], orjson.loads(r[7]), [], r[8], bool(r[9])) for r in rows]
    if records:
        by_id = {r.hub_id: r for r in records}
        marks = ",".join("?" * len(by_id))
        for hub_id, provider, realm, ext_id in conn.execute(
            f"SELECT hub_id, provider, realm, ext_id FROM external_ids WHERE hub_id IN ({marks}) ORDER BY link",
            list(by_id),
        ):
            by_id[hub_id].ids.append(ExternalId(provider, realm, ext_id))
    return records


def _get(conn: sqlite3.Connection, group_id: str, collection: str, hub_ids: Sequence[str]) -> dict[str, Record]:
    """Records by hub id, following tombstones to their survivors."""
    found: dict[str, Record] = {}
    wanted = {h: h for h in dict.fromkeys(hub_ids)}
    for _ in range(8):
        if not wanted:
            break
        current_ids = list(dict.fromkeys(wanted.values()))
        marks = ",".join("?" * len(current_ids))
        rows = conn.execute(
            f"SELECT {_RECORD_COLUMNS} FROM records WHERE hub_id IN ({marks}) AND group_id = ? AND collection = ?",
            [*current_ids, group_id, collection],
        ).fetchall()
        live = {r.hub_id: r for r in _records(conn, [row for row in rows if row[8] is None])}
        onward: dict[str, str] = {}
        for row in rows:
            for asked, current in wanted.items():
                if current != row[0]:
                    continue
                if row[8] is None:
                    found[asked] = live[row[0]]
                else:
                    onward[asked] = row[8]
        wanted = onward
    return found


def _match(conn: sqlite3.Connection, group_id: str, collection: str, ids: Sequence[ExternalId]) -> list[Record]:
    hub_ids: list[str] = []
    for ext in ids:
        row = conn.execute(
            "SELECT hub_id FROM external_ids WHERE group_id = ? AND collection = ? AND provider = ? AND realm = ?"
            " AND ext_id = ?",
            (group_id, collection, ext.provider, ext.realm, ext.id),
        ).fetchone()
        if row is not None:
            hub_ids.append(row[0])
    return list(_get(conn, group_id, collection, hub_ids).values()) if hub_ids else []


class SQLiteStore:
    """The storage port over one SQLite file."""

    def __init__(self, path: str, readers: int = 4) -> None:
        self.path = path
        self._readers_count = readers
        self._local = threading.local()
        self._write_lock = asyncio.Lock()

    async def open(self) -> None:
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="hub-sqlite-writer")
        self._readers = ThreadPoolExecutor(self._readers_count, thread_name_prefix="hub-sqlite-reader")
        self._reader_conns: list[sqlite3.Connection] = []
        self._conn = await self._write(lambda _: _connect(self.path), connected=False)
        await self._write(lambda c: c.executescript(SCHEMA))

    async def close(self) -> None:
        self._readers.shutdown(wait=True)
        for conn in self._reader_conns:
            conn.close()
        await self._write(lambda c: c.close())
        self._writer.shutdown(wait=True)

    async def _write(self, fn: Callable[[sqlite3.Connection], T], connected: bool = True) -> T:
        conn = self._conn if connected else None
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn, conn)  # type: ignore[arg-type]

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = _connect(self.path)
            self._reader_conns.append(conn)
        return conn

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        def run() -> T:
            return fn(self._reader(), *args)

        return await asyncio.get_running_loop().run_in_executor(self._readers, run)

    async def group(self, group_id: str) -> Group | None:
        def load(conn: sqlite3.Connection) -> Group | None:
            row = conn.execute("SELECT group_id, channel_id FROM groups WHERE group_id = ?", (group_id,)).fetchone()
            return Group(*row) if row else None

        return await self._read(load)

    async def ensure_group(self, group_id: str, channel_id: str) -> Group:
        def create(conn: sqlite3.Connection) -> Group:
            conn.execute("INSERT OR IGNORE INTO groups VALUES (?, ?, ?)", (group_id, channel_id, timefmt.now()))
            row = conn.execute("SELECT group_id, channel_id FROM groups WHERE group_id = ?", (group_id,)).fetchone()
            return Group(*row)

        async with self._write_lock:
            return await self._write(create)

    @asynccontextmanager
    async def transaction(self, group_id: str) -> AsyncIterator[SQLiteTransaction]:
        async with self._write_lock:
            await self._write(lambda c: c.execute("BEGIN IMMEDIATE"))
            try:
                yield SQLiteTransaction(self, group_id)
            except BaseException:
                await asyncio.shield(self._write(lambda c: c.execute("ROLLBACK")))
                raise
            await self._write(lambda c: c.execute("COMMIT"))

    async def get(self, group_id: str, collection: str, hub_ids: Sequence[str]) -> dict[str, Record]:
        return await self._read(_get, group_id, collection, hub_ids)

    async def find(self, group_id: str, collection: str, ext: ExternalId) -> Record | None:
        found = await self._read(_match, group_id, collection, [ext])
        return found[0] if found else None

    async def list(self, group_id: str, collection: Collection, query: ListQuery) -> tuple[list[Record], int | None]:
        where, params = compile_list(group_id, collection, query)
        order = compile_order(collection, query)

        def page(conn: sqlite3.Connection) -> tuple[list[Record], int | None]:
            rows = conn.execute(
                f"SELECT {_RECORD_COLUMNS} FROM records r WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
                [*params, query.top, query.skip],
            ).fetchall()
            total = None
            if query.count:
                total = conn.execute(f"SELECT COUNT(*) FROM records r WHERE {where}", params).fetchone()[0]
            return _records(conn, rows), total

        return await self._read(page)


class SQLiteTransaction:
    """Writes on the writer thread inside one BEGIN IMMEDIATE … COMMIT."""

    def __init__(self, store: SQLiteStore, group_id: str) -> None:
        self._store = store
        self.group_id = group_id

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        def run(conn: sqlite3.Connection) -> T:
            try:
                return fn(conn, *args)
            except sqlite3.IntegrityError as error:
                if "UNIQUE" in str(error):
                    raise IdTaken(str(error)) from error
                raise

        return await self._store._write(run)

    async def get(self, collection: str, hub_ids: Sequence[str]) -> dict[str, Record]:
        return await self._run(_get, self.group_id, collection, hub_ids)

    async def match(self, collection: str, ids: Sequence[ExternalId]) -> list[Record]:
        return await self._run(_match, self.group_id, collection, ids)

    async def next_seq(self, collection: str) -> int:
        def bump(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "INSERT INTO counters VALUES (?, ?, 1) ON CONFLICT DO UPDATE SET seq = seq + 1 RETURNING seq",
                (self.group_id, collection),
            ).fetchone()
            return int(row[0])

        return await self._run(bump)

    async def insert(self, record: Record) -> None:
        await self._run(_insert, record)

    async def save(self, record: Record, new_ids: Sequence[ExternalId]) -> None:
        await self._run(_save, record, new_ids)

    async def merge(self, survivor: Record, merged: Sequence[Record]) -> None:
        await self._run(_merge, survivor, merged)


def _link(conn: sqlite3.Connection, record: Record, ids: Sequence[ExternalId]) -> None:
    now = timefmt.now()
    conn.executemany(
        "INSERT INTO external_ids (group_id, collection, provider, realm, ext_id, hub_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(record.group_id, record.collection, e.provider, e.realm, e.id, record.hub_id, now) for e in ids],
    )


def _insert(conn: sqlite3.Connection, record: Record) -> None:
    conn.execute(
        f"INSERT INTO records ({_RECORD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            record.hub_id,
            record.group_id,
            record.collection,
            record.seq,
            record.status,
            record.created_at,
            record.updated_at,
            orjson.dumps(record.fields).decode(),
            record.merged_into,
            int(record.placeholder),
        ),
    )
    _link(conn, record, record.ids)


def _save(conn: sqlite3.Connection, record: Record, new_ids: Sequence[ExternalId]) -> None:
    conn.execute(
        "UPDATE records SET status = ?, updated_at = ?, data = ?, placeholder = ? WHERE hub_id = ?",
        (
            record.status,
            record.updated_at,
            orjson.dumps(record.fields).decode(),
            int(record.placeholder),
            record.hub_id,
        ),
    )
    _link(conn, record, new_ids)


def _merge(conn: sqlite3.Connection, survivor: Record, merged: Sequence[Record]) -> None:
    for other in merged:
        conn.execute("UPDATE external_ids SET hub_id = ? WHERE hub_id = ?", (survivor.hub_id, other.hub_id))
        for where in ("hub_id = ?", "merged_into = ?"):
            conn.execute(
                f"UPDATE records SET merged_into = ?, updated_at = ? WHERE {where}",
                (survivor.hub_id, survivor.updated_at, other.hub_id),
            )
