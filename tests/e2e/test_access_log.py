"""What `hub serve` logs of a request: a key sent in the URL is not read, said so, and kept out of the log."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import httpx2

from tests.e2e.server import running_hub


def test_a_key_in_the_query_string_is_refused_and_kept_out_of_the_access_log(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub.db") as hub:
        key_id, secret = hub.admin.split(".")
        basic = base64.b64encode(f"{key_id}:{secret}".encode()).decode()
        for query in (f"api_key={hub.admin}", f"key={key_id}&secret={secret}", f"auth={key_id}%3A{secret}"):
            answer = httpx2.get(f"{hub.url}/api/v2/cld-1/people?{query}")
            assert answer.status_code == 401, answer.text
            assert "not in the query string" in answer.json()["detail"]
        given = httpx2.get(f"{hub.url}/api/v2/cld-1/people?token={hub.admin}", headers=hub.headers)
        assert given.status_code == 400 and "'token'" in given.json()["detail"]
        assert httpx2.get(f"{hub.url}/api/v2/cld-1/people?auth={basic}").status_code == 401
        deadline = time.monotonic() + 5
        while sum("/api/v2/cld-1/people" in line for line in hub.logged) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        requests = [line for line in hub.logged if "/api/v2/cld-1/people" in line]
        assert len(requests) == 5, hub.logged
        assert not [line for line in requests if secret in line or basic in line]
        assert all("=***" in line for line in requests)  # the names of what was sent stay readable
