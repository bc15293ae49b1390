"""The in-memory filter (what outbound integrations evaluate) agrees with the SQLite store's query, on any filter;
and any filter and its `not` split the records between them."""

from __future__ import annotations

import asyncio
import random
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.config import Settings
from hub.model.collections import COLLECTIONS
from hub.model.filter import And, Comparison, In, Node, Not, Or
from hub.model.list_query import ListQuery
from hub.model.matching import matches
from hub.model.record import Write
from hub.service import upsert
from hub.store.sqlite import SQLiteStore

ORGS = COLLECTIONS["organizations"]
TEXTS = ["", "a", "b", "B", "ab", "10", "2030-01-01T00:00:00.000000Z"]
FIELDS: dict[tuple[str, ...], Any] = {
    ("name",): st.sampled_from(TEXTS),
    ("number_of_employees",): st.integers(-2, 12),
    ("annual_revenue",): st.floats(-2, 12, allow_nan=False).map(lambda f: round(f, 1)),
    ("is_customer",): st.booleans(),
    ("address", "city"): st.sampled_from(TEXTS),
    ("code",): st.sampled_from(["OR1", "OR7", "PE1", "x"]) | st.integers(0, 9),
    ("status",): st.sampled_from(["ACTIVE", "ARCHIVED"]),
}
any_value = st.one_of(st.none(), *FIELDS.values())


def comparisons() -> st.SearchStrategy[Node]:
    fields = st.sampled_from(list(FIELDS))
    ops = st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le"])

    def compare(field: tuple[str, ...], op: str, value: Any) -> Node:
        return Comparison(field, op, None if op not in ("eq", "ne") and value is None else value)

    values = st.one_of(any_value, fields.flatmap(lambda f: FIELDS[f]))
    plain = st.builds(compare, fields, ops, values)
    listed = st.builds(lambda f, vs: In(f, tuple(vs)), fields, st.lists(any_value, min_size=1, max_size=3))
    return plain | listed


filters = st.recursive(
    comparisons(),
    lambda inner: st.one_of(
        st.builds(lambda items: And(tuple(items)), st.lists(inner, min_size=2, max_size=3)),
        st.builds(lambda items: Or(tuple(items)), st.lists(inner, min_size=2, max_size=3)),
        st.builds(Not, inner),
    ),
    max_leaves=6,
)


def _records() -> list[dict[str, Any]]:
    rng = random.Random(7)
    out = []
    for _ in range(40):
        body: dict[str, Any] = {}
        for name, options in [
            ("name", TEXTS),
            ("number_of_employees", [-1, 0, 3, 10]),
            ("annual_revenue", [0.5, 3.0, 9.9]),
            ("is_customer", [True, False]),
        ]:
            if rng.random() < 0.7:
                body[name] = rng.choice(options)
        if rng.random() < 0.6:
            body["address"] = {"city": rng.choice(TEXTS)}
        if rng.random() < 0.2:
            body["status"] = "ARCHIVED"
        out.append(body)
    return out


class World:
    """One store holding the sample records, shared by every example (opening one per example is slow)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.dir = tempfile.TemporaryDirectory()
        self.store = SQLiteStore(str(Path(self.dir.name) / "hub.db"))
        self.loop.run_until_complete(self._fill())

    async def _fill(self) -> None:
        await self.store.open()
        for body in _records():
            await upsert.upsert(self.store, Settings(), "g", ORGS, Write([], [], body, {}))
        self.records, _ = await self.store.list("g", ORGS, ListQuery(top=1000, include_archived=True))

    def listed(self, node: Node) -> set[str]:
        query = ListQuery(filter=node, top=1000, include_archived=True, count=False)
        found, _ = self.loop.run_until_complete(self.store.list("g", ORGS, query))
        return {r.hub_id for r in found}

    def close(self) -> None:
        self.loop.run_until_complete(self.store.close())
        self.loop.close()
        self.dir.cleanup()


def test_matches_agrees_with_the_store_on_every_filter() -> None:
    world = World()

    @settings(max_examples=300, deadline=None)
    @given(filters)
    def agree(node: Node) -> None:
        expected = world.listed(node)
        assert {r.hub_id for r in world.records if matches(ORGS, r, node)} == expected, node

    try:
        agree()
    finally:
        world.close()


def test_a_filter_and_its_not_split_the_records() -> None:
    """No record is in neither (SQL's unknown, which `not` keeps unknown) nor in both."""
    world = World()
    every = {r.hub_id for r in world.records}

    @settings(max_examples=200, deadline=None)
    @given(filters)
    def split(node: Node) -> None:
        found, others = world.listed(node), world.listed(Not(node))
        assert found | others == every and not found & others, node

    try:
        split()
    finally:
        world.close()
