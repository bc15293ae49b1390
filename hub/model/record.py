"""A record as the hub holds it, and the parsed form of what a client writes."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hub.errors import HubError, Invalid
from hub.model.access import refused_claim
from hub.model.ids import ExternalId

GROUP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
r"""Matched with `fullmatch`: `$` alone also matches before a final newline (`cld-1\n` was a group of its own), and
`\Z` is no end in ECMA-262, the regular expressions of the API description's JSON Schema."""
GROUP_ID_SHAPE = "1 to 64 letters, digits, '.', '_' and '-', the first a letter or digit"
"""What a group id looks like (`GROUP_ID`), as refusals say."""


def checked_group_id(group_id: str, refused: type[HubError] = Invalid) -> str:
    """`group_id`, or `refused` (a 422 for a body or a command's argument; a path's is a 400) saying the shape of one
    if it has another (`GROUP_ID`): no group can have it, so none is looked for."""
    if not GROUP_ID.fullmatch(group_id):
        raise refused(f"malformed group id {group_id!r}: {GROUP_ID_SHAPE}")
    return group_id


@dataclass
class Record:
    """One person or organization. `ids` are the apps' ids; the hub id is `hub_id`.

    A tombstone (`merged_into` set) is a record merged away: its hub id resolves to
    the survivor. A placeholder holds only ids, created by a reference to a record
    the hub did not know yet.
    """

    hub_id: str
    group_id: str
    collection: str
    seq: int
    status: str
    created_at: str
    updated_at: str
    fields: dict[str, Any] = field(default_factory=dict)
    ids: list[ExternalId] = field(default_factory=list)
    merged_into: str | None = None
    placeholder: bool = False


@dataclass(frozen=True)
class Group:
    """A tenant's data space; `channel_id` is the realm of the hub's own ids in it."""

    group_id: str
    channel_id: str
    new: bool = field(default=False, compare=False)
    """Not stored yet: the first write to it stores it in its own transaction, so a refused one stores none."""

    def own_id(self, hub_provider: str, hub_id: str) -> ExternalId:
        """The hub's own id of a record of the group, the last entry of its id array as shown."""
        return ExternalId(hub_provider, self.channel_id, hub_id)


ID = "id"
"""Where a write's own id array sits in its body (`Write.foreign`)."""


@dataclass
class Write:
    """What one upsert asks for, validated but not yet resolved against the store."""

    ids: list[ExternalId]
    hub_ids: list[str]
    fields: dict[str, Any]
    references: dict[str, str | list[ExternalId]]
    """Reference fields as given: a hub id, or an id array; None clears (kept in `fields`)."""
    writer: tuple[str, str] | None = None
    """The app (provider, realm) the write is from, whatever ids name its record: the key's app, or the app whose id
    an admin's archive or merge addresses the record by (`api.context.writer`)."""

    foreign: dict[str, list[ExternalId]] = field(default_factory=dict)
    """Ids of other apps its app may not claim, by where the body names them (`id`, or a reference field): matched by
    none, and passed over where the record the write's other ids match holds them already (a record written back as it
    was sent, other apps' ids and all); refused (403) where it does not (`ensure_held`)."""

    def set_apart(self, claimable: Callable[[ExternalId], bool]) -> None:
        """Move the ids its app may not claim out of `ids` and the references' id arrays, into `foreign`."""
        given = {ID: self.ids} | {k: v for k, v in self.references.items() if isinstance(v, list)}
        for where, ids in given.items():
            kept = [e for e in ids if claimable(e)]
            if len(kept) < len(ids):
                self.foreign[where] = [e for e in ids if not claimable(e)]
                if where == ID:
                    self.ids = kept
                else:
                    self.references[where] = kept

    def ensure_held(self, where: str, matched: Iterable[Record]) -> None:
        """403 naming the first other app's id at `where` that the record the write matched there holding the first of
        them does not hold. A record written back as it was sent holds them all; ids split among the records the write
        matched (an undo gave them back to two, a key link moved since) tell of a stale copy, and writing it merged the
        records again, other apps' ids and all."""
        foreign = self.foreign.get(where)
        if not foreign:
            return
        held = next((set(record.ids) for record in matched if foreign[0] in record.ids), set())
        for ext in foreign:
            if ext not in held:  # only an app's key sets ids apart, and its write is from its app
                why = f" (in {where}): another app's id is written only where its record holds it already"
                raise refused_claim(self.writer or ("", ""), ext, why)

    def claimed(self) -> list[ExternalId]:
        """Every id this write matches by or adds, its references' included."""
        refs = [ext for value in self.references.values() if isinstance(value, list) for ext in value]
        return [*self.ids, *refs]
