"""A write that finds the SQLite file's write lock held by another process past the busy wait: a 503 that says so."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hub.app import create_app
from hub.config import Settings
from tests.api.helpers import BASE, ext
from tests.conftest import admin_client


def test_a_write_meeting_a_locked_file_is_a_503_to_retry(settings: Settings, monkeypatch: Any) -> None:
    monkeypatch.setattr("hub.store.sqlite_conn.BUSY_MS", 100)
    with admin_client(create_app(settings)) as client:
        assert client.post(f"{BASE}/people", json={"people": {"id": [ext("crm", "1")]}}).status_code == 201
        with _locked(settings):  # another process's write: `hub import`, `hub index add`
            busy = client.post(f"{BASE}/people", json={"people": {"id": [ext("crm", "2")]}})
        assert busy.status_code == 503 and busy.headers["content-type"] == "application/problem+json"
        assert busy.headers["retry-after"] == "1" and "busy" in busy.json()["detail"]
        assert client.post(f"{BASE}/people", json={"people": {"id": [ext("crm", "2")]}}).status_code == 201
        assert client.get(f"{BASE}/people").json()["pagination"]["total"] == 2


def test_every_write_without_a_body_answers_503_on_a_locked_file(settings: Settings, monkeypatch: Any) -> None:
    """Writes without a body (an archive, an unlink, dropping an integration, a consent) answer 503 on a locked file
    as any write does, and so does the dead list, which settles the leases that ran out first (their description
    listed no 503: every route declares one now, `test_every_operation_may_answer_503`)."""
    monkeypatch.setattr("hub.store.sqlite_conn.BUSY_MS", 100)
    with admin_client(create_app(settings)) as client:
        person = client.post(f"{BASE}/people", json={"people": {"id": [ext("crm", "1"), ext("erp", "2")]}}).json()
        integration = {"name": "out", "entity": "people", "direction": "outbound", "provider": "crm", "realm": "2243"}
        assert client.post(f"{BASE}/integrations", json=integration).status_code == 201
        link = {"entity_type": "people", "provider": "erp", "realm": "2243", "external_id": "2"}
        writes = [
            ("DELETE", f"{BASE}/people/{person['people']['id']}"),
            ("DELETE", f"{BASE}/key_links/{client.get(f'{BASE}/key_links', params=link).json()['key_links'][0]['id']}"),
            ("DELETE", f"{BASE}/key_links?{'&'.join(f'{k}={v}' for k, v in link.items())}"),
            ("POST", f"{BASE}/integrations/out/consent"),
            ("GET", f"{BASE}/integrations/out/dead"),
            ("DELETE", f"{BASE}/integrations/out"),
        ]
        with _locked(settings):
            answers = [client.request(method, url) for method, url in writes]
        assert [answer.status_code for answer in answers] == [503] * len(writes), [a.text for a in answers]


@contextmanager
def _locked(settings: Settings) -> Iterator[None]:
    """The SQLite file's write lock held by another connection, as another process's write holds it."""
    holder = sqlite3.connect(settings.store.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()
