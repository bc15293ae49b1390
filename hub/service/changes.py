"""The change feed: every write path records its change here, inside its own transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from copy import copy
from dataclasses import dataclass
from typing import Any

from hub.config import Settings
from hub.errors import BadRequest, Gone
from hub.model import timefmt
from hub.model.change import Change, Kind, cursor, position
from hub.model.filter import Node
from hub.model.record import Group, Record
from hub.service import enqueuing, reading
from hub.store.base import Store, Transaction, WritesInBulk, offers

log = logging.getLogger("hub")


async def record(
    tx: Transaction,
    kind: Kind,
    collection: str,
    record: Record,
    also: Sequence[Record] = (),
    *,
    touched: frozenset[str] | None = None,
    shown: tuple[tuple[str, str], frozenset[str]] | None = None,
    earlier: Mapping[str, Node | None] | None = None,
    **details: Any,
) -> Change:
    """Record one change of `record` (as it is after the change) in the transaction that makes it; `also` are the
    records as they were before it (a merge's, or the one an update changed), judged by the filters as they read
    before it where it made them read otherwise (`earlier`, `enqueuing.enqueue`); an update names what it `touched`
    (`Change.touched`), a connect what it `shown` its app anew.

    Being written by the same transaction, a change is never lost (the write committed
    without it) nor a phantom (it committed without the write); so are the items it puts
    on the outbound queues that want it: those whose filter `record`, or one of `also`, matches
    (`enqueuing.reaches`).
    """
    change = _change(kind, collection, record, details, touched, shown)
    await tx.add_change(change)
    await enqueuing.enqueue(tx, [(change, record, also)], earlier)
    return change


async def filled_in(tx: Transaction, collection: str, hub_id: str) -> dict[str, Any]:
    """The details of the `create` that fills a placeholder in: the hub ids of the placeholders merged into it
    (`merged`). Nothing of a placeholder is sent, their merge neither, while apps were sent the records referring to
    each by its hub id: this create is the first they hear of the record those ids name now."""
    aliases = await tx.aliases(collection, hub_id)
    return {"merged": aliases} if aliases else {}


def touch(record: Record, now: str) -> Record:
    """Move the record's `updated_at` to `now`, as a change of its ids (or of what its references show) does; the
    record as it was, for the change's `also`: an integration filtering on `updated_at` must hear of the record the
    change takes out of its filter (`enqueuing.reaches`)."""
    before = copy(record)
    record.updated_at = now
    return before


Made = tuple[Kind, str, Record, frozenset[str] | None, Sequence[Record]]
"""A change to record: its kind, collection, record (as the change left it), what it touched (`Change.touched`) and
the records as they were before it (`record`'s `also`)."""


async def record_each(
    tx: Transaction, made: Sequence[Made], earlier: Mapping[str, Node | None] | None = None, **details: Any
) -> None:
    """`record` each change `made` (`Made`), each with `details`, in one write of the feed (on a store that writes in
    bulk) and of the queues (`earlier`: filters as they read before, `enqueuing.enqueue`)."""
    changes = [_change(kind, collection, record, details, touched) for kind, collection, record, touched, _ in made]
    if offers(tx, WritesInBulk):
        await tx.add_changes(changes)
    else:
        for change in changes:
            await tx.add_change(change)
    await enqueuing.enqueue(
        tx, [(change, item[2], item[4]) for change, item in zip(changes, made, strict=True)], earlier
    )


def _change(
    kind: Kind,
    collection: str,
    record: Record,
    details: dict[str, Any],
    touched: frozenset[str] | None,
    shown: tuple[tuple[str, str], frozenset[str]] | None = None,
) -> Change:
    now = timefmt.now()
    ids = list(record.ids)
    return Change(record.group_id, kind, collection, record.hub_id, ids, now, details, touched=touched, shown=shown)


async def record_current(
    tx: Transaction,
    kind: Kind,
    collection: str,
    hub_id: str,
    also: Sequence[Record] = (),
    *,
    touched: frozenset[str] | None = None,
    shown: tuple[tuple[str, str], frozenset[str]] | None = None,
    **details: Any,
) -> Change:
    """Record a change of the record as the transaction now holds it (ids included)."""
    current = (await tx.get(collection, [hub_id]))[hub_id]
    return await record(tx, kind, collection, current, also, touched=touched, shown=shown, **details)


@dataclass
class Page:
    group: Group
    changes: list[Change]
    cursor: str
    """Where the next page starts: after the last change here, or where this one started."""
    more: bool


async def page(store: Store, group_id: str, since: str | None, limit: int) -> Page:
    """Up to `limit` changes after `since` (from the oldest kept when None); 410 if `since` was pruned."""
    group = await reading.group_or_404(store, group_id)
    after = position(group_id, since) if since is not None else 0
    horizon, found = await store.changes(group_id, after, limit + 1)
    if since is not None and after < horizon:
        raise Gone(
            "since: the changes after this cursor are older than the feed keeps; read the records afresh"
            " and start again without `since`",
            horizon=cursor(group_id, horizon),
        )
    if since is not None and not found and after > horizon and not await _handed_out(store, group_id, after):
        raise BadRequest(f"since: {since[:40]!r} is not a cursor this hub handed out (it is past the last change)")
    shown = list(found[:limit])
    last = shown[-1].seq if shown else max(after, horizon)
    return Page(group, shown, cursor(group_id, last), more=len(found) > limit)


async def _handed_out(store: Store, group_id: str, after: int) -> bool:
    """Whether a position past the horizon that no change follows is one a page ended at: that of a change still
    kept, or pruned since. Any other (a made-up one, past the last change) would be read from, and would show
    nothing of the changes up to it as they came."""
    horizon, found = await store.changes(group_id, after - 1, 1)
    return after <= horizon or (bool(found) and found[0].seq == after)


async def prune(store: Store, settings: Settings, now: str | None = None) -> int:
    """Drop the changes older than the retention setting; how many went."""
    before = timefmt.shift(now or timefmt.now(), -settings.changes_retention_seconds)
    return await store.prune_changes(before)


async def prune_forever(store: Store, settings: Settings) -> None:
    """The background task of the app's lifespan: prune every `prune_interval_seconds`, until cancelled."""
    while True:
        try:
            await prune(store, settings)
        except Exception:
            log.exception("pruning the change feed failed; trying again later")
        await asyncio.sleep(settings.prune_interval_seconds)
