"""External ids and id arrays: the `{realm, provider, id}` triples every record carries."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from hub.errors import Conflict

NUL = "\x00"
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
"""Unicode's control characters (C0, DEL and C1): refused in names a line or a table shows, escaped where quoted."""
SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
"""Whitespace as the hub judges it (`str.isspace`, what `strip` takes away), spelled out for a regex class: `\\s` is
another set in another engine (ECMA's, which JSON Schema names, adds U+FEFF and leaves out U+001C-U+001F and
U+0085), so a pattern with it described ids the hub refuses as blank as valid."""
ID_PART_PATTERN = rf"^[^\x00]*[^{SPACE}\x00][^\x00]*$"
"""The pattern describing an id part: not blank, no U+0000."""


def without_nul(text: str) -> str:
    """Refuse U+0000 in an id or a text: SQLite's JSON functions, through which the ids of a batch are looked up
    and written and a filter reads a field, end a string there, so `a<NUL>b` would be taken for `a`."""
    if NUL in text:
        raise ValueError("must not contain the character U+0000")
    return text


class _WithoutNul:
    """`without_nul` as a text's validator, described in its schema as a pattern beside its other bounds, so that a
    client checking a body against /openapi.json finds what the hub would refuse."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(without_nul, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {**handler(schema), "pattern": r"^[^\x00]*$"}


WithoutNul = _WithoutNul()
"""Put in a text's `Annotated` to refuse U+0000 in it, and to say so."""


def _not_blank(text: str) -> str:
    """Refuse an id part of spaces alone. Any other is kept as given, spaces and all: an app's id is its own, and
    one trimmed as it was written (`" x"` kept as `x`) was not found by the id the app then asked for."""
    if not text.strip():
        raise ValueError("must not be blank")
    return text


IdPart = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255),
    AfterValidator(without_nul),
    AfterValidator(_not_blank),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 255, "pattern": ID_PART_PATTERN}),
]
"""An id part: 1-255 characters, not blank, no U+0000 (described so, for clients checking against the schema)."""


class ExternalIdIn(BaseModel):
    """An id entry as a client sends it: all three parts non-empty strings."""

    model_config = ConfigDict(extra="forbid", strict=True)

    realm: IdPart
    provider: IdPart
    id: IdPart

    def key(self) -> ExternalId:
        return ExternalId(self.provider, self.realm, self.id)


class ExternalId(NamedTuple):
    """One app's id for a record; hashable, ordered by app then id."""

    provider: str
    realm: str
    id: str

    @property
    def app(self) -> tuple[str, str]:
        """The app holding this id: a record holds at most one id per app."""
        return (self.provider, self.realm)

    def as_json(self) -> dict[str, str]:
        return {"realm": self.realm, "provider": self.provider, "id": self.id}


def unique(ids: Iterable[ExternalId]) -> list[ExternalId]:
    """The ids without repeats, first occurrence kept."""
    return list(dict.fromkeys(ids))


def app_clashes(ids: Iterable[ExternalId]) -> dict[tuple[str, str], list[ExternalId]]:
    """The apps that would hold more than one distinct id in `ids`."""
    by_app: dict[tuple[str, str], list[ExternalId]] = {}
    for ext in unique(ids):
        by_app.setdefault(ext.app, []).append(ext)
    return {app: held for app, held in by_app.items() if len(held) > 1}


MAX_RECORD_IDS = 1000
"""The most app ids one record may hold, however it came to them (writes, merges, links). It bounds the record: its
fields are bounded by their model, and on MongoDB each id costs its document at most 8.6 KB (README, Limits),
so a record stays well under the 16 MB a document may hold; without it, merges grew a record past that, stored on
SQLite and a 500 on MongoDB."""


def ensure_holdable(ids: Sequence[ExternalId], records: Iterable[str] = (), field: str | None = None) -> None:
    """Refuse (409) an id set one record may not hold: two ids of the same app, or more than MAX_RECORD_IDS ids;
    `field` names the reference whose record it is, where that is not the record written (a person's 409 over its
    organization's ids read as its own).
    """
    where = f"{field}: " if field else ""
    clashes = app_clashes(ids)
    if clashes:
        apps = ", ".join(f"{p}/{r}: {', '.join(e.id for e in held)}" for (p, r), held in clashes.items())
        raise Conflict(
            f"{where}one record would hold two ids of the same app ({apps})",
            records=sorted(set(records)),
            clashes=[{"provider": p, "realm": r, "ids": [e.id for e in held]} for (p, r), held in clashes.items()],
        )
    held = len(unique(ids))
    if held > MAX_RECORD_IDS:
        raise Conflict(
            f"{where}one record would hold {held} ids, more than the {MAX_RECORD_IDS} a record may hold",
            records=sorted(set(records)),
            limit=MAX_RECORD_IDS,
        )
