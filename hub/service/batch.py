"""A batch: each item upserted as `upsert.upsert` would alone, in order; runs of plain items written together.

Most items of a sync batch create a record or update the one record their ids name. Written one
at a time, each costs about ten statements (its lookup, its code, its row, its ids, its change,
the queues' integrations, its savepoint…) and as many trips through Python. On a store whose
batches run in one transaction and whose transactions write in bulk (`RunsBatches`,
`WritesInBulk`: SQLite), a run of consecutive *plain* items is one work instead: one lookup of all
their ids, one of their apps' sync directions, then one statement per table for all of them.

An item is plain if, before anything is read, nothing can tie it to another item of the batch: it
names records by app ids only (no hub id, no reference field), and none of its ids is named by
another item (as its id or in a reference). Reading decides the rest: an item whose ids match
several records (a merge), or whose record another item of the run matches too, runs alone, in
its place, as a single upsert would (the run's writes before it are written first), as does the
whole batch on any other store. Every item thus sees what the items before it wrote, as in a
batch written one item at a time, and the codes and the change feed follow the batch's order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.config import Settings
from hub.errors import HubError
from hub.model.change import Kind
from hub.model.collections import Collection
from hub.model.history import ANONYMOUS
from hub.model.ids import MAX_RECORD_IDS, ExternalId, app_clashes
from hub.model.record import Group, Record, Write
from hub.service import changes, directions, reading
from hub.service.groups import group_for_write, stored
from hub.service.transact import each
from hub.service.upsert import Outcome, Prepared, new_record, prepare, unchanged, update_record, work_of
from hub.store.base import RunsBatches, Store, Transaction, WritesInBulk, offers

Result = Outcome | HubError


async def upsert_many(
    store: Store,
    settings: Settings,
    group_id: str,
    collection: Collection,
    writes: Sequence[Write | HubError],
    actor: str = ANONYMOUS,
) -> list[Result]:
    """Each write upserted as `upsert` would alone, in order, with its outcome or the error that refused it.

    An item already refused (a HubError given in place of its write) keeps its error; a refused
    item does not sink the others. A batch POST and `hub import` both write through here.
    """
    if all(isinstance(w, HubError) for w in writes):
        return [w for w in writes if isinstance(w, HubError)]
    group = await group_for_write(store, group_id)
    results: dict[int, Result] = {}
    prepared: dict[int, Prepared] = {}
    for index, write in enumerate(writes):
        if isinstance(write, HubError):
            results[index] = write
            continue
        try:
            prepared[index] = prepare(settings, group, write)
        except HubError as error:
            results[index] = error
    runs = _runs(collection, prepared) if offers(store, RunsBatches) else [[index] for index in prepared]
    works: list[Callable[[Transaction], Awaitable[Any]]] = [
        _run_work(settings, group, collection, [prepared[i] for i in run], actor)
        if len(run) > 1
        else work_of(settings, group, collection, prepared[run[0]], None, actor)
        for run in runs
    ]
    for run, ran in zip(runs, await each(store, group_id, works), strict=True):
        if len(run) > 1 and not isinstance(ran, HubError):
            results.update(zip(run, ran, strict=True))
        else:  # one item's result, or what refused a whole run (only a race lost eight times could)
            results.update(dict.fromkeys(run, ran))
    return [results[index] for index in range(len(writes))]


def _runs(collection: Collection, prepared: dict[int, Prepared]) -> list[list[int]]:
    """The batch's items in order, cut into runs of consecutive plain items and single other ones."""
    if collection.name in collection.references.values():  # an item could link ids to another's record
        return [[index] for index in prepared]
    named = Counter(e for p in prepared.values() for e in p.write.claimed())
    runs: list[list[int]] = []
    extends = False
    for index, p in prepared.items():
        plain = bool(p.ids) and not p.hub_ids and not p.write.references and all(named[e] == 1 for e in p.ids)
        plain = plain and not p.write.foreign  # other apps' ids are checked against the record it matches, alone
        # an item whose ids clash, or are more than a record may hold (an id array may name one more, for its hub
        # id), is refused alone: naming the records its ids are held by, or the bound
        plain = plain and not app_clashes(p.ids) and len(p.ids) <= MAX_RECORD_IDS
        if plain and extends:
            runs[-1].append(index)
        else:
            runs.append([index])
        extends = plain
    return runs


def _run_work(
    settings: Settings, group: Group, collection: Collection, items: list[Prepared], actor: str
) -> Callable[[Transaction], Awaitable[list[Result]]]:
    """The work of a run of plain items: each item's result, in order."""

    async def work(tx: Transaction) -> list[Result]:
        if not offers(tx, WritesInBulk):
            raise TypeError("a run of items needs a transaction that writes in bulk")
        kept = await stored(tx, group)
        holding = {e: r for r in await tx.match(collection.name, [e for p in items for e in p.ids]) for e in r.ids}
        matched = [list({holding[e].hub_id: holding[e] for e in p.ids if e in holding}.values()) for p in items]
        named = Counter(r.hub_id for records in matched for r in records)
        writes = await directions.inbound_each(
            tx, collection.name, [(m, p.ids, p.write) for m, p in zip(matched, items, strict=True)]
        )
        pending = _Pending(kept, collection)
        results: list[Result] = []
        for p, records, write in zip(items, matched, writes, strict=True):
            if len(records) > 1 or any(named[r.hub_id] > 1 for r in records) or await _took_in(tx, collection, records):
                await pending.write(tx)
                results.append(await tx.alone(work_of(settings, kept, collection, p, None, actor)))
                continue
            try:
                results.append(pending.add(records, p.ids, write))
            except HubError as error:
                results.append(error)
        await pending.write(tx)
        refs = await reading.referenced(tx.get, collection, [o.record for o in pending.outcomes])
        for outcome in pending.outcomes:
            outcome.refs = refs
        return results

    return work


async def _took_in(tx: Transaction, collection: Collection, matched: list[Record]) -> bool:
    """Whether the one record an item matches is a placeholder others were merged into: the create filling it in names
    them (`changes.filled_in`), which the run's changes do not, so it is written alone. A placeholder none was merged
    into (most: one per id an app referred to) is filled in with the run (alone, importing 4,000 organizations after
    the people referring to them took 2,840 a second instead of 6,200-7,400)."""
    return len(matched) == 1 and matched[0].placeholder and bool(await tx.aliases(collection.name, matched[0].hub_id))


@dataclass
class _Pending:
    """The creates and updates of a run's plain items since its last write, in order."""

    group: Group
    collection: Collection
    writes: list[tuple[Record, list[ExternalId] | None]] = field(default_factory=list)
    """Each record to create (with None) or to update (with the ids it gains), in the items' order."""
    made: list[changes.Made] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    """Every plain item's outcome (their referenced records are read once, at the end)."""

    def add(self, matched: list[Record], ids: list[ExternalId], write: Write) -> Outcome:
        """The item's outcome, its writes pending; an item refused (409) adds none."""
        values = dict(write.fields)
        status = values.pop("status", None)
        kind: Kind = "create"
        touched: frozenset[str] | None = None
        also: tuple[Record, ...] = ()
        if not matched:
            record = new_record(self.group, self.collection, 0, values, status, ids)  # its code comes with `write`
            self.writes.append((record, None))
            outcome = Outcome(record, created=True)
        elif unchanged(matched[0], ids, values, status):
            outcome = Outcome(matched[0], created=False, changed=False)  # answered, not recorded
            self.outcomes.append(outcome)
            return outcome
        else:
            record = matched[0]
            new_ids, kind, touched, before = update_record(record, ids, values, status)
            also = (before,)
            self.writes.append((record, new_ids))
            record.ids = [*record.ids, *new_ids]
            outcome = Outcome(record, created=kind == "create")
        self.made.append((kind, self.collection.name, record, touched, also))
        self.outcomes.append(outcome)
        return outcome

    async def write(self, tx: WritesInBulk) -> None:
        """Write what is pending: codes, then records and ids, then the changes, all in the items' order."""
        created = [record for record, new_ids in self.writes if new_ids is None]
        if created:
            first = await tx.next_seqs(self.collection.name, len(created))
            for seq, record in enumerate(created, start=first):
                record.seq = seq
        if self.writes:
            await tx.write_many(self.writes)
        if self.made:
            await changes.record_each(tx, self.made)
        self.writes, self.made = [], []
