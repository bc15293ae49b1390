"""Records as clients see them: hub id strings or id arrays (CONNEC-EXTERNAL-IDS), and `$select`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.api.json import header_said
from hub.errors import BadRequest
from hub.model import timefmt
from hub.model.collections import Collection
from hub.model.history import MergeEntry
from hub.model.query import Selected
from hub.model.record import Group, Record
from hub.service.reading import View

HEADER = "connec-external-ids"


def wants_ids(headers: Any) -> bool:
    """Whether the CONNEC-EXTERNAL-IDS header asks for id arrays; 400 for a value other than true or false."""
    given = str(headers.get(HEADER, "false")).strip()
    value = given.lower()
    if value not in ("true", "false"):
        raise BadRequest(f"the {HEADER.upper()} header is true or false, not {header_said(given, 20)}")
    return value == "true"


class Renderer:
    """Renders records of one group's collection as one request asked for them.

    Each record is shown with the live records its references point to (`refs`, keyed by
    collection and hub id), as the read or write that fetched it found them.
    """

    def __init__(self, group: Group, collection: Collection, hub_provider: str, ids: bool, select: Selected | None):
        self.group = group
        self.collection = collection
        self.hub_provider = hub_provider
        self.ids = ids
        self.select = select

    def id_of(self, record: Record) -> str | list[dict[str, str]]:
        if not self.ids:
            return record.hub_id
        return [e.as_json() for e in (*record.ids, self.group.own_id(self.hub_provider, record.hub_id))]

    def record(self, record: Record, refs: Mapping[tuple[str, str], Record]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id_of(record),
            "code": self.collection.code(record.seq),
            "status": record.status,
        }
        for name in sorted(record.fields, key=self.collection.position):
            value = record.fields[name]
            target = self.collection.references.get(name)
            if target is not None:
                live = refs.get((target, value))
                out[name] = self.id_of(live) if live is not None else value
            else:
                out[name] = value
        for path in self.collection.dates:
            _display(out, path)
        out["created_at"] = timefmt.display(record.created_at)
        out["updated_at"] = timefmt.display(record.updated_at)
        out["group_id"] = record.group_id
        out["channel_id"] = self.group.channel_id
        out["resource_type"] = record.collection
        if record.placeholder:  # an app pulling what it lacks passes it over: there is nothing in it to import
            out["placeholder"] = True
        if self.select is not None:
            out = _picked(out, self.select | _KEPT)
        return out

    def all(self, view: View) -> list[dict[str, Any]]:
        return [self.record(r, view.refs) for r in view.records]


_KEPT: Selected = frozenset({("id",), ("placeholder",)})
"""What a record shows whatever `$select` says: its id, and whether it is a placeholder."""


def _picked(shown: dict[str, Any], paths: Selected) -> dict[str, Any]:
    """The parts of a record as shown (or of an object field of it) that `paths` name, in its order: a path of one
    name takes that part whole, a longer one the parts it names of an object (none: the object is left out)."""
    picked: dict[str, Any] = {}
    for key, value in shown.items():
        inner = frozenset(path[1:] for path in paths if len(path) > 1 and path[0] == key)
        if (key,) in paths:
            picked[key] = value
        elif inner and isinstance(value, dict) and (part := _picked(value, inner)):
            picked[key] = part
    return picked


def merge_entry(collection: Collection, entry: MergeEntry) -> dict[str, Any]:
    """A merge's history entry with its times and dates as the records show them: it keeps them in the stored form,
    where a birth date a record shows as `1985-01-29T00:00:00Z` read `1985-01-29T00:00:00.000000Z`."""
    out = entry.as_json()
    out["at"] = timefmt.display(entry.at)
    if entry.undone is not None:
        out["undone"]["at"] = timefmt.display(entry.undone.at)
    out["requested"] = _dated(collection, out["requested"])
    for snapshot in (*out["before"], out["after"]):
        snapshot["created_at"] = timefmt.display(snapshot["created_at"])
        snapshot["updated_at"] = timefmt.display(snapshot["updated_at"])
        snapshot["fields"] = _dated(collection, snapshot["fields"])
    return out


def _dated(collection: Collection, fields: dict[str, Any]) -> dict[str, Any]:
    """A copy of stored fields with their dates shown as clients know them."""
    out = dict(fields)
    for path in collection.dates:
        _display(out, path)
    return out


def _display(out: dict[str, Any], path: tuple[str, ...]) -> None:
    """Show a stored datetime as clients know it, copying nested parts rather than touching the record."""
    head, *rest = path
    value = out.get(head)
    if not rest:
        if isinstance(value, str):
            out[head] = timefmt.display(value)
    elif isinstance(value, dict):
        out[head] = dict(value)
        _display(out[head], tuple(rest))
