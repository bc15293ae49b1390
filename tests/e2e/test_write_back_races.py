"""An app writing back records as it was sent, other apps' ids and all, while the admin moves, deletes and relinks
those ids and merges and undoes, on two `hub serve` processes sharing one SQLite file: each write-back is applied to
the record it names or refused with a 403, never a 5xx, and no id ends on two records."""

from __future__ import annotations

import itertools
import random
import threading
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest

from hub.cli import main
from tests.e2e.server import running_hub
from tests.e2e.test_races import holders

PEOPLE = "/api/v2/cld-1/people"
LINKS = "/api/v2/cld-1/key_links"
IDS = {"CONNEC-EXTERNAL-IDS": "true"}
CRM = {"opts[provider]": "crm", "opts[realm]": "2243"}
PAIRS = 4
SECONDS = 4.0


def ext(provider: str, id_: str) -> dict[str, str]:
    return {"realm": "2243", "provider": provider, "id": id_}


def _crm_token(db: Path, capsys: pytest.CaptureFixture[str]) -> str:
    store = f"sqlite:///{db}"
    assert main(["keys", "create", "--provider", "crm", "--store", store]) == 0
    assert main(["connect", "--provider", "crm", "--group", "cld-1", "--realm", "2243", "--store", store]) == 0
    return capsys.readouterr().out.split("Authorization: Bearer ")[1].split()[0]


def _hub(record: dict[str, Any]) -> str:
    return next(e["id"] for e in record["id"] if e["provider"] == "connec")


def _write_back(client: httpx2.Client, n: int, turn: int) -> tuple[int, str]:
    """crm's person `c{n}` read, then written back as sent (an edit beside it every other turn) one way of four: the
    status, and what was wrong with the answer if anything. Applied, it names the record read; else it is a 403
    naming another app's id, which the record no longer held."""
    sent = client.get(f"{PEOPLE}/c{n}", params=CRM).json()["people"]
    body = {**sent, "last_name": f"L{turn}"} if turn % 2 else sent
    paths = [PEOPLE, f"{PEOPLE}/c{n}", f"{PEOPLE}/{_hub(sent)}", PEOPLE]
    params = CRM if turn % 4 == 1 else None
    method = "POST" if turn % 4 in (0, 3) else "PUT"
    people = [body] if turn % 4 == 3 else body
    answer = client.request(method, paths[turn % 4], params=params, json={"people": people})
    got = answer.json()["results"][0] if turn % 4 == 3 and answer.status_code == 200 else answer.json()
    status = got.get("status", answer.status_code)
    applied = status == 200 and _hub(got["people"]) == _hub(sent)
    refused = status == 403 and got.get("error", got)["id"]["provider"] in ("erp", "other")
    return status, "" if applied or refused else f"{method} {status}: {answer.text[:300]}"


def _admin_turn(client: httpx2.Client, url: str, rng: random.Random, people: list[str], others: list[str]) -> list[str]:
    """One of: erp's id of a person moved to its other record and back, deleted and linked again, or the two
    merged and undone; the answers that were not as they should be."""
    n = rng.randrange(PAIRS)
    link = {"entity_type": "people", "provider": "erp", "realm": "2243", "external_id": f"E{n}"}
    links, person = url + LINKS, f"{url}{PEOPLE}/{people[n]}"
    kind = rng.randrange(3)
    if kind == 0:
        answers = [client.put(links, json={**link, "internal_id": target}) for target in (others[n], people[n])]
        wanted = [200, 200]
    elif kind == 1:
        answers = [client.delete(links, params=link), client.post(links, json={**link, "internal_id": people[n]})]
        wanted = [204, 201]
    else:
        merged = client.post(f"{person}/merge", json={"records": [others[n]]})
        merge_id = merged.json().get("merge", {}).get("id")
        answers, wanted = [merged, client.post(f"{person}/unmerge", json={"merge_id": merge_id})], [200, 200]
    return [a.text[:300] for a, status in zip(answers, wanted, strict=True) if a.status_code != status]


def test_write_backs_racing_link_moves_and_merges_are_applied_or_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "hub.db"
    with running_hub(db) as first, running_hub(db, admin=first.admin) as second:
        hubs = [first, second]
        crm = {"Authorization": f"Bearer {_crm_token(db, capsys)}", **IDS}
        admin = {"Authorization": f"Bearer {hubs[0].admin}", **IDS}
        with httpx2.Client(base_url=hubs[0].url, headers=admin, timeout=30) as client:
            made = [
                client.post(PEOPLE, json={"people": {"id": ids, "first_name": "P"}}).json()["people"]
                for n in range(PAIRS)
                for ids in ([ext("crm", f"c{n}"), ext("erp", f"E{n}")], [ext("other", f"X{n}")])
            ]
        people, others = [_hub(p) for p in made[::2]], [_hub(p) for p in made[1::2]]
        stop, problems, seen = threading.Event(), [], set()

        def app(url: str, first: int) -> None:
            with httpx2.Client(base_url=url, headers=crm, timeout=30) as client:
                for turn in itertools.takewhile(lambda _: not stop.is_set(), itertools.count(first)):
                    status, wrong = _write_back(client, turn % PAIRS, turn)
                    seen.add(status)
                    if wrong:
                        problems.append(wrong)

        def operator() -> None:
            rng = random.Random(7)
            with httpx2.Client(headers=admin, timeout=30) as client:
                for turn in itertools.takewhile(lambda _: not stop.is_set(), itertools.count()):
                    problems.extend(_admin_turn(client, hubs[turn % 2].url, rng, people, others))

        threads = [threading.Thread(target=app, args=(hub.url, i)) for i, hub in enumerate(hubs)]
        threads.append(threading.Thread(target=operator))
        for thread in threads:
            thread.start()
        time.sleep(SECONDS)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        assert problems == []
        assert {200, 403} <= seen
        assert all(count == 1 for *_, count in holders(db))
