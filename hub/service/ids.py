"""Splitting an id array into the apps' ids and the hub's own, and finding the records they name."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Sequence

from hub.errors import Invalid, quoted
from hub.model.ids import ExternalId
from hub.model.record import Group, Record
from hub.store.base import Transaction

_made = (0, 0)
"""The millisecond of the last id made, and its count in that millisecond."""
_making = threading.Lock()


def time_ordered_uuid() -> str:
    """A UUID version 7 (RFC 9562): the millisecond it was made, a 12-bit count within it, then 62 random bits.

    Records are keyed by hub id, in the records table and in the id links: ids made one
    after another land side by side in those indexes, so a batch of creates changes a
    few pages at their end rather than a random page of each per record (random v4 ids
    made batches into a 1M-record store 4-26 % slower). The count (RFC 9562's method 1:
    from a random start below 2,048 each millisecond, and on into the next one should it
    pass 4,095) keeps the ids one process makes in the order it made them, as the hub id
    promises, where random bits had ordered those of one millisecond at random. The time
    it shows is no secret: a record shows its created_at.
    """
    global _made
    random = int.from_bytes(os.urandom(10), "big")
    with _making:  # the writer thread and the event loop both make ids
        millis, count = time.time_ns() // 1_000_000, random >> 69  # 11 random bits
        if millis <= _made[0]:  # the same millisecond, or a clock set back: count on from the last id
            millis, count = _made[0] + (_made[1] == 0xFFF), (_made[1] + 1) & 0xFFF
        _made = (millis, count)
    rand_b = random & ((1 << 62) - 1)
    version, variant = 0x7, 0b10
    made = f"{millis << 80 | version << 76 | count << 64 | variant << 62 | rand_b:032x}"
    # as str(uuid.UUID(int=…)) writes it, which took 3.2 µs of the writer's time a new record, this 0.4
    return f"{made[:8]}-{made[8:12]}-{made[12:16]}-{made[16:20]}-{made[20:]}"


def new_hub_id() -> str:
    return time_ordered_uuid()


def new_merge_id() -> str:
    return time_ordered_uuid()


def new_channel_id() -> str:
    return f"org-{uuid.uuid4().hex[:8]}"


def split(
    ids: Sequence[ExternalId], group: Group, hub_provider: str, field: str = "id"
) -> tuple[list[ExternalId], list[str]]:
    """The apps' ids and the hub ids in an id array; a hub-provider id must be in the group's channel."""
    apps: list[ExternalId] = []
    hub_ids: list[str] = []
    for ext in ids:
        if ext.provider != hub_provider:
            apps.append(ext)
        elif ext.realm == group.channel_id and not group.new:
            hub_ids.append(ext.id)
        else:
            own = f"provider {hub_provider!r} is the hub's own"
            detail = (  # a new group's channel is only a candidate until its first write stores it
                f"{field}: {own}, and group {group.group_id} holds no record yet for such an id to name"
                if group.new
                else f"{field}: {own}; its realm must be the channel {group.channel_id!r}, not {ext.realm!r}"
            )
            raise Invalid(detail, errors=[{"field": field, "message": "hub id in another channel"}])
    return apps, hub_ids


async def holders(
    tx: Transaction, collection: str, ids: Sequence[ExternalId], hub_ids: Sequence[str], field: str = "id"
) -> list[Record]:
    """The distinct live records named by hub ids or holding any of the ids; unknown hub ids are a 422."""
    found = await tx.get(collection, hub_ids) if hub_ids else {}
    missing = [h for h in hub_ids if h not in found]
    if missing:
        said = [f"no {collection} record with hub id {quoted(h)}" for h in missing]  # as a path naming it says
        raise Invalid(f"{field}: {'; '.join(said)}", errors=[{"field": field, "message": s} for s in said])
    records = {r.hub_id: r for r in found.values()}
    for record in await tx.match(collection, ids) if ids else []:
        records.setdefault(record.hub_id, record)
    return list(records.values())
