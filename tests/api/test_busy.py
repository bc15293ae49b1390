"""A write that finds the SQLite file's write lock held by another process past the busy wait: a 503 that says so."""

from __future__ import annotations

import sqlite3
from typing import Any

from hub.app import create_app
from hub.config import Settings
from tests.api.helpers import BASE, ext
from tests.conftest import admin_client


def test_a_write_meeting_a_locked_file_is_a_503_to_retry(settings: Settings, monkeypatch: Any) -> None:
    monkeypatch.setattr("hub.store.sqlite.BUSY_MS", 100)
    with admin_client(create_app(settings)) as client:
        assert client.post(f"{BASE}/people", json={"people": {"id": [ext("crm", "1")]}}).status_code == 201
        holder = sqlite3.connect(settings.store.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process's write: `hub import`, `hub index add`
        try:
            busy = client.post(f"{BASE}/people", json={"people": {"id": [ext("crm", "2")]}})
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert busy.status_code == 503 and busy.headers["content-type"] == "application/problem+json"
        assert busy.headers["retry-after"] == "1" and "busy" in busy.json()["detail"]
        assert client.post(f"{BASE}/people", json={"people": {"id": [ext("crm", "2")]}}).status_code == 201
        assert client.get(f"{BASE}/people").json()["pagination"]["total"] == 2
