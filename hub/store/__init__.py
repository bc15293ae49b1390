"""The storage port and the adapter chosen by a store URL."""

from __future__ import annotations

from urllib.parse import urlsplit

from hub.errors import BadRequest
from hub.store.base import Store


def store_from_url(url: str) -> Store:
    """`sqlite:///path/to/file.db` (relative), `sqlite:////abs/path.db`, or `mongodb://host:port/db?replicaSet=rs0`."""
    if url.startswith("sqlite://"):
        from hub.store.sqlite import SQLiteStore

        path = url.removeprefix("sqlite://").removeprefix("/")
        return SQLiteStore(path or "hub.db")
    if url.startswith(("mongodb://", "mongodb+srv://")):
        from hub.store.mongo import MongoStore

        if not urlsplit(url).path.strip("/"):
            raise BadRequest(f"store URL {url!r} names no database: use mongodb://host:port/db")
        return MongoStore(url)
    raise BadRequest(f"unknown store URL {url!r}: use sqlite:///path or mongodb://host:port/db")
