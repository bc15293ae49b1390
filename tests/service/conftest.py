"""The service tests' store: a SQLite file of the test's own, opened and closed around it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.store.sqlite import SQLiteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = SQLiteStore(str(tmp_path / "hub.db"))
    await opened.open()
    yield opened
    await opened.close()
