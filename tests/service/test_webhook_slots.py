"""A delivery's workers waiting for a webhook slot (`webhook_max_connections`) lease nothing once the app throttled."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import pytest

from hub.service import outbound
from hub.store.base import Store
from tests.service.test_webhook_stop import define, deliver


async def test_workers_given_a_slot_after_a_throttled_batch_lease_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Waiting for the one slot as the first batch was answered 429, the other workers each leased a batch once
    they had it, only to put it back unsent: README says a throttled delivery leases no further batch, and the items
    so leased were out of a polling app's reach meanwhile."""
    integration = await define(store, 3, batch_size=1, parallel=3, max_attempts=5)
    leased: list[int] = []
    real = outbound.lease

    async def lease(*args: Any, **kwargs: Any) -> outbound.Lease:
        batch = await real(*args, **kwargs)
        leased.extend(i.item for i in batch.items)
        return batch

    monkeypatch.setattr(outbound, "lease", lease)
    throttled = httpx2.MockTransport(lambda r: httpx2.Response(429, headers={"retry-after": "30"}))
    async with httpx2.AsyncClient(transport=throttled) as client:
        hold = await deliver(store, client, integration, asyncio.Semaphore(1))
    assert hold is not None
    assert len(leased) == 1
