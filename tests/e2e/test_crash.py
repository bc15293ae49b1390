"""SIGKILL during a bulk import and concurrent upserts, several times: every acknowledged write survives, whole.

The hub runs as a real process on a SQLite file. After the last kill the file is
read directly: it must pass SQLite's integrity check, every acknowledged id must be
on a live record (with the acknowledged fields), no id may be on two records or on
none, and no record may have lost its ids.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx2

from tests.e2e.server import Process

ROUNDS = 8
GROUP = "cld-crash"
BATCH = 25
SHARED = 12
"""Ids of the pool the concurrent upserts draw from, so that they update and merge each other's records."""


def ext(provider: str, id_: str) -> dict[str, str]:
    return {"realm": "1", "provider": provider, "id": id_}


class Acks:
    """The writes the hub acknowledged, gathered from every worker thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.imported: dict[str, str] = {}
        """crm id -> the first name it was imported with (each imported once)."""
        self.together: list[list[tuple[str, str]]] = []
        """The (provider, id)s of each acknowledged upsert: they must end on one record."""

    def add_import(self, crm_id: str, name: str) -> None:
        with self.lock:
            self.imported[crm_id] = name

    def add_upsert(self, ids: list[tuple[str, str]]) -> None:
        with self.lock:
            self.together.append(ids)


def importer(url: str, headers: dict[str, str], round_: int, acks: Acks, stop: threading.Event) -> None:
    with httpx2.Client(base_url=url, headers=headers, timeout=10) as http:
        for batch in range(10_000):
            if stop.is_set():
                return
            items = [
                {"id": [ext("crm", f"r{round_}-b{batch}-{n}")], "first_name": f"n{round_}.{batch}.{n}"}
                for n in range(BATCH)
            ]
            response = http.post(f"/api/v2/{GROUP}/people", json={"people": items})
            assert response.status_code == 200, response.text
            for item, result in zip(items, response.json()["results"], strict=True):
                if result["status"] in (200, 201):
                    acks.add_import(item["id"][0]["id"], item["first_name"])


def upserter(url: str, headers: dict[str, str], seed: int, acks: Acks, stop: threading.Event) -> None:
    rng = random.Random(seed)
    with httpx2.Client(base_url=url, headers=headers, timeout=10) as http:
        while not stop.is_set():
            ids = [("erp", f"s{rng.randrange(SHARED)}"), ("web", f"w{rng.randrange(SHARED)}")][: rng.randint(1, 2)]
            body = {"people": {"id": [ext(p, i) for p, i in ids], "last_name": f"u{seed}"}}
            response = http.post(f"/api/v2/{GROUP}/people", json=body)
            assert response.status_code in (200, 201, 409), response.text
            if response.status_code != 409:
                acks.add_upsert(ids)


def run_until_killed(hub: Process, workers: list[Callable[[threading.Event], None]], rng: random.Random) -> None:
    stop = threading.Event()
    errors: list[BaseException] = []

    def guarded(work: Callable[[threading.Event], None]) -> None:
        try:
            work(stop)
        except httpx2.TransportError:
            pass  # the kill cut the connection: that request was never acknowledged
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    time.sleep(rng.uniform(0.4, 1.2))
    hub.kill()
    stop.set()
    for thread in threads:
        thread.join(timeout=20)
    assert not errors, errors


def test_acknowledged_writes_survive_sigkill_whole(tmp_path: Path) -> None:
    rng = random.Random(2024)
    hub = Process(tmp_path / "hub.db")
    acks = Acks()
    for round_ in range(ROUNDS):
        hub.start()
        assert hub.admin is not None
        headers = {"Authorization": f"Bearer {hub.admin}"}
        workers: list[Callable[[threading.Event], None]] = [
            partial(importer, hub.url, headers, round_, acks),
            *(partial(upserter, hub.url, headers, seed, acks) for seed in range(3)),
        ]
        run_until_killed(hub, workers, rng)
        if round_ > 0:
            assert "Bearer" not in hub.output, "the admin key is printed on the first start only"
    assert len(acks.imported) > 50 and len(acks.together) > 20, "the kills came before any real work"
    check_file(tmp_path / "hub.db", acks)
    hub.start()  # and the hub still serves what it acknowledged
    people = httpx2.get(f"{hub.url}/api/v2/{GROUP}/people", headers={"Authorization": f"Bearer {hub.admin}"}).json()
    hub.kill()
    assert people["pagination"]["total"] == counted_people(tmp_path / "hub.db") >= len(acks.imported)


def counted_people(db: Path) -> int:
    """The people a list shows, counted in the file."""
    conn = sqlite3.connect(db)
    try:
        live = "collection = 'people' AND merged_into IS NULL AND status != 'ARCHIVED'"
        return int(conn.execute(f"SELECT COUNT(*) FROM records WHERE {live}").fetchone()[0])
    finally:
        conn.close()


def counts(conn: sqlite3.Connection, statement: str) -> dict[tuple[Any, ...], int]:
    """The rows of a statement ending in a count, as {the rest of the row: the count}."""
    return {tuple(row[:-1]): int(row[-1]) for row in conn.execute(statement)}


def check_file(db: Path, acks: Acks) -> None:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        holder = {
            (provider, ext_id): (hub_id, merged_into, data)
            for provider, ext_id, hub_id, merged_into, data in conn.execute(
                "SELECT e.provider, e.ext_id, e.hub_id, r.merged_into, r.data FROM external_ids e"
                " JOIN records r ON r.hub_id = e.hub_id WHERE e.group_id = ?",
                (GROUP,),
            )
        }
        twice = conn.execute(
            "SELECT provider, realm, ext_id FROM external_ids GROUP BY group_id, collection, provider, realm, ext_id"
            " HAVING COUNT(*) > 1"
        ).fetchall()
        assert twice == [], f"ids on two records: {twice}"
        on_none = conn.execute(
            "SELECT e.ext_id FROM external_ids e LEFT JOIN records r ON r.hub_id = e.hub_id"
            " WHERE r.hub_id IS NULL OR r.merged_into IS NOT NULL"
        ).fetchall()
        assert on_none == [], f"ids on no live record: {on_none}"
        bare = conn.execute(
            "SELECT hub_id FROM records r WHERE merged_into IS NULL AND placeholder = 0"
            " AND NOT EXISTS (SELECT 1 FROM external_ids e WHERE e.hub_id = r.hub_id)"
        ).fetchall()
        assert bare == [], f"records without their ids: {bare}"
        miscoded = conn.execute(
            "SELECT e.ext_id FROM external_ids e JOIN records r ON r.hub_id = e.hub_id WHERE e.seq != r.seq"
        ).fetchall()
        assert miscoded == [], f"links not carrying their record's code: {miscoded}"
        listed = (
            "SELECT group_id, collection, '', '', COUNT(*) FROM records"
            " WHERE merged_into IS NULL AND status != 'ARCHIVED' GROUP BY 1, 2"
            " UNION ALL SELECT e.group_id, e.collection, e.provider, e.realm, COUNT(*) FROM external_ids e"
            " JOIN records r ON r.hub_id = e.hub_id WHERE r.merged_into IS NULL AND r.status != 'ARCHIVED'"
            " GROUP BY 1, 2, 3, 4"
        )
        every_link = "SELECT group_id, collection, provider, realm, COUNT(*) FROM external_ids GROUP BY 1, 2, 3, 4"
        of_status = (
            "SELECT group_id, collection, status, COUNT(*) FROM records"
            " WHERE merged_into IS NULL AND status IN ('INACTIVE', 'ARCHIVED') GROUP BY 1, 2, 3"
        )
        of_app_status = (
            "SELECT e.group_id, e.collection, e.provider, e.realm, r.status, COUNT(*) FROM external_ids e"
            " JOIN records r ON r.hub_id = e.hub_id WHERE r.merged_into IS NULL"
            " AND r.status IN ('INACTIVE', 'ARCHIVED') GROUP BY 1, 2, 3, 4, 5"
        )
        for table, counting, what in (
            ("live_counts", listed, "listed records"),
            ("link_counts", every_link, "links"),
            ("status_counts", of_status, "statuses"),
            ("app_status_counts", of_app_status, "statuses per app"),
        ):
            kept = counts(conn, f"SELECT * FROM {table} WHERE n != 0")
            assert kept == counts(conn, counting), f"the kept counts of {what} drifted from the records and links"
    finally:
        conn.close()
    for crm_id, name in acks.imported.items():
        found: Any = holder.get(("crm", crm_id))
        assert found is not None, f"acknowledged crm id {crm_id} is lost"
        assert f'"first_name":"{name}"' in found[2], f"{crm_id}: {found[2]}"
    for ids in acks.together:
        records = {holder[key][0] for key in ids if key in holder}
        assert len(records) == 1 and all(key in holder for key in ids), f"acknowledged ids {ids} split or lost"
