"""A key revoked, or its app disconnected, while a request's body is still coming in writes nothing once the key
cache has let go of it."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx2
import pytest

from hub.cli import main
from tests.e2e.server import running_hub

CACHE_SECONDS = 1


def _token(store: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["keys", "create", "--provider", "crm", "--store", store]) == 0
    assert main(["connect", "--provider", "crm", "--group", "cld-1", "--realm", "2243", "--store", store]) == 0
    return capsys.readouterr().out.split("Authorization: Bearer ")[1].split()[0]


@pytest.mark.parametrize(
    ("command", "status"),
    [(["keys", "revoke"], 401), (["disconnect", "--provider", "crm", "--group", "cld-1"], 404)],
)
def test_a_body_finished_after_the_key_cache_time_is_checked_again(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    status: int,
) -> None:
    monkeypatch.setenv("HUB_KEY_CACHE_SECONDS", str(CACHE_SECONDS))
    db = tmp_path / "hub.db"
    with running_hub(db) as hub:
        store = f"sqlite:///{db}"
        token = _token(store, capsys)
        body = json.dumps({"people": {"id": [{"realm": "2243", "provider": "crm", "id": "late"}]}}).encode()
        port = int(hub.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            head = f"POST /api/v2/cld-1/people HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer {token}\r\n"
            sock.sendall(f"{head}Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode())
            sock.sendall(body[:5])
            time.sleep(0.3)  # the head is in: authenticated, waiting for the body
            argv = [*command, token.split(".")[0]] if command[0] == "keys" else command
            assert main([*argv, "--store", store]) == 0
            time.sleep(CACHE_SECONDS + 0.5)
            sock.sendall(body[5:])
            answer = sock.recv(65536).decode()
        assert answer.startswith(f"HTTP/1.1 {status} "), answer
        assert "application/problem+json" in answer
        assert (status == 401) == ('www-authenticate: Basic realm="hub", Bearer realm="hub"' in answer)
        people = httpx2.get(f"{hub.url}/api/v2/cld-1/people", headers=hub.headers)
        assert people.status_code == 404 or people.json()["pagination"]["total"] == 0, people.text
