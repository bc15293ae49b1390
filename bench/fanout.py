"""The cost of an organization with many people merged and its merge undone: each records the people as updated
(the merge, where an integration's filter on the reference reads them otherwise since; the undo, always).

`python -m bench.fanout --people 20000` makes two organizations, the people of one, an outbound integration of
people filtering `organization_id eq` the other (so each update is enqueued too), and times the merge of the
organizations and its undo, on a fresh SQLite file.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from hub.app import create_app
from hub.config import Settings
from hub.service import access

GROUP = "/api/v2/cld-1"


def _ext(provider: str, id_: str) -> dict[str, str]:
    return {"provider": provider, "realm": "r", "id": id_}


def _post(client: TestClient, path: str, body: Any) -> Any:
    answer = client.post(f"{GROUP}/{path}", json=body)
    assert answer.status_code < 300, answer.text
    return answer.json()


def seconds(people: int, folder: Path) -> tuple[float, float]:
    """Seconds to merge an organization whose `people` refer to it into another, and to undo the merge."""
    settings = Settings(store=f"sqlite:///{folder / 'hub.db'}")
    app = create_app(settings)
    with TestClient(app) as client:
        assert client.portal is not None
        key = client.portal.call(access.create_key, app.state.store, None, settings.hub_provider)
        client.headers["Authorization"] = f"Bearer {key.token}"
        one = _post(client, "organizations", {"organizations": {"id": [_ext("crm", "o1")], "name": "One"}})
        two = _post(client, "organizations", {"organizations": {"id": [_ext("erp", "o2")], "name": "Two"}})
        two_id = two["organizations"]["id"]
        for start in range(0, people, 1000):
            batch = [
                {"id": [_ext("erp", f"p{n}")], "organization_id": two_id}
                for n in range(start, min(people, start + 1000))
            ]
            _post(client, "people", {"people": batch})
        one_id = one["organizations"]["id"]
        outbound = {"name": "out", "entity": "people", "direction": "outbound", "provider": "erp", "realm": "r"}
        _post(client, "integrations", {**outbound, "include_update": True, "filter": f"organization_id eq '{one_id}'"})
        started = time.perf_counter()
        merged = _post(client, f"organizations/{one_id}/merge", {"records": [two_id]})
        merging = time.perf_counter() - started
        started = time.perf_counter()
        _post(client, f"organizations/{one_id}/unmerge", {"merge_id": merged["merge"]["id"]})
        return merging, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, nargs="+", default=[2000, 20000])
    args = parser.parse_args()
    for people in args.people:
        with tempfile.TemporaryDirectory() as folder:
            timed = seconds(people, Path(folder))
        for what, took in zip(("merge", "undo of the merge"), timed, strict=True):
            each = 1e6 * took / people
            print(f"{what:>17} with {people:>7,} people referring: {took:6.2f} s ({each:.0f} µs each)")


if __name__ == "__main__":
    main()
