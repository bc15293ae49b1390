"""Connecting a record to an app's record (seed 004): the request, and the per-field sync directions it sets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from hub.errors import Invalid
from hub.model.collections import Collection
from hub.model.ids import ExternalId, IdPart
from hub.model.payload import parse_write, parse_write_at, raise_invalid, validated
from hub.model.record import Write


class Directions(NamedTuple):
    """Which ways one field syncs between the hub and one app."""

    to_hub: bool
    to_app: bool


BOTH_WAYS = Directions(to_hub=True, to_app=True)
"""The directions of a field no connect named."""
FIELD_VALUES = "field_values."
"""Where a connect body holds its values: a problem with one names it from there (`field_values.name`)."""


class FieldValue(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    field: Annotated[str, Field(min_length=1, max_length=64)]
    value: Any = None
    sync_to_hub: bool = True
    sync_to_app: bool = True


class ConnectIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    provider: IdPart
    realm: IdPart
    id: IdPart
    field_values: Annotated[list[FieldValue], Field(max_length=100)] = []


class ConnectAsk(NamedTuple):
    """A validated connect request: the app's id, the values for the hub, every field's directions."""

    ext: ExternalId
    write: Write
    directions: dict[str, Directions]


def parse_connect(collection: Collection, body: Any, hub_provider: str) -> ConnectAsk:
    """Validate a connect body; only values marked `sync_to_hub` (and given) are written to the record."""
    request = validated(ConnectIn, body)
    errors = []
    if request.provider == hub_provider:  # its ids are the hub's own: no app to connect
        errors.append({"field": "provider", "message": f"{hub_provider!r} is the hub itself, not an app"})
    seen: set[str] = set()
    fields = collection.model.model_fields
    for n, item in enumerate(request.field_values):
        where = f"field_values.{n}.field"
        if item.field not in fields:
            errors.append({"field": where, "message": f"{collection.name} have no field {item.field!r}"})
        elif item.field in seen:
            errors.append({"field": where, "message": f"{item.field!r} is given twice"})
        seen.add(item.field)
    given = [i for i in request.field_values if "value" in i.model_fields_set]
    try:  # the app's own values are checked too, and beside the faults above, all named in one 422
        parse_write_at(collection, {i.field: i.value for i in given if i.field in fields}, FIELD_VALUES)
    except Invalid as error:
        errors += error.extra["errors"]
    if errors:
        raise_invalid(errors)
    write = parse_write(collection, {i.field: i.value for i in given if i.sync_to_hub})
    directions = {i.field: Directions(i.sync_to_hub, i.sync_to_app) for i in request.field_values}
    return ConnectAsk(ExternalId(request.provider, request.realm, request.id), write, directions)


def blocked_into_hub(directions: Iterable[Mapping[str, Directions]]) -> set[str]:
    """The fields that some writing app does not sync into the hub."""
    return {name for per_field in directions for name, d in per_field.items() if not d.to_hub}


def hidden_from_app(directions: Mapping[str, Directions] | None) -> frozenset[str]:
    """The fields of a record that do not sync out to this app."""
    return frozenset(name for name, d in (directions or {}).items() if not d.to_app)
