"""The storage port: what the service layer needs from a store, whichever adapter serves it."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from hub.model.collections import Collection
from hub.model.history import MergeEntry
from hub.model.ids import ExternalId
from hub.model.key_link import KeyLink, LinkQuery
from hub.model.query import ListQuery
from hub.model.record import Group, Record


class IdTaken(Exception):
    """A concurrent writer got there first: a unique constraint refused a write, or (on
    MongoDB) another transaction wrote the same record.

    The service retries the whole use case, which then sees the winner's record.
    """


class Transaction(Protocol):
    """Writes of one use case in one group, applied all together or not at all."""

    async def get(self, collection: str, hub_ids: Sequence[str]) -> dict[str, Record]:
        """Live records by hub id; a tombstone's hub id maps to its survivor."""

    async def match(self, collection: str, ids: Sequence[ExternalId]) -> list[Record]:
        """The distinct records holding any of these external ids."""

    async def next_seq(self, collection: str) -> int:
        """The next number of the collection's codes in this group (PE1, PE2…)."""

    async def insert(self, record: Record) -> None:
        """Store a new record with its ids; IdTaken if an id is already held."""

    async def save(self, record: Record, new_ids: Sequence[ExternalId]) -> None:
        """Store a record's fields and status and link `new_ids` to it; IdTaken as above."""

    async def merge(self, survivor: Record, merged: Sequence[Record]) -> None:
        """Move the ids of `merged` to `survivor` and make them its tombstones; the tombstones that
        pointed to a merged record point to the survivor now (no chains)."""

    async def aliases(self, collection: str, hub_id: str) -> list[str]:
        """The hub ids of the tombstones that point to this record."""

    async def move_ids(self, collection: str, ids: Sequence[ExternalId], hub_id: str) -> None:
        """Link these already-held ids to record `hub_id` instead; each link keeps its created_at.

        IdTaken if the record already holds another id of the same app.
        """

    async def unlink(self, collection: str, ids: Sequence[ExternalId]) -> None:
        """Remove these ids from whichever record holds them; the records stay."""

    async def restore(self, record: Record, aliases: Sequence[str]) -> None:
        """Make the tombstone `record.hub_id` live again with the record's status, fields, times
        and placeholder flag, and make the tombstones `aliases` point to it again (ids move apart)."""

    async def merge_entry(self, merge_id: str) -> MergeEntry | None:
        """A recorded merge of this group."""

    async def put_merge(self, entry: MergeEntry) -> None:
        """Record a merge, or replace the entry with the same id (e.g. once it is undone)."""


class Store(Protocol):
    """A record store; every lookup it offers is an index lookup.

    Each read method sees one committed state: a transaction (a merge, an undo) is seen
    whole or not at all, so no read shows an id on two records or on none.
    """

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def group(self, group_id: str) -> Group | None:
        """The group, or None if nothing was ever written to it."""

    async def ensure_group(self, group_id: str, channel_id: str) -> Group:
        """The group, created with `channel_id` if new (the first writer's channel wins)."""

    def transaction(self, group_id: str) -> AbstractAsyncContextManager[Transaction]:
        """A write transaction in one group."""

    async def get(self, group_id: str, collection: str, hub_ids: Sequence[str]) -> dict[str, Record]:
        """Records by hub id, tombstones resolved to their survivors."""

    async def find(self, group_id: str, collection: str, ext: ExternalId) -> Record | None:
        """The record holding an app's id."""

    async def links(self, group_id: str, query: LinkQuery) -> tuple[list[KeyLink], int]:
        """A page of the group's key links (the app ids records hold) in the order they were made,
        and the total matching."""

    async def providers(self) -> list[str]:
        """Every provider that holds an id in any group, sorted."""

    async def merges(self, group_id: str, collection: str, hub_id: str) -> list[MergeEntry]:
        """The recorded merges of a live record or of any tombstone pointing to it, newest first."""

    async def list(self, group_id: str, collection: Collection, query: ListQuery) -> tuple[list[Record], int | None]:
        """A page of live records and the total matching (None when not counted)."""
