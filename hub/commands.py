"""`hub keys …`, `hub connect`, `hub disconnect`, `hub index …`, `hub recount`: each opens the store (`with_store`, as
every command does), calls one hub.service function and says what was done."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import IO, TextIO, TypeVar

from hub.config import Settings
from hub.errors import BadRequest
from hub.model.field_index import field_index
from hub.service import access, counts, field_indexes
from hub.store import own_files, shown, store_from_url
from hub.store.base import Store

T = TypeVar("T")


def with_store(settings: Settings, use: Callable[[Store], Awaitable[T]], *, new: bool = True) -> T:
    """Run `use` on the store opened; a SQLite file not there is made only if `new` (see `stored`)."""
    if not new:
        stored(settings)

    async def run() -> T:
        store = store_from_url(settings.store)
        try:
            await store.open()
        except Exception as error:  # a file that cannot be made, a server not there: said, not a traceback
            raise BadRequest(f"cannot open the store {shown(settings.store)}: {error}") from error
        try:
            return await use(store)
        finally:
            await store.close()

    return asyncio.run(run())


def stored(settings: Settings) -> None:
    """BadRequest if the store is a SQLite file not there: opened, it would be made, and a command that reads or undoes
    (a list, an export, a backup, a revoke) showed an empty store's nothing as the one meant, for a mistyped `--store`
    or `hub.db` in another directory, and left a new file behind."""
    files = own_files(settings.store)
    if files and not os.path.isfile(files[0]):
        raise BadRequest(f"no SQLite store at {files[0]} (check --store or HUB_STORE)")


def standard(stream: TextIO | None, name: str) -> IO[bytes]:
    """The bytes of standard input or output; BadRequest if the process started with it closed (`<&-`, `>&-`), which
    Python leaves as None: `import -` and `export -` ended in an AttributeError traceback, and a key's secret,
    shown once, went nowhere."""
    if stream is None:
        raise BadRequest(f"standard {name} is closed: name a file, or open it")
    return stream.buffer


def show_key(made: access.NewKey, heading: str) -> None:
    print(heading)
    print(f"  key id:  {made.key.key_id}")
    print(f"  secret:  {made.secret}")
    print(f"  header:  Authorization: Bearer {made.token}")
    print("  (HTTP Basic works too: the key id as user name, the secret as password.)", flush=True)


def create_key(settings: Settings, provider: str | None) -> None:
    standard(sys.stdout, "output")  # before the key is made: its secret is shown there only
    made = with_store(settings, lambda store: access.create_key(store, provider, settings.hub_provider))
    who = f"app {provider}" if provider else "the admin"
    show_key(made, f"A new key for {who}. The secret is shown only this once:")


def list_keys(settings: Settings) -> None:
    keys, connections = with_store(settings, access.list_keys, new=False)
    print(f"{'KEY ID':<20} {'FOR':<24} {'CREATED':<28} {'REVOKED':<28} GROUPS")
    for key in keys:
        who = key.provider or "(admin)"
        groups = ", ".join(f"{c.group_id} (realm {c.realm})" for c in connections.get(who, []))
        where = "(all)" if key.admin else groups or "(none)"
        print(f"{key.key_id:<20} {who:<24} {key.created_at:<28} {key.revoked_at or '-':<28} {where}")


def revoke_key(settings: Settings, key_id: str) -> None:
    with_store(settings, lambda store: access.revoke_key(store, key_id), new=False)
    print(f"revoked {key_id}; a running hub refuses it within {settings.key_cache_seconds} s")


def connect(settings: Settings, provider: str, group_id: str, realm: str) -> None:
    with_store(settings, lambda store: access.connect(store, provider, group_id, realm, settings.hub_provider))
    within = f"a running hub lets it in within {settings.key_cache_seconds} s"
    print(f"{provider} is connected to {group_id} with realm {realm}; {within}")


def disconnect(settings: Settings, provider: str, group_id: str) -> None:
    with_store(settings, lambda store: access.disconnect(store, provider, group_id), new=False)
    within = f"a running hub refuses it within {settings.key_cache_seconds} s"
    print(f"{provider} is no longer connected to {group_id}; {within}")


def list_indexes(settings: Settings) -> None:
    indexes = with_store(settings, field_indexes.list_indexes, new=False)
    print("\n".join(f"{index}{' (a reference: indexed always)' * index.reference}" for index in indexes))


def add_index(settings: Settings, collection: str, field: str) -> None:
    index, started = field_index(collection, field), time.monotonic()

    async def add(store: Store) -> bool:
        """Index the field, saying first that every record is read, unless it is indexed already (nothing is)."""
        if await field_indexes.indexed(store, index):
            return False
        print(f"indexing {index} (every record of the entity type is read once)", file=sys.stderr)
        return await field_indexes.add_index(store, index)

    added = with_store(settings, add)
    print(f"{index} is indexed ({time.monotonic() - started:.1f} s)" if added else f"{index} was indexed already")


def recount(settings: Settings) -> None:
    with_store(settings, counts.recount, new=False)
    print("the kept counts are counted again from the records (totals of lists and key link searches)")


def drop_index(settings: Settings, collection: str, field: str) -> None:
    index = field_index(collection, field)
    with_store(settings, lambda store: field_indexes.drop_index(store, index), new=False)
    print(f"{index} is no longer indexed")
