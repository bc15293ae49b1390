"""Field types the collection models are declared with; each says how its values are checked."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    StringConstraints,
    Tag,
    WithJsonSchema,
)

from hub.model import timefmt
from hub.model.ids import MAX_RECORD_IDS, SPACE, ExternalIdIn, WithoutNul, without_nul

MAX_TEXT = 4096
MAX_IDS = MAX_RECORD_IDS + 1
"""The most ids an id array names: every id a record may hold and its hub id, so that a record, or a reference, is
written back (a PUT, `hub import`) as it is read (the external-ids header, `hub export`)."""

Text = Annotated[str, StringConstraints(max_length=MAX_TEXT), WithoutNul]
Integer = Annotated[int, Strict(), Field(ge=-(2**63), lt=2**63)]
"""An integer every store can hold (64 bits). The number types are strict: `"5"` or `true` given for a number is
refused, not read as one (a value an app sends as the wrong type is a bug it should hear about)."""
Flag = Annotated[bool, Strict()]
"""True or false, and nothing read as either (`1`, `"yes"`)."""

_EMAIL = re.compile(rf"^[^@{SPACE}\x00]+@[^@{SPACE}\x00]+\.[^@{SPACE}\x00]+$")


def parse_datetime(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date or datetime string")
    return timefmt.canonical(value)


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value):  # `$` alone also matches before a final newline
        raise ValueError(f"{value!r} does not look like an email address")
    return value


DateTime = Annotated[
    str,
    BeforeValidator(parse_datetime),
    WithJsonSchema({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}]}),
]
EmailAddress = Annotated[
    str,
    StringConstraints(max_length=320),
    AfterValidator(without_nul),
    AfterValidator(_email),
    WithJsonSchema({"type": "string", "maxLength": 320, "pattern": _EMAIL.pattern}),
]
Amount = Annotated[float, Strict(), Field(allow_inf_nan=False, ge=-1e15, le=1e15)]
"""A number, whole or not (strict, as `Integer`)."""


class Reference:
    """Marks a field that points to a record of another collection (by hub id or id array)."""

    def __init__(self, target: str) -> None:
        self.target = target


HubIdText = Annotated[str, StringConstraints(min_length=1, max_length=255), WithoutNul]


HUB_ID, ID_ARRAY = "hub id", "id array"
"""The two forms of a reference, named for pydantic, which puts the form into an error's location (`problems`
leaves it out): as a plain union, the location of a bad id was `organization_id.list[ExternalIdIn].0.id` and of
any bad value two errors, one per form, named by pydantic's internals."""


def _reference_kind(value: object) -> str | None:
    return HUB_ID if isinstance(value, str) else ID_ARRAY if isinstance(value, list) else None


RefValue = Annotated[
    Annotated[HubIdText, Tag(HUB_ID)]
    | Annotated[list[ExternalIdIn], Field(min_length=1, max_length=MAX_IDS), Tag(ID_ARRAY)],
    Discriminator(
        _reference_kind, custom_error_type="reference", custom_error_message="expected a hub id or an id array"
    ),
]


class Part(BaseModel):
    """A nested group of fields (email, phone, address…): unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")


class Email(Part):
    address: EmailAddress | None = None
    address2: EmailAddress | None = None


class Website(Part):
    url: Text | None = None
    url2: Text | None = None


class Phone(Part):
    landline: Text | None = None
    landline2: Text | None = None
    mobile: Text | None = None
    fax: Text | None = None


class Address(Part):
    line1: Text | None = None
    line2: Text | None = None
    city: Text | None = None
    region: Text | None = None
    postal_code: Text | None = None
    country: Text | None = None
