"""The SQLite adapter's threads and connections: whole transactions on the writer, committed in groups, groups
read once, stores on one file (each with its own threads, as processes would be) racing for the first admin
key, and writes that meet another process's write lock."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hub.errors import Conflict, Unavailable
from hub.model.access import ApiKey, Connection
from hub.model.collections import COLLECTIONS
from hub.model.ids import ExternalId
from hub.model.record import Record
from hub.service import access, transact
from hub.store.base import RunsTransactions, Transaction
from hub.store.sqlite import SQLiteStore

PEOPLE = COLLECTIONS["people"]
APP = ExternalId("app", "r1", "p1")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = SQLiteStore(str(tmp_path / "hub.db"))
    await opened.open()
    await opened.ensure_group("g", "org-1")
    yield opened
    await opened.close()


def person(hub_id: str = "h1", seq: int = 1) -> Record:
    ids = [APP] if seq == 1 else [ExternalId("app", "r1", f"p{seq}")]
    return Record(hub_id, "g", "people", seq, "ACTIVE", "t", "t", {"first_name": "Ada"}, ids)


async def test_a_transaction_runs_whole_on_the_writer_thread_and_commits(store: SQLiteStore) -> None:
    assert isinstance(store, RunsTransactions)
    loop_thread = threading.get_ident()
    seen: list[int] = []

    async def work(tx: Transaction) -> int:
        seen.append(threading.get_ident())
        await tx.insert(person())
        seen.append(threading.get_ident())
        return await tx.next_seq("people")

    assert await store.run_transaction("g", work) == 1
    assert len(set(seen)) == 1 and seen[0] != loop_thread
    assert (await store.find("g", "people", APP)) is not None


async def test_the_service_runs_a_use_case_whole_on_the_writer_thread(store: SQLiteStore) -> None:
    """`transact` asks once per store class whether it runs transactions whole; SQLite's does."""
    loop_thread = threading.get_ident()
    seen: list[int] = []
    for n in (1, 2):  # the second time from the cached answer

        async def work(tx: Transaction, n: int = n) -> None:
            seen.append(threading.get_ident())
            await tx.insert(person(f"h{n}", n))

        await transact.transact(store, "g", work)
    assert len(seen) == 2 and loop_thread not in seen
    assert sorted(await store.get("g", "people", ["h1", "h2"])) == ["h1", "h2"]


async def test_a_work_that_raises_leaves_nothing(store: SQLiteStore) -> None:
    async def work(tx: Transaction) -> None:
        await tx.insert(person())
        raise ValueError("changed my mind")

    with pytest.raises(ValueError):
        await store.run_transaction("g", work)
    assert await store.find("g", "people", APP) is None


async def test_a_connection_refused_leaves_no_group_behind(store: SQLiteStore) -> None:
    """The group a connection makes is written in its transaction: a connect that failed after making the group
    left a group no app was connected to."""
    refuse = "CREATE TRIGGER refuse BEFORE INSERT ON connections BEGIN SELECT RAISE(ABORT, 'refused'); END"
    with closing(sqlite3.connect(store.path)) as conn:
        conn.execute(refuse)
    with pytest.raises(sqlite3.IntegrityError, match="refused"):
        await store.connect(Connection("crm", "cld-1", "2243", "2024-01-01T00:00:00.000000Z"), "org-1")
    assert await store.group("cld-1") is None


async def test_a_work_that_awaits_anything_else_is_refused_and_leaves_nothing(store: SQLiteStore) -> None:
    async def work(tx: Transaction) -> None:
        await tx.insert(person())
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="awaited something besides its transaction"):
        await store.run_transaction("g", work)
    assert await store.find("g", "people", APP) is None


async def test_a_transaction_used_after_its_work_is_refused(store: SQLiteStore) -> None:
    kept: list[Transaction] = []

    async def work(tx: Transaction) -> None:
        kept.append(tx)

    await store.run_transaction("g", work)
    with pytest.raises(RuntimeError, match="outside its work"):
        await kept[0].insert(person())


def _held_first(gate: threading.Event, started: list[int], fail: dict[int, Exception]) -> Callable[[int], Any]:
    """Works that insert person n; work 0 holds the writer until `gate` is set, and work n raises fail[n] if given."""

    def work_of(n: int) -> Callable[[Transaction], Awaitable[int]]:
        async def work(tx: Transaction) -> int:
            started.append(n)
            if n == 0:
                assert gate.wait(10), "the first transaction was never let go"
            await tx.insert(person(f"h{n}", n + 1))
            if n in fail:
                raise fail[n]
            return n

        return work

    return work_of


async def _queue_behind_first(
    store: SQLiteStore, work_of: Callable[[int], Any], started: list[int], count: int
) -> list[asyncio.Task[Any]]:
    """Work 0 taken by the writer, then works 1 to count - 1 queued behind it: all their runs, in order."""
    runs = [asyncio.create_task(store.run_transaction("g", work_of(0)))]
    while not started:
        await asyncio.sleep(0.001)
    runs += [asyncio.create_task(store.run_transaction("g", work_of(n))) for n in range(1, count)]
    await asyncio.sleep(0.05)
    return runs


async def _commits(store: SQLiteStore) -> list[str]:
    """Every statement the writer runs from now on (COMMITs among them)."""
    statements: list[str] = []
    await store._whole(lambda conn: conn.set_trace_callback(statements.append))
    return statements


async def test_transactions_queued_while_the_writer_is_busy_share_one_commit(store: SQLiteStore) -> None:
    """While one transaction holds the writer, nine more queue up; they then run in order and commit once."""
    gate, started = threading.Event(), []
    work_of = _held_first(gate, started, {})
    statements = await _commits(store)
    runs = await _queue_behind_first(store, work_of, started, 10)
    assert started == [0] and not any(run.done() for run in runs)
    gate.set()
    assert await asyncio.gather(*runs) == list(range(10))
    assert started == list(range(10))
    assert statements.count("COMMIT") == 2  # the first alone, then the nine queued behind it
    found = await store.get("g", "people", [f"h{n}" for n in range(10)])
    assert sorted(found) == [f"h{n}" for n in range(10)]


async def test_a_failing_transaction_of_a_group_is_undone_alone_and_its_caller_told(store: SQLiteStore) -> None:
    """In one commit: the works around a failing one are kept, and each caller hears its own outcome."""
    gate, started = threading.Event(), []
    refused, broken = Conflict("taken"), ValueError("a bug")
    work_of = _held_first(gate, started, {3: refused, 6: broken})
    statements = await _commits(store)
    runs = await _queue_behind_first(store, work_of, started, 10)
    gate.set()
    outcomes = await asyncio.gather(*runs, return_exceptions=True)
    assert outcomes == [0, 1, 2, refused, 4, 5, broken, 7, 8, 9]
    assert statements.count("COMMIT") == 2
    found = await store.get("g", "people", [f"h{n}" for n in range(10)])
    assert sorted(found) == [f"h{n}" for n in range(10) if n not in (3, 6)]


async def test_closing_commits_what_is_queued_first(tmp_path: Path) -> None:
    """Callers waiting on the writer when the store closes get their transactions committed, not dropped."""
    path = str(tmp_path / "hub.db")
    store = SQLiteStore(path)
    await store.open()
    gate, started = threading.Event(), []
    work_of = _held_first(gate, started, {})
    runs = await _queue_behind_first(store, work_of, started, 5)  # queued, not yet handed to the writer
    closing = asyncio.create_task(store.close())
    await asyncio.sleep(0.05)
    gate.set()
    await closing
    assert await asyncio.gather(*runs) == list(range(5))
    reopened = SQLiteStore(path)
    await reopened.open()
    try:
        assert len(await reopened.get("g", "people", [f"h{n}" for n in range(5)])) == 5
    finally:
        await reopened.close()


async def test_a_whole_transaction_never_runs_inside_an_open_stepwise_one(store: SQLiteStore) -> None:
    """While `transaction()` is open across hand-offs, a whole one waits for it: the rollback of the
    stepwise one leaves the other's write alone, and the other's write is not seen half way."""

    async def other(tx: Transaction) -> None:
        await tx.insert(person("h2", 2))

    with pytest.raises(ValueError):
        async with store.transaction("g") as tx:
            await tx.insert(person("h1"))
            racing = asyncio.create_task(store.run_transaction("g", other))
            await asyncio.sleep(0.05)
            assert not racing.done()
            raise ValueError("roll back")
    await racing
    assert set(await store.get("g", "people", ["h1", "h2"])) == {"h2"}


async def _write_people(store: SQLiteStore, first: int, count: int) -> None:
    """`count` people of 1 KB each, a hundred per transaction."""
    for start in range(first, first + count, 100):

        async def work(tx: Transaction, start: int = start) -> None:
            for n in range(start, start + 100):
                await tx.insert(Record(f"h{n}", "g", "people", n, "ACTIVE", "t", "t", {"note": "x" * 1024}, []))

        await store.run_transaction("g", work)


async def test_only_the_checkpointer_copies_the_wal_into_the_database_file(tmp_path: Path) -> None:
    """The writer does not checkpoint as it commits (by default SQLite would at 1,000 pages of WAL): with the
    checkpointer held back, the database file does not grow; let go, it does while the store is open."""
    path = tmp_path / "hub.db"
    held = SQLiteStore(str(path), checkpoint_seconds=3600)
    await held.open()
    try:
        await held.ensure_group("g", "org-1")
        before = path.stat().st_size
        await _write_people(held, 1, 5000)
        assert Path(f"{path}-wal").stat().st_size > 1000 * 4096
        assert path.stat().st_size == before
    finally:
        await held.close()
    running = SQLiteStore(str(path), checkpoint_seconds=0.01)
    await running.open()
    try:
        before = path.stat().st_size
        await _write_people(running, 5001, 2000)
        for _ in range(500):
            if path.stat().st_size > before:
                break
            await asyncio.sleep(0.01)
        assert path.stat().st_size > before
    finally:
        await running.close()


async def test_under_writes_back_to_back_the_wal_starts_over_and_stays_small(tmp_path: Path) -> None:
    """The WAL starts over only if a write begins when all of it is copied: under writes queued back to
    back it never did, and grew with everything written, until the writer caught up the checkpoint."""
    path = tmp_path / "hub.db"
    store = SQLiteStore(str(path), checkpoint_seconds=0.002, wal_pages=200)
    await store.open()
    try:
        await store.ensure_group("g", "org-1")
        largest = 0

        async def watch() -> None:
            nonlocal largest
            while True:
                largest = max(largest, Path(f"{path}-wal").stat().st_size)
                await asyncio.sleep(0.005)

        watching = asyncio.create_task(watch())
        await asyncio.gather(*(_write_people(store, n * 10_000 + 1, 2000) for n in range(8)))
        watching.cancel()
        written = path.stat().st_size
    finally:
        await store.close()
    assert written > 15_000_000  # 16,000 people of 1 KB went through the WAL
    assert largest < written / 2, (largest, written)  # it grew to about all written; a loaded machine lags


async def test_groups_are_read_once_but_a_missing_one_is_asked_again(store: SQLiteStore, tmp_path: Path) -> None:
    other = SQLiteStore(str(tmp_path / "hub.db"))  # another process on the same file
    await other.open()
    try:
        assert await store.group("late") is None
        await other.ensure_group("late", "org-2")
        found = await store.group("late")
        assert found is not None and found.channel_id == "org-2"
        assert await store.group("late") is found
    finally:
        await other.close()


async def test_first_starts_racing_on_one_file_make_one_admin_key(tmp_path: Path) -> None:
    """Stores on one file, each with its own connections and threads, race as hub processes would."""
    stores = [SQLiteStore(str(tmp_path / "fresh.db")) for _ in range(6)]
    for opened in stores:
        await opened.open()
    try:
        made = await asyncio.gather(*(access.first_admin_key(opened) for opened in stores))
        assert sum(key is not None for key in made) == 1
        assert len([k for k in await stores[0].keys() if k.admin]) == 1
    finally:
        for opened in stores:
            await opened.close()


async def test_lookups_by_app_id_made_at_once_each_find_their_own_record(store: SQLiteStore) -> None:
    """A hundred finds in flight together (grouped on the readers): each answers its own id, misses included."""

    async def work(tx: Transaction) -> None:
        for n in range(1, 51):
            await tx.insert(person(f"h{n}", n))

    await store.run_transaction("g", work)
    asked = [ExternalId("app", "r1", f"p{n}") for n in range(1, 101)]
    found = await asyncio.gather(*(store.find("g", "people", ext) for ext in asked))
    assert [record.hub_id if record else None for record in found] == [
        f"h{n}" if n <= 50 else None for n in range(1, 101)
    ]


async def test_a_store_closed_at_once_closes_every_connection_and_leaves_no_wal(tmp_path: Path) -> None:
    """`hub serve` opens a store to make the first admin key and closes it at once: the checkpointer's connection,
    still being made when it was cancelled, was left open, and the WAL stayed beside the file after shutdown."""
    path = tmp_path / "hub.db"
    for n in range(60):
        store = SQLiteStore(str(path))
        await store.open()
        if n % 2:
            await store.ensure_group(f"g{n}", "org-1")
        await store.close()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["hub.db"], n


async def test_key_and_connection_writes_meeting_a_locked_file_say_it_is_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`hub keys create`, `keys revoke`, `connect` and `disconnect` wrote outside a transaction: another process
    holding the file's write lock past the busy wait (a hub's batch, `hub index add`) gave sqlite3's traceback,
    `database is locked`, where every other write says the file is busy (and a connect read its row apart from
    writing it: a disconnect between the two gave a TypeError)."""
    monkeypatch.setattr("hub.store.sqlite_conn.BUSY_MS", 100)
    store = SQLiteStore(str(tmp_path / "hub.db"))
    await store.open()
    now = "2026-01-01T00:00:00.000000Z"
    key = ApiKey("hk_0123456789abcdef", "crm", "hash", now)
    writes: list[Callable[[], Awaitable[object]]] = [
        lambda: store.add_key(key),
        lambda: store.revoke_key(key.key_id, now),
        lambda: store.connect(Connection("crm", "g", "1", now), "org-1"),
        lambda: store.disconnect("crm", "g"),
    ]
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # as another process's write holds it
    try:
        for write in writes:
            with pytest.raises(Unavailable, match="busy"):
                await write()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    try:
        for write in writes:
            await write()
        assert (await store.key(key.key_id)) == replace(key, revoked_at=now) and not await store.connections("crm")
    finally:
        await store.close()


async def test_opening_a_file_another_process_holds_says_it_is_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening takes the write lock (codes carried over, counts kept): met past the busy wait, it is said as any
    write says it, and the store opens once the lock is free."""
    monkeypatch.setattr("hub.store.sqlite_conn.BUSY_MS", 100)
    path = str(tmp_path / "hub.db")
    made = SQLiteStore(path)
    await made.open()
    await made.close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # as another process's write holds it
    try:
        with pytest.raises(Unavailable, match="busy"):
            await SQLiteStore(path).open()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    reopened = SQLiteStore(path)
    await reopened.open()
    await reopened.close()
