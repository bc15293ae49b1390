"""A mongomock database that refuses what a real server's transactions would refuse, or silently lose.

mongomock ignores sessions (it refuses one handed to a write), so an operation that forgets the
transaction's `session=` works there, and on a real server runs outside the transaction: not
rolled back with it, blind to its writes, and waiting on or conflicting with it. `SessionChecked`
gives the store sessions of its own and strips them before mongomock sees them. Inside a
transaction it refuses an operation without the transaction's session, a second transaction
started meanwhile (a read of the store's own, which sees none of the first one's writes), an
operation a transaction may not run (an index or a collection made, a count from metadata,
`distinct`, `$out`/`$merge`), and a write to a collection that does not exist yet (mongod would
make it inside the transaction, which it does only under restrictions). Nothing is rolled back.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from mongomock_motor import AsyncMongoMockClient

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

_open: contextvars.ContextVar[Session | None] = contextvars.ContextVar("open_transaction", default=None)


class Fault(AssertionError):
    """Something a real server would refuse in a transaction, or run outside it."""


class Session:
    """A client session whose transaction mongomock cannot run: it marks the operations made inside it."""

    def __init__(self, database: SessionChecked) -> None:
        self._database = database
        self.in_transaction = False
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

    async def _end(self) -> None:
        self.in_transaction = False
        if self._outer is not None:
            _open.reset(self._outer)
            self._outer = None

    commit_transaction = abort_transaction = _end

    async def with_transaction(self, work: Callable[[Session], Awaitable[Any]], **options: Any) -> Any:
        await self.start_transaction(**options)
        try:
            done = await work(self)
        finally:
            await self._end()
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
            self._database.check(self._name, method, kwargs.pop("session", None), args)
            return target(*args, **kwargs)

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

    def fault(self, what: str) -> None:
        self.faults.append(what)
        raise Fault(what)

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
        if method in WRITES and collection not in self._made:
            self.fault(f"{collection}.{method} made the collection inside a transaction")
        if method == "aggregate" and any("$out" in stage or "$merge" in stage for stage in args[0]):
            self.fault(f"{collection}.aggregate with $out or $merge inside a transaction")
