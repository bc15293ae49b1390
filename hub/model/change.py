"""An entry of the change feed, and the opaque cursor a reader resumes from."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any, Literal

from hub.errors import BadRequest
from hub.model.ids import ExternalId
from hub.model.numbers import whole
from hub.model.record import Record

Kind = Literal["create", "update", "archive", "merge", "unmerge", "link", "unlink"]


def archives(status: str | None, was: str) -> bool:
    """Whether a write giving a record of status `was` this `status` archives it: recorded as an `archive`, as a
    DELETE is, whatever the write (upsert, merge, connect), so a feed reader mirroring archives sees each."""
    return status == "ARCHIVED" != was


@dataclass
class Change:
    """One write to one record, as committed. `seq` is 0 until the store assigns it."""

    group_id: str
    kind: Kind
    collection: str
    hub_id: str
    ids: list[ExternalId]
    at: str
    details: dict[str, Any] = field(default_factory=dict)
    seq: int = 0
    touched: frozenset[str] | None = field(default=None, compare=False)
    """Of an update, what it gave new values as an app receives the record (`written`); None where not known. Not
    kept in the feed: it only spares an app's queue an update of fields that do not sync to it (`enqueuing`)."""
    shown: tuple[tuple[str, str], frozenset[str]] | None = field(default=None, compare=False)
    """Of a connect, its app and the fields it starts or stops sending that app: touched for that app alone."""

    def touched_for(self, app: tuple[str, str]) -> frozenset[str] | None:
        """What the update touched as `app` receives the record (`touched`, and what it now shows the app)."""
        if self.touched is None or self.shown is None or self.shown[0] != app:
            return self.touched
        return self.touched | self.shown[1]


def written(record: Record, values: dict[str, Any], status: str | None, linked: bool) -> frozenset[str]:
    """What a write of `values` and `status` to `record` changes, as an app receives it: the fields it gives another
    value (a null: none), `status`, `id` where it links ids (the id array an app is sent), and `archive` where it
    takes the record out of ARCHIVED: an app is sent every archive, whatever syncs to it (its kind says it), so it
    must learn the record is back, though its status does not sync to it."""
    fields = {name for name, value in values.items() if record.fields.get(name) != value}
    moved = bool(status) and status != record.status
    unarchived = moved and record.status == "ARCHIVED"
    return frozenset(
        {*fields, *(["status"] if moved else []), *(["id"] if linked else []), *(["archive"] if unarchived else [])}
    )


_PREFIX = "c1"


def cursor(group_id: str, seq: int) -> str:
    """The position just after change `seq` of this group, as an opaque string."""
    raw = f"{_PREFIX}:{seq}:{group_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def position(group_id: str, text: str) -> int:
    """The sequence number a cursor stands after; 400 if it is malformed or another group's."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        prefix, seq, owner = raw.split(":", 2)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequest(f"since: {text[:40]!r} is not a cursor this hub handed out") from None
    number = whole(seq)
    if prefix != _PREFIX or number is None:
        raise BadRequest(f"since: {text[:40]!r} is not a cursor this hub handed out")
    if owner != group_id:  # the group's id ends the cursor: one cut short holds only the start of it
        raise BadRequest("since: this cursor is another group's, or cut short: resume from one this feed handed out")
    return number
