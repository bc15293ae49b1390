"""Helpers the store contract suites share: records to write, app ids, and what mongomock cannot show."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from hub.model.collections import COLLECTIONS
from hub.model.ids import ExternalId
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
