"""The record of a merge (who, when, why, every record before it) and how undoing one works out."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import bson

from hub.errors import BadRequest, Conflict
from hub.model.ids import ExternalId
from hub.model.paging import made_token, skiptoken, whole_param
from hub.model.query import APP_PARAMS
from hub.model.record import Record

ANONYMOUS = "anonymous"
"""The actor of a change when the caller is not known."""
MAX_ENTRY_BYTES = 14 * 1024 * 1024
"""The most a merge's history entry may take as a MongoDB document (BSON), which holds 16 MiB: the rest is
room for the members it is stored with (at most 50 KB) and its undo's mark. The entry keeps every record of the merge
whole, so a merge of many large records passed 16 MiB (a 500 on MongoDB, stored on SQLite). Any two records fit: two
at their bounds (1000 ids of 255 four-byte characters a part, every text at its length) take 12.9 MiB."""


@dataclass
class Snapshot:
    """A record as it was just before (or just after) a merge, enough to restore it."""

    hub_id: str
    seq: int
    status: str
    created_at: str
    updated_at: str
    fields: dict[str, Any]
    ids: list[ExternalId]
    placeholder: bool = False
    aliases: list[str] = field(default_factory=list)
    """Hub ids of the records merged into this one before, which pointed to it."""

    @classmethod
    def of(cls, record: Record, aliases: Sequence[str] = ()) -> Snapshot:
        return cls(
            record.hub_id,
            record.seq,
            record.status,
            record.created_at,
            record.updated_at,
            dict(record.fields),
            list(record.ids),
            record.placeholder,
            list(aliases),
        )

    def restored(self, group_id: str, collection: str, now: str) -> Record:
        """The record this snapshot shows, live again as of `now`."""
        return Record(
            self.hub_id,
            group_id,
            collection,
            self.seq,
            self.status,
            self.created_at,
            now,
            dict(self.fields),
            list(self.ids),
            None,
            self.placeholder,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.hub_id,
            "seq": self.seq,
            "status": self.status,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "fields": self.fields,
            "ids": [e.as_json() for e in self.ids],
            "placeholder": self.placeholder,
            "aliases": self.aliases,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Snapshot:
        return cls(
            data["id"],
            data["seq"],
            data["status"],
            data["created_at"],
            data["updated_at"],
            data["fields"],
            [ExternalId(e["provider"], e["realm"], e["id"]) for e in data["ids"]],
            data["placeholder"],
            data["aliases"],
        )


@dataclass
class Match:
    """Why a record was in a merge: the ids (hub ids as id entries too) that named it."""

    hub_id: str
    by: list[ExternalId]

    def as_json(self) -> dict[str, Any]:
        return {"record": self.hub_id, "by": [e.as_json() for e in self.by]}


@dataclass
class Undo:
    at: str
    actor: str


@dataclass
class MergeEntry:
    """One merge as the hub records it: who, when, why, and every record as it was before.

    `before` holds the survivor first, then the merged-away records; `after` is the
    survivor as the merge left it, which tells an undo what changed since.
    """

    merge_id: str
    group_id: str
    collection: str
    at: str
    actor: str
    trigger: str
    """`upsert` (several records matched one write), `request` (an explicit merge), `connect` (a connect to an id
    placeholders hold) or `key_link` (a key link made to such an id, or moved off a placeholder)."""
    matched: list[Match]
    requested: dict[str, Any]
    before: list[Snapshot]
    after: Snapshot
    undone: Undo | None = None

    @property
    def survivor(self) -> str:
        return self.before[0].hub_id

    @property
    def merged(self) -> list[str]:
        return [s.hub_id for s in self.before[1:]]

    @property
    def members(self) -> list[str]:
        return [s.hub_id for s in self.before]

    def moves(self) -> list[tuple[ExternalId, str, str]]:
        """(id, from, to): each app id the merge moved to the survivor."""
        return [(ext, s.hub_id, self.survivor) for s in self.before[1:] for ext in s.ids]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.merge_id,
            "group_id": self.group_id,
            "collection": self.collection,
            "at": self.at,
            "actor": self.actor,
            "trigger": self.trigger,
            "survivor": self.survivor,
            "merged": self.merged,
            "matched": [m.as_json() for m in self.matched],
            "requested": self.requested,
            "moves": [{"id": ext.as_json(), "from": src, "to": dst} for ext, src, dst in self.moves()],
            "before": [s.as_json() for s in self.before],
            "after": self.after.as_json(),
            "undone": None if self.undone is None else {"at": self.undone.at, "actor": self.undone.actor},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MergeEntry:
        undone = data.get("undone")
        return cls(
            data["id"],
            data["group_id"],
            data["collection"],
            data["at"],
            data["actor"],
            data["trigger"],
            [
                Match(m["record"], [ExternalId(e["provider"], e["realm"], e["id"]) for e in m["by"]])
                for m in data["matched"]
            ],
            data["requested"],
            [Snapshot.from_json(s) for s in data["before"]],
            Snapshot.from_json(data["after"]),
            None if undone is None else Undo(undone["at"], undone["actor"]),
        )


HISTORY_TOP, MAX_HISTORY_TOP = 10, 20
"""The entries of a page of merge history, by default and at most: an entry holds every record of its merge as it
was, up to MAX_ENTRY_BYTES, so a page of the lists' hundred could answer over a gigabyte; twenty stay under 300 MB."""
HISTORY_PARAMS = APP_PARAMS | {"$top", "$skiptoken"}
HISTORY_TOKEN = re.compile(r"([A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{1,64})\.([0-9]{1,18})")
"""The hub id of the record whose history was walked and a merge id (both made by the hub, UUIDs), and how many
entries came before the page."""


@dataclass(frozen=True)
class HistoryPage:
    """A page of a record's merge history, newest first."""

    top: int = HISTORY_TOP
    after: str | None = None
    """The merge the page starts after (a `$skiptoken`): its place is found from an index, and a merge is never
    deleted, so merges and undos since the page before neither shift the walk nor end it."""
    skip: int = 0
    """How many entries came before the page when its token was made."""
    record: str | None = None
    """The walk, as the path named its record (`walk`): the merge `after` alone cannot tell a token of this walk from
    another record's, as a merge undone since may have taken it out of the history the walk goes on in."""

    def token(self, record: str, last: MergeEntry, shown: int) -> str:
        """The `$skiptoken` of the page after one of `record`'s history that showed `shown` entries, `last` the last
        of them."""
        return made_token(f"{record}.{last.merge_id}", self.skip + shown)


def walk(key: str, app: tuple[str, str] | None) -> str:
    """What a `$skiptoken` names the walk by: the hub id the path gives (a merged-away one stands for its survivor),
    or, for a path naming the record by an app's id, a digest of that id, which may hold any character and be too
    long for a token. Either goes on naming the walk's record wherever a merge or its undo takes it: an app's id
    taken to the survivor names it, and once the merge is undone, the record given back, as a merged-away hub id
    does; the survivor's hub id, kept, would name another record."""
    if app is None:
        return key
    digest = hashlib.blake2b("\0".join([*app, key]).encode(), digest_size=16).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def parse_history(params: Mapping[str, str]) -> HistoryPage:
    """`$top` and `$skiptoken` of a page of merge history (the parameters are checked with the path's,
    `HISTORY_PARAMS`: no `$skip`, which would read every entry it passes over)."""
    top = whole_param(params, "$top", HISTORY_TOP, 1, MAX_HISTORY_TOP)
    made = skiptoken(params, HISTORY_TOKEN, False, "$skip")
    if made is None:
        return HistoryPage(top)
    record, after = made[0].split(".")
    return HistoryPage(top, after, made[1], record)


def unknown_merge(merge_id: str) -> BadRequest:
    """The error of a `$skiptoken` naming no merge of the record's group and collection, or made in a walk of
    another record's history."""
    return BadRequest(
        f"$skiptoken: no merge {merge_id!r} in this record's history: pass the next link of a page as it is"
    )


def ensure_recordable(entry: MergeEntry) -> None:
    """Refuse (409) a merge whose entry would take more than MAX_ENTRY_BYTES: fewer records at once fit."""
    size = len(bson.encode(entry.as_json()))  # the measure on every store, so that each refuses alike
    if size > MAX_ENTRY_BYTES:
        raise Conflict(
            f"this merge's history, every record of it as it was, would take {size} bytes, more than the"
            f" {MAX_ENTRY_BYTES} ({MAX_ENTRY_BYTES // 2**20} MiB) a merge may record: merge fewer records at once",
            records=entry.members,
            limit=MAX_ENTRY_BYTES,
        )


def unmerged_survivor(entry: MergeEntry, current: Record) -> Record:
    """The survivor once the merge is undone: each field (and the status) the merge set and
    nothing changed since goes back to its value before; a later change is kept."""
    before, after = entry.before[0], entry.after
    fields = dict(current.fields)
    for name in set(before.fields) | set(after.fields):
        if fields.get(name) == after.fields.get(name):
            if name in before.fields:
                fields[name] = before.fields[name]
            else:
                fields.pop(name, None)
    untouched = current.fields == after.fields and current.status == after.status
    return Record(
        current.hub_id,
        current.group_id,
        current.collection,
        current.seq,
        before.status if current.status == after.status else current.status,
        current.created_at,
        current.updated_at,
        fields,
        list(current.ids),
        current.merged_into,
        before.placeholder if untouched else current.placeholder,
    )
