"""The per-field sync directions an app was connected with (see connect.py), honoured both ways.

- Into the hub: an inbound write from the app leaves alone the fields it does not sync
  into the hub (`inbound`, called by the upsert, the archive and an explicit merge).
- Out to the app: its queue and webhooks leave out the fields that do not sync to it
  (`outbound.delivery` asks `hidden`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from hub.model.connect import Directions, blocked_into_hub, hidden_from_app
from hub.model.ids import ExternalId
from hub.model.record import Record, Write
from hub.store.base import Store, Transaction


async def inbound(
    tx: Transaction, collection: str, matched: list[Record], ids: list[ExternalId], write: Write
) -> Write:
    """`write` without the fields a writing app does not sync into the hub.

    The writing apps are those whose ids the write carries (the body's id array, and
    the app a `PUT …?opts[provider]=…&opts[realm]=…` is addressed by), and the app whose
    key made it (`write.writer`), however it names the record. For each, the
    directions are those it was connected with on the records the write names; when
    several apps write at once, a field any of them does not sync into the hub is left
    alone.
    """
    return (await inbound_each(tx, collection, [(matched, ids, write)]))[0]


async def inbound_each(
    tx: Transaction, collection: str, writes: Sequence[tuple[list[Record], list[ExternalId], Write]]
) -> list[Write]:
    """`inbound` of each (matched records, ids, write), with one lookup of directions for all."""
    helds = [_held(matched, ids, write.writer) for matched, ids, write in writes]
    wanted = [e for held in helds for e in held]
    found = await tx.field_sync(collection, wanted) if wanted else {}
    return [
        _unblocked(write, [found[e] for e in held if e in found])
        for held, (_, _, write) in zip(helds, writes, strict=True)
    ]


def _held(matched: list[Record], ids: list[ExternalId], writer: tuple[str, str] | None) -> list[ExternalId]:
    """The ids the writing apps (those of `ids`, and the `writer`) hold on the matched records."""
    apps = {e.app for e in ids} | ({writer} if writer else set())
    return [e for record in matched for e in record.ids if e.app in apps]


def _unblocked(write: Write, found: list[dict[str, Directions]]) -> Write:
    blocked = blocked_into_hub(found)
    if not blocked:
        return write
    return replace(
        write,
        fields={k: v for k, v in write.fields.items() if k not in blocked},
        references={k: v for k, v in write.references.items() if k not in blocked},
    )


async def hidden(
    store: Store, collection: str, records: list[Record], app: tuple[str, str]
) -> dict[str, frozenset[str]]:
    """Per hub id, the fields of these records that do not sync out to `app` (records without any left out)."""
    held = {e: r.hub_id for r in records for e in r.ids if e.app == app}
    if not held:
        return {}
    found = await store.field_sync(records[0].group_id, collection, list(held))
    return {held[ext]: hidden_from_app(directions) for ext, directions in found.items()}
