"""A request `hub serve` cannot parse as HTTP/1.1 is refused as every other bad request is: problem+json naming why."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import orjson
import pytest
import uvicorn

from hub.api.protocol import ProblemH11Protocol
from tests.e2e.server import Server, free_port, running_hub


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_hub(Path(tmp_path_factory.mktemp("protocol")) / "hub.db") as server:
        yield server


def exchange(server: Server, request: bytes) -> tuple[bytes, dict[bytes, bytes], bytes]:
    """Send `request` as it is; the status line, headers and body of the answer (the hub closes the connection)."""
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=5) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(b":") for line in lines)}
    return status, headers, body


@pytest.mark.parametrize(
    ("request_head", "why"),
    [
        (b"GET /api/v2/cld-1/people?$filter=first_name eq 'A' HTTP/1.1\r\nHost: x\r\n", "illegal request line"),
        (b"GET /api/v2/cld-1/people/\xc3\xa9 HTTP/1.1\r\nHost: x\r\n", "illegal request line"),
        (b"GET /api/v2/cld-1/people HTTP/1.1\r\nHost: x\r\nHost: y\r\n", "multiple Host"),
        (b"POST /api/v2/cld-1/people HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n", "Content-Length"),
        (
            b"POST /api/v2/cld-1/people HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n",
            "both Content-Length and Transfer-Encoding",
        ),
    ],
)
def test_an_unparsable_request_is_a_problem_naming_why(hub: Server, request_head: bytes, why: str) -> None:
    status, headers, body = exchange(hub, request_head + f"Authorization: Bearer {hub.admin}\r\n\r\n".encode())
    assert status == b"HTTP/1.1 400 Bad Request", status
    assert headers[b"content-type"] == b"application/problem+json"
    problem = orjson.loads(body)
    assert problem["status"] == 400 and problem["title"] == "Bad request"
    assert why in problem["detail"], problem


def test_an_illegal_request_line_is_quoted_as_sent_not_as_python_shows_bytes(hub: Server) -> None:
    """It read `illegal request line: bytearray(b'GET /a b HTTP/1.1')`: Python's words for the bytes received."""
    _, _, body = exchange(hub, b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n")
    detail = orjson.loads(body)["detail"]
    assert detail == "the request is not valid HTTP/1.1: illegal request line: 'GET /a b HTTP/1.1'", detail
    _, _, body = exchange(hub, b"GET /a' b HTTP/1.1\r\nHost: x\r\n\r\n")  # quoted in double quotes
    detail = orjson.loads(body)["detail"]
    assert detail.startswith('the request is not valid HTTP/1.1: illegal request line: "GET /a'), detail


def test_an_http_1_0_request_is_served(hub: Server) -> None:
    """The Limits table said a request that is not HTTP/1.1 is a 400: one of HTTP/1.0 is answered as any other."""
    status, headers, body = exchange(
        hub, f"GET /api/v2/cld-1/people HTTP/1.0\r\nAuthorization: Bearer {hub.admin}\r\n\r\n".encode()
    )
    assert status.endswith(b" 404 Not Found") and headers[b"content-type"] == b"application/problem+json", body


@pytest.mark.parametrize("parts", [1, 2])
def test_a_request_head_over_16_kib_is_a_431_however_it_arrives(hub: Server, parts: int) -> None:
    """h11 held to its limit only while a head was incomplete: one arriving whole in a single read was served. (In
    two parts, the head is cut short: the hub refuses it as its first 17,000 bytes are in, and reads no more.)"""
    head = f"GET /api/v2/cld-1/people?$filter=first_name%20eq%20'{'a' * 70_000}' HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    sent = [head] if parts == 1 else [head[:8_500], head[8_500:17_000]]
    address = urlsplit(hub.url)
    with socket.create_connection((address.hostname, address.port), timeout=5) as connection:
        for part in sent:
            connection.sendall(part)
            time.sleep(0.1)
        answer = _answer(connection)
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 431 Request Header Fields Too Large", answer[:300]
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"content-type: application/problem+json" in headers.lower()
    assert orjson.loads(body)["detail"] == "the request head (its line and headers) is over 16384 bytes"
    status, _, _ = exchange(
        hub, f"GET /api/v2/cld-1/people?x={'a' * 16_000} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    )
    assert status.startswith(b"HTTP/1.1 4") and b"431" not in status  # a head within the limit reaches the app


def test_a_request_head_unfinished_past_its_time_is_a_408_and_the_connection_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client could hold a connection open with half a request head, or none yet, for as long as it liked (only a
    connection idle after an answer was closed): enough of them used up the hub's file descriptors."""
    monkeypatch.setenv("HUB_REQUEST_HEAD_SECONDS", "1")
    with running_hub(tmp_path / "hub.db") as server:
        address = urlsplit(server.url)
        for sent in (b"GET /api/v2/cld-1/people HTTP/1.1\r\nHost: x\r\n", b""):
            with socket.create_connection((address.hostname, address.port), timeout=5) as slow:
                slow.sendall(sent)  # and nothing more
                answer = b""
                while chunk := slow.recv(65536):
                    answer += chunk
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 408") and b"content-type: application/problem+json" in head.lower()
            problem = orjson.loads(body)
            assert problem["status"] == 408 and "within 1 second" in problem["detail"], problem
        status, _, _ = exchange(server, b"GET /openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status == b"HTTP/1.1 200 OK"  # a head sent at once is answered as ever


def _answer(connection: socket.socket) -> bytes:
    """All the hub sends until it closes the connection."""
    answer = b""
    while chunk := connection.recv(65536):
        answer += chunk
    return answer


def test_a_request_body_arriving_too_slowly_is_a_408_and_the_connection_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client could send a head, then its body a byte at a time (or none of it), and hold the connection for as
    long as it liked. A body now arrives at `request_body_min_rate` bytes a second, after a first
    `request_head_seconds`; one that does is served however it is cut."""
    monkeypatch.setenv("HUB_REQUEST_HEAD_SECONDS", "1")
    monkeypatch.setenv("HUB_REQUEST_BODY_MIN_RATE", "100")
    with running_hub(tmp_path / "hub.db") as server:
        address = (urlsplit(server.url).hostname, urlsplit(server.url).port)
        body = orjson.dumps({"people": {"id": [{"realm": "r", "provider": "crm", "id": "slow-1"}], "first_name": "A"}})
        head = (
            f"POST /api/v2/cld-1/people HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {server.admin}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        for parts, pause in (([body[:10]], 0.0), ([body[i : i + 1] for i in range(len(body))], 0.05)):  # 20 bytes/s
            with socket.create_connection(address, timeout=5) as slow:
                slow.sendall(head)
                started = time.monotonic()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the hub stopped listening
                    for part in parts:
                        slow.sendall(part)
                        time.sleep(pause)
                answer = _answer(slow)
            assert 1 <= time.monotonic() - started < 3
            answer_head, _, problem = answer.partition(b"\r\n\r\n")
            assert answer_head.startswith(b"HTTP/1.1 408") and b"application/problem+json" in answer_head.lower()
            assert "did not arrive at 100 bytes a second, after a first 1 second" in orjson.loads(problem)["detail"]
        with socket.create_connection(address, timeout=5) as steady:  # 400 bytes/s, over longer than a second
            steady.sendall(head)
            for start in range(0, len(body), 20):
                steady.sendall(body[start : start + 20])
                time.sleep(0.05)
            assert _answer(steady).startswith(b"HTTP/1.1 201")
        ids = {**server.headers, "CONNEC-EXTERNAL-IDS": "true"}
        left = httpx2.get(f"{server.url}/api/v2/cld-1/people", headers=ids)
        assert [e["id"] for p in left.json()["people"] for e in p["id"] if e["provider"] == "crm"] == ["slow-1"]


def test_a_body_sent_on_after_its_answer_is_cut_off_when_too_slow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request answered before its body was read (a 401) left a connection that each byte sent on kept open: it
    put off uvicorn's keep-alive timeout."""
    monkeypatch.setenv("HUB_REQUEST_HEAD_SECONDS", "1")
    monkeypatch.setenv("HUB_REQUEST_BODY_MIN_RATE", "100")
    with running_hub(tmp_path / "hub.db") as server:
        address = (urlsplit(server.url).hostname, urlsplit(server.url).port)
        with socket.create_connection(address, timeout=5) as slow:
            slow.sendall(b"POST /api/v2/cld-1/people HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
            assert slow.recv(65536).startswith(b"HTTP/1.1 401")
            started = time.monotonic()
            with pytest.raises((BrokenPipeError, ConnectionResetError)):
                while time.monotonic() - started < 4:
                    slow.sendall(b"x")
                    time.sleep(0.05)
            assert time.monotonic() - started < 3


def test_a_pipelined_request_whose_body_stops_is_cut_off_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A request sent behind another on one connection is read only once the first is answered, and its body timed
    only from the next bytes to arrive: one whose body stopped before then held the connection for ever."""
    monkeypatch.setenv("HUB_REQUEST_HEAD_SECONDS", "1")
    monkeypatch.setenv("HUB_REQUEST_BODY_MIN_RATE", "100")
    with running_hub(tmp_path / "hub.db") as server:
        address = (urlsplit(server.url).hostname, urlsplit(server.url).port)
        first = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n"
        second = (
            f"POST /api/v2/cld-1/people HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {server.admin}\r\n"
            'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"people"'
        ).encode()
        with socket.create_connection(address, timeout=5) as slow:
            slow.sendall(first + second)  # and nothing more
            started = time.monotonic()
            answer = _answer(slow)
        assert time.monotonic() - started < 3
        assert answer.startswith(b"HTTP/1.1 200") and b"HTTP/1.1 408 Request Timeout" in answer


@contextlib.contextmanager
def serving(app: Any, protocol: type[ProblemH11Protocol]) -> Iterator[int]:
    """An ASGI app served by uvicorn with `protocol`, on a thread; its port."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, http=protocol, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.01)
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_body_the_hub_asks_for_late_has_its_time_from_the_100_continue() -> None:
    """A client sending `Expect: 100-continue` waits for the hub's go-ahead. Its body's time started with its
    head: an app that asked for the body 0.9 s in (its 100 sent then) left it 0.1 s of a first second."""

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(0.9)  # a request waiting its turn before it reads its body
        body = b""
        while (message := await receive())["type"] == "http.request":
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(len(body)).encode()})

    with (
        serving(slow, ProblemH11Protocol.waiting(1, 100, 60)) as port,
        socket.create_connection(("127.0.0.1", port), timeout=5) as client,
    ):
        client.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 60\r\n\r\n")
        assert client.recv(100).startswith(b"HTTP/1.1 100")
        time.sleep(0.4)  # the 100's way back, and the client's own pace
        client.sendall(b"x" * 60)
        assert client.recv(1000).startswith(b"HTTP/1.1 200"), "cut off past its first second from the head"


def test_a_client_that_leaves_its_answers_unread_is_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client that stopped reading held its connection, and the answers still to send, for as long as it liked."""
    monkeypatch.setenv("HUB_RESPONSE_STALL_SECONDS", "1")
    asked = 100  # answers of about 80 KB each: far more than the socket buffers hold
    with running_hub(tmp_path / "hub.db") as server:
        address = (urlsplit(server.url).hostname, urlsplit(server.url).port)
        with socket.socket() as reader:
            reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            reader.settimeout(5)
            reader.connect(address)
            reader.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n" * asked)
            time.sleep(2.5)  # reading nothing
            answer = b""
            with contextlib.suppress(ConnectionResetError):
                while chunk := reader.recv(1 << 20):
                    answer += chunk
        assert 0 < answer.count(b"HTTP/1.1 200 OK") < asked
        status, _, _ = exchange(server, b"GET /openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status == b"HTTP/1.1 200 OK"


class _LittleBuffered(ProblemH11Protocol):
    """The protocol on a socket whose kernel holds little of an answer, as a slow network's does: the rest waits in
    the transport, beyond what pauses writing, until the client reads it."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        super().connection_made(transport)


def test_a_slow_but_steady_reader_of_a_large_answer_is_not_dropped() -> None:
    """The stall timer ran from the pause to the resume of writing: a client reading a large answer steadily, but
    for longer than `stall_seconds` before what was held came down to 16 KiB, was dropped mid-answer."""
    size = 3_000_000

    async def large(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(size).encode())]})
        await send({"type": "http.response.body", "body": b"x" * size})

    with serving(large, type("Stalling", (_LittleBuffered,), {"stall_seconds": 1})) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer, started = b"", time.monotonic()
            while chunk := client.recv(16384):  # 1.5 MB a second: 2 s in all, taking some at every moment
                answer += chunk
                time.sleep(max(0.0, started + len(answer) / 1_500_000 - time.monotonic()))
        assert answer.endswith(b"\r\n\r\n" + b"x" * size), f"dropped after {len(answer)} bytes"
