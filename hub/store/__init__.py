"""The storage port and the adapter chosen by a store URL."""

from __future__ import annotations

from urllib.parse import urlsplit

from hub.errors import BadRequest
from hub.store.base import Store


def shown(url: str) -> str:
    """A store URL as messages show it, its password (if any) as `***`: they reach terminals and logs.

    The part before the first `/` after the scheme holds the credentials, as PyMongo splits it.
    """
    scheme, sep, rest = url.partition("://")
    hosts, slash, path = rest.partition("/")
    userinfo, at, where = hosts.rpartition("@")
    if not (sep and at and ":" in userinfo):
        return url
    return f"{scheme}://{userinfo.partition(':')[0]}:***@{where}{slash}{path}"


def _database(url: str) -> str:
    """The database a MongoDB URL names ("" if none); BadRequest if the URL cannot be split (an unclosed `[`)."""
    try:
        return urlsplit(url).path.strip("/")
    except ValueError as error:
        raise BadRequest(f"malformed store URL {shown(url)!r}: {error}") from error


def _sqlite_path(url: str) -> str | None:
    """The database file a `sqlite://` URL names; None for another store."""
    if not url.startswith("sqlite://"):
        return None
    return url.removeprefix("sqlite://").removeprefix("/") or "hub.db"


def own_files(url: str) -> list[str]:
    """The files the store a URL names keeps its data in: a SQLite database and the files beside it (none for
    MongoDB). A command writing a file of its own must not write one of these: it would replace the store."""
    path = _sqlite_path(url)
    return [] if path is None else [path, *beside(path)]


def beside(path: str) -> list[str]:
    """The files SQLite keeps beside a database file: its WAL, shared memory and rollback journal. Left by a process
    that ended with the file open, they are read as part of whatever file bears its name next."""
    return [f"{path}-wal", f"{path}-shm", f"{path}-journal"]


def store_from_url(url: str) -> Store:
    """`sqlite:///path/to/file.db` (relative), `sqlite:////abs/path.db`, or `mongodb://host:port/db?replicaSet=rs0`."""
    if (path := _sqlite_path(url)) is not None:
        from hub.store.sqlite import SQLiteStore

        return SQLiteStore(path)
    if url.startswith(("mongodb://", "mongodb+srv://")):
        from hub.store.mongo import MongoStore

        if not _database(url):
            raise BadRequest(f"store URL {shown(url)!r} names no database: use mongodb://host:port/db")
        return MongoStore(url)
    raise BadRequest(f"unknown store URL {shown(url)!r}: use sqlite:///path or mongodb://host:port/db")
