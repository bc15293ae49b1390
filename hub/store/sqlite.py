"""The embedded store: one SQLite file in WAL mode.

Like datasette's Database, threading stays out of sight: reads run on a small pool
of threads with a connection each, writes one transaction at a time on a single
writer thread, so the event loop never waits on disk.

A hand-off to a thread and back costs more than most statements (tens of microseconds
on an idle loop, a loop turn or more on a busy one), so a use case's transaction runs
whole on the writer thread (`run_transaction`): its work awaits nothing but the
transaction, whose methods there run their statements at once, so it runs to its end
in one go. The ones that queue up while the writer is busy are committed together, each
in a savepoint (group commit: under concurrent single writes, a commit and its page
writes cost more than the work). Units of writing queue on the writer thread and run
back to back; the write lock only keeps them out of a `transaction()` spread over
several hand-offs. A third thread checkpoints the WAL, so that the writer stops to sync
files to disk only when the WAL has grown past `WAL_PAGES`.

Two reader threads, not more: SQLite lets go of the GIL only inside its own calls, so
more Python threads mostly wait for the GIL and for each other (under load, four
readers answered fewer GETs than two, with twice the p99); two keep one slow read
(a cold page from disk) from holding up every other. Lookups by app id (every read and
write of an app starts with one) that queue up while the readers are busy go to a
reader together, one hand-off for the lot (`hub.store.grouped`); other reads, which
may be long, go one by one, so that a quick one never waits inside a slow one's group.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, TypeVar

from hub.errors import HubError
from hub.model.access import ApiKey, Connection
from hub.model.change import Change
from hub.model.collections import Collection
from hub.model.connect import Directions
from hub.model.field_index import FieldIndex
from hub.model.history import HistoryPage, MergeEntry
from hub.model.ids import ExternalId
from hub.model.integration import Integration
from hub.model.key_link import KeyLink, LinkQuery
from hub.model.list_query import ListQuery
from hub.model.queue import QueueItem
from hub.model.record import Group, Record
from hub.store import sqlite_access as access
from hub.store import sqlite_conn, sqlite_queue, sqlite_sync
from hub.store import sqlite_fields as fields
from hub.store import sqlite_idmap as idmap
from hub.store import sqlite_records as records
from hub.store.base import IdTaken
from hub.store.grouped import Grouped, Raised
from hub.store.sqlite_counts import keep_counts, recount
from hub.store.sqlite_pages import read_page
from hub.store.sqlite_query import SCHEMA, carry_codes
from hub.store.sqlite_tx import SQLiteTransaction, Work

T = TypeVar("T")
log = logging.getLogger("hub")
GROUP_COMMIT = 64
"""The most works one commit holds (`run_transaction`): the first of a group waits for the rest to run."""
GROUP_FIND = 64
"""The most lookups by app id one hand-off to a reader thread runs (`find`)."""
WAL_PAGES = 16_384
"""The WAL pages (64 MiB) past which the writer catches up the checkpoint between two units, so the WAL starts over."""


def _drive(work: Awaitable[T]) -> T:
    """Run the coroutine of a transaction's work to its end, here and now.

    It awaits only the transaction's methods, which do not suspend on the writer thread;
    anything else it awaited would need the event loop, so it is refused.
    """
    coroutine: Coroutine[Any, Any, T] = work  # type: ignore[assignment]
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("the work of a transaction awaited something besides its transaction")


class SQLiteStore:
    """The storage port over one SQLite file."""

    unreachable: tuple[type[Exception], ...] = ()
    """A file is always at hand: what keeps a write out (a lock held, a read-only disk) is an Unavailable already."""

    def __init__(
        self, path: str, readers: int = 2, checkpoint_seconds: float = 0.2, wal_pages: int = WAL_PAGES
    ) -> None:
        self.path = path
        self._readers_count = readers
        self._checkpoint_seconds = checkpoint_seconds
        self._wal_pages = wal_pages
        self._local = threading.local()
        self._write_lock = asyncio.Lock()
        self._commits: Grouped[tuple[str, Work[Any]]] = Grouped(self._commit_group, GROUP_COMMIT)
        """Works waiting for the writer, committed together (`run_transaction`)."""
        self._finds: Grouped[tuple[str, str, ExternalId]] = Grouped(self._find_group, GROUP_FIND, readers)
        """Lookups by app id waiting for a reader thread, run together (`find`)."""
        self._groups: dict[str, Group] = {}
        """Groups that exist: a group never changes nor goes once created (its first writer's channel
        stays), so it is read once; a group not found is asked again next time."""

    async def open(self) -> None:
        """Open the file, made or brought up to date; one that fails leaves no thread or connection behind (a
        process trying again, as a service manager does, gathered them)."""
        async with AsyncExitStack() as undo:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="hub-sqlite-writer")
            undo.callback(self._writer.shutdown)
            self._writer_thread = await self._write(lambda _: threading.get_ident(), connected=False)
            self._readers = ThreadPoolExecutor(self._readers_count, thread_name_prefix="hub-sqlite-reader")
            undo.callback(self._readers.shutdown)
            self._reader_conns: list[sqlite3.Connection] = []
            self._conn = await self._write(lambda _: sqlite_conn.connect_writer(self.path), connected=False)
            undo.push_async_callback(self._write, lambda c: c.close())
            await self._write(lambda c: sqlite_conn.in_transaction(c, carry_codes))
            await self._write(lambda c: sqlite_conn.in_transaction(c, sqlite_queue.carry_item_details))
            await self._write(
                lambda c: c.executescript(
                    SCHEMA + sqlite_sync.SYNC_SCHEMA + sqlite_queue.QUEUE_SCHEMA + fields.REFERENCE_INDEXES
                )
            )
            await self._write(lambda c: sqlite_conn.in_transaction(c, keep_counts))
            await self._write(lambda c: c.execute("PRAGMA wal_autocheckpoint=0"))
            page = (await self._write(lambda c: c.execute("PRAGMA page_size").fetchone()))[0]
            await self._write(lambda c: c.execute(f"PRAGMA journal_size_limit={self._wal_pages * page}"))
            self._checkpointer = ThreadPoolExecutor(1, thread_name_prefix="hub-sqlite-checkpoint")
            undo.callback(self._checkpointer.shutdown)
            loop = asyncio.get_running_loop()
            self._checkpoint_conn = await loop.run_in_executor(self._checkpointer, sqlite_conn.connect, self.path)
            self._checkpoints = asyncio.create_task(self._checkpoint_forever())
            undo.pop_all()

    async def _checkpoint_forever(self) -> None:
        """Copy what the WAL holds into the database file every `checkpoint_seconds`, on a thread of its own.

        The writer connection does not checkpoint (wal_autocheckpoint=0): a checkpoint syncs
        both files to disk, and on the writer thread every queued write would wait for it
        (single upserts ran 25-30 % faster once it moved off). A PASSIVE checkpoint waits for
        no reader or writer; whatever it cannot copy yet, the next one does.

        The WAL starts over only if a write transaction begins when all of it has been copied,
        which under writes back to back never happened: it grew by 300 MB in 10 s of batches.
        Past `wal_pages`, the writer checkpoints itself between two units of writing (little
        is left to copy), so the next one starts the WAL over, cut back to `wal_pages`.
        """
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._checkpoint_seconds)
            try:
                if (
                    await loop.run_in_executor(self._checkpointer, sqlite_conn.checkpoint, self._checkpoint_conn)
                    > self._wal_pages
                ):
                    await self._whole(sqlite_conn.checkpoint)
            except sqlite3.Error:
                log.exception("checkpointing the SQLite WAL failed; trying again later")

    async def close(self) -> None:
        await self._commits.settle()  # what callers are waiting for is committed before the writer goes
        await self._finds.settle()
        self._checkpoints.cancel()
        await asyncio.gather(self._checkpoints, return_exceptions=True)
        # Made in `open`, closed here after any checkpoint still running on its thread: made by the task, it was
        # left open when a store closed at once, and with it the WAL (SQLite removes it as the last connection closes).
        await asyncio.get_running_loop().run_in_executor(self._checkpointer, self._checkpoint_conn.close)
        self._checkpointer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        for conn in self._reader_conns:
            conn.close()
        await self._write(lambda c: c.close())
        self._writer.shutdown(wait=True)

    async def _write(self, fn: Callable[[sqlite3.Connection], T], connected: bool = True) -> T:
        conn = self._conn if connected else None
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn, conn)  # type: ignore[arg-type]

    async def _whole(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn`, a whole unit of writing (it ends every transaction it begins), on the writer thread.

        Units queue on the writer thread and run back to back, each as soon as the one before
        ends, rather than one hand-off through the event loop apart. Only a `transaction()`
        spread over several hand-offs must have nothing run between its steps: it holds the
        lock while it runs, so a unit is queued after it, never inside it.
        """
        async with self._write_lock:
            queued = asyncio.get_running_loop().run_in_executor(self._writer, fn, self._conn)
        return await queued

    async def _whole_transaction(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(conn, *args)` as a whole unit of writing (`_whole`) in a transaction of its own (`in_transaction`)."""
        return await self._whole(lambda c: sqlite_conn.in_transaction(c, fn, *args))

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = sqlite_conn.connect(self.path)
            self._reader_conns.append(conn)
        return conn

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn` in a read transaction: all its statements see one committed state, so a
        merge committing meanwhile is seen whole or not at all."""

        def run() -> T:
            conn = self._reader()
            conn.execute("BEGIN")
            try:
                return fn(conn, *args)
            finally:
                conn.execute("COMMIT")

        return await asyncio.get_running_loop().run_in_executor(self._readers, run)

    async def group(self, group_id: str) -> Group | None:
        def load(conn: sqlite3.Connection) -> Group | None:
            row = conn.execute("SELECT group_id, channel_id FROM groups WHERE group_id = ?", (group_id,)).fetchone()
            return Group(*row) if row else None

        found = self._groups.get(group_id)
        if found is None:
            found = await self._read(load)
            if found is not None:
                self._groups[group_id] = found
        return found

    async def ensure_group(self, group_id: str, channel_id: str) -> Group:
        group = self._groups[group_id] = await self._whole_transaction(records.ensure_group, group_id, channel_id)
        return group

    @asynccontextmanager
    async def transaction(self, group_id: str) -> AsyncIterator[SQLiteTransaction]:
        async with self._write_lock:
            await self._write(sqlite_conn.begin)
            try:
                yield SQLiteTransaction(self, group_id)
                await self._write(lambda c: c.execute("COMMIT"))
            except BaseException as error:
                await asyncio.shield(self._write(sqlite_conn.rollback))
                if said := sqlite_conn.unwritable(error):
                    raise said from error
                raise

    async def run_transaction(self, group_id: str, work: Work[T]) -> T:
        """`work` as a transaction of its own, as far as anyone can tell; committed together with its neighbours.

        Group commit: the works that queue up while the writer is busy run back to back in
        one transaction (up to `GROUP_COMMIT` of them), each in a savepoint: each is still
        all or nothing and sees the ones before it, a failing one is undone alone, and no
        caller hears back before the commit that holds its work. They share the commit and
        its write of the pages several of them change.
        """
        outcome: T = await self._commits((group_id, work))
        return outcome

    async def _commit_group(self, group: list[tuple[str, Work[Any]]]) -> list[Any]:
        """Each work of the group in a savepoint of one transaction: its result, or what it raised."""

        def run(conn: sqlite3.Connection) -> list[Any]:
            outcomes = [self._attempt(conn, group_id, work) for group_id, work in group]
            return [
                Raised(sqlite_conn.unwritable(o.error) or o.error) if isinstance(o, Raised) else o for o in outcomes
            ]

        def commit(conn: sqlite3.Connection) -> list[Any]:
            try:
                return sqlite_conn.in_transaction(conn, run)
            except Exception as error:  # BEGIN, COMMIT or an undo failed: nothing of the group was written
                return [Raised(error)] * len(group)

        return await self._whole(commit)

    def _attempt(self, conn: sqlite3.Connection, group_id: str, work: Work[T]) -> T | Raised:
        """`work` in a savepoint: its result, or what it raised with everything it wrote undone."""
        conn.execute("SAVEPOINT item")
        try:
            result = _drive(work(SQLiteTransaction(self, group_id, direct=True)))
        except Exception as error:
            conn.execute("ROLLBACK TO item")
            conn.execute("RELEASE item")
            return Raised(error)
        conn.execute("RELEASE item")
        return result

    async def run_each(self, group_id: str, works: Sequence[Work[T]], retries: int) -> list[T | HubError | IdTaken]:
        def item(conn: sqlite3.Connection, work: Work[T]) -> T | HubError | IdTaken:
            for attempt in range(retries):
                outcome = self._attempt(conn, group_id, work)
                if not isinstance(outcome, Raised):
                    return outcome
                if isinstance(outcome.error, HubError):
                    return outcome.error
                if not isinstance(outcome.error, IdTaken):
                    raise outcome.error
                if attempt == retries - 1:
                    return outcome.error
            raise AssertionError("unreachable")

        def run(conn: sqlite3.Connection) -> list[T | HubError | IdTaken]:
            return [item(conn, work) for work in works]

        return await self._whole_transaction(run)

    async def get(self, group_id: str, collection: str, hub_ids: Sequence[str]) -> dict[str, Record]:
        return await self._read(records.get, group_id, collection, hub_ids)

    async def find(self, group_id: str, collection: str, ext: ExternalId) -> Record | None:
        """The record holding an app's id: the lookups queued meanwhile share a reader's hand-off (`grouped`)."""
        found: Record | None = await self._finds((group_id, collection, ext))
        return found

    async def _find_group(self, group: list[tuple[str, str, ExternalId]]) -> list[Record | Raised | None]:
        """Each lookup, one statement each (so one snapshot each, and no BEGIN/COMMIT around it)."""

        def run() -> list[Record | Raised | None]:
            conn = self._reader()
            outcomes: list[Record | Raised | None] = []
            for group_id, collection, ext in group:
                try:
                    found = records.match(conn, group_id, collection, [ext])
                except Exception as error:
                    outcomes.append(Raised(error))
                else:
                    outcomes.append(found[0] if found else None)
            return outcomes

        return await asyncio.get_running_loop().run_in_executor(self._readers, run)

    async def links(self, group_id: str, query: LinkQuery) -> tuple[list[KeyLink], int]:
        return await self._read(idmap.links, group_id, query)

    async def providers(self) -> list[str]:
        return await self._read(idmap.providers)

    async def merges(
        self, group_id: str, collection: str, hub_id: str, page: HistoryPage
    ) -> tuple[list[MergeEntry], bool]:
        return await self._read(idmap.merges, group_id, collection, hub_id, page)

    async def aliases(self, group_id: str, collection: str, hub_id: str) -> list[str]:
        return await self._read(idmap.aliases, group_id, collection, hub_id)

    async def list(self, group_id: str, collection: Collection, query: ListQuery) -> tuple[list[Record], int | None]:
        def page(conn: sqlite3.Connection) -> tuple[list[Record], int | None]:
            rows, total = read_page(conn, group_id, collection, query)
            return records.from_rows(conn, rows), total

        return await self._read(page)

    async def changes(self, group_id: str, after: int, limit: int) -> tuple[int, Sequence[Change]]:
        return await self._read(sqlite_sync.changes, group_id, after, limit)

    async def prune_changes(self, before: str) -> int:
        return await self._whole_transaction(sqlite_sync.prune_changes, before)

    async def integrations(self, group_id: str) -> Sequence[Integration]:
        return await self._read(sqlite_sync.integrations, group_id)

    async def integration(self, group_id: str, name: str) -> Integration | None:
        return await self._read(sqlite_sync.integration, group_id, name)

    async def webhook_integrations(self) -> Sequence[Integration]:
        return await self._read(sqlite_sync.webhook_integrations)

    async def dead_items(self, group_id: str, integration: str, after: int, limit: int) -> Sequence[QueueItem]:
        return await self._read(sqlite_queue.dead_items, group_id, integration, after, limit)

    async def field_sync(
        self, group_id: str, collection: str, ids: Sequence[ExternalId]
    ) -> dict[ExternalId, dict[str, Directions]]:
        return await self._read(sqlite_sync.field_sync, group_id, collection, list(ids))

    async def add_key(self, key: ApiKey) -> None:
        await self._whole_transaction(access.add_key, key)

    async def add_first_admin_key(self, key: ApiKey) -> bool:
        return await self._whole_transaction(access.add_first_admin_key, key)

    async def key(self, key_id: str) -> ApiKey | None:
        return await self._read(access.key, key_id)

    async def keys(self) -> Sequence[ApiKey]:
        return await self._read(access.keys)

    async def revoke_key(self, key_id: str, revoked_at: str) -> bool:
        return await self._whole_transaction(access.revoke_key, key_id, revoked_at)

    async def connect(self, connection: Connection, channel_id: str) -> Connection:
        return await self._whole_transaction(access.connect, connection, channel_id)

    async def disconnect(self, provider: str, group_id: str) -> bool:
        return await self._whole_transaction(access.disconnect, provider, group_id)

    async def connections(self, provider: str | None = None) -> Sequence[Connection]:
        return await self._read(access.connections, provider)

    async def field_indexes(self) -> Sequence[FieldIndex]:
        return await self._read(fields.field_indexes)

    async def add_field_index(self, index: FieldIndex) -> bool:
        return await self._whole_transaction(fields.add_field_index, index)

    async def drop_field_index(self, index: FieldIndex) -> bool:
        return await self._whole_transaction(fields.drop_field_index, index)

    async def recount(self) -> None:
        await self._whole_transaction(recount)
