"""The collections (entity types) the hub holds: a new one is one declaration here."""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict

from hub.model.fields import (
    Address,
    Amount,
    DateTime,
    Email,
    Flag,
    Integer,
    Part,
    Phone,
    Reference,
    RefValue,
    Text,
    Website,
    parse_datetime,
)
from hub.model.filter import Value
from hub.model.numbers import whole

Status = Literal["ACTIVE", "INACTIVE", "ARCHIVED"]
READ_ONLY = ("code", "created_at", "updated_at", "group_id", "channel_id", "resource_type", "placeholder")
"""Output fields a client may echo back in a body; they are ignored, never written."""


class Fields(BaseModel):
    """The writable fields of a record; unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")

    status: Status | None = None


class PersonFields(Fields):
    title: Text | None = None
    first_name: Text | None = None
    last_name: Text | None = None
    job_title: Text | None = None
    birth_date: DateTime | None = None
    organization_id: Annotated[RefValue | None, Reference("organizations")] = None
    email: Email | None = None
    website: Website | None = None
    phone: Phone | None = None
    address: Address | None = None
    notes: Text | None = None


class OrganizationFields(Fields):
    name: Text | None = None
    industry: Text | None = None
    annual_revenue: Amount | None = None
    number_of_employees: Integer | None = None
    is_customer: Flag | None = None
    is_supplier: Flag | None = None
    email: Email | None = None
    website: Website | None = None
    phone: Phone | None = None
    address: Address | None = None
    notes: Text | None = None


Kind = Literal["text", "number", "boolean", "datetime", "reference"]
META_KINDS: dict[str, Kind] = {
    "id": "text",
    "code": "text",
    "status": "text",
    "created_at": "datetime",
    "updated_at": "datetime",
}
"""Fields every record has, stored beside its declared fields."""


@dataclass(frozen=True)
class Collection:
    """One entity type: its name, code prefix and field model."""

    name: str
    code_prefix: str
    model: type[Fields]
    references: dict[str, str] = field(init=False)
    kinds: dict[tuple[str, ...], Kind] = field(init=False)
    positions: dict[str, int] = field(init=False)
    dates: list[tuple[str, ...]] = field(init=False)
    """The declared datetime fields (not the record's own times): output shows them as clients know them."""

    def __post_init__(self) -> None:
        kinds: dict[tuple[str, ...], Kind] = {(name,): kind for name, kind in META_KINDS.items()}
        refs: dict[str, str] = {}
        _walk(self.model, (), kinds, refs)
        object.__setattr__(self, "kinds", kinds)
        object.__setattr__(self, "references", refs)
        object.__setattr__(self, "positions", {name: n for n, name in enumerate(self.model.model_fields)})
        dates = [path for path, kind in kinds.items() if kind == "datetime" and path[0] not in META_KINDS]
        object.__setattr__(self, "dates", dates)

    def position(self, name: str) -> int:
        """A field's place in the declaration, so output follows the model's order."""
        return self.positions.get(name, len(self.positions))

    def code(self, seq: int) -> str:
        return f"{self.code_prefix}{seq}"

    def code_number(self, code: str) -> int:
        """The number of the record a code names (`PE12`: 12), as the stores keep it; -1, no record's, if `code`
        is no code of this collection (or too long a number for them)."""
        number = whole(code.removeprefix(self.code_prefix)) if code.startswith(self.code_prefix) else None
        return -1 if number is None else number

    def operand(self, path: tuple[str, ...], value: Value) -> Value:
        """A `$filter` value as the stores compare it: a code (`PE12`) as its number, which is what they keep."""
        if path == ("code",) and isinstance(value, str):
            return self.code_number(value)
        return value

    @property
    def top_fields(self) -> set[str]:
        return {path[0] for path in self.kinds}


def _walk(
    model: type[BaseModel], prefix: tuple[str, ...], kinds: dict[tuple[str, ...], Kind], refs: dict[str, str]
) -> None:
    for name, info in model.model_fields.items():
        path = (*prefix, name)
        ref = next((m for m in info.metadata if isinstance(m, Reference)), None)
        if ref is not None:
            kinds[path] = "reference"
            refs[name] = ref.target
            continue
        _classify(info.annotation, path, kinds, refs)


def _classify(annotation: Any, path: tuple[str, ...], kinds: dict[tuple[str, ...], Kind], refs: dict[str, str]) -> None:
    """Find a field's kind through Optional/Annotated wrappers."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        for arg in get_args(annotation):
            if arg is not type(None):
                _classify(arg, path, kinds, refs)
        return
    if origin is Annotated:
        base, *meta = get_args(annotation)
        if any(getattr(m, "func", None) is parse_datetime for m in meta):
            kinds[path] = "datetime"
            return
        _classify(base, path, kinds, refs)
        return
    if isinstance(annotation, type) and issubclass(annotation, Part):
        _walk(annotation, path, kinds, refs)
    elif annotation is bool:
        kinds[path] = "boolean"
    elif annotation in (int, float):
        kinds[path] = "number"
    else:
        kinds[path] = "text"


COLLECTIONS: dict[str, Collection] = {
    c.name: c
    for c in (
        Collection("people", "PE", PersonFields),
        Collection("organizations", "OR", OrganizationFields),
    )
}

REFERENCES: list[tuple[str, str, str]] = [
    (c.name, name, target) for c in COLLECTIONS.values() for name, target in c.references.items()
]
"""Every reference field: the entity type holding it, its name, and the entity type it refers to."""


def referring(target: str) -> dict[str, list[str]]:
    """The fields that refer to records of `target`, by the entity type holding them."""
    by_collection: dict[str, list[str]] = {}
    for collection, name, to in REFERENCES:
        if to == target:
            by_collection.setdefault(collection, []).append(name)
    return by_collection
