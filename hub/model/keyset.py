"""Where a page in a `$orderby` order starts: after the record the page before ended with, by its sort values.

A `next` link that moved `$skip` on passed over records whenever records before the page left the list
(archived, merged away, edited past it) and showed others twice when records moved in before it; a deep `$skip`
also read every record before it. A `$skiptoken` of the last record's sort values and code finds the page in
the order itself: a record that stays where it is during a walk shows exactly once, and one whose sort values
change shows where they put it (a sync by `updated_at asc` sees a record edited meanwhile again, later).
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from collections.abc import Sequence

import orjson

from hub.model.collections import META_KINDS
from hub.model.filter import And, Comparison, Node, Or, Value
from hub.model.matching import value_of
from hub.model.numbers import MAX_DIGITS
from hub.model.record import Record

Order = Sequence[tuple[tuple[str, ...], bool]]
"""(field path, descending) pairs, as `ListQuery.order` holds them."""

MAX_POSITION = 8000
"""The longest position a token carries. Sort values longer than that (a few long texts) make the link move `$skip`
on instead, as does a link too long as a whole (`hub.api.context.MAX_LINK`)."""

TOKEN = re.compile(rf"([A-Za-z0-9_-]{{1,{MAX_POSITION}}})\.([0-9]{{1,{MAX_DIGITS}}})")
"""A `$skiptoken` under `$orderby`: the position (base64url of `[code, order, values]`) and how many came before."""


class Foreign(ValueError):
    """A position this hub did not make."""


class OtherOrder(Foreign):
    """A position this hub made for another `$orderby`."""


def position(order: Order, record: Record) -> str | None:
    """The position of a page in `order` that ended with `record`, for its `$skiptoken` (None if too long)."""
    values = [value_of(record, path) for path, _ in order]
    made = base64.urlsafe_b64encode(orjson.dumps([record.seq, _fingerprint(order), values])).rstrip(b"=").decode()
    return made if len(made) <= MAX_POSITION else None


def parse(order: Order, text: str) -> tuple[int, list[Value]]:
    """The code and sort values a position holds, unchecked against the fields' types; `Foreign` if it is none
    this hub made, `OtherOrder` if it made it for another order."""
    try:
        seq, made_for, values = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, TypeError):
        raise Foreign(text) from None
    if type(seq) is not int or not 0 <= seq < 2**63 or not isinstance(values, list):
        raise Foreign(text)
    if made_for != _fingerprint(order) or len(values) != len(order):
        raise OtherOrder(text)
    return seq, values


def codes_descend(order: Order) -> bool:
    """Whether records of the same sort values come by code descending: in the direction of the last key, so that
    a page by one key, descending, is its index (the key, then the code) read backward. Ties came by code ascending
    whatever the keys, which no index read backward gives: MongoDB sorted the group's records of the type for each
    page by a field index's field, descending (it keeps no order of a page beyond one index)."""
    return bool(order) and order[-1][1]


def _fingerprint(order: Order) -> int:
    """A number of the order a position was made in: a token passed with another `$orderby` is refused, as is one of
    a descending order made while its ties came by code ascending (a walk going on from it would pass over some)."""
    return zlib.crc32(
        orjson.dumps([["/".join(path), desc] for path, desc in order] + ["code desc"] * codes_descend(order))
    )


def after(order: Order, values: Sequence[Value], seq: int) -> Node:
    """The records that come after one of sort values `values` and code `seq`, in `order` and then code
    (`codes_descend`).

    Null comes before every value, as both stores sort: first ascending, last descending. The comparisons are
    the stores' own (no merge is followed, as `$filter` follows them for a reference), and the first key's range
    is given on its own too, so that an index on it starts the page where it is.
    """
    following = _following(order, values, seq)
    (path, desc), value = order[0], values[0]
    if value is None:
        return _all([Comparison(path, "eq", None), following]) if desc else following
    start: Node = Comparison(path, "le" if desc else "ge", value)
    if _nulls_follow(path, desc, value):
        start = Or((start, Comparison(path, "eq", None)))
    return _all([start, following])


def parts(order: Order, values: Sequence[Value], seq: int) -> tuple[tuple[Node, Order], ...]:
    """`after`, as the parts of it that come one after another in `order`, each a range of an index on the first key,
    with the order its records come in: under a descending one, from the token's value down, then the nulls, in
    the order of the other keys. Their OR is no range of an index, and SQLite read every record before the token to
    find the page (28,261 steps at 4,000 records, 389 now); and ordered by the key they all lack, the nulls were
    sorted from the group's records rather than read from the index in code order."""
    (path, desc), value = order[0], values[0]
    if desc and value is None:
        return ((after(order, values, seq), order[1:]),)
    if not _nulls_follow(path, desc, value):
        return ((after(order, values, seq), order),)
    return (
        (_all([Comparison(path, "le", value), _following(order, values, seq)]), order),
        (Comparison(path, "eq", None), order[1:]),
    )


def _nulls_follow(path: tuple[str, ...], desc: bool, value: Value) -> bool:
    """Whether nulls of the first key come after a record where it is `value`: last descending, where a declared
    field may be null (a record's own fields never are)."""
    return desc and value is not None and path[0] not in META_KINDS


def _following(order: Order, values: Sequence[Value], seq: int) -> Node:
    """The records after one of sort values `values` and code `seq`: past it on a key, the keys before it the same."""
    terms: list[Node] = []
    same: list[Node] = []
    for (path, desc), value in zip(order, values, strict=True):
        if (past := _past(path, desc, value)) is not None:
            terms.append(_all([*same, past]))
        same.append(Comparison(path, "eq", value))
    terms.append(_all([*same, Comparison(("code",), "lt" if codes_descend(order) else "gt", seq)]))
    return terms[0] if len(terms) == 1 else Or(tuple(terms))


def _past(path: tuple[str, ...], desc: bool, value: Value) -> Node | None:
    """Where a sort key's value comes after `value` (None: nowhere, after null descending)."""
    if not desc:
        return Comparison(path, "ne" if value is None else "gt", value)
    if value is None:
        return None
    return Or((Comparison(path, "lt", value), Comparison(path, "eq", None)))


def _all(items: list[Node]) -> Node:
    return items[0] if len(items) == 1 else And(tuple(items))
