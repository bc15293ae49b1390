"""Two `hub serve` processes on one SQLite file under merges, undos, key link moves and queue acks, SIGKILLed at
random moments: the file stays whole, and the change feed, the queues and the kept counts agree with the records.

`test_crash.py` kills one hub under upserts; this one adds every other kind of write that moves ids between
records, and a second process contending for the file's write lock.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from pathlib import Path

import httpx2

from tests.e2e.server import Process
from tests.e2e.test_crash import Acks, check_file

ROUNDS = 3
BASE = "/api/v2/cld-mixed"
POOL = 6
APP = {"opts[realm]": "1"}


def ext(provider: str, id_: str) -> dict[str, str]:
    return {"realm": "1", "provider": provider, "id": id_}


def one_write(http: httpx2.Client, rng: random.Random) -> None:
    """One write of a random kind on a small pool of records, so that they merge, undo and take each other's ids."""
    n = rng.randrange(POOL)
    kind = rng.randrange(6)
    if kind == 0:
        ids = [ext(p, f"{p}{n}") for p in ("crm", "erp", "web") if rng.random() < 0.5] or [ext("crm", f"crm{n}")]
        http.post(f"{BASE}/people", json={"people": {"id": ids, "last_name": f"L{rng.randrange(3)}"}})
    elif kind == 1:
        http.post(
            f"{BASE}/people/crm{n}/merge",
            params={**APP, "opts[provider]": "crm"},
            json={"records": [[ext("erp", f"erp{n}")]]},
        )
    elif kind == 2:
        found = http.get(f"{BASE}/people/crm{n}/merges", params={**APP, "opts[provider]": "crm"})
        undoable = [m for m in found.json().get("merges", []) if not m["undone"]] if found.status_code == 200 else []
        if undoable:
            http.post(f"{BASE}/people/{undoable[0]['survivor']}/unmerge", json={"merge_id": undoable[0]["id"]})
    elif kind == 3:
        found = http.get(f"{BASE}/people/crm{n}", params={**APP, "opts[provider]": "crm"})
        link = {"entity_type": "people", "provider": "kl", "realm": "1", "external_id": f"k{rng.randrange(3)}"}
        if found.status_code == 200:
            (http.post if rng.random() < 0.5 else http.put)(
                f"{BASE}/key_links", json={**link, "internal_id": found.json()["people"]["id"]}
            )
    elif kind == 4:
        http.delete(f"{BASE}/people/web{n}", params={**APP, "opts[provider]": "web"})
    else:
        lease = http.post(f"{BASE}/integrations/acked/lease", json={"limit": 5})
        if lease.status_code == 200 and lease.json()["items"]:
            items = [i["item"] for i in lease.json()["items"]]
            http.post(f"{BASE}/integrations/acked/ack", json={"lease": lease.json()["lease"], "items": items})


def load(urls: list[str], token: str, seed: int, fives: list[str], stop: threading.Event) -> None:
    rng = random.Random(seed)

    def answered(response: httpx2.Response) -> None:
        if response.status_code >= 500:
            fives.append(f"{response.request.method} {response.request.url}: {response.read().decode()}")

    headers = {"Authorization": f"Bearer {token}"}
    hooks = {"response": [answered]}
    clients = [httpx2.Client(base_url=u, headers=headers, timeout=10, event_hooks=hooks) for u in urls]
    try:
        while not stop.is_set():
            try:
                one_write(rng.choice(clients), rng)
            except httpx2.TransportError:
                time.sleep(0.02)  # that hub was killed: nothing it answered is lost
    finally:
        for client in clients:
            client.close()


def define(url: str, token: str) -> None:
    with httpx2.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as http:
        http.post(f"{BASE}/people", json={"people": {"id": [ext("crm", "crm0")]}}).raise_for_status()
        for name in ("witness", "acked"):
            body = {"name": name, "entity": "people", "direction": "outbound", "provider": "crm", "realm": "1"}
            http.post(f"{BASE}/integrations", json={**body, "include_update": True}).raise_for_status()


def check_sync(db: Path) -> None:
    """Every merge left tombstones pointing at a live survivor; every change since the witness integration was
    defined has its item in the witness queue (never leased); every item names a change of its record."""
    with sqlite3.connect(db) as conn:
        stray = conn.execute(
            "SELECT t.hub_id FROM records t LEFT JOIN records s ON s.hub_id = t.merged_into"
            " WHERE t.merged_into IS NOT NULL AND (s.hub_id IS NULL OR s.merged_into IS NOT NULL)"
        ).fetchall()
        assert stray == [], f"tombstones not pointing at a live survivor: {stray}"
        first = conn.execute("SELECT MIN(change_seq) FROM outbound_items WHERE integration = 'witness'").fetchone()[0]
        unqueued = conn.execute(
            "SELECT seq, kind FROM changes c WHERE seq >= ? AND NOT EXISTS (SELECT 1 FROM outbound_items o"
            " WHERE o.integration = 'witness' AND o.change_seq = c.seq)",
            (first,),
        ).fetchall()
        assert unqueued == [], f"changes without their queue item: {unqueued}"
        orphans = conn.execute(
            "SELECT o.item FROM outbound_items o LEFT JOIN changes c ON c.seq = o.change_seq"
            " WHERE c.seq IS NULL OR c.hub_id != o.hub_id OR c.kind != o.kind"
        ).fetchall()
        assert orphans == [], f"queue items naming no change of their record: {orphans}"


def test_mixed_writes_of_two_hubs_survive_sigkill_whole(tmp_path: Path) -> None:
    rng = random.Random(73)
    db = tmp_path / "hub.db"
    hubs = [Process(db), Process(db)]
    hubs[0].start()
    assert hubs[0].admin is not None
    hubs[1].admin = hubs[0].admin  # printed by the first start only
    hubs[1].start()
    define(hubs[0].url, hubs[0].admin)
    fives: list[str] = []
    for round_ in range(ROUNDS):
        stop = threading.Event()
        urls = [hub.url for hub in hubs]
        workers = [
            threading.Thread(target=load, args=(urls, hubs[0].admin, 10 * round_ + i, fives, stop)) for i in range(4)
        ]
        for worker in workers:
            worker.start()
        time.sleep(rng.uniform(0.5, 1.0))
        if round_ == ROUNDS - 1:  # a loaded machine made no unmerge in the rounds' time: the last kill waits for one
            deadline = time.monotonic() + 30
            while not _made_every_kind(db) and time.monotonic() < deadline:
                time.sleep(0.1)
        for hub in hubs:
            hub.kill()
        stop.set()
        for worker in workers:
            worker.join(timeout=20)
        if round_ < ROUNDS - 1:
            for hub in hubs:
                hub.start()
    assert fives == []
    assert _made_every_kind(db), "the kills came too soon: no merge, unmerge or link was made"
    check_sync(db)
    check_file(db, Acks())  # no acknowledged writes to look for: the file's own invariants


def _made_every_kind(db: Path) -> bool:
    """Whether the writes made a merge, an undo and a link, which the kills are to fall among."""
    with sqlite3.connect(db) as conn:
        kinds = {kind for (kind,) in conn.execute("SELECT DISTINCT kind FROM changes")}
    return {"merge", "unmerge", "link"} <= kinds
