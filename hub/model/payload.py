"""Turn a client's record body into a validated `Write`, or a 422 naming what is wrong."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from hub.errors import Invalid
from hub.model.collections import READ_ONLY, Collection
from hub.model.fields import HUB_ID, ID_ARRAY, MAX_IDS
from hub.model.ids import ExternalId, ExternalIdIn, unique
from hub.model.merge import MAX_MERGED
from hub.model.record import Write

_ID_ARRAY = TypeAdapter(list[ExternalIdIn])


_SAID = {
    "extra_forbidden": "unknown field",
    "missing": "required",
    "model_type": "Input should be a JSON object",
    "int_type": 'expected an integer within 64 bits (not 5.0, "5" or true)',
}
"""Pydantic's messages said in the body's words: its own for a model named the hub's classes ("a valid dictionary
or instance of Email"), which a client never sees; and JSON is read with integers past 64 bits as floats, so "Input
should be a valid integer" answered an integer too."""


def member(name: str | int) -> str:
    """A step of a field's path: a member named by the empty string as `""`, told from the object holding it (left
    out, `{"email": {"": 1}}` had `email` said to be unknown, and `{"": 1}` the body itself)."""
    return '""' if name == "" else str(name)


_BOUNDS = {
    "less_than_equal": "at most {le}",
    "greater_than_equal": "at least {ge}",
    "string_too_long": "at most {max_length} characters",
    "string_too_short": "at least {min_length} character(s)",
    "too_long": "at most {max_length} items",
    "too_short": "at least {min_length} item(s)",
}
"""Pydantic's bounds said as the README's Limits says them (`limit: at most 1000`, not "Input should be less than or
equal to 1000", nor "List should have at least 1 item after validation, not 0"), a whole bound as a whole number
(`annual_revenue`'s 10¹⁵ is a float, said "1000000000000000.0")."""


def _bound(said: str, ctx: dict[str, Any]) -> str:
    return said.format(**{k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in ctx.items()})


def problems(error: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """One `{field, message}` per pydantic error, the field as a dotted path."""
    out = []
    for item in error.errors(include_url=False):
        steps = [member(p) for p in item["loc"] if p not in (HUB_ID, ID_ARRAY)]
        path = ".".join([prefix, *steps] if prefix else steps)
        bound = _BOUNDS.get(item["type"])
        said = _bound(bound, item["ctx"]) if bound and "ctx" in item else _SAID.get(item["type"])
        out.append({"field": path, "message": said or item["msg"].removeprefix("Value error, ")})
    return out


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], body: Any) -> M:
    """A request body as `model`, or a 422 naming each wrong field. A body that is no object is said so alone, as
    every body is: no member of it is at fault, and pydantic named it by an empty path."""
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as error:
        raise_invalid(problems(error))


def raise_invalid(errors: list[dict[str, str]]) -> NoReturn:
    """422 listing every field that is wrong: unknown ones apart from those holding a bad value."""
    unknown = [e["field"] for e in errors if e["message"] == "unknown field"]
    invalid = [f"{e['field']}: {e['message']}" for e in errors if e["message"] != "unknown field"]
    parts = [f"unknown field(s): {', '.join(unknown)}"] if unknown else []
    if invalid:
        parts.append("invalid field(s): " + "; ".join(invalid))
    raise Invalid("; ".join(parts), errors=errors)


def parse_id_array(value: Any, field: str = "id") -> list[ExternalId]:
    """An id array (or a lone id object) as a list of ids, each once (an id given twice is the same id; a new
    record's then failed its unique index on every try, a 409 no retry could clear); malformed entries are a 422."""
    if isinstance(value, dict):
        value = [value]
    if isinstance(value, list) and len(value) > MAX_IDS:
        raise Invalid(f"{field}: at most {MAX_IDS} ids", errors=[{"field": field, "message": "too many ids"}])
    try:
        return unique(e.key() for e in _ID_ARRAY.validate_python(value))
    except ValidationError as error:
        raise_invalid(problems(error, field))


def parse_write(collection: Collection, body: Any) -> Write:
    """Validate one record body; the id array may hold the hub's own ids too."""
    if not isinstance(body, dict):
        raise Invalid(f"a record of {collection.name} must be a JSON object")
    body = {k: v for k, v in body.items() if k not in READ_ONLY}
    ids: list[ExternalId] = []
    hub_ids: list[str] = []
    if "id" in body:
        given = body.pop("id")
        if isinstance(given, str) and not given.strip():  # else it was read as an id array, "a valid list"
            raise Invalid("id: a hub id must not be blank", errors=[{"field": "id", "message": "blank"}])
        if isinstance(given, str):
            hub_ids.append(given.strip())
        elif given is not None:
            ids = parse_id_array(given)
    try:
        model = collection.model.model_validate(body)
    except ValidationError as error:
        raise_invalid(problems(error))
    fields = model.model_dump(exclude_unset=True)
    for name, value in fields.items():
        if isinstance(value, dict):
            fields[name] = _held(value)
    references: dict[str, str | list[ExternalId]] = {}
    for name in collection.references:
        value = fields.get(name)
        if isinstance(value, list):
            references[name] = unique(ExternalId(v["provider"], v["realm"], v["id"]) for v in value)
            del fields[name]
        elif isinstance(value, str):
            references[name] = value
            del fields[name]
    return Write(ids=ids, hub_ids=hub_ids, fields=fields, references=references)


def parse_write_at(collection: Collection, body: dict[str, Any], where: str) -> Write:
    """`parse_write` of fields a request body holds at `where` (a merge's `fields.`): its problems name them so."""
    try:
        return parse_write(collection, body)
    except Invalid as error:
        raise_invalid([{**e, "field": where + e["field"]} for e in error.extra["errors"]])


def _held(value: dict[str, Any]) -> dict[str, Any] | None:
    """A nested object without its null members, and null (the field cleared) if none is left: kept as given,
    `{"address": null}` passed for a value, and a merge took it over another record's real address."""
    kept = {}
    for name, member in value.items():
        if isinstance(member, dict):
            member = _held(member)
        if member is not None:
            kept[name] = member
    return kept or None


CHOSEN = "fields."
"""Where a merge body holds the values it chooses: a problem with one names it from there (`fields.name`)."""


@dataclass(frozen=True)
class MergeAsk:
    """An explicit merge: the records to merge in (hub ids or id arrays), chosen values, dry run or not."""

    records: list[str | list[ExternalId]]
    write: Write
    dry_run: bool = False


def _object(body: Any, keys: set[str], what: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The body as an object (422 if it is none), and a problem for each member it holds beyond `keys`: named beside
    the problems of its other members, all in one 422."""
    if not isinstance(body, dict):
        raise Invalid(f"{what} must be a JSON object")
    return body, [{"field": member(name), "message": "unknown field"} for name in sorted(set(body) - keys)]


def parse_merge(collection: Collection, body: Any) -> MergeAsk:
    """Validate a merge request; one 422 naming every member at fault (records, chosen fields, dry_run)."""
    body, errors = _object(body, {"records", "fields", "dry_run"}, "a merge request")
    records = _merged_records(body.get("records"), errors)
    chosen = body.get("fields")
    if chosen is None:  # nothing chosen; `[]`, `0`, `""` and `false` are refused as any other non-object is
        chosen = {}
    write = None
    if not isinstance(chosen, dict) or "id" in chosen:
        message = "expected an object of chosen field values, without id (the ids follow the records)"
        errors.append({"field": "fields", "message": message})
    else:
        try:
            write = parse_write_at(collection, chosen, CHOSEN)
        except Invalid as error:
            errors += error.extra["errors"]
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        errors.append({"field": "dry_run", "message": "expected true or false"})
    if errors or write is None:
        raise_invalid(errors)
    return MergeAsk(records, write, dry_run)


def _merged_records(given: Any, errors: list[dict[str, str]]) -> list[str | list[ExternalId]]:
    """A merge's `records`, each a hub id or an id array; what is wrong with them is added to `errors`."""
    if not isinstance(given, list) or not given or len(given) > MAX_MERGED:
        message = f"expected a list of 1 to {MAX_MERGED} records to merge in, each a hub id or an id array"
        errors.append({"field": "records", "message": message})
        return []
    records: list[str | list[ExternalId]] = []
    for index, entry in enumerate(given):
        if isinstance(entry, str) and not entry.strip():
            errors.append({"field": f"records.{index}", "message": "an empty hub id"})
        elif isinstance(entry, str):
            records.append(entry.strip())
        else:
            try:
                records.append(parse_id_array(entry, field=f"records.{index}"))
            except Invalid as error:
                errors += error.extra["errors"]
    return records


def parse_unmerge(body: Any) -> str:
    """The id of the merge an unmerge request names; one 422 naming every member at fault."""
    body, errors = _object(body, {"merge_id"}, 'an unmerge request ({"merge_id": "…"})')
    merge_id = body.get("merge_id")
    if not isinstance(merge_id, str) or not merge_id.strip():
        message = "required" if merge_id is None else "expected a non-empty string: the id of the merge to undo"
        errors.append({"field": "merge_id", "message": message})
    elif not errors:
        return merge_id.strip()
    raise_invalid(errors)
