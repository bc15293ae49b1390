"""The query string of a read: `$top/$skip/$skiptoken/$orderby/$filter/$select` and `opts[…]`, checked against
the model."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from hub.errors import BadRequest, Invalid, quoted
from hub.model import keyset, timefmt
from hub.model.collections import Collection, Kind
from hub.model.filter import And, Comparison, Node, Not, Or, Value, fields_of, joined, map_values, parse_filter, written
from hub.model.ids import NUL, ExternalId
from hub.model.list_query import STATUSES, ListQuery, status_condition
from hub.model.paging import check_params, skiptoken, window

APP_PARAMS = frozenset({"opts[provider]", "opts[realm]"})
"""The app whose ids a path's `{id}` (or a list's `opts[linked]`) is."""
ONE_PARAMS = APP_PARAMS | {"$select"}
LIST_PARAMS = ONE_PARAMS | {"$top", "$skip", "$skiptoken", "$orderby", "$filter", "$count", "opts[linked]"}
MAX_ORDER_KEYS = 8
MAX_PARAM = 255
"""The longest `opts[provider]`/`opts[realm]`, as for any id part."""


_TOKEN = re.compile(r"([0-9]{1,18})\.([0-9]{1,18})")  # not \d: it takes every script's digits, as int does


Selected = frozenset[tuple[str, ...]]
"""The fields a read shows (`$select`): each a path, a top-level field or a part of an object field."""


_SHOWN_ALWAYS = frozenset({"group_id", "channel_id", "resource_type"})
"""Fields every record shows beside those of its entity type."""


@dataclass(frozen=True)
class Read:
    """What a read asks for besides the page: the app whose ids key it, and the fields to show."""

    app: tuple[str, str] | None
    select: Selected | None

    def by(self, key: str) -> ExternalId | None:
        """The app id a path's `key` is, if the path names its record by an app's id."""
        return ExternalId(self.app[0], self.app[1], key) if self.app else None


def parse_read(collection: Collection, params: Mapping[str, str], allowed: frozenset[str] = ONE_PARAMS) -> Read:
    check_params(params, allowed)
    provider, realm = params.get("opts[provider]"), params.get("opts[realm]")
    if (provider is None) != (realm is None):
        raise BadRequest("opts[provider] and opts[realm] go together: give both or neither")
    if provider is not None and realm is not None and not (provider.strip() and realm.strip()):
        raise BadRequest("opts[provider] and opts[realm] must not be empty")
    if provider is not None and realm is not None and max(len(provider), len(realm)) > MAX_PARAM:
        raise BadRequest(f"opts[provider] and opts[realm] hold at most {MAX_PARAM} characters")
    if NUL in f"{provider}{realm}":
        raise BadRequest("opts[provider] and opts[realm] must not contain the character U+0000")
    app = (provider, realm) if provider is not None and realm is not None else None
    return Read(app, _select(collection, params.get("$select")))


def _select(collection: Collection, text: str | None) -> Selected | None:
    """The fields `$select` names, each as `$filter` names it: `email` whole, `email/address` alone in its object."""
    if text is None:
        return None
    names = {n.strip() for n in text.split(",") if n.strip()}
    known = {*collection.kinds, *((name,) for name in collection.top_fields | _SHOWN_ALWAYS)}
    if not names:
        raise BadRequest("$select names no field: list them, comma-separated (first_name,email/address)")
    unknown = sorted(name for name in names if tuple(name.split("/")) not in known)
    if unknown:
        raise BadRequest(f"$select: unknown field(s): {', '.join(unknown)}")
    return frozenset(tuple(name.split("/")) for name in names)


def _path(collection: Collection, text: str, where: str) -> tuple[str, ...]:
    path = tuple(text.strip().split("/"))
    if path not in collection.kinds:
        raise _unknown(collection, path, where)
    return path


def _unknown(collection: Collection, path: tuple[str, ...], where: str) -> BadRequest:
    """The 400 of a field a filter or an order cannot name: an object field (`email`) says its parts, which are
    compared and ordered by; it was said to be unknown, as a field the model lacks."""
    parts = ["/".join(known) for known in collection.kinds if known[: len(path)] == path and len(known) > len(path)]
    if parts:
        return BadRequest(f"{where}: {'/'.join(path)} is an object: name one of its parts ({', '.join(parts)})")
    return BadRequest(f"{where}: unknown field {quoted('/'.join(path))}")


def bind_filter(collection: Collection, node: Node) -> Node:
    """Check every field of a filter and put date literals in the stored form (a number too: `check_types` refuses
    one given, but an integration's filter stored before it did still reads `20260101` as 2026-01-01)."""
    for path in fields_of(node):
        if path not in collection.kinds:
            raise _unknown(collection, path, "$filter")

    def normalise(path: tuple[str, ...], value: Value) -> Value:
        if collection.kinds[path] != "datetime" or value is None:
            return value
        try:
            return timefmt.canonical(str(value))
        except ValueError as error:  # says why: not ISO 8601, a leap second, or beyond the years 1 to 9999 in UTC
            raise BadRequest(f"$filter: {'/'.join(path)} needs a date: {error}") from None

    return map_values(node, normalise)


_TYPES: dict[Kind, tuple[tuple[type, ...], str]] = {
    "text": ((str,), "a quoted string"),
    "reference": ((str,), "a quoted hub id"),
    "datetime": ((str,), "a date"),
    "number": ((int, float), "a number"),
    "boolean": ((bool,), "true or false"),
}
"""The values each kind of field is compared with, and how a message names them."""
_CODE: tuple[tuple[type, ...], str] = ((str, int), "a quoted code or its number")


def check_types(collection: Collection, node: Node) -> None:
    """Refuse a value of another type than its field's (null aside), naming both. The stores order values of two
    types apart (SQLite: numbers before text, `name gt 5` lists every name; MongoDB: never, it lists none) and
    SQLite holds true as 1 (`is_customer eq 1` found the customers only there): no answer would be the same on
    both. A code is also its number (`code gt 5`). `node` is the filter as parsed, its fields known (`bind_filter`)
    but its dates not yet in the stored form: a number there is none (`updated_at gt 20260101` read as a date)."""

    def check(path: tuple[str, ...], value: Value) -> Value:
        if not _of_type(collection, path, value):
            wanted = _wanted(collection, path)[1]
            raise BadRequest(f"$filter: {'/'.join(path)} is compared with {wanted}, not {written(value)}")
        if path == ("status",) and value is not None and value not in STATUSES:  # `'archived'` listed nothing
            raise BadRequest(f"$filter: status is 'ACTIVE', 'INACTIVE' or 'ARCHIVED', not {written(value)}")
        return value

    map_values(node, check)
    _check_code_order(collection, node)


def _check_code_order(collection: Collection, node: Node) -> None:
    """Refuse an order comparison of `code` with a text that is no code of the collection (`'XX1'`, `'OR1'` for
    people, a number past any code): it compared as -1, no record's number, so `code gt 'PE99999999999999999999'`
    listed every record and `le` none. Equality with it still names no record."""
    if isinstance(node, Not):
        _check_code_order(collection, node.item)
    elif isinstance(node, And | Or):
        for item in node.items:
            _check_code_order(collection, item)
    elif isinstance(node, Comparison) and _orders_by_no_code(collection, node):
        raise BadRequest(
            f"$filter: code is compared in order with a code of {collection.name} ({written(collection.code(12))})"
            f" or its number, not {written(node.value)}"
        )


def _orders_by_no_code(collection: Collection, node: Comparison) -> bool:
    ordered = node.field == ("code",) and node.op not in ("eq", "ne")
    return ordered and isinstance(node.value, str) and collection.code_number(node.value) < 0


def _wanted(collection: Collection, path: tuple[str, ...]) -> tuple[tuple[type, ...], str]:
    """The types a field is compared with, and how a message names them."""
    return _CODE if path == ("code",) else _TYPES[collection.kinds[path]]


def _of_type(collection: Collection, path: tuple[str, ...], value: object) -> bool:
    """Whether `value` is null or one a field of `path` is compared with (a whole number within 64 bits)."""
    types = _wanted(collection, path)[0]
    if value is None:
        return True
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        return False
    return not isinstance(value, int) or isinstance(value, bool) or -(2**63) <= value < 2**63


def parse_list(
    collection: Collection, params: Mapping[str, str], default_top: int, max_top: int
) -> tuple[ListQuery, Read]:
    read = parse_read(collection, params, LIST_PARAMS)
    node, include_archived = None, False
    if params.get("$filter", "").strip():
        try:
            parsed = parse_filter(params["$filter"])
            node = joined(bind_filter(collection, parsed))
        except Invalid as error:
            raise BadRequest(error.detail) from None
        check_types(collection, parsed)
        node, include_archived = status_condition(node)
    order = _order(collection, params.get("$orderby", ""))
    linked_raw = params.get("opts[linked]")
    if linked_raw is not None and linked_raw not in ("true", "false"):
        raise BadRequest(f"opts[linked] is true or false, not {quoted(linked_raw)}")
    if linked_raw is not None and read.app is None:
        raise BadRequest("opts[linked] needs opts[provider] and opts[realm]: the app whose ids it looks for")
    if params.get("$count", "true") not in ("true", "false"):
        raise BadRequest(f"$count is true or false, not {quoted(params['$count'])}")
    skip, top = window(params, default_top, max_top)
    after: int | None = None
    after_values: tuple[Value, ...] = ()
    if made := skiptoken(params, keyset.TOKEN if order else _TOKEN, "$skip" in params, "$skip"):
        (after, after_values), skip = _start(collection, order, made[0]), made[1]
    query = ListQuery(
        filter=node,
        order=order,
        skip=skip,
        top=top,
        app=read.app,
        linked=linked_raw != "false",
        include_archived=include_archived,
        count=params.get("$count") != "false",
        after=after,
        after_values=after_values,
    )
    return query, read


UNIQUE_KEYS = (("code",), ("id",))
"""Sort keys no two records share: a key after one orders nothing."""


def _order(collection: Collection, text: str) -> keyset.Order:
    """The `$orderby` keys, each field once (the first says its direction: a repeat could change nothing), none after
    a key no two records share (`UNIQUE_KEYS`): MongoDB sorted the group's records for `code, updated_at desc`, whose
    second key no index holds after the code."""
    parts = [p for p in text.split(",") if p.strip()]
    if len(parts) > MAX_ORDER_KEYS:
        raise BadRequest(f"$orderby: at most {MAX_ORDER_KEYS} fields, not {len(parts)}")
    order: dict[tuple[str, ...], bool] = {}
    for part in parts:
        words = part.split()
        if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise BadRequest(f"$orderby: expected 'field asc|desc', not {quoted(part.strip())}")
        order.setdefault(_path(collection, words[0], "$orderby"), len(words) == 2 and words[1].lower() == "desc")
    keys = list(order)
    last = next((n for n, path in enumerate(keys) if path in UNIQUE_KEYS), len(keys) - 1)
    return tuple((path, order[path]) for path in keys[: last + 1])


def _start(collection: Collection, order: keyset.Order, where: str) -> tuple[int, tuple[Value, ...]]:
    """The code (and, under `$orderby`, the sort values) of the record a `$skiptoken`'s page starts after."""
    if not order:
        return int(where), ()
    foreign = BadRequest("$skiptoken is not one this hub made: pass the next link of a page as it is")
    try:
        seq, values = keyset.parse(order, where)
    except keyset.OtherOrder:
        raise BadRequest(
            "$skiptoken was made for another $orderby, or by an earlier hub that ordered ties otherwise: pass the next"
            " link of a page as it is, or start the walk again"
        ) from None
    except keyset.Foreign:
        raise foreign from None
    if not all(_of_type(collection, path, value) for (path, _), value in zip(order, values, strict=True)):
        raise foreign
    return seq, tuple(values)
