"""Concurrent POSTs over HTTP against a running hub never make two records of one external id."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import httpx2

from tests.e2e.server import Server, running_hub

ROUNDS = 25
RACERS = 12


def ext(provider: str, id_: str) -> dict[str, str]:
    return {"realm": "1", "provider": provider, "id": id_}


async def race(hub: Server, bodies: list[dict[str, Any]]) -> list[httpx2.Response]:
    async with httpx2.AsyncClient(base_url=hub.url, headers=hub.headers, timeout=30) as client:
        return await asyncio.gather(
            *(
                client.post("/api/v2/g1/people", json={"people": b}, headers={"CONNEC-EXTERNAL-IDS": "true"})
                for b in bodies
            )
        )


def holders(db: Path) -> list[tuple[str, str, int]]:
    """Every external id with how many live records hold it (must be one each)."""
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT e.provider, e.ext_id, COUNT(DISTINCT r.hub_id) FROM external_ids e"
            " JOIN records r ON r.hub_id = e.hub_id AND r.merged_into IS NULL GROUP BY e.provider, e.ext_id"
        ).fetchall()


def test_racing_creates_of_one_id_make_one_record(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    with running_hub(db) as hub:
        for n in range(ROUNDS):
            responses = asyncio.run(race(hub, [{"id": [ext("crm", str(n))], "notes": str(i)} for i in range(RACERS)]))
            assert sorted(r.status_code for r in responses) == [200] * (RACERS - 1) + [201]
            assert len({r.json()["people"]["id"][-1]["id"] for r in responses}) == 1
    counts = holders(db)
    assert len(counts) == ROUNDS and all(count == 1 for _, _, count in counts)


def test_racing_partial_and_joining_ids_end_in_one_record(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    with running_hub(db) as hub:
        for n in range(ROUNDS):
            crm, erp = ext("crm", str(n)), ext("erp", str(n))
            bodies = [{"id": [crm]}, {"id": [erp]}, {"id": [crm, erp]}] * (RACERS // 3)
            responses = asyncio.run(race(hub, bodies))
            assert all(r.status_code in (200, 201) for r in responses), [r.text for r in responses]
        with sqlite3.connect(db) as conn:
            live = conn.execute("SELECT COUNT(*) FROM records WHERE merged_into IS NULL").fetchone()[0]
    assert live == ROUNDS
    counts = holders(db)
    assert len(counts) == 2 * ROUNDS and all(count == 1 for _, _, count in counts)
