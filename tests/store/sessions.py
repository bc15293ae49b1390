"""A mongomock database that refuses what a real server's transactions would refuse, or silently lose.

mongomock ignores sessions (it refuses one handed to a write), so an operation that forgets the
transaction's `session=` works there, and on a real server runs outside the transaction: not
rolled back with it, blind to its writes, and waiting on or conflicting with it. `SessionChecked`
gives the store sessions of its own and strips them before mongomock sees them. Inside a
transaction it refuses an operation without the transaction's session, a second transaction
started meanwhile (a read of the store's own, which sees none of the first one's writes), an
operation a transaction may not run (an index or a collection made, a count from metadata,
`distinct`, `$out`/`$merge`), and a write to a collection that does not exist yet (mongod would
make it inside the transaction, which it does only under restrictions).

A transaction that aborts is rolled back, as on a server: each write inside it keeps the documents it
is about to change (those its filter matches, as they were) and notes those it adds, and an abort puts
them back (`Journal`), so a refused request or a dry run leaves nothing behind here either. What a
server's snapshot isolation and write conflicts add is not shown: the group's turn (`mongo_sync.claim`)
keeps write transactions of a group one at a time only where a server refuses the second claim.

Every write, in a transaction or not, is refused whole, as mongod refuses it, when a document it writes is larger
than a BSON document may be (16 MiB): an insert with PyMongo's `DocumentTooLarge`, an update or a replacement with
the server's `WriteError` (17419; 17420 for the document an upsert adds), the documents as they stand after it.
"""

from __future__ import annotations

import contextvars
import copy
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import bson
from mongomock.filtering import filter_applies
from mongomock_motor import AsyncMongoMockClient
from pymongo.errors import DocumentTooLarge, WriteError

OUTSIDE = frozenset({"providers"})
"""Collections a use case writes outside its transaction on purpose (`MongoStore.register` says why)."""
REFUSED = frozenset(
    {
        "create_index",
        "create_indexes",
        "drop_index",
        "drop_indexes",
        "index_information",
        "list_indexes",
        "estimated_document_count",
        "distinct",
        "drop",
        "rename",
    }
)
"""Collection methods a multi-document transaction may not run (`distinct`: on an unsharded collection only)."""
WRITES = frozenset(
    {
        "insert_one",
        "insert_many",
        "update_one",
        "update_many",
        "replace_one",
        "delete_one",
        "delete_many",
        "find_one_and_update",
        "find_one_and_replace",
        "find_one_and_delete",
        "bulk_write",
    }
)
FILTERED = WRITES - {"insert_one", "insert_many", "bulk_write"}
"""The writes that change the documents their first argument (`filter`) matches."""
MAX_BSON_SIZE = 16 * 1024 * 1024
"""The largest document mongod stores (its `maxBsonObjectSize`)."""

_open: contextvars.ContextVar[Session | None] = contextvars.ContextVar("open_transaction", default=None)


class Fault(AssertionError):
    """Something a real server would refuse in a transaction, or run outside it."""


def _candidates(documents: Any, matched: dict[str, Any]) -> list[tuple[Any, dict[str, Any]]]:
    """The documents a filter may match: the one its `_id` names, where it names one (most writes), else all."""
    key = matched.get("_id")
    if isinstance(key, str | int):
        return [(key, documents[key])] if key in documents else []
    return list(documents.items())


class Journal:
    """What a transaction's writes replaced: each document as it was before the first write to it (None: it was
    not there), by collection and `_id`, to be put back if the transaction aborts."""

    def __init__(self) -> None:
        self.before: dict[tuple[str, Any], dict[str, Any] | None] = {}

    async def around(
        self,
        database: SessionChecked,
        collection: str,
        method: str,
        write: Awaitable[Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """Run `write` (the `method` call with `args`, `kwargs`), keeping what it changes."""
        documents = database.documents(collection)
        if method in FILTERED:
            matched = args[0] if args else kwargs["filter"]
            for key, document in _candidates(documents, matched):
                if filter_applies(matched, document):
                    self.before.setdefault((collection, key), copy.deepcopy(document))
        there = set(documents)
        try:
            return await write
        finally:
            for key in documents.keys() - there:
                self.before.setdefault((collection, key), None)

    def keep(self, other: Journal) -> None:
        """Take in what a later write replaced: a document's first state before the transaction stays."""
        for key, document in other.before.items():
            self.before.setdefault(key, document)

    def roll_back(self, database: SessionChecked) -> None:
        for (collection, key), document in self.before.items():
            documents = database.documents(collection)
            if document is not None:
                documents[key] = document
            elif key in documents:
                del documents[key]
        self.before.clear()


class Session:
    """A client session whose transaction mongomock cannot run: it marks the operations made inside it and keeps
    what they change (`Journal`), to roll it back on an abort."""

    def __init__(self, database: SessionChecked) -> None:
        self._database = database
        self.in_transaction = False
        self.journal = Journal()
        self._outer: contextvars.Token[Session | None] | None = None

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self.in_transaction:
            await self.abort_transaction()

    async def start_transaction(self, **options: Any) -> None:
        if _open.get() is not None:
            self._database.fault("a transaction started inside another, blind to its writes")
        self.in_transaction = True
        self._outer = _open.set(self)

    async def commit_transaction(self) -> None:
        self.journal.before.clear()
        self._end()

    async def abort_transaction(self) -> None:
        self.journal.roll_back(self._database)
        self._end()

    def _end(self) -> None:
        self.in_transaction = False
        if self._outer is not None:
            _open.reset(self._outer)
            self._outer = None

    async def with_transaction(self, work: Callable[[Session], Awaitable[Any]], **options: Any) -> Any:
        await self.start_transaction(**options)
        try:
            done = await work(self)
        except BaseException:
            await self.abort_transaction()
            raise
        await self.commit_transaction()
        return done


class Collection:
    def __init__(self, database: SessionChecked, name: str) -> None:
        self._database = database
        self._name = name

    def __getattr__(self, method: str) -> Any:
        target = getattr(self._database.mock[self._name], method)
        if not callable(target):
            return target

        def checked(*args: Any, **kwargs: Any) -> Any:
            session = kwargs.pop("session", None)
            self._database.check(self._name, method, session, args)
            if method not in WRITES:
                return target(*args, **kwargs)
            journal = session.journal if session is not None and session.in_transaction else None
            return self._database.written(self._name, method, target(*args, **kwargs), args, kwargs, journal)

        return checked


class Client:
    """What `MongoStore` asks of the client: `hello` (a replica set member) and sessions."""

    def __init__(self, database: SessionChecked) -> None:
        self._database = database
        self.admin = self

    async def command(self, name: str) -> dict[str, Any]:
        assert name == "hello"
        return {"isWritablePrimary": True, "setName": "rs0"}

    def start_session(self) -> Session:
        return Session(self._database)


class SessionChecked:
    """A database for `MongoStore(database=..., transactions=True)` over mongomock: a fault raises `Fault` where it
    happens and stays in `faults`, for the code that swallowed it (a background task)."""

    def __init__(self) -> None:
        self.mock = AsyncMongoMockClient()["hub"]
        self.client = Client(self)
        self.faults: list[str] = []
        self._made: set[str] = set()

    def __getitem__(self, name: str) -> Collection:
        return Collection(self, name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.mock, name)

    def documents(self, collection: str) -> Any:
        """The collection's documents as mongomock keeps them: its `_id` to the document itself."""
        return self.mock[collection]._store._documents

    def fault(self, what: str) -> None:
        self.faults.append(what)
        raise Fault(what)

    async def written(
        self,
        collection: str,
        method: str,
        write: Awaitable[Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        journal: Journal | None,
    ) -> Any:
        """Run `write`, undone and refused if a document it leaves is larger than MAX_BSON_SIZE; what it changed is
        kept in the transaction's `journal`, if it runs in one."""
        own = Journal()
        try:
            done = await own.around(self, collection, method, write, args, kwargs)
            documents = self.documents(collection)
            for (_, key), before in own.before.items():
                size = len(bson.encode(documents[key])) if key in documents else 0
                if size > MAX_BSON_SIZE:
                    own.roll_back(self)
                    raise _too_large(method, size, added=before is None)
            return done
        finally:
            if journal is not None:
                journal.keep(own)

    async def create_collection(self, name: str) -> Any:
        if _open.get() is not None:
            self.fault(f"collection {name} made inside a transaction")
        self._made.add(name)
        return await self.mock.create_collection(name)

    def check(self, collection: str, method: str, session: Session | None, args: tuple[Any, ...]) -> None:
        current = _open.get()
        if current is None:
            if session is not None:
                self.fault(f"{collection}.{method} given a session outside its transaction")
            if method in WRITES:
                self._made.add(collection)  # a write outside a transaction may make its collection
            return
        if session is not current and collection not in OUTSIDE:
            self.fault(f"{collection}.{method} ran outside the open transaction")
        if method in REFUSED:
            self.fault(f"{collection}.{method} inside a transaction")
        if method == "bulk_write":
            self.fault(f"{collection}.bulk_write inside a transaction: this mock cannot roll it back")
        if method in WRITES and collection not in self._made:
            self.fault(f"{collection}.{method} made the collection inside a transaction")
        if method == "aggregate" and any("$out" in stage or "$merge" in stage for stage in args[0]):
            self.fault(f"{collection}.aggregate with $out or $merge inside a transaction")


def _too_large(method: str, size: int, added: bool) -> Exception:
    """What refuses a write leaving a document of `size` bytes: PyMongo itself for an insert, else the server."""
    if method.startswith("insert"):
        return DocumentTooLarge(
            f"BSON document too large ({size} bytes) - the connected server supports BSON document sizes up to"
            f" {MAX_BSON_SIZE} bytes."
        )
    if added:
        return WriteError(f"Document to upsert is larger than {MAX_BSON_SIZE}", 17420)
    return WriteError(f"Resulting document after update is larger than {MAX_BSON_SIZE}", 17419)
