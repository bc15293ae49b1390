"""A delivery stopped at any step, or failed by its own store, leaves no batch leased out of sight."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest

from hub.config import Settings
from hub.errors import Unavailable
from hub.model.collections import COLLECTIONS
from hub.model.ids import ExternalId
from hub.model.integration import Integration
from hub.model.record import Write
from hub.service import integrations, outbound, upsert, webhooks
from hub.store.base import Store
from hub.store.sqlite import SQLiteStore
from tests.conftest import mongomock_store

GROUP = "cld-1"
SETTINGS = Settings(lease_seconds=30, webhook_timeout_seconds=5)


@pytest.fixture
async def store(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """SQLite, or the MongoDB adapter when a test asks: a stop can cut off its writes between two of them, where
    SQLite commits a use case in one go."""
    kind = getattr(request, "param", "sqlite")
    opened = SQLiteStore(str(tmp_path / "hub.db")) if kind == "sqlite" else mongomock_store()
    await opened.open()
    yield opened
    await opened.close()


async def define(store: Store, records: int, **fields: Any) -> Integration:
    """The webhook integration `out` (dead at its first failed try), and as many records queued for it."""
    body = {"name": "out", "entity": "organizations", "direction": "outbound", "provider": "crm", "realm": "1"}
    webhook = {"url": "https://app.example/hook", "secret": "s" * 32}
    await integrations.create(
        store, SETTINGS, GROUP, {**body, "webhook": webhook, "max_attempts": 1, **fields}, operator=True
    )
    for n in range(records):
        write = Write([ExternalId("erp", "1", str(n))], [], {"name": str(n)}, {})
        await upsert.upsert(store, SETTINGS, GROUP, COLLECTIONS["organizations"], write)
    return next(i for i in await store.webhook_integrations() if i.name == "out")


def cancel_later(deliveries: list[asyncio.Task[float]], steps: int) -> None:
    """Cancel the delivery once the loop has run `steps` more turns: a stop at each point of the work under way."""
    if steps == 0:
        deliveries[0].cancel()
    else:
        asyncio.get_running_loop().call_soon(cancel_later, deliveries, steps - 1)


def stopped_again(deliveries: list[asyncio.Task[float]]) -> Callable[..., Awaitable[outbound.Settled]]:
    """`outbound.release`, the delivery stopped again as it begins: a second stop as a batch is put back."""
    real = outbound.release

    async def release(*args: Any) -> outbound.Settled:
        deliveries[0].cancel()
        await asyncio.sleep(0)  # a store's write takes turns of the loop before it commits
        return await real(*args)

    return release


def deliver(
    store: Store, client: httpx2.AsyncClient, integration: Integration, slots: asyncio.Semaphore | None = None
) -> Awaitable[webhooks.Hold | None]:
    """`webhooks.deliver` of `integration`, sending on `slots` (by default as many as the hub has)."""
    slots = slots or asyncio.Semaphore(SETTINGS.webhook_max_connections)
    return webhooks.deliver(store, SETTINGS, client, slots, integration, lambda d: [])


async def stopped(store: Store, integration: Integration, answer: int, deliveries: list[asyncio.Task[float]]) -> None:
    """Run the delivery, added to `deliveries`, until its stop (`cancel_later`), the app answering `answer`; the
    slot it sent on is free again, however it was stopped (held, no other delivery could ever send)."""
    slots = asyncio.Semaphore(1)
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(lambda r: httpx2.Response(answer))) as client:
        deliveries.append(asyncio.create_task(deliver(store, client, integration, slots)))
        with pytest.raises(asyncio.CancelledError):
            await deliveries[0]
    assert not slots.locked()


@pytest.mark.parametrize("stops", [1, 2])
@pytest.mark.parametrize("depth", range(5))
async def test_a_stop_just_after_the_first_lease_puts_its_batch_back(
    store: Store, monkeypatch: pytest.MonkeyPatch, depth: int, stops: int
) -> None:
    """A stop that came once the first batch was leased and handed to the workers, before they started, cancelled
    them unstarted: the batch stayed leased, out of sight, until the lease ran out (a failed try; dead at
    `max_attempts: 1`). A second stop as the batch was put back cut that off: the put-back now runs whole."""
    integration = await define(store, 1, parallel=2)
    real, calls, deliveries = outbound.lease, [], []
    if stops == 2:
        monkeypatch.setattr(outbound, "release", stopped_again(deliveries))

    async def lease(*args: Any, **kwargs: Any) -> outbound.Lease:
        given = await real(*args, **kwargs)
        calls.append(given)
        if len(calls) == 1:
            asyncio.get_running_loop().call_soon(cancel_later, deliveries, depth)
        return given

    monkeypatch.setattr(outbound, "lease", lease)
    await stopped(store, integration, 500, deliveries)
    monkeypatch.undo()
    again = await outbound.lease(store, SETTINGS, GROUP, "out")
    assert [i.attempts for i in again.items] == [0]


@pytest.mark.parametrize("store", ["sqlite", "mongomock"], indirect=True)
@pytest.mark.parametrize("depth", range(5))
async def test_a_stop_as_a_batch_too_large_is_put_back_leaves_none_of_it_leased(
    store: Store, monkeypatch: pytest.MonkeyPatch, depth: int
) -> None:
    """A batch the app answered 413 is put back untried, to go again in smaller ones: a stop cutting that off must
    not leave it leased, out of sight, to come back as a failed try once the lease runs out."""
    integration = await define(store, 2, batch_size=2)
    real, deliveries = outbound.release, []

    async def release(*args: Any) -> outbound.Settled:
        asyncio.get_running_loop().call_soon(cancel_later, deliveries, depth)
        return await real(*args)

    monkeypatch.setattr(outbound, "release", release)
    await stopped(store, integration, 413, deliveries)
    monkeypatch.undo()
    again = await outbound.lease(store, SETTINGS, GROUP, "out")
    assert [i.attempts for i in again.items] == [0, 0]


@pytest.mark.parametrize("store", ["sqlite", "mongomock"], indirect=True)
@pytest.mark.parametrize("depth", range(3))
async def test_a_stop_as_a_batch_no_longer_sent_is_put_back_leaves_none_of_it_leased(
    store: Store, monkeypatch: pytest.MonkeyPatch, depth: int
) -> None:
    """A batch leased before a PUT removed the integration's webhook is put back unsent: a stop cutting that off
    must not leave it leased, out of sight, to come back as a failed try once the lease runs out."""
    integration = await define(store, 1)
    await integrations.update(store, SETTINGS, GROUP, "out", {"webhook": None}, override=False, operator=True)
    real, deliveries = outbound.release, []

    async def release(*args: Any) -> outbound.Settled:
        asyncio.get_running_loop().call_soon(cancel_later, deliveries, depth)
        await asyncio.sleep(0)  # a store's write takes turns of the loop before it commits
        return await real(*args)

    monkeypatch.setattr(outbound, "release", release)
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(lambda r: httpx2.Response(204))) as client:
        deliveries.append(asyncio.create_task(deliver(store, client, integration)))
        with contextlib.suppress(asyncio.CancelledError):  # a stop past the release finds the delivery ended
            await deliveries[0]
    monkeypatch.undo()
    again = await outbound.lease(store, SETTINGS, GROUP, "out")
    assert [i.attempts for i in again.items] == [0]


@pytest.mark.parametrize("step", ["delivery", "integration"])
async def test_a_store_error_as_a_batch_is_read_puts_it_back_untried_at_once(
    store: Store, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """The store failing as a worker read the batch's records (or the webhook to POST them to) left the batch leased
    until its lease ran out, a failed try (dead at `max_attempts: 1`) of a batch never sent: the hub's own store
    failing is not the app's fault."""
    integration = await define(store, 1)

    async def refused(*args: Any) -> Any:
        raise Unavailable("the store is busy")

    monkeypatch.setattr(outbound if step == "delivery" else store, step, refused)
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(lambda r: httpx2.Response(204))) as client:
        await deliver(store, client, integration)
    monkeypatch.undo()
    again = await outbound.lease(store, SETTINGS, GROUP, "out")
    assert [i.attempts for i in again.items] == [0]


@pytest.mark.parametrize("store", ["sqlite", "mongomock"], indirect=True)
async def test_a_second_stop_as_a_batch_cut_off_is_put_back_leaves_none_of_it_leased(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop during a POST puts its batch back; a second stop (a cancel of the delivery again) cut that put-back
    off, the one put-back not run whole: the batch stayed leased, to come back as a failed try once its lease ran
    out."""
    integration = await define(store, 1)
    deliveries: list[asyncio.Task[float]] = []
    posted = asyncio.Event()

    async def unanswered(request: httpx2.Request) -> httpx2.Response:
        posted.set()
        await asyncio.Event().wait()
        raise AssertionError("never answered")

    monkeypatch.setattr(outbound, "release", stopped_again(deliveries))
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(unanswered)) as client:
        deliveries.append(asyncio.create_task(deliver(store, client, integration)))
        await posted.wait()
        deliveries[0].cancel()
        with pytest.raises(asyncio.CancelledError):
            await deliveries[0]
    monkeypatch.undo()
    again = await outbound.lease(store, SETTINGS, GROUP, "out")
    assert [i.attempts for i in again.items] == [0]


async def test_a_second_stop_during_a_lease_leaves_none_of_it_leased(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lease is run whole, and put back if a stop came during it; a second stop cut off the wait for the lease,
    which committed out of the delivery's sight and was never put back."""
    integration = await define(store, 1)
    real, deliveries = outbound.lease, []

    async def lease(*args: Any, **kwargs: Any) -> outbound.Lease:
        for _ in range(2):
            deliveries[0].cancel()
            await asyncio.sleep(0)
        return await real(*args, **kwargs)

    monkeypatch.setattr(outbound, "lease", lease)
    await stopped(store, integration, 204, deliveries)
    monkeypatch.undo()
    again = await outbound.lease(store, SETTINGS, GROUP, "out")
    assert [i.attempts for i in again.items] == [0]
