"""How the MongoDB store drives a transaction: commit, abort on error, lost races as IdTaken, commit retries, reads.

No MongoDB server runs here, so the session is a stub shaped like PyMongo's
AsyncClientSession; whether a real server commits and rolls back is for the contract suite
run against one (HUB_TEST_MONGODB_URL).
"""

from __future__ import annotations

from types import SimpleNamespace, TracebackType
from typing import Any, cast

import pytest
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from hub.store.base import IdTaken
from hub.store.mongo import MongoStore
from hub.store.mongo_tx import MongoTransaction, races


class StubSession:
    def __init__(self, commit_errors: list[Exception]) -> None:
        self.calls: list[str] = []
        self.commit_errors = commit_errors
        self.in_transaction = False

    async def __aenter__(self) -> StubSession:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.calls.append("end")

    async def start_transaction(self, **options: Any) -> None:
        assert options["read_concern"].level == "snapshot"
        write_concern = options.get("write_concern")
        self.calls.append("start" if write_concern and write_concern.document == {"w": "majority"} else "start read")
        self.in_transaction = True

    async def commit_transaction(self) -> None:
        self.calls.append("commit")
        if self.commit_errors:
            raise self.commit_errors.pop(0)
        self.in_transaction = False

    async def abort_transaction(self) -> None:
        self.calls.append("abort")
        self.in_transaction = False


class StubDatabase:
    def __init__(self, session: StubSession) -> None:
        self.client = SimpleNamespace(start_session=lambda: session)

    def __getitem__(self, name: str) -> SimpleNamespace:
        return SimpleNamespace(name=name)


def store_with(session: StubSession) -> MongoStore:
    return MongoStore(database=cast(Any, StubDatabase(session)))


def failure(label: str) -> OperationFailure:
    return OperationFailure("failed", code=112, details={"errorLabels": [label]})


async def test_a_transaction_that_finishes_commits() -> None:
    session = StubSession([])
    async with store_with(session).transaction("cld-1") as tx:
        assert isinstance(tx, MongoTransaction) and tx.group_id == "cld-1"
    assert session.calls == ["start", "commit", "end"]


async def test_a_transaction_that_raises_aborts_and_passes_the_error_on() -> None:
    session = StubSession([])
    with pytest.raises(ValueError, match="boom"):
        async with store_with(session).transaction("cld-1"):
            raise ValueError("boom")
    assert session.calls == ["start", "abort", "end"]


async def test_a_write_conflict_at_commit_is_a_lost_race() -> None:
    session = StubSession([failure("TransientTransactionError")])
    with pytest.raises(IdTaken):
        async with store_with(session).transaction("cld-1"):
            pass
    assert session.calls == ["start", "commit", "end"]


async def test_a_commit_of_unknown_outcome_is_retried() -> None:
    session = StubSession([failure("UnknownTransactionCommitResult")])
    async with store_with(session).transaction("cld-1"):
        pass
    assert session.calls == ["start", "commit", "commit", "end"]
    session = StubSession([failure("UnknownTransactionCommitResult")] * 3)
    with pytest.raises(OperationFailure):
        async with store_with(session).transaction("cld-1"):
            pass


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
