"""Random lists, seeded: each store (SQLite with and without field indexes, MongoDB) answers every `$filter`,
`$orderby`, `opts[linked]` and page walk as README's rules say, computed here from the records as shown; and the
in-memory matcher integrations use picks the same records."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from hub.model.collections import COLLECTIONS
from hub.model.field_index import FieldIndex
from hub.model.filter import Comparison, In, Not, Or, parse_filter
from hub.model.list_query import ListQuery
from hub.model.matching import matches
from hub.model.query import bind_filter
from tests.api.helpers import BASE, ext

APPS = [("crm", "1"), ("erp", "2")]
TEXTS = ["", "a", "A", "ab", "b", "10", "9", "é", "O'Neil"]
DATES = ["1985-01-29", "1985-01-29T01:00:00+01:00", "2000-02-29T12:00:00.5Z", "0999-01-01", "2024-06-01T10:00"]
NUMBERS = [-2.5, 0, 0.5, 1, 5, 10.0, 2**40]
KINDS = {
    "organizations": {
        "name": "text",
        "annual_revenue": "number",
        "number_of_employees": "number",
        "is_customer": "flag",
        "address/city": "text",
        "code": "code",
        "status": "status",
        "id": "id",
    },
    "people": {
        "first_name": "text",
        "birth_date": "date",
        "organization_id": "reference",
        "email/address": "text",
        "code": "code",
        "status": "status",
        "id": "id",
        "created_at": "date",
    },
}


def _maybe(rng: random.Random, pool: list[Any]) -> Any:
    return rng.choice(pool) if rng.random() < 0.7 else None


def _write(client: TestClient, rng: random.Random) -> dict[str, list[str]]:
    """Organizations and people with gaps, ties, links, archives and merges; their hub ids by collection."""
    written: dict[str, list[str]] = {"organizations": [], "people": []}
    for n in range(12):
        body: dict[str, Any] = {"name": _maybe(rng, TEXTS), "annual_revenue": _maybe(rng, NUMBERS)}
        body |= {"number_of_employees": _maybe(rng, [0, 3, 10, 2**40]), "is_customer": _maybe(rng, [True, False])}
        body |= {"address": {"city": _maybe(rng, TEXTS)}}
        body["id"] = [ext(p, f"o{n}", r) for p, r in APPS if n < 9 and rng.random() < 0.5]
        written["organizations"].append(_post(client, "organizations", body))
    for n in range(14):
        organizations = rng.choice([written["organizations"], written["organizations"][-3:]])  # the merged often
        body = {"first_name": _maybe(rng, TEXTS), "birth_date": _maybe(rng, DATES)}
        body |= {"organization_id": _maybe(rng, organizations), "id": [ext("crm", f"p{n}", "1")] if n < 11 else []}
        if rng.random() < 0.6:
            body["email"] = {"address": rng.choice(["a@x.io", "b@x.io", "A@x.io"])}
        written["people"].append(_post(client, "people", body))
    for collection, hub_ids in written.items():  # the last three hold no app's id, so they can merge
        survivor, *merged = rng.sample(hub_ids[-3:], 3)
        response = client.post(f"{BASE}/{collection}/{survivor}/merge", json={"records": merged})
        assert response.status_code == 200, response.text
        for hub_id in rng.sample(hub_ids, 3):
            assert client.delete(f"{BASE}/{collection}/{hub_id}").status_code == 200
        inactive = {collection: {"status": "INACTIVE"}}
        assert client.put(f"{BASE}/{collection}/{rng.choice(hub_ids)}", json=inactive).status_code == 200
    return written


def _post(client: TestClient, collection: str, body: dict[str, Any]) -> str:
    response = client.post(f"{BASE}/{collection}", json={collection: {k: v for k, v in body.items() if v}})
    assert response.status_code == 201, response.text
    return str(response.json()[collection]["id"])


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class Queries:
    """Random filters and orders within the grammar, each value of its field's type."""

    def __init__(self, rng: random.Random, collection: str, written: dict[str, list[str]], times: list[str]) -> None:
        self.rng, self.collection, self.written, self.times = rng, collection, written, times
        self.kinds = KINDS[collection]

    def value(self, kind: str, ordered: bool) -> str:
        rng = self.rng
        if not ordered and rng.random() < 0.1:
            return "null"
        if kind == "text":
            return _quoted(rng.choice([*TEXTS, "a@x.io", "b@x.io"]))
        if kind == "number":
            return str(rng.choice([*NUMBERS, 2.5, -1]))
        if kind == "flag":
            return rng.choice(["true", "false"])
        if kind == "date":
            return rng.choice([_quoted(rng.choice(DATES)), "1985-01-29T00:00:00Z", _quoted(rng.choice(self.times))])
        if kind == "code":
            number = rng.randint(0, 15)
            prefix = COLLECTIONS[self.collection].code_prefix
            return rng.choice([_quoted(f"{prefix}{number}"), str(number), *([] if ordered else [_quoted("XX1")])])
        if kind == "status":
            return _quoted(rng.choice(["ACTIVE", "INACTIVE", "ARCHIVED"]))
        hub_ids = self.written[self.collection if kind == "id" else "organizations"]
        return _quoted(rng.choice(hub_ids[-3:] if rng.random() < 0.5 else hub_ids))  # the merged ones often

    def condition(self) -> str:
        rng = self.rng
        field = rng.choice(list(self.kinds))
        kind = self.kinds[field]
        if rng.random() < 0.25:
            return f"{field} in ({', '.join(self.value(kind, False) for _ in range(rng.randint(1, 3)))})"
        if rng.random() < 0.15:  # read as one `in`
            return "(" + " or ".join(f"{field} eq {self.value(kind, False)}" for _ in range(rng.randint(2, 3))) + ")"
        op = rng.choice(["eq", "ne"] if kind == "reference" else ["eq", "ne", "gt", "ge", "lt", "le"])
        return f"{field} {op} {self.value(kind, op not in ('eq', 'ne'))}"

    def filter(self, depth: int = 0) -> str:
        roll = self.rng.random()
        if depth >= 2 or roll < 0.6:
            return self.condition()
        if roll < 0.7:
            return f"not ({self.filter(depth + 1)})"
        joiner = self.rng.choice([" and ", " or "])
        return "(" + joiner.join(self.filter(depth + 1) for _ in range(2)) + ")"

    def order(self) -> list[tuple[str, bool]]:
        """Never by a reference: it sorts by the id stored, which a merge leaves while the record shows another."""
        fields = [f for f, kind in self.kinds.items() if kind != "reference"]
        return [(f, self.rng.random() < 0.5) for f in self.rng.sample(fields, self.rng.choice([0, 1, 1, 2]))]


class Readme:
    """What README says a list holds, from the records as a GET shows them (each archived one included)."""

    def __init__(self, client: TestClient, collection: str) -> None:
        self.client, self.collection = client, collection
        every = client.get(f"{BASE}/{collection}", params={"$filter": "status ne null", "$top": "1000"})
        self.records: list[dict[str, Any]] = every.json()[collection]
        self.held = {app: self._held(app) for app in APPS}

    def _held(self, app: tuple[str, str]) -> set[str]:
        params = {"opts[provider]": app[0], "opts[realm]": app[1], "$filter": "status ne null", "$top": "1000"}
        return {r["code"] for r in self.client.get(f"{BASE}/{self.collection}", params=params).json()[self.collection]}

    def value(self, record: dict[str, Any], path: str) -> Any:
        value: Any = record
        for part in path.split("/"):
            value = value.get(part) if isinstance(value, dict) else None
        if path == "code":
            return int(value[2:])
        return _instant(value) if KINDS[self.collection].get(path) == "date" and value else value

    def literal(self, path: str, text: str, op: str) -> Any:
        kind = KINDS[self.collection][path]
        value = parse_filter(f"x eq {text}").value  # type: ignore[union-attr]
        if value is None:
            return None
        if kind == "code" and isinstance(value, str):
            prefix = COLLECTIONS[self.collection].code_prefix
            return int(value[2:]) if value.startswith(prefix) else -1
        if kind == "date":
            return _instant(str(value))
        if kind in ("id", "reference") and op in ("eq", "ne"):  # a merged-away hub id stands for its survivor
            target = self.collection if kind == "id" else "organizations"
            found = self.client.get(f"{BASE}/{target}/{value}")
            return found.json()[target]["id"] if found.status_code == 200 else value
        return value

    def holds(self, record: dict[str, Any], node: Any) -> bool:
        if node[0] == "cmp":
            _, path, op, text = node
            left, right = self.value(record, path), self.literal(path, text, op)
            if op in ("eq", "ne"):
                return _same(left, right) == (op == "eq")
            if left is None or right is None:
                return False
            return {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[op]
        if node[0] == "in":
            return any(self.holds(record, ("cmp", node[1], "eq", text)) for text in node[2])
        if node[0] == "not":
            return not self.holds(record, node[1])
        results = [self.holds(record, item) for item in node[2]]
        return any(results) if node[1] == "or" else all(results)

    def listed(self, text: str | None, order: list[tuple[str, bool]], linked: tuple[Any, bool] | None) -> list[str]:
        node = None if text is None else _tree(text)
        archived = text is not None and "status" in text
        out = [r for r in self.records if archived or r["status"] != "ARCHIVED"]
        if linked is not None:
            out = [r for r in out if (r["code"] in self.held[linked[0]]) == linked[1]]
        out = sorted(
            (r for r in out if node is None or self.holds(r, node)),
            key=lambda r: self.value(r, "code"),
            reverse=bool(order) and order[-1][1],  # ties by code in the direction of the last key
        )
        for path, desc in reversed(order):
            nulls = [r for r in out if self.value(r, path) is None]
            known = [r for r in out if r not in nulls]
            known.sort(key=lambda r: _sortable(self.value(r, path)), reverse=desc)
            out = known + nulls if desc else nulls + known
        return [r["code"] for r in out]


def _instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("z", "Z"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _same(left: Any, right: Any) -> bool:
    """Null equals null alone, a flag a flag alone (not 1), and a whole number its float."""
    return left is right is None or (left == right and isinstance(left, bool) == isinstance(right, bool))


def _sortable(value: Any) -> Any:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _tree(text: str) -> Any:
    """The filter as the nested tuples `Readme.holds` reads, from the hub's own parser (its grammar is tested apart)."""

    def show(value: Any) -> str:
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        return _quoted(value) if isinstance(value, str) else str(value)

    def walk(node: Any) -> Any:
        path = "/".join(getattr(node, "field", ()))
        if isinstance(node, Comparison):
            return ("cmp", path, node.op, show(node.value))
        if isinstance(node, In):
            return ("in", path, [show(v) for v in node.values])
        if isinstance(node, Not):
            return ("not", walk(node.item))
        return ("join", "or" if isinstance(node, Or) else "and", [walk(item) for item in node.items])

    return walk(parse_filter(text))


def _walk(client: TestClient, collection: str, params: dict[str, str]) -> tuple[list[str], set[Any]]:
    """The codes of every page, following `next`, and the totals the pages said."""
    codes: list[str] = []
    totals: set[Any] = set()
    response = client.get(f"{BASE}/{collection}", params=params)
    while True:
        assert response.status_code == 200, (params, response.text)
        codes += [r["code"] for r in response.json()[collection]]
        totals.add(response.json()["pagination"]["total"])
        if not (following := response.json()["pagination"].get("next")):
            return codes, totals
        response = client.get(following)


@pytest.mark.parametrize("indexed", [False, True], ids=["plain", "indexed"])
def test_lists_answer_as_readme_says(client: TestClient, store_kind: str, indexed: bool) -> None:
    if indexed and store_kind != "sqlite":
        pytest.skip("field indexes are SQLite's")
    rng = random.Random(5)
    written = _write(client, rng)
    store = client.app.state.store  # type: ignore[attr-defined]
    for collection in written if indexed else ():
        for field, kind in KINDS[collection].items():
            if kind in ("text", "number", "flag"):
                index = FieldIndex(collection, tuple(field.split("/")))
                client.portal.call(store.add_field_index, index)  # type: ignore[union-attr]
    for collection in written:
        readme = Readme(client, collection)
        queries = Queries(rng, collection, written, [r["created_at"] for r in readme.records])
        for _ in range(40):
            text, order = queries.filter() if rng.random() < 0.9 else None, queries.order()
            linked = (rng.choice(APPS), rng.random() < 0.5) if rng.random() < 0.3 else None
            params = _params(text, rng.choice(["2", "5", "100"]), order, linked)
            expected = readme.listed(text, order, linked)
            assert _walk(client, collection, params) == (expected, {len(expected)}), params
            if text and "id " not in text and "id in" not in text:
                _matcher_agrees(client, collection, text, set(readme.listed(text, [], None)))


def _params(
    text: str | None, top: str, order: list[tuple[str, bool]], linked: tuple[Any, bool] | None
) -> dict[str, str]:
    """The query string of a list: its filter, page size, `$orderby` and app (`linked`: the app and whether held)."""
    params = {"$top": top} | ({"$filter": text} if text else {})
    params |= {"$orderby": ",".join(f"{f} {'desc' if d else 'asc'}" for f, d in order)} if order else {}
    if linked:
        (provider, realm), held = linked
        params |= {"opts[provider]": provider, "opts[realm]": realm, "opts[linked]": str(held).lower()}
    return params


def _matcher_agrees(client: TestClient, collection: str, text: str, expected: set[str]) -> None:
    """`hub.model.matching` (an integration's filter) picks what the list does; it compares the ids records were
    given, so a filter by a hub id is left to the lists above."""
    kind = COLLECTIONS[collection]
    store = client.app.state.store  # type: ignore[attr-defined]
    records, _ = client.portal.call(store.list, "cld-1", kind, ListQuery(top=1000, include_archived=True))  # type: ignore[union-attr]
    node = bind_filter(kind, parse_filter(text))
    archived = "status" in text
    picked = {kind.code(r.seq) for r in records if (archived or r.status != "ARCHIVED") and matches(kind, r, node)}
    assert picked == expected, text


STATUS_FILTERS = [
    "status ne null",
    "status in ('ACTIVE', 'INACTIVE', 'ARCHIVED')",
    "status eq 'ACTIVE' or status eq 'INACTIVE' or status eq 'ARCHIVED'",
    "status ne null and code gt 3",
    "status in ('ARCHIVED', 'INACTIVE')",
    "status eq 'ARCHIVED' or status eq 'INACTIVE'",
    "status ne 'ACTIVE'",
    "status in ('ACTIVE', 'ARCHIVED')",
    "status ne 'ACTIVE' and code gt 3",
    "(status eq 'ARCHIVED' or status eq 'INACTIVE') and code le 9 and code ne 5",
    "status gt 'ARCHIVED' and status in ('ARCHIVED', 'INACTIVE') and code gt 3",
    "id in (null) and status ne 'ACTIVE' and code gt 3",
]
"""Filters on the status that a store answers from its kept counts and each status's own index."""


@pytest.mark.parametrize("text", STATUS_FILTERS)
def test_a_filter_on_the_status_answers_as_readme_says(client: TestClient, text: str) -> None:
    """Every page, followed by `next`, in code order and in others, of the records and of an app's either way."""
    written = _write(client, random.Random(7))
    for collection in written:
        readme = Readme(client, collection)
        for order in ([], [("code", True)], [("status", False)]):
            for linked in (None, (APPS[0], True), (APPS[0], False)):
                for top in ("2", "100"):
                    params = _params(text, top, order, linked)
                    expected = readme.listed(text, order, linked)
                    assert _walk(client, collection, params) == (expected, {len(expected)}), params


OR_NULL_FILTERS = {
    "people": [
        "first_name in ('a', 'A', null)",
        "first_name eq null or first_name eq 'ab'",
        "email/address in ('a@x.io', null) and code gt 3",
        "first_name in ('b', null) and status ne 'ACTIVE'",
        "first_name in ('a', null) and email/address in ('b@x.io', null)",
    ],
    "organizations": ["name in ('a', null)", "annual_revenue in (0, 5, null) and is_customer eq true"],
}
"""Filters of values of a declared field or null, which SQLite reads per value from a field's index."""


@pytest.mark.parametrize("indexed", [False, True], ids=["plain", "indexed"])
def test_a_filter_of_values_or_null_answers_as_readme_says(client: TestClient, store_kind: str, indexed: bool) -> None:
    """Every page, followed by `next`, in code order and in others, of the records and of an app's either way."""
    if indexed and store_kind != "sqlite":
        pytest.skip("field indexes are SQLite's")
    _write(client, random.Random(11))
    store = client.app.state.store  # type: ignore[attr-defined]
    for collection, texts in OR_NULL_FILTERS.items():
        for field, kind in KINDS[collection].items():
            if indexed and kind in ("text", "number", "flag"):
                index = FieldIndex(collection, tuple(field.split("/")))
                client.portal.call(store.add_field_index, index)  # type: ignore[union-attr]
        readme = Readme(client, collection)
        for text in texts:
            for order in ([], [("code", True)], [(next(iter(KINDS[collection])), False)]):
                for linked in (None, (APPS[0], True), (APPS[0], False)):
                    params = _params(text, "2", order, linked)
                    expected = readme.listed(text, order, linked)
                    assert _walk(client, collection, params) == (expected, {len(expected)}), params


def test_an_in_of_hundreds_of_values_or_null_answers_as_readme_says(client: TestClient, store_kind: str) -> None:
    """As many values as a `$filter` holds: on SQLite, a query of each and one of null are more than one statement
    unites (500), and each carries the rest of the filter's parameters."""
    _write(client, random.Random(11))
    if store_kind == "sqlite":
        store = client.app.state.store  # type: ignore[attr-defined]
        client.portal.call(store.add_field_index, FieldIndex("organizations", ("number_of_employees",)))  # type: ignore[union-attr]
    readme = Readme(client, "organizations")
    text = f"number_of_employees in ({','.join(map(str, range(500)))},null) and code in ({','.join('12345')})"
    for order in ([], [("name", True)]):
        expected = readme.listed(text, order, None)
        assert _walk(client, "organizations", _params(text, "2", order, None)) == (expected, {len(expected)})
