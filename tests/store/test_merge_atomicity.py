"""Races merges and undos against reads on every store with transactions: each read sees a merge whole or not at all."""

from __future__ import annotations

import asyncio
from collections import Counter

from hub.config import Settings
from hub.model.collections import COLLECTIONS
from hub.model.ids import ExternalId
from hub.model.key_link import LinkQuery
from hub.model.list_query import ListQuery
from hub.model.payload import parse_merge
from hub.model.record import Write
from hub.service import merging, upsert
from hub.store.base import Store
from tests.store.contract import mock_cannot_show

ORGS = COLLECTIONS["organizations"]
SF, HS, ZO = ExternalId("salesforce", "eu", "a"), ExternalId("hubspot", "7", "b"), ExternalId("zoho", "z", "c")
CYCLES = 100


async def test_no_read_sees_an_id_on_two_records_or_on_none(kind: str, store: Store) -> None:
    mock_cannot_show(kind, "a merge seen whole: without transactions its writes land one by one")
    settings = Settings()
    a = await upsert.upsert(store, settings, "g", ORGS, Write([SF], [], {"name": "A"}, {}))
    b = await upsert.upsert(store, settings, "g", ORGS, Write([HS, ZO], [], {"name": "B"}, {}))
    problems: list[str] = []
    states: Counter[str] = Counter()
    done = asyncio.Event()

    async def reader() -> None:
        while not done.is_set():
            records, total = await store.list("g", ORGS, ListQuery())
            seen = Counter(e for r in records for e in r.ids)
            if set(seen) != {SF, HS, ZO} or max(seen.values()) != 1 or total != len(records):
                problems.append(f"list: {seen}, total {total}")
            states["merged" if len(records) == 1 else "apart"] += 1
            holder = await store.find("g", "organizations", ZO)
            if holder is None or HS not in holder.ids:
                problems.append(f"find: {holder}")
            named = (await store.get("g", "organizations", [b.record.hub_id])).get(b.record.hub_id)
            if named is None or {HS, ZO} - set(named.ids):
                problems.append(f"get: {named}")
            links, count = await store.links("g", LinkQuery())
            holders = {k.ext: k.hub_id for k in links}
            if count != 3 or set(holders) != {SF, HS, ZO} or holders[HS] != holders[ZO]:
                problems.append(f"links: {links}, total {count}")

    async def writer() -> None:
        ask = parse_merge(ORGS, {"records": [b.record.hub_id]})
        for _ in range(CYCLES):
            _, entry = await merging.merge_records(store, settings, "g", ORGS, a.record.hub_id, None, ask, "t")
            await merging.unmerge(store, "g", ORGS, a.record.hub_id, None, entry.merge_id, "t")
        done.set()

    await asyncio.gather(writer(), *(reader() for _ in range(3)))
    assert problems == []
    assert states["merged"] and states["apart"], f"the readers never raced the writer: {states}"
