"""The writes of one use case on SQLite (`SQLiteTransaction`), on the store's writer connection.

A transaction handed out by `SQLiteStore.transaction` sends each statement to the writer
thread; one made by `SQLiteStore.run_transaction` runs on the writer thread itself, inside
the savepoint of its group commit, so each statement runs at once. A unique index refusing
a write is a race lost, reported as IdTaken.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from hub.errors import HubError
from hub.model.change import Change
from hub.model.connect import Directions
from hub.model.history import MergeEntry
from hub.model.ids import ExternalId
from hub.model.integration import Integration
from hub.model.key_link import KeyLink, LinkQuery
from hub.model.queue import QueueItem
from hub.model.record import Group, Record
from hub.store import sqlite_idmap as idmap
from hub.store import sqlite_queue, sqlite_sync
from hub.store import sqlite_records as records
from hub.store.base import IdTaken
from hub.store.grouped import Raised
from hub.store.sqlite_query import delete_ids

if TYPE_CHECKING:
    from hub.store.sqlite import SQLiteStore

T = TypeVar("T")
Work = Callable[["SQLiteTransaction"], Awaitable[T]]
"""The work of a use case's transaction (see `RunsTransactions`)."""


class SQLiteTransaction:
    """Writes on the writer thread inside one BEGIN IMMEDIATE … COMMIT.

    `direct`: the transaction's work runs on the writer thread itself (`run_transaction`),
    so each statement runs at once; otherwise each is handed to the writer thread.
    """

    def __init__(self, store: SQLiteStore, group_id: str, direct: bool = False) -> None:
        self._store = store
        self.group_id = group_id
        self._direct = direct

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        def run(conn: sqlite3.Connection) -> T:
            try:
                return fn(conn, *args)
            except sqlite3.IntegrityError as error:
                if "UNIQUE" in str(error):
                    raise IdTaken(str(error)) from error
                raise

        if self._direct:
            if threading.get_ident() != self._store._writer_thread:
                raise RuntimeError("a transaction run by run_transaction was used outside its work")
            return run(self._store._conn)
        return await self._store._write(run)

    async def get(self, collection: str, hub_ids: Sequence[str]) -> dict[str, Record]:
        return await self._run(records.get, self.group_id, collection, hub_ids)

    async def match(self, collection: str, ids: Sequence[ExternalId]) -> list[Record]:
        return await self._run(records.match, self.group_id, collection, ids)

    async def links(self, query: LinkQuery) -> tuple[list[KeyLink], int]:
        return await self._run(idmap.links, self.group_id, query)

    async def ensure_group(self, group: Group) -> Group:
        return await self._run(records.ensure_group, group.group_id, group.channel_id)

    async def next_seq(self, collection: str) -> int:
        return await self.next_seqs(collection, 1)

    async def next_seqs(self, collection: str, count: int) -> int:
        def bump(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "INSERT INTO counters VALUES (?, ?, ?)"
                " ON CONFLICT DO UPDATE SET seq = seq + excluded.seq RETURNING seq",
                (self.group_id, collection, count),
            ).fetchone()
            return int(row[0]) - count + 1

        return await self._run(bump)

    async def insert(self, record: Record) -> None:
        await self._run(records.write, [(record, None)])

    async def save(self, record: Record, new_ids: Sequence[ExternalId]) -> None:
        await self._run(records.write, [(record, new_ids)])

    async def write_many(self, writes: Sequence[tuple[Record, Sequence[ExternalId] | None]]) -> None:
        await self._run(records.write, writes)

    async def merge(self, survivor: Record, merged: Sequence[Record]) -> None:
        await self._run(records.merge, survivor, merged)

    async def aliases(self, collection: str, hub_id: str) -> list[str]:
        return await self._run(idmap.aliases, self.group_id, collection, hub_id)

    async def referrers(self, collection: str, field: str, hub_ids: Sequence[str]) -> list[Record]:
        return await self._run(records.referrers, self.group_id, collection, field, list(hub_ids))

    async def touch(self, collection: str, hub_ids: Sequence[str], updated_at: str) -> None:
        await self._run(records.touch, self.group_id, collection, list(hub_ids), updated_at)

    async def move_ids(self, collection: str, ids: Sequence[ExternalId], hub_id: str) -> None:
        await self._run(idmap.move_ids, self.group_id, collection, ids, hub_id)

    async def unlink(self, collection: str, ids: Sequence[ExternalId]) -> None:
        await self._run(delete_ids, "external_ids", self.group_id, collection, ids)

    async def restore(self, record: Record, aliases: Sequence[str]) -> None:
        await self._run(idmap.restore, record, aliases)

    async def merge_entry(self, merge_id: str) -> MergeEntry | None:
        return await self._run(idmap.merge_entry, self.group_id, merge_id)

    async def put_merge(self, entry: MergeEntry) -> None:
        await self._run(idmap.put_merge, entry)

    async def add_change(self, change: Change) -> int:
        return await self._run(sqlite_sync.add_change, change)

    async def add_changes(self, changes: Sequence[Change]) -> None:
        await self._run(sqlite_sync.add_changes, changes)

    async def alone(self, work: Work[T]) -> T | HubError:
        """`work` in a savepoint of its own inside this one, as `run_each` runs an item."""

        def run(conn: sqlite3.Connection) -> T | HubError:
            outcome = self._store._attempt(conn, self.group_id, work)
            if not isinstance(outcome, Raised):
                return outcome
            if isinstance(outcome.error, HubError):
                return outcome.error
            raise outcome.error

        return await self._run(run)

    async def integration(self, name: str) -> Integration | None:
        return await self._run(sqlite_sync.integration, self.group_id, name)

    async def outbound_integrations(self, collection: str) -> Sequence[Integration]:
        return await self._run(sqlite_sync.outbound_integrations, self.group_id, collection)

    async def put_integration(self, integration: Integration, new: bool) -> None:
        await self._run(sqlite_sync.put_integration, integration, new)

    async def delete_integration(self, name: str) -> None:
        await self._run(sqlite_queue.clear_queue, self.group_id, name)
        await self._run(sqlite_sync.delete_integration, self.group_id, name)

    async def clear_queue(self, integration: str) -> None:
        await self._run(sqlite_queue.clear_queue, self.group_id, integration)

    async def enqueue(self, items: Sequence[QueueItem]) -> None:
        await self._run(sqlite_queue.enqueue, list(items))

    async def due_items(self, integration: str, now: str, limit: int) -> Sequence[QueueItem]:
        return await self._run(sqlite_queue.due_items, self.group_id, integration, now, limit)

    async def expired_items(self, integration: str, now: str, limit: int) -> Sequence[QueueItem]:
        return await self._run(sqlite_queue.expired_items, self.group_id, integration, now, limit)

    async def queued_items(self, integration: str, items: Sequence[int]) -> Sequence[QueueItem]:
        return await self._run(sqlite_queue.queued_items, self.group_id, integration, list(items))

    async def waiting_for(
        self, integration: str, hub_ids: Sequence[str], besides: Sequence[int], *, dead: bool = False
    ) -> set[str]:
        ids, others = list(hub_ids), list(besides)
        return await self._run(sqlite_queue.waiting_for, self.group_id, integration, ids, others, dead)

    async def update_items(self, items: Sequence[QueueItem]) -> None:
        await self._run(sqlite_queue.update_items, list(items))

    async def remove_items(self, integration: str, items: Sequence[int]) -> None:
        await self._run(sqlite_queue.remove_items, self.group_id, integration, list(items))

    async def set_field_sync(self, collection: str, ext: ExternalId, directions: Mapping[str, Directions]) -> None:
        await self._run(sqlite_sync.set_field_sync, self.group_id, collection, ext, dict(directions))

    async def forget_directions(self, collection: str, ids: Sequence[ExternalId]) -> None:
        await self._run(delete_ids, "field_sync", self.group_id, collection, ids)

    async def field_sync(self, collection: str, ids: Sequence[ExternalId]) -> dict[ExternalId, dict[str, Directions]]:
        return await self._run(sqlite_sync.field_sync, self.group_id, collection, list(ids))
