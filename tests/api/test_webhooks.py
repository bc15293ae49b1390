"""Webhook delivery to a real receiver on loopback that fails on purpose: signing, retries, dead items, parallel."""

from __future__ import annotations

import asyncio
import email.utils
import functools
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from hub.app import create_app
from hub.config import Settings
from hub.errors import Unavailable
from hub.model import timefmt
from hub.model.queue import QueueItem
from hub.service import outbound, webhooks
from hub.service.webhooks import sign
from tests.api.helpers import BASE, described, hub_id, post
from tests.conftest import Keys, admin_client

SECRET = "a-secret-of-sixteen-or-more"
URL = f"{BASE}/integrations"


@dataclass
class Receiver:
    """An app's webhook endpoint: records every POST, answers 500 when `fails(n)` says so for the n-th, else what
    `answers(n, body)` says (a status and headers; 204 by default)."""

    fails: Callable[[int], bool] = lambda n: False
    answers: Callable[[int, dict[str, Any]], tuple[int, dict[str, str]]] = lambda n, body: (204, {})
    delay: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def handle(self, headers: Any, body: bytes) -> tuple[int, dict[str, str]]:
        with self.lock:
            n = len(self.requests)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        time.sleep(self.delay)
        status, extra = (500, {}) if self.fails(n) else self.answers(n, json.loads(body))
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        with self.lock:
            self.in_flight -= 1
            self.requests.append(
                {
                    "status": status,
                    "signed": hmac.compare_digest(headers["X-Hub-Signature-256"], expected),
                    "headers": {k.lower(): v for k, v in headers.items()},
                    "body": json.loads(body),
                }
            )
        return status, extra

    def delivered(self) -> list[str]:
        """Names of the records in the batches the receiver took (2xx), in order."""
        return [i["record"]["name"] for r in self.requests if r["status"] == 204 for i in r["body"]["items"]]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    target = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            status, headers = target.handle(self.headers, body)
            self.send_response(status)
            for header in {**headers, "content-length": "0"}.items():
                self.send_header(*header)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 256  # the connections of many POSTs at once wait to be taken, not refused

    server = Server(("127.0.0.1", 0), Handler)
    target.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield target
    server.shutdown()
    server.server_close()


@contextmanager
def raw_endpoint(handle: Callable[[socket.socket], None]) -> Iterator[str]:
    """The URL of a loopback endpoint that hands each connection to `handle`, on a thread of its own."""
    listener = socket.create_server(("127.0.0.1", 0))

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:  # closed at the end of the test
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    finally:
        listener.close()


@pytest.fixture
def dripping() -> Iterator[str]:
    """The URL of an endpoint that answers a byte every 0.2 s, without end: no single read waits a second."""

    def drip(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            answer = b"HTTP/1.1 204 No Content\r\n" + b"x-wait: still\r\n" * 10_000
            try:
                for byte in answer:
                    conn.sendall(bytes([byte]))
                    time.sleep(0.2)
            except OSError:  # the hub gave up and closed the connection
                pass

    with raw_endpoint(drip) as url:
        yield url


@pytest.fixture
def endless() -> Iterator[tuple[str, list[bytes]]]:
    """The URL of an endpoint that answers `200 OK` at once, then a body that never ends (it says a gigabyte); and
    what it was sent."""
    sent: list[bytes] = []

    def answer(conn: socket.socket) -> None:
        with conn:
            sent.append(conn.recv(65536))
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000000\r\n\r\n")
                while True:
                    conn.sendall(b"x" * 1024)
                    time.sleep(0.05)
            except OSError:  # the hub closed the connection
                pass

    with raw_endpoint(answer) as url:
        yield url, sent


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """The hub's settings, with those a test names (`indirect` parametrization) over these."""
    return Settings(
        **{
            "store": f"sqlite:///{tmp_path / 'hub.db'}",
            "retry_backoff_seconds": 0,
            "webhook_poll_seconds": 0.05,
            "webhook_timeout_seconds": 5,
            "webhook_local_network": True,  # the receivers listen on 127.0.0.1
            **getattr(request, "param", {}),
        }
    )


def define(client: TestClient, receiver: Receiver, **fields: Any) -> None:
    body = {
        "name": fields.pop("name", "hook"),
        "entity": "organizations",
        "direction": "outbound",
        "provider": "crm",
        "realm": "1",
        "webhook": {"url": receiver.url, "secret": SECRET},
        **fields,
    }
    assert client.post(URL, json=body).status_code == 201


def wait_for(check: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def dead_items(client: TestClient) -> list[dict[str, Any]]:
    """The dead items of the integration `hook`."""
    items: list[dict[str, Any]] = client.get(f"{URL}/hook/dead").json()["dead"]
    return items


def wait_for_dead(client: TestClient, seconds: float = 10) -> list[dict[str, Any]]:
    """The dead items of the integration `hook`, once there are any."""
    wait_for(lambda: dead_items(client) != [], seconds)
    return dead_items(client)


def test_batches_are_signed_and_a_refused_batch_is_retried_until_taken(client: TestClient, receiver: Receiver) -> None:
    receiver.fails = lambda n: n % 3 == 1  # the 2nd, 5th, 8th… POST answers 500
    define(client, receiver, batch_size=2, max_attempts=5)
    names = [f"org{n}" for n in range(9)]
    for name in names:
        post(client, "organizations", name=name)
    wait_for(lambda: sorted(receiver.delivered()) == names)

    assert all(r["signed"] for r in receiver.requests)
    assert any(r["status"] == 500 for r in receiver.requests)
    assert all(len(r["body"]["items"]) <= 2 for r in receiver.requests)
    first = receiver.requests[0]
    assert first["headers"]["x-hub-integration"] == "hook" and first["headers"]["content-type"] == "application/json"
    assert first["body"]["lease"] == first["headers"]["x-hub-delivery"]
    assert first["body"]["group_id"] == "cld-1" and first["body"]["integration"] == "hook"
    item = first["body"]["items"][0]
    assert item["kind"] == "create" and item["record"]["id"][-1]["provider"] == "connec"
    doc = client.get("/openapi.json").json()
    delivery = doc["webhooks"]["queue"]["post"]
    described(doc, delivery["requestBody"]["content"]["application/json"]["schema"], first["body"])
    assert {p["name"].lower() for p in delivery["parameters"]} <= set(first["headers"])
    # A refused batch comes back with its attempt counted.
    retried = [i for r in receiver.requests[2:] for i in r["body"]["items"] if i["attempt"] == 2]
    assert {i["item"] for i in receiver.requests[1]["body"]["items"]} <= {i["item"] for i in retried}
    time.sleep(0.2)
    assert len(receiver.delivered()) == len(names)  # nothing taken twice
    assert dead_items(client) == []


def test_an_integration_sent_back_as_read_keeps_signing_with_its_secret(client: TestClient, receiver: Receiver) -> None:
    """The answer shows the webhook without its secret: sent back so, with an edit, the stored secret stays."""
    define(client, receiver)
    read = client.get(f"{URL}/hook").json()
    assert client.put(f"{URL}/hook", json={**read, "batch_size": 3}).status_code == 200
    post(client, "organizations", name="org")
    wait_for(lambda: receiver.delivered() == ["org"])
    assert receiver.requests[0]["signed"]


def test_a_name_beyond_latin_1_is_sent_percent_encoded(client: TestClient, receiver: Receiver) -> None:
    """A header holds Latin-1 at most: each POST of `sync €` failed before it left, and its items died."""
    define(client, receiver, name="sync €")
    post(client, "organizations", name="org")
    wait_for(lambda: receiver.delivered() == ["org"])
    assert receiver.requests[0]["headers"]["x-hub-integration"] == "sync%20%E2%82%AC"
    assert receiver.requests[0]["body"]["integration"] == "sync €"


def test_after_max_attempts_the_items_are_dead_and_a_retry_by_hand_delivers_them(
    client: TestClient, receiver: Receiver
) -> None:
    receiver.fails = lambda n: True
    define(client, receiver, max_attempts=3)
    post(client, "organizations", name="A")
    dead = wait_for_dead(client)
    assert [(d["attempts"], d["last_error"]) for d in dead] == [(3, "webhook answered HTTP 500")]
    assert len(receiver.requests) == 3
    receiver.fails = lambda n: False
    assert client.post(f"{URL}/hook/dead/retry").json() == {"retried": [dead[0]["item"]], "refused": []}
    wait_for(lambda: receiver.delivered() == ["A"])


@pytest.mark.parametrize("parallel", [1, 3])
def test_at_most_parallel_batches_are_in_flight(client: TestClient, receiver: Receiver, parallel: int) -> None:
    receiver.delay = 0.15
    define(client, receiver, batch_size=1, parallel=parallel, consent_type="explicit")
    for n in range(6):
        post(client, "organizations", name=str(n))
    client.post(f"{URL}/hook/consent")  # all six are due at once
    wait_for(lambda: len(receiver.delivered()) == 6)
    assert receiver.most_in_flight == parallel


def test_a_lowered_parallel_holds_from_the_next_batch(client: TestClient, receiver: Receiver) -> None:
    """A delivery kept the workers it began with until the queue was empty: an app that asked for fewer POSTs at
    once (a PUT of `parallel`) got as many as before for as long as its backlog lasted."""
    receiver.delay = 0.5  # long enough that the four workers' first POSTs are in flight together, however busy
    define(client, receiver, batch_size=1, parallel=4, consent_type="explicit")
    for n in range(16):
        post(client, "organizations", name=str(n))
    client.post(f"{URL}/hook/consent")
    wait_for(lambda: receiver.most_in_flight == 4, seconds=30)
    assert client.put(f"{URL}/hook", json={"parallel": 1}).status_code == 200
    wait_for(lambda: receiver.in_flight <= 1, seconds=30)  # the POSTs in flight at the PUT are answered
    time.sleep(receiver.delay)
    with receiver.lock:
        receiver.most_in_flight = receiver.in_flight
    wait_for(lambda: len(receiver.delivered()) == 16, seconds=60)
    assert receiver.most_in_flight == 1
    assert len(receiver.requests) == 16


@pytest.mark.parametrize("settings", [{"webhook_timeout_seconds": 4}], indirect=True)
def test_posts_in_flight_past_a_hundred_each_get_the_whole_timeout(client: TestClient, receiver: Receiver) -> None:
    """The webhook client held 100 connections for every integration of the hub: a POST past them waited for one,
    its timeout running, and failed as the app's try (sent again, dead after `max_attempts`) though the app answered
    each within the timeout. Past 100 in flight at once shows the bound gone (how many of the 128 overlap, and
    whether a slow machine times some out, depends on the machine)."""
    receiver.delay = 2.5  # twice over the timeout: a POST that waited for another's connection timed out
    for n in range(8):
        define(client, receiver, name=f"hook{n}", batch_size=1, parallel=16, consent_type="explicit")
    for n in range(16):
        post(client, "organizations", name=str(n))
    for n in range(8):  # all 128 are due at once
        client.post(f"{URL}/hook{n}/consent")
    wait_for(lambda: len(receiver.delivered()) == 128, seconds=60)
    assert receiver.most_in_flight > 100


@pytest.mark.parametrize("settings", [{"webhook_max_connections": 3}], indirect=True)
def test_no_more_posts_are_in_flight_across_integrations_than_webhook_max_connections(
    client: TestClient, receiver: Receiver
) -> None:
    """Each integration's `parallel` bounded its own POSTs alone: many integrations held as many connections (file
    descriptors) at once as their `parallel`s add up to. Past the hub's bound a batch waits its turn before it is
    leased, and is sent whole, once; an idle integration's poll gives its turn back (a record written after the
    queues ran dry reaches every integration)."""
    receiver.delay = 0.3
    for n in range(4):
        define(client, receiver, name=f"hook{n}", batch_size=1, parallel=4, consent_type="explicit")
    for n in range(4):
        post(client, "organizations", name=str(n))
    for n in range(4):
        client.post(f"{URL}/hook{n}/consent")
    wait_for(lambda: len(receiver.delivered()) == 16, seconds=60)
    assert receiver.most_in_flight == 3
    time.sleep(0.5)  # every integration polls its empty queue, again and again
    post(client, "organizations", name="late")
    wait_for(lambda: len(receiver.delivered()) == 20, seconds=30)
    assert len(receiver.requests) == 20


def test_a_worker_the_store_refuses_does_not_leave_the_others_running_beyond_parallel(
    client: TestClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One worker's lease refused (the SQLite file locked by `hub import`) ended the delivery while its other workers
    went on POSTing: the next poll started `parallel` more beside them."""
    receiver.delay = 0.3
    calls = 0
    lease = outbound.lease

    async def refused_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:  # the second worker's first lease
            raise Unavailable("the store is busy")
        return await lease(*args, **kwargs)

    monkeypatch.setattr(outbound, "lease", refused_once)
    define(client, receiver, batch_size=1, parallel=2, consent_type="explicit")
    for n in range(6):
        post(client, "organizations", name=str(n))
    client.post(f"{URL}/hook/consent")
    wait_for(lambda: len(receiver.delivered()) == 6)
    assert receiver.most_in_flight <= 2


def http_date(seconds: float) -> str:
    """The time `seconds` from now as an HTTP-date, to the second."""
    return email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)


@pytest.mark.parametrize(
    ("status", "later", "wait"),
    [
        (429, lambda: "120", 120),
        (503, lambda: http_date(120), 120),
        (429, lambda: "86400", 3600),  # retry_backoff_max_seconds: no app parks an item for ever
    ],
    ids=["seconds", "date", "capped"],
)
def test_a_throttled_batch_is_not_due_again_before_the_time_the_app_named(
    client: TestClient, receiver: Receiver, settings: Settings, status: int, later: Callable[[], str], wait: int
) -> None:
    """A `Retry-After` was ignored: the batch came back after the queue's own backoff, here at once, and the app
    asking for a pause was sent it again and again until its items were dead."""
    receiver.answers = lambda n, body: (status, {"Retry-After": later()})
    define(client, receiver, max_attempts=3)
    post(client, "organizations", name="A")
    wait_for(lambda: receiver.requests != [])
    time.sleep(0.3)  # a few polls
    assert len(receiver.requests) == 1
    assert client.put(f"{URL}/hook", json={"webhook": None}).status_code == 200
    keys = Keys(client)

    def due(seconds: float) -> list[QueueItem]:
        at = timefmt.shift(timefmt.now(), seconds)
        return keys.run(outbound.lease, keys.store, settings, "cld-1", "hook", None, None, at).items

    assert due(wait - 10) == []
    [item] = due(wait + 10)
    assert (item.attempts, item.last_error) == (1, f"webhook answered HTTP {status}")  # the try counts


def test_a_throttled_integration_is_sent_nothing_more_until_the_time_the_app_named(
    client: TestClient, receiver: Receiver, settings: Settings
) -> None:
    """After a 429 the delivery went on with the next batches, each POSTed to an app asking for a pause and each
    a try counted; they now wait untried, the integration's deliveries held off until the time the app named."""
    receiver.answers = lambda n, body: (429, {"Retry-After": "120"})
    define(client, receiver, batch_size=1, webhook=None)
    post(client, "organizations", name="A")
    post(client, "organizations", name="B")  # due with A: the delivery that met the 429 went on to it
    webhook = {"url": receiver.url, "secret": SECRET}
    assert client.put(f"{URL}/hook", json={"webhook": webhook}).status_code == 200
    wait_for(lambda: receiver.requests != [])
    post(client, "organizations", name="C")  # due later: the next poll's delivery sent it
    time.sleep(0.3)  # a few polls
    assert len(receiver.requests) == 1
    assert client.put(f"{URL}/hook", json={"webhook": None, "batch_size": 10}).status_code == 200
    keys = Keys(client)
    items = keys.run(outbound.lease, keys.store, settings, "cld-1", "hook", None, None, timefmt.now()).items
    assert [item.attempts for item in items] == [0, 0]  # B and C untried; A waits for its time


def throttle_during_third_lease(
    client: TestClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, names: str, third: Callable[[], None]
) -> Callable[[], bool]:
    """Two workers, a batch of one each of the records `names`, all due at once: the app answers A with a 429 once
    the third lease, the second worker's next after it sent B, has begun; that lease waits until the hub has failed
    A, then does `third()` (it may raise) and leases. Whether it has ended, as it goes. Each step waits for the one
    before rather than for a time (a 429 0.2 s late, a lease 0.4 s slow): a loaded machine may take longer."""
    third_began = threading.Event()

    def answers(n: int, body: dict[str, Any]) -> tuple[int, dict[str, str]]:
        if body["items"][0]["record"]["name"] == "A":
            third_began.wait(10)
            return 429, {"Retry-After": "120"}
        return 204, {}

    calls, ended = 0, False
    lease, fail, failed = outbound.lease, outbound.fail, asyncio.Event()

    async def failing(*args: Any, **kwargs: Any) -> Any:
        try:
            return await fail(*args, **kwargs)
        finally:
            failed.set()

    async def slow_third(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls, ended
        calls += 1
        if calls != 3:
            return await lease(*args, **kwargs)
        third_began.set()
        try:
            await asyncio.wait_for(failed.wait(), 10)
            third()
            return await lease(*args, **kwargs)
        finally:
            ended = True

    monkeypatch.setattr(outbound, "lease", slow_third)
    monkeypatch.setattr(outbound, "fail", failing)
    receiver.answers = answers
    define(client, receiver, batch_size=1, parallel=2, consent_type="explicit")
    for name in names:
        post(client, "organizations", name=name)
    client.post(f"{URL}/hook/consent")  # all are due at once
    return lambda: ended


def test_a_batch_leased_while_another_worker_was_throttled_is_not_sent(
    client: TestClient, receiver: Receiver, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `parallel` above 1, a worker whose lease was under way when another's batch met a 429 POSTed the batch
    it leased all the same, to an app asking for a pause, a try counted; it now goes back to wait untried."""
    lease = outbound.lease
    third_ended = throttle_during_third_lease(client, receiver, monkeypatch, "ABCD", lambda: None)
    wait_for(third_ended)
    time.sleep(0.3)  # its batch put back, and a few polls
    assert sorted(r["body"]["items"][0]["record"]["name"] for r in receiver.requests) == ["A", "B"]
    assert client.put(f"{URL}/hook", json={"webhook": None, "batch_size": 10}).status_code == 200
    keys = Keys(client)
    items = keys.run(lease, keys.store, settings, "cld-1", "hook", None, None, timefmt.now()).items
    assert [item.attempts for item in items] == [0, 0]  # C and D untried; A waits for its time


@pytest.mark.parametrize("change", ["provider", "recreated"])
def test_a_pause_does_not_hold_off_the_integration_made_anew_or_given_another_app(
    client: TestClient, receiver: Receiver, change: str
) -> None:
    """The pause was kept by the integration's name: one deleted and made anew, or given another app, with a queue
    of its own, was sent nothing until the time the old app had named (up to `retry_backoff_max_seconds`)."""
    receiver.answers = lambda n, body: (429, {"Retry-After": "120"}) if n == 0 else (204, {})
    define(client, receiver)
    post(client, "organizations", name="A")
    wait_for(lambda: receiver.requests != [])
    time.sleep(0.2)  # the delivery ends and holds the integration off
    if change == "provider":
        assert client.put(f"{URL}/hook", json={"provider": "erp"}).status_code == 200
    else:
        assert client.delete(f"{URL}/hook").status_code == 204
        define(client, receiver, provider="erp")
    post(client, "organizations", name="B")
    wait_for(lambda: receiver.delivered() == ["B"])  # not the 120 s the old app named


@pytest.mark.parametrize("url", ["new", "kept"])
def test_a_pause_is_the_receivers_that_asked_for_it(client: TestClient, receiver: Receiver, url: str) -> None:
    """A PUT giving the webhook another URL, a receiver that never asked for a pause, kept the old one's: the new
    receiver was sent nothing until the time the old had named (up to `retry_backoff_max_seconds`). A PUT that keeps
    the URL keeps the pause."""
    receiver.answers = lambda n, body: (429, {"Retry-After": "120"}) if n == 0 else (204, {})
    define(client, receiver)
    post(client, "organizations", name="A")
    wait_for(lambda: receiver.requests != [])
    time.sleep(0.2)  # the delivery ends and holds the integration off
    webhook = {"url": f"{receiver.url}?{url}" if url == "new" else receiver.url, "secret": SECRET}
    assert client.put(f"{URL}/hook", json={"webhook": webhook}).status_code == 200
    post(client, "organizations", name="B")
    if url == "new":
        wait_for(lambda: receiver.delivered() == ["B"])  # not the 120 s the old receiver named
    else:
        time.sleep(0.3)  # a few polls
        assert len(receiver.requests) == 1


def test_a_pause_is_kept_for_the_url_that_asked_for_it_when_a_put_moved_it_during_the_delivery(
    client: TestClient, receiver: Receiver
) -> None:
    """A PUT giving the webhook another URL while a delivery ran: its next batch went to the new URL, which asked for
    a pause, and the pause was kept for the URL the delivery had started with: taken for the old receiver's, it was
    dropped at the next poll, and the new receiver, which had asked for 120 s, was sent the next batch at once."""
    moved = {"url": f"{receiver.url}?new", "secret": SECRET}

    def answers(n: int, body: dict[str, Any]) -> tuple[int, dict[str, str]]:
        if n == 0:  # the first batch, to the URL the delivery started with: the webhook moves meanwhile
            assert client.put(f"{URL}/hook", json={"webhook": moved}).status_code == 200
            return 204, {}
        return 429, {"Retry-After": "120"}

    receiver.answers = answers
    define(client, receiver, batch_size=1, webhook=None)
    post(client, "organizations", name="A")
    post(client, "organizations", name="B")
    webhook = {"url": f"{receiver.url}?old", "secret": SECRET}
    assert client.put(f"{URL}/hook", json={"webhook": webhook}).status_code == 200
    wait_for(lambda: len(receiver.requests) == 2)
    time.sleep(0.2)  # the delivery ends and holds the integration off
    post(client, "organizations", name="C")
    time.sleep(0.3)  # a few polls
    assert len(receiver.requests) == 2


def test_a_pause_counts_from_the_answer_that_asked_for_it(client: TestClient, receiver: Receiver) -> None:
    """The pause counted from the end of the delivery: a batch still in flight beside the throttled one (up to
    `webhook_timeout_seconds`) held the integration off that much longer than the app had asked."""
    posted: list[tuple[str, float]] = []

    def answers(n: int, body: dict[str, Any]) -> tuple[int, dict[str, str]]:
        name = body["items"][0]["record"]["name"]
        if name == "B":
            time.sleep(0.8)  # in flight for most of A's pause
        posted.append((name, time.monotonic()))
        throttled = [named for named, _ in posted] == ["A"]  # A's first POST, answered long before B's
        return (429, {"Retry-After": "1"}) if throttled else (204, {})

    receiver.answers = answers
    define(client, receiver, batch_size=1, parallel=2, consent_type="explicit")
    for name in ("A", "B"):
        post(client, "organizations", name=name)
    client.post(f"{URL}/hook/consent")  # both are due at once
    wait_for(lambda: len(receiver.delivered()) == 2)
    [(_, first), (_, again)] = [(name, at) for name, at in posted if name == "A"]
    [answered] = [at for name, at in posted if name == "B"]
    assert answered - first > 0.7 and again < answered + 1  # 1 s from A's answer and a poll, not from B's


def test_a_pause_holds_when_another_worker_of_the_delivery_failed(
    client: TestClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker the store refused (a lease meeting a locked SQLite file) raised out of the delivery, and the pause
    another worker's 429 had asked for went with it: the next poll POSTed the next batch to the throttled app."""

    def refused() -> None:
        raise Unavailable("the store is busy")

    third_ended = throttle_during_third_lease(client, receiver, monkeypatch, "ABC", refused)
    wait_for(third_ended)
    time.sleep(0.3)  # a few polls
    assert sorted(r["body"]["items"][0]["record"]["name"] for r in receiver.requests) == ["A", "B"]


@pytest.mark.parametrize(("status", "later"), [(429, "-5"), (503, "in a minute"), (500, "120")])
def test_a_retry_after_unparseable_negative_or_on_another_answer_is_ignored(
    client: TestClient, receiver: Receiver, status: int, later: str
) -> None:
    receiver.answers = lambda n, body: (status, {"Retry-After": later}) if n == 0 else (204, {})
    define(client, receiver)
    post(client, "organizations", name="A")
    wait_for(lambda: receiver.delivered() == ["A"])


def test_a_batch_too_large_for_the_app_goes_again_in_halves_down_to_one_item(
    client: TestClient, receiver: Receiver
) -> None:
    """A 413 was retried like any other answer, the same batch each time, until its items were dead: records the app
    would take in smaller batches never reached it. A single item too large fails as before."""

    def answers(n: int, body: dict[str, Any]) -> tuple[int, dict[str, str]]:
        names = [i["record"]["name"] for i in body["items"]]
        return (413, {}) if len(names) > 2 or "huge" in names else (204, {})

    receiver.answers = answers
    define(client, receiver, batch_size=4, max_attempts=1, consent_type="explicit")
    for name in ("0", "1", "2", "huge"):
        post(client, "organizations", name=name)
    client.post(f"{URL}/hook/consent")  # all four are due at once
    [dead] = wait_for_dead(client)
    assert [len(r["body"]["items"]) for r in receiver.requests] == [4, 2, 2, 1, 1]
    assert receiver.delivered() == ["0", "1", "2"]
    assert {i["attempt"] for r in receiver.requests for i in r["body"]["items"]} == {1}  # a split counts no try
    assert (dead["attempts"], dead["last_error"]) == (1, "webhook answered HTTP 413")


def test_an_unreachable_webhook_counts_as_a_failed_try(client: TestClient, receiver: Receiver) -> None:
    define(client, receiver, max_attempts=2)
    client.put(f"{URL}/hook", json={"webhook": {"url": "http://127.0.0.1:9/closed", "secret": SECRET}})
    post(client, "organizations", name="A")
    assert "webhook POST failed" in wait_for_dead(client)[0]["last_error"]


def test_a_merge_is_posted_to_a_filtered_webhook_that_was_sent_the_record_it_took_away(
    client: TestClient, receiver: Receiver
) -> None:
    """The survivor left out by the filter, the merge was never posted: the app kept the customer it had been sent
    beside the survivor, two copies of one company."""
    define(client, receiver, filter="is_customer eq true", include_update=True)
    kept = post(client, "organizations", name="Kept", is_customer=False).json()["organizations"]
    gone = post(client, "organizations", name="Gone", is_customer=True).json()["organizations"]
    wait_for(lambda: receiver.delivered() == ["Gone"])
    merged = client.post(f"{BASE}/organizations/{hub_id(kept)}/merge", json={"records": [hub_id(gone)]})
    assert merged.status_code == 200, merged.text
    wait_for(lambda: len(receiver.delivered()) == 2)
    item = receiver.requests[-1]["body"]["items"][0]
    assert (item["kind"], item["details"]["merged"], hub_id(item["record"])) == ("merge", [hub_id(gone)], hub_id(kept))


@pytest.mark.parametrize("settings", [{"webhook_timeout_seconds": 1}], indirect=True)
def test_a_post_answered_slower_than_the_timeout_fails_however_its_bytes_trickle(
    client: TestClient, receiver: Receiver, dripping: str
) -> None:
    """The timeout bounded each read, not the POST: an answer that trickled in held the batch (and the delivery of
    the integration) without end, its items leased long after their lease ran out."""
    define(client, receiver, max_attempts=1)
    client.put(f"{URL}/hook", json={"webhook": {"url": dripping, "secret": SECRET}})
    post(client, "organizations", name="A")
    assert "timed out" in wait_for_dead(client, seconds=4)[0]["last_error"]


@pytest.mark.parametrize("settings", [{"webhook_timeout_seconds": 1}], indirect=True)
def test_a_2xx_answer_acks_the_batch_without_its_body_being_read(
    client: TestClient, receiver: Receiver, endless: tuple[str, list[bytes]]
) -> None:
    """The hub read an answer's body whole: a huge one filled its memory (gigabytes within the timeout on
    loopback), and one that never ended failed, then killed, a batch the app had taken."""
    url, sent = endless
    define(client, receiver, max_attempts=1, webhook={"url": url, "secret": SECRET})
    post(client, "organizations", name="A")
    wait_for(lambda: sent != [])
    time.sleep(1.5)  # past the timeout
    assert dead_items(client) == [] and len(sent) == 1
    assert client.post(f"{URL}/hook/lease").json()["items"] == []  # acked


def test_removing_the_webhook_stops_the_posts_and_leaves_the_unsent_items_to_lease(
    client: TestClient, receiver: Receiver
) -> None:
    """The delivery running when the webhook was removed leased every item left and failed it unsent: all died."""
    receiver.delay = 0.5
    define(client, receiver, batch_size=1, max_attempts=1, consent_type="explicit")
    for n in range(5):
        post(client, "organizations", name=str(n))
    client.post(f"{URL}/hook/consent")
    wait_for(lambda: receiver.in_flight == 1)
    assert client.put(f"{URL}/hook", json={"webhook": None}).status_code == 200
    wait_for(lambda: len(receiver.requests) == 1)
    time.sleep(0.3)  # a few polls
    assert receiver.delivered() == ["0"] and len(receiver.requests) == 1  # the batch on its way counts: acked
    assert dead_items(client) == []
    left = [client.post(f"{URL}/hook/lease").json()["items"] for _ in range(5)]
    assert [(i["record"]["name"], i["attempt"]) for items in left for i in items] == [(str(n), 1) for n in range(1, 5)]


def test_a_url_the_client_refuses_fails_the_batch_like_a_connection_error(
    client: TestClient, receiver: Receiver
) -> None:
    """The client's InvalidURL is no HTTPError: it killed the delivery task, and the items sat leased."""
    define(client, receiver, max_attempts=1)
    client.put(f"{URL}/hook", json={"webhook": {"url": "http://256.1.1.1/hook", "secret": SECRET}})
    post(client, "organizations", name="A")
    assert "webhook POST failed: InvalidURL" in wait_for_dead(client, seconds=3)[0]["last_error"]


def test_no_webhook_is_sent_before_consent(client: TestClient, receiver: Receiver) -> None:
    define(client, receiver, consent_type="explicit")
    post(client, "organizations", name="A")
    time.sleep(0.3)
    assert receiver.requests == []
    client.post(f"{URL}/hook/consent")
    wait_for(lambda: receiver.delivered() == ["A"])


def test_the_signature_is_hmac_sha256_of_the_body_in_hex() -> None:
    body = b"The quick brown fox jumps over the lazy dog"
    assert sign("key", body) == "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"


@pytest.mark.parametrize("change", ["provider", "recreated"])
def test_a_batch_leased_before_its_queue_was_emptied_is_not_sent(
    client: TestClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """Between the lease and the POST, a PUT gave the integration to another app (or it was deleted and made
    anew): its queue went, yet the batch leased from it was POSTed to the webhook it has now, the old app's."""
    paused, resume = threading.Event(), threading.Event()
    delivery = outbound.delivery

    async def slow_delivery(*args: Any) -> Any:
        paused.set()
        while not resume.is_set():
            await asyncio.sleep(0.01)
        return await delivery(*args)

    monkeypatch.setattr(outbound, "delivery", slow_delivery)
    define(client, receiver)
    post(client, "organizations", name="for crm")
    wait_for(paused.is_set)
    if change == "provider":
        assert client.put(f"{URL}/hook", json={"provider": "erp"}).status_code == 200
    else:
        assert client.delete(f"{URL}/hook").status_code == 204
        define(client, receiver, provider="erp")
    resume.set()
    post(client, "organizations", name="for erp")
    wait_for(lambda: receiver.delivered() != [])
    time.sleep(0.2)
    assert receiver.delivered() == ["for erp"]


def test_a_host_on_the_local_network_is_not_posted_to_unless_allowed(settings: Settings, receiver: Receiver) -> None:
    """The hub POSTed wherever an app's webhook said, its own machine and network included, and the error its dead
    items kept told the app what answered there. Made while allowed, such a webhook is refused as it is POSTed."""
    with admin_client(create_app(settings)) as allowed:
        define(allowed, receiver, max_attempts=1)
    with admin_client(create_app(replace(settings, webhook_local_network=False))) as client:
        post(client, "organizations", name="A")
        [dead] = wait_for_dead(client)
        assert dead["last_error"] == "webhook POST refused: its host is on the hub's own machine or network"
        assert client.put(f"{URL}/hook", json={"batch_size": 5}).status_code == 200  # kept, as it was made
    assert receiver.requests == []


def test_a_name_is_resolved_once_for_its_check_and_its_connection(
    settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name was looked up to be checked, then again as the POST connected: one that answered a public address
    first and the hub's own next (DNS rebinding) was POSTed into the hub's network. The address checked is now the
    one connected to; here it is a public one that nothing answers on."""
    port = int(receiver.url.split(":")[2].split("/")[0])
    answers = iter([(socket.AF_INET, "192.0.32.10")])  # then 127.0.0.1, the receiver, for every later look-up
    real = socket.getaddrinfo

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("rebind.example", b"rebind.example"):  # anyio asks in bytes
            return real(host, *args, **kwargs)
        family, address = next(answers, (socket.AF_INET, "127.0.0.1"))
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with admin_client(create_app(replace(settings, webhook_local_network=False, webhook_timeout_seconds=1))) as client:
        define(client, replace(receiver, url=f"http://rebind.example:{port}/hook"), max_attempts=1)
        post(client, "organizations", name="A")
        wait_for(lambda: receiver.requests != [] or dead_items(client) != [])
        assert receiver.requests == []
        [dead] = dead_items(client)
        assert dead["last_error"].startswith("webhook POST failed:"), dead


def test_a_host_name_that_resolves_slowly_fails_the_batch_within_the_timeout(
    settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The look-up of the host (is it on the hub's own network?) ran before the POST's timeout began: a resolver
    that did not answer held the batch past its lease, and past `webhook_timeout_seconds`."""
    real = asyncio.BaseEventLoop.getaddrinfo

    async def getaddrinfo(loop: asyncio.BaseEventLoop, host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "hook.example":
            await asyncio.sleep(60)  # a resolver that never answers
        return await real(loop, host, *args, **kwargs)

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", getaddrinfo)
    with admin_client(create_app(replace(settings, webhook_local_network=False, webhook_timeout_seconds=1))) as client:
        define(client, receiver, max_attempts=1, webhook={"url": "http://hook.example/hook", "secret": SECRET})
        post(client, "organizations", name="A")
        assert "timed out" in wait_for_dead(client, seconds=4)[0]["last_error"]


def test_a_host_name_the_resolver_cannot_encode_fails_the_batch_like_a_url_the_client_refuses(
    settings: Settings, receiver: Receiver
) -> None:
    """A label over 63 characters made the look-up of the host raise (UnicodeError) out of the delivery: the batch
    stayed leased until its lease ran out, and died saying so instead of why."""
    url = f"http://{'a' * 64}.example/hook"
    with admin_client(create_app(replace(settings, webhook_local_network=False, webhook_timeout_seconds=1))) as client:
        define(client, receiver, max_attempts=1, webhook={"url": url, "secret": SECRET})
        post(client, "organizations", name="A")
        error = wait_for_dead(client, seconds=4)[0]["last_error"]
        assert error.startswith("webhook POST failed: ConnectError: "), error


def test_a_batch_cut_off_by_a_shutdown_is_sent_at_the_next_start_as_the_same_try(
    settings: Settings, receiver: Receiver
) -> None:
    """A hub stopped in the middle of a POST left its batch leased: after a restart it came back only when the lease
    ran out, as a failed try, so a deploy killed the items of `max_attempts: 1` that the app may never have seen."""
    receiver.delay = 1.5
    with admin_client(create_app(replace(settings, webhook_timeout_seconds=3))) as client:
        define(client, receiver, max_attempts=1)
        post(client, "organizations", name="A")
        wait_for(lambda: receiver.in_flight == 1)
    receiver.delay = 0
    with admin_client(create_app(settings)) as client:
        wait_for(lambda: len(receiver.requests) == 2, seconds=5)
        assert dead_items(client) == []
    assert [r["body"]["items"][0]["attempt"] for r in receiver.requests] == [1, 1]


@pytest.mark.parametrize("step", ["lease", "delivery", "ack"])
def test_a_stop_during_a_batchs_store_work_leaves_no_item_leased_out_of_sight(
    settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """A stop cut off the lease (or the read of its records, or the ack) of a batch: a lease whose write committed
    all the same was lost to the delivery, its items sent at the next start only once it ran out, a failed try (dead
    at `max_attempts: 1`) of a batch never sent; an ack cut off left a batch the app took to be sent again."""
    stopped, slowed = threading.Event(), getattr(outbound, step)

    async def slow(*args: Any, **kwargs: Any) -> Any:
        if step == "ack":  # the ack starts late: the stop comes first
            await asyncio.sleep(0.5)
        done = await slowed(*args, **kwargs)
        if step != "ack" and not stopped.is_set():  # done, but the stop comes before its answer
            stopped.set()
            await asyncio.sleep(0.5)
        return done

    monkeypatch.setattr(outbound, step, slow)
    with admin_client(create_app(settings)) as client:
        define(client, receiver, max_attempts=1)
        post(client, "organizations", name="A")
        wait_for(stopped.is_set if step != "ack" else lambda: receiver.requests != [])
    monkeypatch.undo()
    with admin_client(create_app(settings)) as client:
        if step == "ack":
            body = receiver.requests[0]["body"]
            taken = {"lease": body["lease"], "items": [body["items"][0]["item"]]}
            refused = client.post(f"{URL}/hook/ack", json=taken).json()["refused"]
            assert [r["reason"] for r in refused] == ["no such item in this queue (acked already?)"]
        else:
            wait_for(lambda: receiver.delivered() == ["A"], seconds=3)
            assert [i["attempt"] for r in receiver.requests for i in r["body"]["items"]] == [1]
        assert dead_items(client) == []


def test_the_pause_of_an_integration_deleted_is_forgotten(
    client: TestClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The delivery task kept each pause an app asked for, that of an integration deleted for good too, for the life
    of the process: with integrations made, throttled and deleted, its memory only grew."""
    kept: list[dict[tuple[str, str], webhooks.Hold]] = []  # the delivery task's pauses, once a delivery has ended
    finished = webhooks._finished

    def finishing(running: Any, held: dict[tuple[str, str], webhooks.Hold], *args: Any) -> None:
        kept[:] = [held]
        finished(running, held, *args)

    def held(name: str) -> bool:
        return kept != [] and ("cld-1", name) in kept[0]

    monkeypatch.setattr(webhooks, "_finished", finishing)
    receiver.answers = lambda n, body: (429, {"Retry-After": "120"})
    for name in ("hook0", "hook1", "hook2"):
        define(client, receiver, name=name)
        post(client, "organizations", name=name)
        wait_for(functools.partial(held, name))
        assert client.delete(f"{URL}/{name}").status_code == 204
    wait_for(lambda: kept[0] == {}, seconds=3)


def test_the_description_of_the_webhook_says_what_a_413_does(client: TestClient, receiver: Receiver) -> None:
    """`webhooks.queue` described a 413 under `default` alone (not delivered: each item comes back after its backoff,
    or is dead), where the hub sends the items again at once in smaller batches, no try counted."""

    def answers(n: int, body: dict[str, Any]) -> tuple[int, dict[str, str]]:
        return (413, {}) if len(body["items"]) > 1 else (204, {})

    receiver.answers = answers
    define(client, receiver, batch_size=2, max_attempts=1, consent_type="explicit")
    for name in ("A", "B"):
        post(client, "organizations", name=name)
    client.post(f"{URL}/hook/consent")  # both are due at once
    wait_for(lambda: sorted(receiver.delivered()) == ["A", "B"])
    assert [r["status"] for r in receiver.requests] == [413, 204, 204] and dead_items(client) == []
    said = client.get("/openapi.json").json()["webhooks"]["queue"]["post"]["responses"]
    assert "smaller batches" in said["413"]["description"] and "413" in said["default"]["description"]


def test_the_description_of_the_webhook_asks_for_no_key(client: TestClient, receiver: Receiver) -> None:
    """The description's `security` (a key, Basic or Bearer) held for `webhooks.queue` too, as for every operation
    that does not say otherwise: a receiver written from it would wait for an Authorization header the hub never
    sends. It signs the body instead."""
    define(client, receiver)
    post(client, "organizations", name="A")
    wait_for(lambda: receiver.delivered() == ["A"])
    assert "authorization" not in receiver.requests[0]["headers"] and receiver.requests[0]["signed"]
    assert client.get("/openapi.json").json()["webhooks"]["queue"]["post"]["security"] == []
