"""How several records of the same real-world thing become one: pure rules, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.model.ids import ExternalId, ensure_holdable, unique
from hub.model.record import Record

MAX_MERGED = 100
"""The most records one merge request names to merge in (each kept whole in the merge's history)."""


def survivor_first(records: Sequence[Record]) -> list[Record]:
    """The records with the survivor (the oldest) first, the others newest first."""
    oldest = min(records, key=lambda r: (r.created_at, r.seq))
    others = sorted((r for r in records if r is not oldest), key=lambda r: (r.updated_at, r.seq), reverse=True)
    return [oldest, *others]


def _empty(value: Any) -> bool:
    """Nothing to keep: a nested object counts as empty when all it holds is (one stored with null members)."""
    if isinstance(value, dict):
        return all(_empty(member) for member in value.values())
    return value is None or value == "" or value == []


def merge_fields(ordered: Sequence[Record], requested: dict[str, Any]) -> dict[str, Any]:
    """Per field: the request's value, else the first non-empty in survivor-then-newest order."""
    merged: dict[str, Any] = {}
    for record in reversed(ordered):
        merged.update({k: v for k, v in record.fields.items() if not _empty(v)})
    merged.update(requested)
    return {k: v for k, v in merged.items() if v is not None}


def merged_ids(ordered: Sequence[Record], new: Sequence[ExternalId]) -> list[ExternalId]:
    """Every id the survivor holds after the merge; 409 if one record may not hold them all (`ensure_holdable`)."""
    ids = unique([*(ext for record in ordered for ext in record.ids), *new])
    ensure_holdable(ids, records=[r.hub_id for r in ordered])
    return ids
