"""How the MongoDB store drives a transaction: its group's turn, commit, abort, lost races, commit retries, reads.

No MongoDB server runs here, so the session is a stub shaped like PyMongo's
AsyncClientSession; whether a real server commits and rolls back is for the contract suite
run against one (HUB_TEST_MONGODB_URL).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import SimpleNamespace, TracebackType
from typing import Any, cast

import pytest
from pymongo import ReadPreference
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from hub.errors import Unavailable
from hub.store import mongo
from hub.store.base import IdTaken
from hub.store.mongo import MongoStore
from hub.store.mongo_tx import MongoTransaction, races


class StubSession:
    def __init__(self, commit_errors: list[Exception]) -> None:
        self.calls: list[str] = []
        self.commit_errors = commit_errors
        self.in_transaction = False
        self.started: list[dict[str, Any]] = []

    async def __aenter__(self) -> StubSession:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.calls.append("end")

    async def start_transaction(self, **options: Any) -> None:
        assert options["read_concern"].level == "snapshot"
        self.started.append(options)
        write_concern = options.get("write_concern")
        self.calls.append("start" if write_concern and write_concern.document == {"w": "majority"} else "start read")
        self.in_transaction = True

    async def with_transaction(self, work: Callable[[StubSession], Awaitable[Any]], **options: Any) -> Any:
        await self.start_transaction(**options)
        done = await work(self)
        await self.commit_transaction()
        return done

    async def commit_transaction(self) -> None:
        self.calls.append("commit")
        if self.commit_errors:
            raise self.commit_errors.pop(0)
        self.in_transaction = False

    async def abort_transaction(self) -> None:
        self.calls.append("abort")
        self.in_transaction = False


class StubFeeds:
    """The `feeds` collection a write transaction claims its group's turn on; refuses the first claims if told."""

    def __init__(self, session: StubSession, refusals: list[Exception]) -> None:
        self.session = session
        self.refusals = refusals

    async def update_one(self, where: dict[str, Any], update: dict[str, Any], **options: Any) -> None:
        assert options["session"] is self.session and update == {"$inc": {"turns": 1}}
        self.session.calls.append("claim")
        if self.refusals:
            raise self.refusals.pop(0)


class StubDatabase:
    def __init__(self, session: StubSession, refusals: list[Exception]) -> None:
        self.client = SimpleNamespace(start_session=lambda: session)
        self.feeds = StubFeeds(session, refusals)

    def __getitem__(self, name: str) -> Any:
        return self.feeds if name == "feeds" else SimpleNamespace(name=name)


def store_with(session: StubSession, refusals: list[Exception] | None = None) -> MongoStore:
    return MongoStore(database=cast(Any, StubDatabase(session, refusals or [])))


def failure(label: str) -> OperationFailure:
    return OperationFailure("failed", code=112, details={"errorLabels": [label]})


async def test_a_transaction_that_finishes_commits() -> None:
    session = StubSession([])
    async with store_with(session).transaction("cld-1") as tx:
        assert isinstance(tx, MongoTransaction) and tx.group_id == "cld-1"
    assert session.calls == ["start", "claim", "commit", "end"]


async def test_a_transaction_that_raises_aborts_and_passes_the_error_on() -> None:
    session = StubSession([])
    with pytest.raises(ValueError, match="boom"):
        async with store_with(session).transaction("cld-1"):
            raise ValueError("boom")
    assert session.calls == ["start", "claim", "abort", "end"]


async def test_a_write_conflict_at_commit_is_a_lost_race() -> None:
    session = StubSession([failure("TransientTransactionError")])
    with pytest.raises(IdTaken):
        async with store_with(session).transaction("cld-1"):
            pass
    assert session.calls == ["start", "claim", "commit", "end"]


async def test_a_commit_of_unknown_outcome_is_retried() -> None:
    session = StubSession([failure("UnknownTransactionCommitResult")])
    async with store_with(session).transaction("cld-1"):
        pass
    assert session.calls == ["start", "claim", "commit", "commit", "end"]
    session = StubSession([failure("UnknownTransactionCommitResult")] * 3)
    with pytest.raises(Unavailable, match="may have been made"):  # a 503 that says so, not a 500
        async with store_with(session).transaction("cld-1"):
            pass


async def test_a_group_s_turn_held_elsewhere_is_waited_for_in_fresh_transactions_before_the_work() -> None:
    session = StubSession([])
    async with store_with(session, [failure("TransientTransactionError")] * 2).transaction("cld-1"):
        session.calls.append("work")
    assert session.calls == ["start", "claim", "abort"] * 2 + ["start", "claim", "work", "commit", "end"]


async def test_a_turn_never_given_is_a_lost_race(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mongo, "CLAIM_WAIT", 0.01)
    session = StubSession([])
    with pytest.raises(IdTaken):
        async with store_with(session, [failure("TransientTransactionError")] * 10_000).transaction("cld-1"):
            session.calls.append("work")
    assert "work" not in session.calls and session.calls[-2:] == ["abort", "end"]


async def test_a_claim_failing_otherwise_is_no_race() -> None:
    session = StubSession([])
    with pytest.raises(OperationFailure):
        async with store_with(session, [OperationFailure("unauthorized", code=13)]).transaction("cld-1"):
            pass
    assert session.calls == ["start", "claim", "abort", "end"]


async def test_a_read_runs_in_a_snapshot_transaction_that_ends_with_an_abort() -> None:
    session = StubSession([])
    async with store_with(session)._reading() as used:
        assert used is session
    assert session.calls == ["start read", "abort", "end"]
    session = StubSession([])
    with pytest.raises(ValueError, match="boom"):
        async with store_with(session)._reading():
            raise ValueError("boom")
    assert session.calls == ["start read", "abort", "end"]


def test_lost_races_are_id_taken_and_other_errors_pass() -> None:
    with pytest.raises(IdTaken), races():
        raise DuplicateKeyError("E11000 duplicate key error", 11000)
    with pytest.raises(IdTaken), races():
        raise BulkWriteError({"writeErrors": [{"index": 0, "code": 11000, "errmsg": "E11000"}], "nInserted": 0})
    with pytest.raises(IdTaken), races():
        raise failure("TransientTransactionError")
    with pytest.raises(BulkWriteError), races():
        raise BulkWriteError({"writeErrors": [{"index": 0, "code": 121, "errmsg": "invalid"}], "nInserted": 0})
    with pytest.raises(OperationFailure), races():
        raise OperationFailure("unauthorized", code=13)


async def test_every_transaction_reads_from_the_primary_whatever_the_url_says() -> None:
    """A URL may set `readPreference=secondaryPreferred` for the reads outside transactions; a transaction takes the
    client's unless told, and PyMongo refuses its first command then ("read preference in a transaction must be
    primary"): every read and write of the store failed."""
    session = StubSession([])
    store = store_with(session)
    async with store.transaction("cld-1"):
        pass
    async with store._reading():
        pass

    async def work(used: Any) -> None:
        assert used is session

    await store._atomically(work)
    assert len(session.started) == 3
    assert all(options.get("read_preference") == ReadPreference.PRIMARY for options in session.started)


def reads_failing(*errors: Exception) -> Callable[[Any], Awaitable[str]]:
    """A read that raises `errors` in turn, then answers."""
    pending = list(errors)

    async def work(session: Any) -> str:
        session.calls.append("read")
        if pending:
            raise pending.pop(0)
        return "page"

    return work


async def test_a_read_cut_off_by_a_transient_error_is_read_again_in_a_fresh_transaction() -> None:
    """Inside a transaction the driver retries no read: a failover (the primary stepping down) or a collection's
    catalog changing under the snapshot (SnapshotUnavailable, as an index is built) fails it with a
    TransientTransactionError, which MongoDB says to answer by running the transaction again."""
    session = StubSession([])
    assert await store_with(session)._read(reads_failing(failure("TransientTransactionError"))) == "page"
    assert session.calls == ["start read", "read", "abort", "end"] * 2


async def test_a_read_is_tried_a_few_times_and_fails_otherwise_at_once() -> None:
    session = StubSession([])
    with pytest.raises(OperationFailure):
        await store_with(session)._read(reads_failing(*[failure("TransientTransactionError")] * mongo.READ_TRIES))
    assert session.calls.count("read") == mongo.READ_TRIES
    session = StubSession([])
    with pytest.raises(OperationFailure, match="unauthorized"):
        await store_with(session)._read(reads_failing(OperationFailure("unauthorized", code=13)))
    assert session.calls == ["start read", "read", "abort", "end"]
