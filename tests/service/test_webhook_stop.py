"""A delivery stopped at any step leaves no batch leased out of sight."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import pytest

from hub.config import Settings
from hub.model.collections import COLLECTIONS
from hub.model.ids import ExternalId
from hub.model.record import Write
from hub.service import integrations, outbound, upsert, webhooks
from hub.store.sqlite import SQLiteStore

GROUP = "cld-1"
SETTINGS = Settings(lease_seconds=30, webhook_timeout_seconds=5)


@pytest.mark.parametrize("depth", range(5))
async def test_a_stop_just_after_the_first_lease_puts_its_batch_back(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch, depth: int
) -> None:
    """A stop that came once the first batch was leased and handed to the workers, before they started, cancelled
    them unstarted: the batch stayed leased, out of sight, until the lease ran out (a failed try; dead at
    `max_attempts: 1`)."""
    body = {"name": "out", "entity": "organizations", "direction": "outbound", "provider": "crm", "realm": "1"}
    webhook = {"url": "https://app.example/hook", "secret": "s" * 32}
    await integrations.create(
        store, SETTINGS, GROUP, {**body, "webhook": webhook, "parallel": 2, "max_attempts": 1}, operator=True
    )
    await upsert.upsert(
        store,
        SETTINGS,
        GROUP,
        COLLECTIONS["organizations"],
        Write([ExternalId("erp", "1", "a")], [], {"name": "A"}, {}),
    )
    integration = next(i for i in await store.webhook_integrations() if i.name == "out")
    loop = asyncio.get_running_loop()
    real, calls = outbound.lease, []
    delivery: asyncio.Task[int] | None = None

    def later(steps: int) -> None:
        assert delivery is not None
        if steps == 0:
            delivery.cancel()
        else:
            loop.call_soon(later, steps - 1)

    async def lease(*args: Any, **kwargs: Any) -> outbound.Lease:
        given = await real(*args, **kwargs)
        calls.append(given)
        if len(calls) == 1:
            loop.call_soon(later, depth)
        return given

    monkeypatch.setattr(outbound, "lease", lease)
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(lambda r: httpx2.Response(500))) as client:
        delivery = asyncio.create_task(webhooks.deliver(store, SETTINGS, client, integration, lambda d: []))
        with pytest.raises(asyncio.CancelledError):
            await delivery
    monkeypatch.undo()
    again = await outbound.lease(store, SETTINGS, GROUP, "out")
    assert [i.attempts for i in again.items] == [0]
