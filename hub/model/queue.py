"""An item of an outbound integration's queue, and how it moves: leased, acked, failed, dead, retried.

States: `ready` (waiting, handed out once `available_at` has come), `leased` (handed
out under `lease_id` until `lease_until`), `dead` (failed `max_attempts` times).
An acked item leaves the queue, unless its integration is continuous.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hub.model import timefmt
from hub.model.change import Change
from hub.model.integration import Definition
from hub.model.record import Record

State = Literal["ready", "leased", "dead"]


@dataclass
class QueueItem:
    group_id: str
    integration: str
    change_seq: int
    kind: str
    collection: str
    hub_id: str
    changed_at: str
    state: State = "ready"
    attempts: int = 0
    """Failed deliveries so far (an expired lease counts as one)."""
    available_at: str = ""
    lease_id: str | None = None
    lease_until: str | None = None
    last_error: str | None = None
    item: int = 0
    """Assigned by the store when the item is enqueued."""
    details: dict[str, Any] = field(default_factory=dict)
    """The change's, as the feed shows them (a merge's `merged`…): kept with the item, which may outlive the change
    in the feed, since an app keeping records by hub id learns from them which records a merge took away."""
    resend: bool = False
    """A continuous integration's item delivered already and due again: it sends the record, only while the record
    matches the filter (an update taking it out is not enqueued, and came a period after the ack)."""


def wanted(definition: Definition, change: Change, record: Record, also: Sequence[Record] = ()) -> bool:
    """Whether an outbound integration takes this kind of change of `record`, as the change left it (its filter is
    checked apart); `also` are the records as they were before it (a merge's or its undo's, an update's).

    Creates always; every other kind (update, merge, archive, link…) only with
    `include_update`. Nothing of a placeholder is sent, its creation nor an id linked to it: it holds nothing but
    ids, and an app writing back what it was sent filled it in, a create of an empty record sent on as if the app
    had made it; its filling-in arrives as a create. Nor is a merge of placeholders alone, the one that fills them
    in too: the create following it is the first the app hears of the record, naming them (`merged`). But for the
    undo that makes a record apps were sent a placeholder again (`placeholder_again`).
    """
    if record.placeholder and not placeholder_again(change, record, also):
        return False
    if change.kind == "merge" and all(r.placeholder for r in also):
        return False
    return change.kind == "create" or definition.include_update


def placeholder_again(change: Change, record: Record, also: Sequence[Record]) -> bool:
    """Whether the change is the undo of a merge that made the placeholder `record` part of a real record: filled in
    as the survivor, or taken away into a survivor real then (`also`, as the undo found it). Apps were sent that
    record holding its ids, and its `unmerge`, showing it a placeholder, is all that tells them to drop their copy
    (they kept it beside the restored record, two copies of one)."""
    return change.kind == "unmerge" and record.placeholder and any(not r.placeholder for r in also)


def enqueued(change: Change, integration: str) -> QueueItem:
    return QueueItem(
        change.group_id,
        integration,
        change.seq,
        change.kind,
        change.collection,
        change.hub_id,
        change.at,
        available_at=change.at,
        details=change.details,
    )


def backoff(attempts: int, base: float, cap: float, least: float = 0.0) -> float:
    """Seconds to wait before the next try after `attempts` failures: base, 2·base, 4·base…, or `least` (the wait the
    app asked for) when longer; up to cap either way, so that no app parks an item for ever."""
    return float(min(cap, max(least, base * 2 ** max(attempts - 1, 0))))


def lease(item: QueueItem, lease_id: str, until: str) -> None:
    item.state, item.lease_id, item.lease_until = "leased", lease_id, until


def fail(item: QueueItem, now: str, error: str, max_attempts: int, base: float, cap: float, least: float = 0.0) -> None:
    """One more failed try: back to the queue after the backoff (`least` at least, up to cap), or dead after
    `max_attempts`."""
    item.attempts += 1
    item.last_error = error[:1000]
    item.lease_id = item.lease_until = None
    if item.attempts >= max_attempts:
        item.state = "dead"
    else:
        item.state = "ready"
        item.available_at = timefmt.shift(now, backoff(item.attempts, base, cap, least))


def release(item: QueueItem) -> None:
    """Back to the queue as it was, no try counted: it was leased but never sent."""
    item.state, item.lease_id, item.lease_until = "ready", None, None


def rearm(item: QueueItem, now: str, schedule: int) -> None:
    """A continuous integration's delivered item: due again `schedule` seconds from now, with a clean slate.

    Its details go: they were delivered with the change, and each period sends the record, not the change again.
    Kept, a merge's `merged` told the app every period to drop the records it took away, even once an undo had
    restored them."""
    item.state, item.attempts, item.last_error, item.details, item.resend = "ready", 0, None, {}, True
    item.lease_id = item.lease_until = None
    item.available_at = timefmt.shift(now, schedule)


def revive(item: QueueItem, now: str) -> None:
    """A dead item retried by hand: due now, its attempts counted from zero."""
    item.state, item.attempts = "ready", 0
    item.available_at = now
