"""Key links: the id map seen as a collection of its own, one link per app id a record holds.

A key link is not stored apart from the records: it is one entry of a record's id
array, so the two views can never drift.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict, WithJsonSchema, field_validator

from hub.errors import BadRequest, quoted
from hub.model import timefmt
from hub.model.collections import COLLECTIONS
from hub.model.ids import NUL, SPACE, ExternalId, IdPart
from hub.model.keyset import MAX_POSITION
from hub.model.numbers import MAX_DIGITS, whole
from hub.model.paging import check_params, made_token, skiptoken, window
from hub.model.payload import raise_invalid, validated
from hub.model.query import MAX_PARAM

_SEP = "\x1f"
_LISTED = "\x1e"


def stable_id(name: str) -> int:
    """A positive 31-bit number derived from a name: the same in every store and on every run."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big") >> 1


StableId = Annotated[int, Strict(), Field(ge=0, lt=2**31)]
"""A number `stable_id` may give, as a body or query names a system or entity type by it: another names none, and
one past 64 bits, echoed in a refusal, could not be written as JSON. Strict: `true` was taken for 1, `"5"` and
`5.0` for 5."""


def by_stable_id(names: Iterable[str], number: int) -> str | None:
    return next((n for n in names if stable_id(n) == number), None)


def entity_type(name: str) -> str | None:
    """The collection an entity type name means, whatever its case."""
    return next((c for c in COLLECTIONS if c.lower() == name.strip().lower()), None)


_ANY_CASE = "|".join("".join(f"[{ch.lower()}{ch.upper()}]" for ch in name) for name in COLLECTIONS)
EntityTypeName = Annotated[
    IdPart, WithJsonSchema({"type": "string", "maxLength": 255, "pattern": rf"^[{SPACE}]*(?:{_ANY_CASE})[{SPACE}]*$"})
]
"""An entity type as a key link body names it, described as `entity_type` reads it: a collection's name in any case,
spaces around it passed over (any other text is a 422)."""
EntityTypeId = Annotated[
    StableId, WithJsonSchema({"type": "integer", "enum": [stable_id(name) for name in COLLECTIONS]})
]
"""An entity type as a key link body numbers it, described as the numbers `entity_types` gives (any other is a 422)."""


@dataclass(frozen=True)
class KeyLink:
    """App `ext.provider` (realm `ext.realm`) knows record `hub_id` as `ext.id`."""

    collection: str
    hub_id: str
    ext: ExternalId
    created_at: str
    position: str = field(default="", compare=False)
    """Where the link stands in the order of its search, in its store's words: what a `$skiptoken` carries to start
    the page after it (letters, digits, `-` and `_`)."""

    @property
    def link_id(self) -> str:
        return link_id(self.collection, self.ext)


def link_id(collection: str, ext: ExternalId) -> str:
    """A link's own id: its entity type and external id, encoded; it never changes, a move included.

    The parts are joined by `_SEP`, unless one holds it (an id part may hold any character but U+0000): joined, they
    split into more than four, and the link was listed by an id that GET, PUT and DELETE answered with 404. Such
    parts are a JSON array behind `_LISTED` instead, which no joined id begins with (they begin with a collection).
    """
    return _joined((collection, ext.provider, ext.realm, ext.id))


def parse_link_id(text: str) -> tuple[str, ExternalId] | None:
    """The entity type and external id a link id names, or None if it names nothing.

    Only the id as `link_id` writes it names its link: base64 decoding passes over stray characters and padding, and
    `…!!` or `…==` read, moved and deleted the link of `…`.
    """
    parts = _split(text)
    if parts is None or len(parts) != 4 or parts[0] not in COLLECTIONS or not all(parts):
        return None
    named = parts[0], ExternalId(parts[1], parts[2], parts[3])
    return named if link_id(*named) == text else None


def _listed(text: str) -> list[str] | None:
    """The parts of a link id written as a JSON array of strings, or None."""
    try:
        parts = json.loads(text)
    except ValueError:
        return None
    return parts if isinstance(parts, list) and all(isinstance(part, str) for part in parts) else None


def position_of(*parts: str | int) -> str:
    """A `KeyLink.position` made of several parts (a time, a number, a link's names), in a `$skiptoken`'s letters,
    written as a link id is (`_joined`): a link's names may hold the separator."""
    return _joined([str(part) for part in parts])


def position_parts(position: str, *counts: int) -> list[str]:
    """The parts of a position `position_of` made, as many as one of `counts`; a 400 for anything else."""
    parts = _split(position)
    if parts is None or len(parts) not in counts:
        raise foreign_position(position)
    return parts


def position_number(position: str, text: str) -> int:
    """A link's number in `position`, as the stores keep it (64 bits); a 400 if `text` is no such number."""
    number = whole(text)
    if number is None:
        raise foreign_position(position)
    return number


def _joined(parts: Sequence[str]) -> str:
    """The parts joined by `_SEP`, or, where one holds it, a JSON array behind `_LISTED` (`_split` reads either)."""
    if any(_SEP in part for part in parts):
        return _encoded(_LISTED + json.dumps(parts, separators=(",", ":")))
    return _encoded(_SEP.join(parts))


def _encoded(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decoded(text: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _split(text: str) -> list[str] | None:
    decoded = _decoded(text)
    if decoded is None:
        return None
    return _listed(decoded[1:]) if decoded.startswith(_LISTED) else decoded.split(_SEP)


@dataclass(frozen=True)
class LinkQuery:
    """A search of the key links of one group: every given part must match."""

    collection: str | None = None
    hub_id: str | None = None
    provider: str | None = None
    realm: str | None = None
    ext_id: str | None = None
    created_after: str | None = None
    created_before: str | None = None
    skip: int = 0
    """How many links of the search come before the page: its offset, unless `after` says where it starts."""
    top: int = 100
    after: str | None = None
    """The position (`KeyLink.position`) the page starts after, from a `$skiptoken`: found from an index rather
    than by passing `skip` links, which at 1M links took 100 ms half-way."""

    @property
    def offset(self) -> int:
        """How many matching links the store passes over before the page."""
        return self.skip if self.after is None else 0

    def token(self, last: KeyLink, shown: int) -> str | None:
        """The `$skiptoken` of the page after one that showed `shown` links, `last` the last of them; None if its
        position is too long for a link (`keyset.MAX_POSITION`: a MongoDB position holds the link's names)."""
        return None if len(last.position) > MAX_POSITION else made_token(last.position, self.skip + shown)

    @property
    def spanned(self) -> bool:
        """Whether the search names a span of time (`created_after`, `created_before`, or both)."""
        return self.created_after is not None or self.created_before is not None

    @property
    def kept(self) -> bool:
        """Whether a store's kept counts give the total: they count links per group, collection and app, not those
        of one external id, one record or a span of time."""
        return self.hub_id is None and self.ext_id is None and not self.spanned


def foreign_position(position: str) -> BadRequest:
    """The error of a `$skiptoken` whose position its store never gave (one made up, or another store's)."""
    return BadRequest(f"$skiptoken: {position!r} is no position of a link here: pass the next link of a page as it is")


@dataclass(frozen=True)
class LinkSearch:
    """The query string of a key link search, before the service resolves names and aliases."""

    query: LinkQuery
    internal_id: str | None
    system_id: int | None
    matches_nothing: bool = False
    """An entity type that names no collection: the answer is empty, not an error."""


SEARCH_PARAMS = frozenset(
    {
        "entity_type",
        "integration_entity_type_id",
        "internal_id",
        "provider",
        "integration_system_id",
        "realm",
        "external_id",
        "created_after",
        "created_before",
        "$top",
        "$skip",
        "$skiptoken",
    }
)
_MATCHED = frozenset({"entity_type", "internal_id", "provider", "realm", "external_id"})
"""The search parameters matched against an id part, each 1-255 characters."""
_BOUNDED = _MATCHED | {"created_after", "created_before"}
"""The text parameters of a search, each at most `MAX_PARAM` characters: an id part can be no longer, and a moment
needs far less (ISO 8601 took any number of decimals, and a search so long its next link passed the request head's
limit)."""
TOKEN = re.compile(rf"([A-Za-z0-9_-]{{1,{MAX_POSITION}}})\.([0-9]{{1,{MAX_DIGITS}}})")
"""A key link search's `$skiptoken`: the position of the link it starts after, and how many came before."""


def _number(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    number = whole(raw)
    if number is None:
        raise BadRequest(f"{name} must be a whole number of at most {MAX_DIGITS} digits, not {quoted(raw)}")
    return number


def _moment(params: Mapping[str, str], name: str) -> str | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        return timefmt.canonical(raw)
    except ValueError as error:  # says why: not ISO 8601, or beyond the years 1 to 9999 in UTC
        raise BadRequest(f"{name}: {error}") from None


def parse_search(params: Mapping[str, str], default_top: int, max_top: int) -> LinkSearch:
    """Check a key link search; unknown parameters are a 400."""
    check_params(params, SEARCH_PARAMS)
    for name in SEARCH_PARAMS - {"$top", "$skip"}:
        if name in params and not params[name].strip():
            raise BadRequest(f"{name} must not be empty")
    for name in sorted(_BOUNDED & set(params)):  # as described: such an id part could only ever match nothing
        if len(params[name]) > MAX_PARAM:
            raise BadRequest(f"{name} holds at most {MAX_PARAM} characters")
        if NUL in params[name]:  # refused as `opts[provider]`/`opts[realm]` are, where it answered an empty page
            raise BadRequest(f"{name} must not contain the character U+0000")
    collection = None
    nothing = False
    if "entity_type" in params:
        collection = entity_type(params["entity_type"])
        nothing = collection is None
    type_id = _number(params, "integration_entity_type_id")
    if type_id is not None:
        by_id = by_stable_id(COLLECTIONS, type_id)
        nothing = nothing or by_id is None or (collection is not None and by_id != collection)
        collection = by_id
    skip, top = window(params, default_top, max_top)
    after = None
    if made := skiptoken(params, TOKEN, "$skip" in params, "$skip"):
        after, skip = made
    query = LinkQuery(
        collection=collection,
        provider=params.get("provider"),
        realm=params.get("realm"),
        ext_id=params.get("external_id"),
        created_after=_moment(params, "created_after"),
        created_before=_moment(params, "created_before"),
        skip=skip,
        top=top,
        after=after,
    )
    return LinkSearch(query, params.get("internal_id"), _number(params, "integration_system_id"), nothing)


class KeyLinkIn(BaseModel):
    """A key link as a client writes it: names or the numbers of `integration_systems`/`entity_types`."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    entity_type: EntityTypeName | None = None
    integration_entity_type_id: EntityTypeId | None = None
    internal_id: IdPart | None = None
    provider: IdPart | None = None
    integration_system_id: StableId | None = None
    realm: IdPart | None = None
    external_id: IdPart | None = None
    id: str | None = None
    """The link's own id: names the link to move or delete on the collection path; on a link's own path, it must
    be that link's."""
    created_at: str | None = None
    """Output fields a client may echo back; ignored."""
    group_id: str | None = None

    @field_validator("entity_type", "internal_id", "provider", "realm", "external_id", mode="before")
    @classmethod
    def _not_fractional(cls, value: object) -> object:
        """A number is taken for the id it writes only if it is an integer: one with a point or an exponent, or past
        64 bits (parsed as a float), was kept as Python writes it (`1.10` as `1.1`, `12345678901234567890123` as
        `1.2345678901234568e+22`), an id the app never sent and could not find the link by."""
        if isinstance(value, float):
            raise ValueError(
                "a number names an id only if it is an integer (no point, no exponent) within 64 bits;"
                " send the id as a string"
            )
        return value


def parse_key_link(body: object) -> KeyLinkIn:
    """A key link body, bare or as `{"key_links": {...}}`; 422 naming what is wrong."""
    if isinstance(body, dict) and set(body) == {"key_links"}:
        body = body["key_links"]
    return validated(KeyLinkIn, body)


def parse_link_query(params: Mapping[str, str]) -> KeyLinkIn:
    """The link a query string names (a DELETE on the collection path), its numbers read as a search reads them, in
    ASCII digits (a 400 for any other): read as a JSON number is, ` 5`, `+5` and `5.0` passed, and `1_0` was 10."""
    numbers = {name: _number(params, name) for name in ("integration_entity_type_id", "integration_system_id")}
    return parse_key_link({**params, **{name: n for name, n in numbers.items() if n is not None}})


IDENTIFYING = frozenset(
    {"id", "entity_type", "integration_entity_type_id", "provider", "integration_system_id", "realm", "external_id"}
)
"""What names one key link in a query string: its id, or its entity type, app and external id."""


_BY_NUMBER = {"entity_type": "integration_entity_type_id", "provider": "integration_system_id"}
"""The parts of a link a body may give by number instead."""


def required(parts: Mapping[str, str | None]) -> dict[str, str]:
    """The parts a body gives, or one 422 naming every one it lacks: named one at a time, a client learnt of each
    by a request of its own."""
    missing = [name for name, value in parts.items() if value is None]
    if missing:
        said = {name: f"required (or {_BY_NUMBER[name]})" if name in _BY_NUMBER else "required" for name in missing}
        raise_invalid([{"field": name, "message": message} for name, message in said.items()])
    return {name: value for name, value in parts.items() if value is not None}


def require(value: str | None, name: str) -> str:
    return required({name: value})[name]
