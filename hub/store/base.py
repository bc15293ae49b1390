"""The storage port: what the service layer needs from a store, whichever adapter serves it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol, TypeGuard, TypeVar, runtime_checkable

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

T = TypeVar("T")
C = TypeVar("C")


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
        """The distinct records holding any of these external ids, oldest code first."""

    async def links(self, query: LinkQuery) -> tuple[list[KeyLink], int]:
        """A key link search as `Store.links`, seeing what the transaction wrote."""

    async def ensure_group(self, group: Group) -> Group:
        """The group as stored, stored as given if new (the first writer's channel wins), undone with the rest."""

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

    async def referrers(self, collection: str, field: str, hub_ids: Sequence[str]) -> list[Record]:
        """The live records of `collection` whose reference `field` holds one of `hub_ids` as given (no merge
        followed), in code order; an index lookup."""

    async def touch(self, collection: str, hub_ids: Sequence[str], updated_at: str) -> None:
        """Set the records' `updated_at`, nothing else: one write for them all, however many (`referrers`)."""

    async def move_ids(self, collection: str, ids: Sequence[ExternalId], hub_id: str) -> None:
        """Link these already-held ids to record `hub_id` instead; each link keeps its created_at.

        IdTaken if the record already holds another id of the same app.
        """

    async def unlink(self, collection: str, ids: Sequence[ExternalId]) -> None:
        """Remove these ids from whichever record holds them; the records stay."""

    async def forget_directions(self, collection: str, ids: Sequence[ExternalId]) -> None:
        """Drop the sync directions kept for these app ids (`set_field_sync`), every field's."""

    async def restore(self, record: Record, aliases: Sequence[str]) -> None:
        """Make the tombstone `record.hub_id` live again with the record's status, fields, times
        and placeholder flag, and make the tombstones `aliases` point to it again (ids move apart)."""

    async def merge_entry(self, merge_id: str) -> MergeEntry | None:
        """A recorded merge of this group."""

    async def put_merge(self, entry: MergeEntry) -> None:
        """Record a merge, or replace the entry with the same id (e.g. once it is undone)."""

    async def add_change(self, change: Change) -> int:
        """Append `change` to the group's feed; its seq (set on it and returned) orders the feed by commit.

        The contract the feed's cursors rest on: once a reader sees seq N, no change with a
        lower seq may commit later (else a reader past N skips it). SQLite's single writer
        gives this for free; sqlite_sync.add_change says what a store with concurrent
        writers must do instead.
        """

    async def integration(self, name: str) -> Integration | None:
        """The group's integration of that name."""

    async def outbound_integrations(self, collection: str) -> Sequence[Integration]:
        """The group's outbound integrations of a collection (what a change of it may be enqueued for)."""

    async def put_integration(self, integration: Integration, new: bool) -> None:
        """Store an integration: `new` inserts (IdTaken if the name is taken), otherwise replaces."""

    async def delete_integration(self, name: str) -> None:
        """Drop the integration and everything queued for it."""

    async def clear_queue(self, integration: str) -> None:
        """Drop everything queued for the integration, in any state; the integration stays."""

    async def enqueue(self, items: Sequence[QueueItem]) -> None:
        """Add items to their integrations' queues; each gets its number (`item`), unique in the group."""

    async def due_items(self, integration: str, now: str, limit: int) -> Sequence[QueueItem]:
        """Ready items whose `available_at` has come, the longest waiting first."""

    async def expired_items(self, integration: str, now: str, limit: int) -> Sequence[QueueItem]:
        """Leased items whose lease ran out."""

    async def queued_items(self, integration: str, items: Sequence[int]) -> Sequence[QueueItem]:
        """The integration's items of these numbers, in any state (unknown numbers are left out)."""

    async def waiting_for(
        self, integration: str, hub_ids: Sequence[str], besides: Sequence[int], *, dead: bool = False
    ) -> set[str]:
        """Those of these records that an item of the integration's queue, other than the items `besides`, is
        waiting to deliver (ready or leased; dead too with `dead`, as a retry by hand delivers it yet)."""

    async def update_items(self, items: Sequence[QueueItem]) -> None:
        """Store the state, attempts, availability, lease, last error and details of these items (by group and
        number)."""

    async def remove_items(self, integration: str, items: Sequence[int]) -> None:
        """Take items off the queue (delivered)."""

    async def set_field_sync(self, collection: str, ext: ExternalId, directions: Mapping[str, Directions]) -> None:
        """Remember, per field, which ways it syncs with the app holding `ext` on its record (others kept)."""

    async def field_sync(self, collection: str, ids: Sequence[ExternalId]) -> dict[ExternalId, dict[str, Directions]]:
        """The per-field directions set for these apps' ids (ids with none are left out)."""


class Store(Protocol):
    """A record store; every lookup it offers is an index lookup.

    Each read method sees one committed state: a transaction (a merge, an undo) is seen
    whole or not at all, so no read shows an id on two records or on none.
    """

    unreachable: tuple[type[Exception], ...]
    """The errors by which the store says it cannot be reached now (a server gone, the network): the API answers
    them with a 503, as it does a store busy past its wait, and logs them."""

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

    async def merges(
        self, group_id: str, collection: str, hub_id: str, page: HistoryPage
    ) -> tuple[list[MergeEntry], bool]:
        """A page of the recorded merges of a live record or of any tombstone pointing to it (of its survivor, for a
        record merged away), newest first (in the order they were recorded), and whether more follow; a 400 if the
        page starts after no merge of the group and collection (`unknown_merge`). Only the page's entries are read:
        one may take megabytes."""

    async def aliases(self, group_id: str, collection: str, hub_id: str) -> list[str]:
        """The hub ids merged into the live record `hub_id` (its tombstones), oldest code first."""

    async def list(self, group_id: str, collection: Collection, query: ListQuery) -> tuple[list[Record], int | None]:
        """A page of live records and the total matching (None when not counted)."""

    async def changes(self, group_id: str, after: int, limit: int) -> tuple[int, Sequence[Change]]:
        """From one snapshot: the group's horizon (its newest pruned seq, 0 if none: a reader behind it
        missed changes) and its changes with seq above `after`, oldest first."""

    async def prune_changes(self, before: str) -> int:
        """Drop the changes recorded before this time (and every older one of their group); how many."""

    async def integrations(self, group_id: str) -> Sequence[Integration]:
        """The group's integrations by name."""

    async def integration(self, group_id: str, name: str) -> Integration | None:
        """One integration of the group."""

    async def webhook_integrations(self) -> Sequence[Integration]:
        """Every integration, in any group, that has a webhook (what the delivery task serves)."""

    async def dead_items(self, group_id: str, integration: str, after: int, limit: int) -> Sequence[QueueItem]:
        """The integration's dead items numbered above `after`, in order."""

    async def field_sync(
        self, group_id: str, collection: str, ids: Sequence[ExternalId]
    ) -> dict[ExternalId, dict[str, Directions]]:
        """As `Transaction.field_sync`, outside a transaction."""

    # --- access: API keys and the groups each app is connected to -------------------------------

    async def add_key(self, key: ApiKey) -> None:
        """Store a new key; its key id is fresh."""

    async def add_first_admin_key(self, key: ApiKey) -> bool:
        """Store `key`, an admin key, if the store never had one; False if it had.

        Atomic: of callers racing on one store, from any number of processes, exactly one stores its key.
        """

    async def key(self, key_id: str) -> ApiKey | None:
        """A key by its id, revoked or not (a primary-key lookup: authentication depends on it)."""

    async def keys(self) -> Sequence[ApiKey]:
        """Every key, revoked ones included, oldest first."""

    async def revoke_key(self, key_id: str, revoked_at: str) -> bool:
        """Mark a live key revoked; False if no live key has this id."""

    async def connect(self, connection: Connection, channel_id: str) -> Connection:
        """Connect an app to a group, the group made with `channel_id` if new; if the app is connected already,
        nothing changes and the stored connection is returned. SQLite writes both in one transaction; MongoDB the
        group first (a crash between leaves an empty group, and connecting again completes it)."""

    async def disconnect(self, provider: str, group_id: str) -> bool:
        """Remove an app's connection to a group; False if there was none."""

    async def connections(self, provider: str | None = None) -> Sequence[Connection]:
        """The connections of one app (an index lookup), or of every app, by provider then group."""

    async def field_indexes(self) -> Sequence[FieldIndex]:
        """The declared fields the store keeps an index on (`hub index add`), by entity type and field."""

    async def add_field_index(self, index: FieldIndex) -> bool:
        """Index a declared field, so that a `$filter` or `$orderby` on it reads that index; False if it is
        indexed already. Every page that names the field uses it from then on, in every process."""

    async def drop_field_index(self, index: FieldIndex) -> bool:
        """Stop keeping a field's index; False if there was none."""

    async def recount(self) -> None:
        """Count again, from the records and their ids, every count the store keeps (listed records, per app and per
        status; links per app), in one transaction: a hub from before a count was kept, writing the same database
        meanwhile, added nothing to it (`hub recount`)."""


@runtime_checkable
class RunsTransactions(Protocol):
    """Optional for an adapter: running a use case's whole transaction in one go.

    `hub.service.transact` uses it when the store offers it, and `Store.transaction`
    otherwise; the outcome is the same. The work of a transaction awaits nothing but its
    transaction (it holds the group's writes while it runs), so an adapter may run it to
    its end wherever its connection lives: the SQLite adapter runs it on its writer
    thread, one hand-off for the whole use case instead of one per statement, and
    commits the ones queued together, each in a savepoint (group commit).
    """

    async def run_transaction(self, group_id: str, work: Callable[[Transaction], Awaitable[T]]) -> T:
        """`work` in a write transaction of the group: committed if it returns, rolled back if it raises."""


@runtime_checkable
class RunsBatches(Protocol):
    """Optional for an adapter: a batch of use cases in one transaction, each undone alone if it fails.

    `hub.service.transact.each` uses it when the store offers it, and one transaction per
    item otherwise; either way each item sees the items before it and a refused item
    leaves no trace. In one transaction a batch pays for one commit instead of one per
    item; the SQLite adapter gives each item a savepoint. (MongoDB transactions have no
    savepoints: that adapter runs a batch an item at a time.)
    """

    async def run_each(
        self, group_id: str, works: Sequence[Callable[[Transaction], Awaitable[T]]], retries: int
    ) -> list[T | HubError | IdTaken]:
        """Run each work in order in one write transaction of the group and commit them all.

        An item that raises a HubError is rolled back alone and that error is its result; one
        that raises IdTaken is rolled back and run again, up to `retries` runs in all, after
        which IdTaken is its result. Any other exception rolls the whole batch back and propagates.
        """


@runtime_checkable
class WritesInBulk(Transaction, Protocol):
    """Optional for a transaction: the writes of many records in one statement per table.

    The batch path (`hub.service.batch`) writes the items of a batch that create a record or
    update the one record they name this way, on a store that `RunsBatches`; each method does
    what its one-record twin of `Transaction` does, for all of them, in order.
    """

    async def next_seqs(self, collection: str, count: int) -> int:
        """The first of `count` consecutive new code numbers of the collection (as `next_seq` `count` times)."""

    async def write_many(self, writes: Sequence[tuple[Record, Sequence[ExternalId] | None]]) -> None:
        """`insert` each (record, None) and `save` each (record, new ids), in order: the ids they link are linked
        in this order, the items' (a batch's creates and updates, however mixed), as one at a time would."""

    async def add_changes(self, changes: Sequence[Change]) -> None:
        """`add_change` each change, in order (each gets its seq)."""

    async def alone(self, work: Callable[[Transaction], Awaitable[T]]) -> T | HubError:
        """`work` as a batch runs an item (`RunsBatches.run_each`): its result, or the HubError that refused it
        with all it wrote undone; any other exception propagates."""


def offers(adapter: object, capability: type[C]) -> TypeGuard[C]:
    """Whether a store or transaction offers an optional capability (`RunsTransactions`, `RunsBatches`,
    `WritesInBulk`): asked once per class, since a runtime protocol check looks up each of the protocol's
    methods on the object (6.3 us, in every single write)."""
    kind = type(adapter)
    known = _OFFERED.get((kind, capability))
    if known is None:
        known = _OFFERED[kind, capability] = issubclass(kind, capability)
    return known


_OFFERED: dict[tuple[type, type], bool] = {}
