"""Whether one record matches a `$filter`, decided in memory exactly as the stores' queries decide it.

Every filter is true or false, as in OData: a missing field is null, null equals null and nothing else, and an
order comparison (`gt`, `le`…) with null is false, so `not` of a filter is exactly what it leaves out. Values of
different types order numbers before text, as in SQLite.
"""

from __future__ import annotations

from typing import Any

from hub.model.collections import Collection
from hub.model.filter import Comparison, In, Node, Not, Or, Value
from hub.model.record import Record


def value_of(record: Record, path: tuple[str, ...]) -> Any:
    """A field's value as filters compare it and `$orderby` sorts by it: null where the record has none."""
    meta = {"id": record.hub_id, "code": record.seq, "status": record.status}
    meta |= {"created_at": record.created_at, "updated_at": record.updated_at}
    if len(path) == 1 and path[0] in meta:
        return meta[path[0]]
    value: Any = record.fields
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, str | int | float | bool) else None


def _rank(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int | float) else (1, value)


def _compare(op: str, left: Any, right: Value) -> bool:
    if op == "eq":
        return left == right if _rank(left)[0] == _rank(right)[0] or None in (left, right) else False
    if op == "ne":
        return not _compare("eq", left, right)
    if left is None or right is None:
        return False
    a, b = _rank(left), _rank(right)
    return {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op]


def _truth(collection: Collection, record: Record, node: Node) -> bool:
    if isinstance(node, Comparison):
        value = value_of(record, node.field)
        return _compare(node.op, value, collection.operand(node.field, node.value))
    if isinstance(node, In):  # `f in (a, null)` is `f eq a or f eq null`
        value = value_of(record, node.field)
        return any(_compare("eq", value, collection.operand(node.field, v)) for v in node.values)
    if isinstance(node, Not):
        return not _truth(collection, record, node.item)
    results = (_truth(collection, record, item) for item in node.items)  # node is an And or an Or
    return any(results) if isinstance(node, Or) else all(results)


def matches(collection: Collection, record: Record, node: Node | None) -> bool:
    """Whether the record is one a list with this filter would return (no filter: every record)."""
    return node is None or _truth(collection, record, node)
