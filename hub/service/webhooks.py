"""Webhook delivery: the background task that POSTs each webhook integration's queue to its app, signed.

Each batch is leased like an app's own lease (so a webhook and a pulling app never get
the same item while a lease holds), POSTed as JSON with an HMAC-SHA256 signature of the
body, and acked on a 2xx answer or failed otherwise (backoff, or the app's `Retry-After` when longer, then dead
after `max_attempts`); a batch too large for the app (413) goes again in smaller ones. Up to `parallel` batches
of one integration are in flight at once, and up to `webhook_max_connections` of all of them.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx2
import orjson

from hub.config import Settings
from hub.errors import Conflict, NotFound
from hub.model.integration import Integration, Webhook
from hub.service import outbound, webhook_transport
from hub.service.outbound import Delivery
from hub.store.base import Store

log = logging.getLogger("hub")

T = TypeVar("T")
SIGNATURE = "X-Hub-Signature-256"
THROTTLED = frozenset({429, 503})
"""Too many requests, unavailable for now: the answers whose `Retry-After` a failed batch waits out."""
Render = Callable[[Delivery], list[dict[str, Any]]]
"""How the api layer shows leased items (the same shape as a lease's answer)."""


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: `sha256=` and the hex HMAC-SHA256 of the body under the secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Refusal:
    """Why a batch was not delivered (the items' last error), the status the app answered, if it did, and the seconds
    it asked the hub to wait first."""

    error: str
    status: int | None = None
    wait: float = 0.0


def retry_after(value: str | None, now: datetime) -> float:
    """The seconds a `Retry-After` value asks to wait from `now`: delta-seconds, or an HTTP-date; 0 for none, for a
    value that is neither (a negative number) and for a date past."""
    text = (value or "").strip()
    if text.isascii() and text.isdigit():
        return float(text)  # infinite past a float's range: the backoff's cap bounds it
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return 0.0
    if when.tzinfo is None:  # a date in `-0000`: UTC all the same
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


async def _post(
    client: httpx2.AsyncClient, settings: Settings, webhook: Webhook, name: str, lease: str, body: bytes
) -> Refusal | None:
    """POST one batch within `webhook_timeout_seconds`; None when the app took it (2xx), else why not.

    The client's timeout bounds each read and write, not the POST: an answer that trickled in a byte at a time
    held the batch without end, past its lease, and the integration's delivery with it. Only the answer's status
    is read, not its body: a huge one filled the hub's memory until the timeout, then failed a batch the app had
    taken. A host on the hub's own machine or network is not connected to unless the operator allows it
    (`webhook_transport`). A `Retry-After` is read from a 429 or 503 (`THROTTLED`), the answers that mean "later".
    """
    seconds = settings.webhook_timeout_seconds
    headers = {
        "content-type": "application/json",
        SIGNATURE: sign(webhook.secret, body),
        "x-hub-integration": quote(name, safe=""),  # a header holds Latin-1 at most: `€` sank each POST
        "x-hub-delivery": lease,
    }
    try:
        async with asyncio.timeout(seconds):
            async with client.stream("POST", webhook.url, content=body, headers=headers) as response:
                status, later = response.status_code, response.headers.get("retry-after")
    except TimeoutError:
        return Refusal(f"webhook POST failed: no answer within {seconds:g} seconds (timed out)")
    except webhook_transport.LocalAddress:  # logged with the address; the app learns none
        return Refusal("webhook POST refused: its host is on the hub's own machine or network")
    except Exception as error:  # whatever the POST raised fails the batch, not the delivery task
        if not isinstance(error, httpx2.HTTPError):  # e.g. InvalidURL for a URL the client refuses; or a bug
            log.exception("the webhook POST of integration %r raised", name)
        return Refusal(f"webhook POST failed: {type(error).__name__}: {error}")
    if 200 <= status < 300:
        return None
    wait = retry_after(later, datetime.now(UTC)) if status in THROTTLED else 0.0
    return Refusal(f"webhook answered HTTP {status}", status, wait)


async def deliver(
    store: Store,
    settings: Settings,
    client: httpx2.AsyncClient,
    slots: asyncio.Semaphore,
    integration: Integration,
    render: Render,
) -> Hold | None:
    """Send every due item of one integration, `parallel` batches at a time; the pause the app asked for
    (`Retry-After`, capped as the backoff is, counted from its answer), None if it did not. The pause holds the
    integration as the throttled POST found it: kept with the one the delivery began with, the pause a receiver
    asked for after a PUT moved the webhook to it was taken for the old URL's, and dropped at the next poll.

    One lease first: an idle integration costs one transaction a poll. When it finds
    items, `parallel` workers each lease and send batches until the queue is empty, or the app throttles them; a
    worker that fails (the store refused a lease) ends alone, logged, and the delivery only once all have. Each
    batch is leased, sent and settled holding one of the hub's `slots` (`webhook_max_connections`), taken before
    its lease: waiting for one does not run the lease out.
    """
    return await _Delivery(store, settings, client, slots, render, integration).run()


class _Delivery:
    """One delivery of an integration's queue: what its workers share, the batch size and the pause."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        client: httpx2.AsyncClient,
        slots: asyncio.Semaphore,
        render: Render,
        integration: Integration,
    ) -> None:
        self.store, self.settings, self.client, self.slots, self.render = store, settings, client, slots, render
        self.group_id, self.name = integration.group_id, integration.name
        self.seconds = settings.webhook_timeout_seconds + 5  # the lease must outlast the POST
        self.loop = asyncio.get_running_loop()
        self.paused_until = 0.0  # on the loop's clock, set by a throttled batch: the workers lease no more
        self.throttled = integration  # as the POST of that batch found it: the URL that asked for the pause
        self.size: int | None = None  # the most items a batch: `batch_size`, until a 413 halves the batch it answered
        self.taken: list[outbound.Lease] = []  # the first batch, once a worker has it: it settles or puts it back

    async def run(self) -> Hold | None:
        with _stops_on_change(self.group_id, self.name):
            first = await self.first()
            if first.items:
                parallel = first.integration.definition.parallel
                try:
                    workers = [self.worker(first, 0), *(self.worker(None, n) for n in range(1, parallel))]
                    ended = await asyncio.gather(*workers, return_exceptions=True)
                except asyncio.CancelledError:  # a stop before its worker started cancelled it unstarted: put it back
                    if not self.taken:
                        self.slots.release()
                        await _whole(self.release(first))
                    raise
                for error in ended:  # once every worker has ended: the next poll's never run beside one still POSTing
                    if isinstance(error, BaseException):  # logged, not raised: a pause asked for meanwhile still holds
                        log.error("a webhook worker of %s/%s failed", self.group_id, self.name, exc_info=error)
        if not self.paused_until:
            return None
        return self.paused_until, self.throttled  # counted from the answer: batches in flight took a while

    async def first(self) -> outbound.Lease:
        """The delivery's first batch, leased holding a slot, which its worker releases once it is settled; an empty
        one releases it at once."""
        await self.slots.acquire()
        try:
            lease = await self.leased()
        except BaseException:
            self.slots.release()
            raise
        if not lease.items:
            self.slots.release()
        return lease

    async def worker(self, first: outbound.Lease | None, rank: int) -> None:
        """Send batches until the queue is empty, each leased and settled holding a slot (the `first` holds the one
        it was leased with); the `rank`-th worker of the delivery, from 0, ends once `parallel` is lowered to it or
        below (`target`). A worker whose slot came after another's batch was throttled ends without leasing: it
        leased a batch only to put it back unsent, its items out of a polling app's reach meanwhile."""
        self.taken.extend([first] if first else [])
        with _stops_on_change(self.group_id, self.name):
            lease = first
            while True:
                if lease is None:
                    await self.slots.acquire()
                try:
                    if lease is None and self.paused_until:
                        return
                    lease = lease or await self.leased()
                    if not lease.items or not await self.send(lease, rank) or self.paused_until:
                        return
                finally:
                    self.slots.release()
                lease = None

    async def release(self, lease: outbound.Lease) -> None:
        await outbound.release(self.store, self.group_id, self.name, lease.lease_id, [i.item for i in lease.items])

    async def leased(self) -> outbound.Lease:
        """The next batch; a stop while it is leased puts its items back untried, as a stop during its POST does."""
        batch = outbound.lease(
            self.store, self.settings, self.group_id, self.name, seconds=self.seconds, limit=self.size
        )
        return await _whole(batch, self.release)

    async def send(self, lease: outbound.Lease, rank: int) -> bool:
        """POST one leased batch and settle it by the answer; False, the items put back unsent, when the
        integration no longer sends webhooks or no longer has the queue they were leased from (the lease was taken
        before a PUT removed its webhook, or gave it to another app, or before it was deleted and made anew), or
        another worker's batch was throttled while this one was leased, or `parallel` was lowered to `rank`.

        A batch too large for the app (413) is put back untried, and the delivery leases half as many items a batch
        from then on: its items go again in smaller batches, down to one, which fails like any other answer. Each
        smaller batch is a lease of its own, held for a POST of its own: one lease for all of them would run out.
        """
        numbers = [i.item for i in lease.items]
        try:  # a stop while the batch is read or POSTed: the next start sends it again at once, the same try
            found, current = await self.read(lease, rank)
            items = self.render(found)
            body = {"group_id": self.group_id, "integration": self.name, "lease": lease.lease_id, "items": items}
            webhook = None if current is None else current.definition.webhook
            refusal = None
            if webhook is not None:
                refusal = await _post(
                    self.client, self.settings, webhook, self.name, lease.lease_id, orjson.dumps(body)
                )
        except asyncio.CancelledError:
            await _whole(self.release(lease))
            raise
        if current is None or webhook is None:
            await _whole(self.release(lease))
            return False
        if refusal is None:
            await _whole(outbound.ack(self.store, self.group_id, self.name, lease.lease_id, numbers))
        elif refusal.status == 413 and len(numbers) > 1:
            self.size = min(self.size or len(numbers), len(numbers) // 2)
            await _whole(self.release(lease))
        else:
            why, wait = refusal.error, min(refusal.wait, self.settings.retry_backoff_max_seconds)
            if wait:
                self.paused_until, self.throttled = max(self.paused_until, self.loop.time() + wait), current
            failed = outbound.fail(
                self.store, self.settings, self.group_id, self.name, lease.lease_id, numbers, why, wait=wait
            )
            await _whole(failed)
        return True

    async def read(self, lease: outbound.Lease, rank: int) -> tuple[Delivery, Integration | None]:
        """The batch's records and the integration whose webhook to POST them to (`target`). The store failing here
        is the hub's fault, not the app's: the batch goes back at once, untried, and the error ends the worker, logged;
        left leased, it waited out its lease and came back as a failed try (dead after `max_attempts`) of a batch never
        sent."""
        try:
            return await outbound.delivery(self.store, lease.integration, lease.items), await self.target(lease, rank)
        except Exception:
            await _whole(self.release(lease))
            raise

    async def target(self, lease: outbound.Lease, rank: int) -> Integration | None:
        """The integration whose webhook to POST the batch to, as it is now: if it still sends them from the same
        queue, the app has not asked for a pause since, and the `rank`-th worker is within its `parallel`. A worker
        leasing as another's batch met a 429 POSTed what it leased all the same, a try counted of items that were to
        wait untried; and a delivery kept the workers it began with until the queue was empty, however long, after
        the app asked for fewer POSTs at once."""
        current = await self.store.integration(self.group_id, self.name)
        sends = current is not None and current.sends_webhooks and current.keeps_queue_of(lease.integration)
        within = current is not None and rank < current.definition.parallel
        return current if sends and within and not self.paused_until else None


async def _whole(work: Awaitable[T], undo: Callable[[T], Awaitable[None]] | None = None) -> T:
    """A lease, ack or fail run to its end, a stop (a cancel) passed on only after it, and after `undo` of what it did.

    Cut off, its write could commit all the same, out of the delivery's sight: a lease left its items leased, and an
    ack or fail its batch, until the lease ran out, a failed try (dead after `max_attempts`) of a batch never sent,
    or taken by the app already. A second stop changes nothing: it cut off the wait for the work, or the undo.
    """
    task = asyncio.ensure_future(work)
    stop: asyncio.CancelledError | None = None
    while not task.done():
        try:
            await asyncio.wait([task])  # unlike a shield, never cancels the work
        except asyncio.CancelledError as error:
            stop = error
    if stop is None:
        return task.result()
    done = None if task.cancelled() or task.exception() is not None else task.result()
    if undo is not None and done is not None:
        await _whole(undo(done))
    raise stop


@contextmanager
def _stops_on_change(group_id: str, name: str) -> Iterator[None]:
    """End a delivery quietly when its queue refuses it (404, 409): the integration was deleted, made inbound or
    awaits a consent since; the next poll sees it as it is now."""
    try:
        yield
    except (Conflict, NotFound) as error:
        log.info("webhook delivery of %s/%s stopped: %s", group_id, name, error.detail)


Hold = tuple[float, Integration]
"""Until when, on the loop's clock, a throttled integration is sent nothing, and the integration as it was then."""


async def deliver_forever(store: Store, settings: Settings, render: Render) -> None:
    """The background task of the app's lifespan: every `webhook_poll_seconds`, start a delivery for each
    webhook integration that has none running and was not throttled (`held`), until cancelled."""
    running: dict[tuple[str, str], asyncio.Task[Hold | None]] = {}
    held: dict[tuple[str, str], Hold] = {}
    loop = asyncio.get_running_loop()
    timeout = httpx2.Timeout(settings.webhook_timeout_seconds)
    connect = webhook_transport.transport(settings.webhook_local_network)
    slots = asyncio.Semaphore(settings.webhook_max_connections)
    async with httpx2.AsyncClient(timeout=timeout, follow_redirects=False, transport=connect) as client:
        try:
            while True:
                try:
                    targets = await store.webhook_integrations()
                except Exception:
                    log.exception("listing the webhook integrations failed; trying again later")
                    targets = []
                else:
                    _forget(held, targets, loop)
                for integration in targets:
                    key = (integration.group_id, integration.name)
                    if not integration.sends_webhooks or key in running or key in held:
                        continue
                    task = asyncio.create_task(deliver(store, settings, client, slots, integration, render))
                    running[key] = task
                    task.add_done_callback(functools.partial(_finished, running, held, key))
                await asyncio.sleep(settings.webhook_poll_seconds)
        finally:
            for task in running.values():
                task.cancel()
            await asyncio.gather(*running.values(), return_exceptions=True)


def _holds(hold: Hold, integration: Integration, loop: asyncio.AbstractEventLoop) -> bool:
    """Whether a pause holds the integration off: its time is not past, the integration keeps the queue of the one
    throttled, and its webhook the URL that asked for the pause. Kept by name alone, it held off one deleted and made
    anew, or given another app, since; and a receiver at a new URL, which never asked for it."""
    until, throttled = hold
    return until > loop.time() and integration.keeps_queue_of(throttled) and _url(integration) == _url(throttled)


def _url(integration: Integration) -> str | None:
    webhook = integration.definition.webhook
    return None if webhook is None else webhook.url


def _forget(held: dict[tuple[str, str], Hold], targets: Sequence[Integration], loop: asyncio.AbstractEventLoop) -> None:
    """Drop each pause that holds nothing off now (`_holds`): past, or of an integration that is gone, made anew or
    has no webhook since. Dropped only as the next delivery began, the pause of one deleted for good stayed for the
    life of the process."""
    listed = {(i.group_id, i.name): i for i in targets}
    for key in [key for key, hold in held.items() if key not in listed or not _holds(hold, listed[key], loop)]:
        del held[key]


def _finished(
    running: dict[tuple[str, str], asyncio.Task[Hold | None]],
    held: dict[tuple[str, str], Hold],
    key: tuple[str, str],
    task: asyncio.Task[Hold | None],
) -> None:
    running.pop(key, None)
    if task.cancelled():
        return
    if task.exception() is not None:
        log.error("webhook delivery of %s/%s failed", *key, exc_info=task.exception())
    elif (hold := task.result()) is not None:
        held[key] = hold
