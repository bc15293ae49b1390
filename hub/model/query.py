"""The query string of a read: `$top/$skip/$skiptoken/$orderby/$filter/$select` and `opts[…]`, checked against
the model."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import get_args

from hub.errors import BadRequest, Invalid
from hub.model import keyset, timefmt
from hub.model.collections import META_KINDS, Collection, Kind, Status
from hub.model.filter import And, Comparison, In, Node, Not, Or, Value, fields_of, joined, map_values, parse_filter
from hub.model.ids import NUL, ExternalId
from hub.model.numbers import MAX_WHOLE, whole
from hub.model.record import Record

APP_PARAMS = frozenset({"opts[provider]", "opts[realm]"})
"""The app whose ids a path's `{id}` (or a list's `opts[linked]`) is."""
ONE_PARAMS = APP_PARAMS | {"$select"}
LIST_PARAMS = ONE_PARAMS | {"$top", "$skip", "$skiptoken", "$orderby", "$filter", "$count", "opts[linked]"}
MAX_ORDER_KEYS = 8
MAX_PARAM = 255
"""The longest `opts[provider]`/`opts[realm]`, as for any id part."""


StatusCounts = tuple[int, Mapping[str, int]]
"""Kept counts of records (of all, or of those holding an app's ids): how many are listed, and how many (not merged
away) have each status counted apart (`COUNTED_APART`)."""


@dataclass(frozen=True)
class ListQuery:
    """A page of a collection: filter, order, window and the `opts[linked]` app filter."""

    filter: Node | None = None
    order: Sequence[tuple[tuple[str, ...], bool]] = ()
    """(field path, descending) pairs."""
    skip: int = 0
    """How many records of the query come before the page: its offset, unless `after` says where it starts."""
    top: int = 100
    app: tuple[str, str] | None = None
    """(provider, realm) for `opts[linked]`."""
    linked: bool = True
    include_archived: bool = False
    count: bool = field(default=True)
    """Whether the page says its total (`$count=false` spares a filtered one the count of what it matches)."""
    after: int | None = None
    """The code number the page starts after (a `$skiptoken`): found from the code index, not by passing `skip`
    records, which then only says how many came before when the token was made. The total leaves it out."""
    after_values: tuple[Value, ...] = ()
    """With `$orderby`, the sort values of the record the page starts after (`keyset`); its code is `after`."""

    @property
    def offset(self) -> int:
        """How many of the query's records a store passes over before the page."""
        return self.skip if self.after is None else 0

    @property
    def kept(self) -> bool:
        """Whether the stores' kept counts give the total: they count listed records, in all and per app, but not
        those a filter picks; the archived ones a query without a filter lists too (`include_archived`: a filter
        admitting every status, an export) are kept apart, in all and per app (`statuses`)."""
        return self.filter is None

    @property
    def statuses(self) -> tuple[Status, ...] | None:
        """The statuses whose records are exactly this query's (an app's, with `opts[linked]`), if its filter says no
        more than which (`status eq` one, or several as `by_status` splits them; every status for one listing the
        archived records too without a filter): its total is then a sum of kept counts (`total_by_status`), where
        counting the records of each status in its own index grew with them. None for any other query (those of a
        plain list are `kept`)."""
        if self.filter is None and not self.include_archived:
            return None
        if self.filter is None:
            return get_args(Status)
        found: list[Status] = []
        for part in self.by_status() or (self,):
            node = part.filter
            if not isinstance(node, Comparison) or node.field != ("status",) or node.op != "eq":
                return None
            if (status := _STATUS_OF.get(node.value)) is None:  # `status eq null`: no record has it
                return None
            found.append(status)
        return tuple(found)

    def total_by_status(self, every: StatusCounts, held: StatusCounts) -> int:
        """The total of a query of `statuses` from the kept counts of every record and of those holding an id of the
        query's app (`held`, unread without an app)."""
        return self.total_of(self._of_statuses(*every), self._of_statuses(*held) if self.app is not None else 0)

    def _of_statuses(self, listed: int, apart: Mapping[str, int]) -> int:
        """How many records have one of `statuses`: `apart` says how many (not merged away) have each status counted
        apart (`COUNTED_APART`), `listed` how many a plain list shows, the active ones among them being those less
        the inactive."""
        inactive = apart.get("INACTIVE", 0)
        return sum(apart.get(s, 0) if s in COUNTED_APART else listed - inactive for s in self.statuses or ())

    def total_of(self, every: int, held: int) -> int:
        """The total from the kept counts: `every` listed record, `held` those holding an id of `app`."""
        if self.app is None:
            return every
        return held if self.linked else every - held

    def complement(self) -> ListQuery | None:
        """The query listing exactly the listed records of this one unfiltered that it leaves out, if its filter is
        an order comparison (never with null) of a field every record has (`updated_at gt …`, `code le …`): then its
        total is the kept count of the query unfiltered less the complement's, which an initial sync (`updated_at gt`
        a time before any record) counts from the few records before the time, not the many after."""
        node = self.filter
        if not isinstance(node, Comparison) or len(node.field) != 1:
            return None
        if self.include_archived or node.op not in _FLIPPED or node.field[0] not in META_KINDS:
            return None
        return replace(self, filter=replace(node, op=_FLIPPED[node.op]))

    def by_status(self) -> tuple[ListQuery, ...]:
        """The queries of one status each whose records together are this one's, if its filter is `status in (…)`
        (as `parse_list` writes `status ne 'ACTIVE'` too), alone or an item of its `and` (each query then has the
        other items and its status): a store counts and reads each from its status's own index, where an `IN` of
        statuses read every record of the group; none for any other filter."""
        among = self._among(lambda item: item.field == ("status",))
        if among is None:
            return ()
        return self._each(among, [Comparison(("status",), "eq", value) for value in dict.fromkeys(among.values)])

    def or_null(self) -> tuple[tuple[str, ...], tuple[ListQuery, ...]] | None:
        """The declared field of the filter's `f in (…, null)`, alone or an item of its `and`, with a query of each of
        its values and one of its null, whose records together are this one's: a store whose index of the field holds
        its nulls reads each from it, in code order, where SQLite read the group's records for `f IN (…) OR f IS
        NULL`. None for any other filter."""
        among = self._among(lambda item: None in item.values and item.field[0] not in META_KINDS)
        if among is None or all(value is None for value in among.values):
            return None
        return among.field, self._each(among, [Comparison(among.field, "eq", v) for v in dict.fromkeys(among.values)])

    @property
    def _items(self) -> tuple[Node, ...]:
        """The conditions of the filter that must all hold: the items of its `and`, or itself."""
        node = self.filter
        return node.items if isinstance(node, And) else () if node is None else (node,)

    def _among(self, chosen: Callable[[In], bool]) -> In | None:
        """The one `in (…)` of the filter, or of the items of its `and`, that is `chosen`; None if there are none or
        several."""
        among = [item for item in self._items if isinstance(item, In) and chosen(item)]
        return among[0] if len(among) == 1 else None

    def _each(self, among: In, nodes: Sequence[Node]) -> tuple[ListQuery, ...]:
        """A query for each of `nodes`, as this one with the node in place of `among`."""
        parts = []
        for one in nodes:
            each = tuple(one if item is among else item for item in self._items)
            parts.append(replace(self, filter=each[0] if len(each) == 1 else And(each)))
        return tuple(parts)

    @property
    def start(self) -> Node | None:
        """Where a page after a `$skiptoken` starts, as a condition the total leaves out (None: at its `offset`)."""
        if self.after is None:
            return None
        if not self.order:
            return Comparison(("code",), "gt", self.after)
        return keyset.after(self.order, self.after_values, self.after)

    @property
    def starts(self) -> tuple[tuple[Node, keyset.Order], ...]:
        """`start` as parts that follow one another in the page's order, each with the order its records come in, so
        that an index on the first sort key reads each from where it starts (`keyset.parts`); none without a token."""
        if self.after is None or not self.order:
            return () if (start := self.start) is None else ((start, self.order),)
        return keyset.parts(self.order, self.after_values, self.after)

    def token(self, last: Record, shown: int) -> str | None:
        """The `$skiptoken` of the page after one that showed `shown` records, `last` the last of them; None if
        its sort values are too long for a link (`keyset.MAX_POSITION`)."""
        where = keyset.position(self.order, last) if self.order else str(last.seq)
        return None if where is None else made_token(where, self.skip + shown)


_FLIPPED = {"gt": "le", "ge": "lt", "lt": "ge", "le": "gt"}
"""Each order comparison and the one true exactly where it is false, for two values neither of them null (SQLite
orders any two such values, of whatever types, one way or the other)."""


_STATUSES: frozenset[Value] = frozenset(get_args(Status))
_STATUS_OF: dict[Value, Status] = {status: status for status in get_args(Status)}
_LISTED: frozenset[Value] = frozenset({"ACTIVE", "INACTIVE"})
"""The statuses a listed (not archived) record may have."""

COUNTED_APART: tuple[Status, ...] = ("INACTIVE", "ARCHIVED")
"""The statuses whose records (not merged away) the stores count apart, per group and collection, as every write
changes them: with the count of listed records they give the total of any filter on the status alone. Those of
`ACTIVE` are the listed records less the inactive ones, so the usual write, of an active record, changes none."""


def _by_status(node: Node) -> tuple[Node | None, bool]:
    """`node` with its conditions on `status`, if they are the whole filter or items of its `and` and no other item
    names the status, made the one condition saying which statuses they admit: `status eq` one, `status in (…)` two
    (`status ne 'ACTIVE'` is `status in ('INACTIVE', 'ARCHIVED')`), and none at all where they say no more than that a
    record is listed (`status ne 'ARCHIVED'`, `status in ('ACTIVE', 'INACTIVE')`) or that it may have any status
    (`status ne null`) (None if nothing is left); and whether the page lists archived records (the filter names the
    status and, if any, does not leave them out). A store then counts such records from the kept counts, as for no
    filter (the archived ones too, if listed, kept apart), and pages the inactive and archived ones from their
    statuses' own indexes (`ListQuery.by_status`), where it read every record of the group to test its status."""
    items = node.items if isinstance(node, And) else (node,)
    said = [item for item in items if fields_of(item) == {("status",)}]
    rest = [item for item in items if ("status",) not in fields_of(item)]
    statuses = [found for item in said if (found := _statuses(item)) is not None]
    if not said or len(said) + len(rest) < len(items) or len(statuses) < len(said):
        return node, ("status",) in fields_of(node)
    admitted = frozenset.intersection(*statuses)
    if not admitted:
        return node, True  # no record: left as it is
    if admitted not in (_STATUSES, _LISTED):
        ordered = tuple(status for status in get_args(Status) if status in admitted)
        rest.append(Comparison(("status",), "eq", ordered[0]) if len(ordered) == 1 else In(("status",), ordered))
    return None if not rest else rest[0] if len(rest) == 1 else And(tuple(rest)), admitted != _LISTED


def _statuses(node: Node) -> frozenset[Value] | None:
    """The statuses a record has where `node`, a condition on `status` alone, holds (None: one of an order)."""
    if isinstance(node, Comparison):
        if node.op not in ("eq", "ne"):
            return None
        return _STATUSES & {node.value} if node.op == "eq" else _STATUSES - {node.value}
    if isinstance(node, In):
        return _STATUSES & set(node.values)
    if isinstance(node, Not):
        inner = _statuses(node.item)
        return None if inner is None else _STATUSES - inner
    parts = [found for item in node.items if (found := _statuses(item)) is not None]
    if len(parts) < len(node.items):
        return None
    return frozenset.union(*parts) if isinstance(node, Or) else frozenset.intersection(*parts)


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


def check_params(params: Mapping[str, str], allowed: frozenset[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {_quoted(unknown)}", allowed=sorted(allowed))
    multi_items = getattr(params, "multi_items", None)
    if multi_items is not None:
        repeated = sorted(name for name, count in Counter(name for name, _ in multi_items()).items() if count > 1)
        if repeated:
            raise BadRequest(f"query parameter(s) given more than once: {_quoted(repeated)}")


def _quoted(names: list[str]) -> str:
    """Parameter names, each quoted: bare, an empty name (`?=1`) or a blank one showed as nothing at all, and one
    holding a comma as two."""
    return ", ".join(repr(name) for name in names)


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
    unknown = sorted(name for name in names if tuple(name.split("/")) not in known)
    if unknown or not names:
        raise BadRequest(f"$select: unknown field(s): {', '.join(unknown) or '(none given)'}")
    return frozenset(tuple(name.split("/")) for name in names)


def whole_param(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """The query parameter `name`, a whole number from `low` to `high` (`default` if absent); else a 400."""
    raw = params.get(name)
    if raw is None:
        return default
    number = whole(raw)
    if number is None or not low <= number <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}, not {raw[:40]!r}")
    return number


def skiptoken(params: Mapping[str, str], shape: re.Pattern[str], clash: bool, without: str) -> tuple[str, int] | None:
    """Where the page a `$skiptoken` names starts after, and how many came before it (None without a token);
    a 400 if it comes with what it goes `without` (`clash`) or is not of the `shape` this hub makes."""
    token = params.get("$skiptoken")
    if token is None:
        return None
    if clash:
        raise BadRequest(f"$skiptoken goes without {without}: pass the next link of a page as it is")
    if not (made := shape.fullmatch(token)):
        raise BadRequest(f"$skiptoken {token[:40]!r} is not one this hub made: pass the next link of a page as it is")
    return made[1], int(made[2])


def made_token(where: str, before: int) -> str:
    """The `$skiptoken` of a page starting after `where`, `before` items before it: the count no more than a token may
    say (`MAX_WHOLE`), so that the hub reads back every next link it gives."""
    return f"{where}.{min(before, MAX_WHOLE)}"


def window(params: Mapping[str, str], default_top: int, max_top: int) -> tuple[int, int]:
    """`$skip` and `$top` of a page, checked."""
    return whole_param(params, "$skip", 0, 0, 10**9), whole_param(params, "$top", default_top, 1, max_top)


def _path(collection: Collection, text: str, where: str) -> tuple[str, ...]:
    path = tuple(text.strip().split("/"))
    if path not in collection.kinds:
        raise BadRequest(f"{where}: unknown field {text.strip()!r}")
    return path


def bind_filter(collection: Collection, node: Node) -> Node:
    """Check every field of a filter and put date literals in the stored form."""
    for path in fields_of(node):
        if path not in collection.kinds:
            raise BadRequest(f"$filter: unknown field {'/'.join(path)!r}")

    def normalise(path: tuple[str, ...], value: Value) -> Value:
        if collection.kinds[path] != "datetime" or value is None:
            return value
        try:
            return timefmt.canonical(str(value))
        except ValueError:
            raise BadRequest(f"$filter: {'/'.join(path)} needs a date, not {value!r}") from None

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
    both. A code is also its number (`code gt 5`)."""

    def check(path: tuple[str, ...], value: Value) -> Value:
        if not _of_type(collection, path, value):
            wanted = _wanted(collection, path)[1]
            raise BadRequest(f"$filter: {'/'.join(path)} is compared with {wanted}, not {value!r}")
        if path == ("status",) and value is not None and value not in _STATUSES:  # `'archived'` listed nothing
            raise BadRequest(f"$filter: status is 'ACTIVE', 'INACTIVE' or 'ARCHIVED', not {value!r}")
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
            f"$filter: code is compared in order with a code of {collection.name} ({collection.code(12)!r}) or its"
            f" number, not {node.value!r}"
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
            node = joined(bind_filter(collection, parse_filter(params["$filter"])))
        except Invalid as error:
            raise BadRequest(error.detail) from None
        check_types(collection, node)
        node, include_archived = _by_status(node)
    order = _order(collection, params.get("$orderby", ""))
    linked_raw = params.get("opts[linked]")
    if linked_raw is not None and (linked_raw not in ("true", "false") or read.app is None):
        raise BadRequest("opts[linked] is true or false, with opts[provider] and opts[realm]")
    if params.get("$count", "true") not in ("true", "false"):
        raise BadRequest(f"$count is true or false, not {params['$count'][:40]!r}")
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


def _order(collection: Collection, text: str) -> keyset.Order:
    """The `$orderby` keys, each field once (the first says its direction: a repeat could change nothing)."""
    parts = [p for p in text.split(",") if p.strip()]
    if len(parts) > MAX_ORDER_KEYS:
        raise BadRequest(f"$orderby: at most {MAX_ORDER_KEYS} fields, not {len(parts)}")
    order: dict[tuple[str, ...], bool] = {}
    for part in parts:
        words = part.split()
        if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise BadRequest(f"$orderby: expected 'field asc|desc', not {part.strip()!r}")
        order.setdefault(_path(collection, words[0], "$orderby"), len(words) == 2 and words[1].lower() == "desc")
    return tuple(order.items())


def _start(collection: Collection, order: keyset.Order, where: str) -> tuple[int, tuple[Value, ...]]:
    """The code (and, under `$orderby`, the sort values) of the record a `$skiptoken`'s page starts after."""
    if not order:
        return int(where), ()
    foreign = BadRequest("$skiptoken is not one this hub made: pass the next link of a page as it is")
    try:
        seq, values = keyset.parse(order, where)
    except keyset.OtherOrder:
        raise BadRequest("$skiptoken was made for another $orderby: pass the next link of a page as it is") from None
    except keyset.Foreign:
        raise foreign from None
    if not all(_of_type(collection, path, value) for (path, _), value in zip(order, values, strict=True)):
        raise foreign
    return seq, tuple(values)
