"""Turn a client's record body into a validated `Write`, or a 422 naming what is wrong."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from hub.errors import Invalid
from hub.model.collections import READ_ONLY, Collection
from hub.model.fields import MAX_IDS
from hub.model.ids import ExternalId, ExternalIdIn
from hub.model.record import Write

_ID_ARRAY = TypeAdapter(list[ExternalIdIn])


def problems(error: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """One `{field, message}` per pydantic error, the field as a dotted path."""
    out = []
    for item in error.errors(include_url=False):
        path = ".".join(str(p) for p in (prefix, *item["loc"]) if p != "")
        message = "unknown field" if item["type"] == "extra_forbidden" else item["msg"].removeprefix("Value error, ")
        out.append({"field": path or "(body)", "message": message})
    return out


def raise_invalid(errors: list[dict[str, str]]) -> None:
    unknown = [e["field"] for e in errors if e["message"] == "unknown field"]
    invalid = [f"{e['field']}: {e['message']}" for e in errors if e["message"] != "unknown field"]
    parts = [f"unknown field(s): {', '.join(unknown)}"] if unknown else []
    if invalid:
        parts.append("invalid field(s): " + "; ".join(invalid))
    raise Invalid("; ".join(parts), errors=errors)


def parse_id_array(value: Any, field: str = "id") -> list[ExternalId]:
    """An id array (or a lone id object) as a list of ids; malformed entries are a 422."""
    if isinstance(value, dict):
        value = [value]
    if isinstance(value, list) and len(value) > MAX_IDS:
        raise Invalid(f"{field}: at most {MAX_IDS} ids", errors=[{"field": field, "message": "too many ids"}])
    try:
        return [e.key() for e in _ID_ARRAY.validate_python(value)]
    except ValidationError as error:
        raise_invalid(problems(error, field))
        raise


def parse_write(collection: Collection, body: Any) -> Write:
    """Validate one record body; the id array may hold the hub's own ids too."""
    if not isinstance(body, dict):
        raise Invalid(f"a {collection.name} record must be a JSON object")
    body = {k: v for k, v in body.items() if k not in READ_ONLY}
    ids: list[ExternalId] = []
    hub_ids: list[str] = []
    if "id" in body:
        given = body.pop("id")
        if isinstance(given, str) and given.strip():
            hub_ids.append(given.strip())
        elif given is not None:
            ids = parse_id_array(given)
    try:
        model = collection.model.model_validate(body)
    except ValidationError as error:
        raise_invalid(problems(error))
        raise
    fields = model.model_dump(exclude_unset=True)
    references: dict[str, str | list[ExternalId]] = {}
    for name in collection.references:
        value = fields.get(name)
        if isinstance(value, list):
            references[name] = [ExternalId(v["provider"], v["realm"], v["id"]) for v in value]
            del fields[name]
        elif isinstance(value, str):
            references[name] = value
            del fields[name]
    return Write(ids=ids, hub_ids=hub_ids, fields=fields, references=references)
