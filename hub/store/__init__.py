"""The storage port and the adapter chosen by a store URL."""

from __future__ import annotations

from hub.errors import BadRequest
from hub.store.base import Store


def store_from_url(url: str) -> Store:
    """`sqlite:///path/to/file.db` (relative) or `sqlite:////abs/path.db`."""
    if url.startswith("sqlite://"):
        from hub.store.sqlite import SQLiteStore

        path = url.removeprefix("sqlite://").removeprefix("/")
        return SQLiteStore(path or "hub.db")
    raise BadRequest(f"unknown store URL {url!r}: use sqlite:///path")
