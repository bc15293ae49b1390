"""Helpers the store contract suites share: records to write, app ids, what mongomock cannot show, and the
records of the list contract with the filters and orders that list them."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pytest

from hub.model.collections import COLLECTIONS
from hub.model.ids import ExternalId
from hub.model.query import parse_list
from hub.model.record import Record
from hub.store.base import Store

G = "cld-1"
PEOPLE, ORGS = COLLECTIONS["people"], COLLECTIONS["organizations"]
OpenStore = Callable[[], Awaitable[Store]]


def mock_cannot_show(kind: str, what: str) -> None:
    if kind == "mongomock":
        pytest.skip(f"mongomock cannot show {what}")


def ext(provider: str, id: str, realm: str = "r1") -> ExternalId:
    return ExternalId(provider, realm, id)


def at(day: int) -> str:
    return f"2020-01-{day:02d}T00:00:00.000000Z"


def rec(
    seq: int,
    ids: list[ExternalId] | None = None,
    collection: str = "people",
    group: str = G,
    status: str = "ACTIVE",
    **fields: Any,
) -> Record:
    return Record(str(uuid.uuid4()), group, collection, seq, status, at(seq), at(seq), fields, list(ids or []))


async def insert(store: Store, *records: Record) -> None:
    for record in records:
        async with store.transaction(record.group_id) as tx:
            await tx.insert(record)


async def one(store: Store, record: Record, collection: str = "people") -> Record:
    return (await store.get(record.group_id, collection, [record.hub_id]))[record.hub_id]


async def write_people(store: Store) -> dict[str, Record]:
    """PE1 Ann Lee, PE2 Bob (inactive), PE3 (no first name) Cole, PE4 Dan Lee (archived), PE5 Eve merged into PE1."""
    made = {
        "PE1": rec(1, [ext("sf", "1")], first_name="Ann", last_name="Lee", email={"address": "ann@x.io"}),
        "PE2": rec(2, [ext("hs", "2")], status="INACTIVE", first_name="Bob"),
        "PE3": rec(3, [], last_name="Cole", email={"address": "c@x.io"}),
        "PE4": rec(4, [ext("sf", "4"), ext("hs", "4")], status="ARCHIVED", first_name="Dan", last_name="Lee"),
        "PE5": rec(5, [ext("zd", "5")], first_name="Eve"),
        "other group": rec(1, [ext("sf", "1")], group="cld-2", first_name="Ann"),
    }
    await insert(store, *made.values())
    async with store.transaction(G) as tx:
        await tx.merge(made["PE1"], [made["PE5"]])
    return made


FILTERS = [
    ("first_name eq 'Ann'", ["PE1"]),
    ("first_name eq null", ["PE3"]),
    ("first_name ne 'Ann'", ["PE2", "PE3"]),
    ("first_name ne null", ["PE1", "PE2"]),
    ("first_name gt 'Ann'", ["PE2"]),
    ("first_name ge 'Bob'", ["PE2"]),
    ("first_name lt 'Bob'", ["PE1"]),
    ("first_name le 'Bob'", ["PE1", "PE2"]),
    ("first_name lte 'Bob'", ["PE1", "PE2"]),
    ("first_name in ('Bob', 'Ann', 'Zed')", ["PE1", "PE2"]),
    ("first_name in ('Ann', null)", ["PE1", "PE3"]),
    ("email/address eq 'c@x.io'", ["PE3"]),
    ("email/address ne null", ["PE1", "PE3"]),
    ("first_name eq 'Ann' or last_name eq 'Cole'", ["PE1", "PE3"]),
    ("last_name eq 'Lee' and first_name eq 'Ann'", ["PE1"]),
    ("(first_name eq 'Bob' or first_name eq 'Ann') and not (last_name eq 'Lee')", ["PE2"]),
    # A comparison with a missing value is false, so `not` takes in every record the comparison leaves out.
    ("not (first_name gt 'Ann')", ["PE1", "PE3"]),
    ("not (first_name in ('Ann'))", ["PE2", "PE3"]),
    ("not (first_name in ('Bob', null))", ["PE1"]),
    ("not (first_name eq 'Ann')", ["PE2", "PE3"]),
    ("not (last_name eq 'Lee' and first_name eq 'Bob')", ["PE1", "PE2", "PE3"]),
    ("not (first_name gt 'Bob' or last_name eq 'Lee')", ["PE2", "PE3"]),
    ("code eq 'PE2'", ["PE2"]),
    ("code in ('PE1', 'PE3', 'XX1')", ["PE1", "PE3"]),
    ("code in ('PE3', null)", ["PE3"]),
    ("not (code in ('PE3', null))", ["PE1", "PE2"]),
    ("code gt 'PE1'", ["PE2", "PE3"]),
    ("code eq 'OR1'", []),
    ("created_at ge 2020-01-02", ["PE2", "PE3"]),
    ("updated_at lt '2020-01-02T00:00:00Z'", ["PE1"]),
    ("status eq 'ARCHIVED'", ["PE4"]),
    ("status ne 'ACTIVE'", ["PE2", "PE4"]),
    ("status eq 'ACTIVE'", ["PE1", "PE3"]),
    ("status eq 'INACTIVE'", ["PE2"]),
    ("status in ('INACTIVE', null)", ["PE2"]),
    ("updated_at in ('2020-01-02T00:00:00Z', null)", ["PE2"]),
    ("status in ('ACTIVE', 'ARCHIVED') and last_name eq 'Lee'", ["PE1", "PE4"]),
]
"""Filters of the `people` records, and the codes each lists."""

ORDERS = [
    ("", ["PE1", "PE2", "PE3"]),
    ("first_name asc", ["PE3", "PE1", "PE2"]),  # a missing value sorts first, as SQL's NULL
    ("first_name desc", ["PE2", "PE1", "PE3"]),
    ("last_name", ["PE2", "PE3", "PE1"]),
    ("email/address desc", ["PE3", "PE1", "PE2"]),
    ("code desc", ["PE3", "PE2", "PE1"]),
    ("last_name desc,first_name desc", ["PE1", "PE3", "PE2"]),
    ("first_name desc,first_name asc", ["PE2", "PE1", "PE3"]),
    ("status", ["PE1", "PE3", "PE2"]),  # ties keep code order
]
"""Orders of the `people` records, and the codes each lists."""


async def codes(store: Store, params: Mapping[str, str], collection: str = "people") -> list[str]:
    model = COLLECTIONS[collection]
    query, _ = parse_list(model, params, 100, 1000)
    records, _ = await store.list(G, model, query)
    return [model.code(r.seq) for r in records]
