"""A write addressed by an app id acts on the record holding the id when it commits, whatever moved the id just before.

Each round races a `PUT` or `DELETE` by an app id against an undo of a merge or a key link move that takes the id
to another record, over HTTP against a running hub. Run one after the other in either order, neither merges records
nor touches a record that does not hold the id; nor may they when they race. The one sent first commits first, so
the rounds send them in turn one way and the other: each order is met.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import httpx2

from tests.e2e.server import Server, running_hub

ROUNDS = 12
IDS = {"CONNEC-EXTERNAL-IDS": "true"}
BY_B = {"opts[provider]": "b", "opts[realm]": "1"}


def ext(provider: str, id_: str) -> dict[str, str]:
    return {"realm": "1", "provider": provider, "id": id_}


async def create(client: httpx2.AsyncClient, base: str, *ids: dict[str, str]) -> str:
    answer = await client.post(f"{base}/people", json={"people": {"id": list(ids), "first_name": "P"}}, headers=IDS)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["people"]["id"][-1]["id"])


async def merged(client: httpx2.AsyncClient, base: str, n: int) -> tuple[str, str, str]:
    """Records A (a id) and B (b id) merged into A: (A, B, the merge)."""
    a, b = await create(client, base, ext("a", f"a{n}")), await create(client, base, ext("b", f"b{n}"))
    answer = await client.post(f"{base}/people/{a}/merge", json={"records": [b]})
    assert answer.status_code == 200, answer.text
    return a, b, str(answer.json()["merge"]["id"])


async def put_by_b(client: httpx2.AsyncClient, base: str, n: int) -> httpx2.Response:
    return await client.put(f"{base}/people/b{n}", params=BY_B, json={"people": {"title": "Dr."}})


async def race(n: int, write: Awaitable[httpx2.Response], move: Awaitable[httpx2.Response]) -> list[httpx2.Response]:
    """The answers to the write and the move of the id, sent at once: the write first in even rounds, last in odd."""
    if n % 2:
        return list(reversed(await asyncio.gather(move, write)))
    return list(await asyncio.gather(write, move))


async def assert_apart(client: httpx2.AsyncClient, base: str, n: int, put: httpx2.Response, *records: str) -> None:
    """The PUT merged nothing: each record is still its own."""
    assert put.status_code == 200 and "merged" not in put.json(), put.text
    for record in records:
        shown = (await client.get(f"{base}/people/{record}")).json()["people"]
        assert shown["id"] == record, f"round {n}: {record} was merged into {shown['id']} by the PUT"


async def feed(client: httpx2.AsyncClient, base: str) -> list[dict[str, Any]]:
    return list((await client.get(f"{base}/changes", params={"limit": "1000"})).json()["changes"])


async def landed(client: httpx2.AsyncClient, base: str, n: int, kind: str, moved: str, held: str, holds: str) -> str:
    """Where the write (its change `kind`) committed against the move of the id (its first change `moved`): before
    it, on the record that `held` the id, or after it, on the one that `holds` it since."""
    changes = [(c["kind"], c["id"]) for c in await feed(client, base)]
    [written] = [record for k, record in changes if k == kind]
    before = changes.index((kind, written)) < next(i for i, (k, _) in enumerate(changes) if k == moved)
    assert written == (held if before else holds), f"round {n}: {changes}"
    return "before" if before else "after"


async def put_racing_undo(hub: Server, n: int) -> str:
    base = f"/api/v2/undo-put-{n}"
    async with httpx2.AsyncClient(base_url=hub.url, headers=hub.headers, timeout=30) as client:
        a, b, merge = await merged(client, base, n)
        undo = client.post(f"{base}/people/{a}/unmerge", json={"merge_id": merge})
        put, undone = await race(n, put_by_b(client, base, n), undo)
        assert undone.status_code == 200, undone.text
        await assert_apart(client, base, n, put, a, b)
        return await landed(client, base, n, "update", "unmerge", a, b)


async def delete_racing_undo(hub: Server, n: int) -> str:
    base = f"/api/v2/undo-delete-{n}"
    async with httpx2.AsyncClient(base_url=hub.url, headers=hub.headers, timeout=30) as client:
        a, b, merge = await merged(client, base, n)
        undo = client.post(f"{base}/people/{a}/unmerge", json={"merge_id": merge})
        delete, undone = await race(n, client.delete(f"{base}/people/b{n}", params=BY_B), undo)
        assert (undone.status_code, delete.status_code) == (200, 200), (undone.text, delete.text)
        return await landed(client, base, n, "archive", "unmerge", a, b)


async def put_racing_move(hub: Server, n: int) -> str:
    base = f"/api/v2/move-put-{n}"
    async with httpx2.AsyncClient(base_url=hub.url, headers=hub.headers, timeout=30) as client:
        a = await create(client, base, ext("a", f"a{n}"), ext("b", f"b{n}"))
        c = await create(client, base, ext("c", f"c{n}"))
        move = {"entity_type": "people", "provider": "b", "realm": "1", "external_id": f"b{n}", "internal_id": c}
        put, moved = await race(n, put_by_b(client, base, n), client.put(f"{base}/key_links", json=move))
        assert moved.status_code == 200, moved.text
        await assert_apart(client, base, n, put, a, c)
        return await landed(client, base, n, "update", "unlink", a, c)


def test_writes_by_an_app_id_act_on_its_holder_when_they_commit(tmp_path: Path) -> None:
    orders: Counter[tuple[str, str]] = Counter()
    with running_hub(tmp_path / "hub.db") as hub:
        for n in range(ROUNDS):
            for write in (put_racing_undo, delete_racing_undo, put_racing_move):
                orders[write.__name__, asyncio.run(write(hub, n))] += 1
    assert len(orders) == 6, f"a write never landed on one side of its race: {orders}"
