"""The HTTP/1.1 protocol the hub is served with: uvicorn's, refusing a request it cannot parse as problem+json."""

from __future__ import annotations

import asyncio
import re
from typing import Any, Literal

import h11
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from uvicorn.protocols.http.h11_impl import H11Protocol

from hub.api.json import dumps
from hub.api.problems import problem_body
from hub.config import Settings

HELD = 0.25
"""How often the body's time starts over while the hub holds its client back (`_body_check`)."""

MAX_REASON = 200
"""The most of the parser's reason a refusal quotes (it may quote the whole request line)."""
_BYTES = re.compile(r"""bytearray\(b('.*?'|".*?")\)""")
"""How h11 quotes what it received (`bytearray(b'GET /a b HTTP/1.1')`): Python's words, the quoted text kept."""

Timer = Literal["head", "body", "stall"]
"""What a connection's timers time: its request head (`_head_too_slow`), its body (`_body_check`), and its answer
left unread (`_stall_check`)."""


def _some(number: float, unit: str) -> str:
    return f"{number:g} {unit}{'' if number == 1 else 's'}"


class _Connection(h11.Connection):
    """h11's connection, keeping why it last refused what the client sent (uvicorn drops the reason), and refusing
    what h11 lets through: a request head over its limit that arrived in a single read (h11 holds to the limit
    only while a head is incomplete; a read takes up to 256 KiB), and a request framed twice (`_framed_twice`)."""

    refusal: h11.RemoteProtocolError | None = None

    def next_event(self) -> Any:
        try:
            unread = len(self._receive_buffer)
            event = super().next_event()
            if isinstance(event, h11.Request):
                if unread - len(self._receive_buffer) > self._max_incomplete_event_size:
                    raise h11.RemoteProtocolError("request head too long", error_status_hint=431)
                if _framed_twice(event):
                    raise h11.RemoteProtocolError("a request must not have both Content-Length and Transfer-Encoding")
            return event
        except h11.RemoteProtocolError as error:
            self.refusal = error
            raise


def _framed_twice(request: h11.Request) -> bool:
    """Whether a request gives both a Content-Length and a Transfer-Encoding: h11 reads it by the latter and keeps
    the connection, where RFC 9112 (6.3) asks a server that reads it at all to close the connection after: a proxy
    in front reading it by the length would take the rest of its body for the next request (request smuggling)."""
    names = {name for name, _ in request.headers}
    return b"content-length" in names and b"transfer-encoding" in names


class ProblemH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, but a request the parser refuses before the app sees it (a space or a byte outside
    ASCII in the URL, a Host header twice, a malformed Content-Length) gets the problem+json every other refusal
    gets, naming why, where uvicorn answered `text/plain` "Invalid HTTP request received.".

    And a request head must arrive whole within `head_seconds` of the connection, or of its first byte after an
    answer: uvicorn closes only a connection idle after an answer, so one opened and left silent, or sent half a
    head, held a file descriptor for as long as its client liked, and enough of them used them all up. Its body
    must then arrive at `body_rate` bytes a second on average, after a first `head_seconds` (`_body_check`). An
    answer its client leaves unread for `stall_seconds` ends the connection (`pause_writing`).
    """

    head_seconds: float = Settings.request_head_seconds
    body_rate: float = Settings.request_body_min_rate
    stall_seconds: float = Settings.response_stall_seconds

    @classmethod
    def waiting(cls, head_seconds: float, body_rate: float, stall_seconds: float) -> type[ProblemH11Protocol]:
        """The protocol waiting `head_seconds` for a request head, its body at `body_rate` bytes a second, and
        `stall_seconds` for its client to read on an answer (uvicorn takes a class, and makes it itself)."""
        attributes = {"head_seconds": head_seconds, "body_rate": body_rate, "stall_seconds": stall_seconds}
        return type(cls.__name__, (cls,), attributes)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        size = self.config.h11_max_incomplete_event_size
        self.conn = _Connection(h11.SERVER, DEFAULT_MAX_INCOMPLETE_EVENT_SIZE if size is None else size)
        self.timers: dict[Timer, asyncio.TimerHandle] = {}
        """The timers running, each by what it times."""
        self.body_since = 0.0
        """When the body's time started: its head's arrival, or the last time the hub held the client back."""
        self.body_bytes = 0
        """What arrived of the body since `body_since`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.timers["head"] = self.loop.call_later(self.head_seconds, self._head_too_slow)

    def data_received(self, data: bytes) -> None:
        if "body" in self.timers:
            self.body_bytes += len(data)
        super().data_received(data)

    def handle_events(self) -> None:
        """Parse what came, then time what is left of it. uvicorn parses after a read, and after an answer too: a
        request sent behind another (pipelined) is read from what came before, with nothing more to come perhaps."""
        super().handle_events()
        unfinished = self.conn.their_state == h11.IDLE and bool(self.conn.trailing_data[0])
        if unfinished and "head" not in self.timers:
            self.timers["head"] = self.loop.call_later(self.head_seconds, self._head_too_slow)
        elif not unfinished:
            self._stop("head")
        if self.conn.their_state is not h11.SEND_BODY:
            self._stop("body")
        elif "body" not in self.timers:  # looked at soon: the hub may hold the client back from the start
            self.body_since, self.body_bytes = self.loop.time(), 0
            self.timers["body"] = self.loop.call_later(HELD, self._body_check)

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in list(self.timers):
            self._stop(timer)
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        """The client reads the answer slower than it comes: unless it takes some of what the hub holds for it
        within each `stall_seconds`, the connection is dropped (`_stall_check`). Without this, a client that stopped
        reading held its connection, and the rest of the answer, as long as it liked."""
        super().pause_writing()
        if "stall" not in self.timers:
            self._watch_stall(self.transport.get_write_buffer_size())

    def _watch_stall(self, held: int) -> None:
        self.timers["stall"] = self.loop.call_later(self.stall_seconds, self._stall_check, held)

    def _stall_check(self, held: int) -> None:
        """Drop the connection if its client took nothing of the `held` bytes in `stall_seconds` (`abort`: a close
        would wait to write them), else watch on, as nginx's `send_timeout` does: a slow but steady reader of a large
        answer (a page of 1,000 records, megabytes the sockets hold little of) reads it down to where writing
        resumes only after many periods, and was dropped mid-answer."""
        now = self.transport.get_write_buffer_size()
        if now < held:
            self._watch_stall(now)
        else:
            self.timers.pop("stall", None)
            self.transport.abort()

    def resume_writing(self) -> None:
        self._stop("stall")
        super().resume_writing()

    def _stop(self, timer: Timer) -> None:
        """Cancel the timer, if it runs."""
        handle = self.timers.pop(timer, None)
        if handle is not None:
            handle.cancel()

    def _body_due(self) -> float:
        """When the body must have arrived whole if nothing more of it does."""
        return self.body_since + self.head_seconds + self.body_bytes / self.body_rate

    def _body_check(self) -> None:
        """End a request whose body is late; else look again when it would be.

        Without this, a client that sent a head and then its body a byte at a time (or, once answered, went on
        sending a body the hub never read) held its connection for as long as it liked: each byte put off
        uvicorn's keep-alive timeout. A rate, not a pause between two reads, bounds how long a body of at most
        `max_body_bytes` can take. While the hub holds the client back (it has not read what came, or owes an
        `Expect: 100-continue` its answer), the time is the hub's: the count starts over, every `HELD` seconds until
        the hub lets the client go on, so that the client has nearly its whole first time from then.
        """
        self.timers.pop("body", None)
        cycle = self.cycle
        if cycle is not None and (self.flow.read_paused or cycle.waiting_for_100_continue):
            self.body_since, self.body_bytes = self.loop.time(), 0
            self.timers["body"] = self.loop.call_later(HELD, self._body_check)
            return
        if self.loop.time() >= self._body_due():
            self._body_too_slow()
            return
        self.timers["body"] = self.loop.call_at(self._body_due(), self._body_check)

    def _body_too_slow(self) -> None:
        """Close the connection, with a 408 if the request has had no answer; the app's request ends as a disconnect."""
        cycle = self.cycle
        if cycle is not None and cycle.response_started:
            self.transport.close()
            return
        if cycle is not None:  # its reads end, and whatever it sends after is dropped (not written after the 408)
            cycle.disconnected = True
            cycle.message_event.set()
        rate, first = _some(self.body_rate, "byte"), _some(self.head_seconds, "second")
        self._timed_out(f"the request body did not arrive at {rate} a second, after a first {first}")

    def _head_too_slow(self) -> None:
        self.timers.pop("head", None)
        self._timed_out(f"the request head did not arrive whole within {_some(self.head_seconds, 'second')}")

    def _timed_out(self, detail: str) -> None:
        self._close_with(408, "Request Timeout", "Request timeout", detail)

    def _close_with(self, status: int, reason: str, title: str, detail: str) -> None:
        """Answer a problem and close, the answer written as it is: h11 answers only a request it has whole."""
        body = dumps(problem_body(status, title, detail))
        head = f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/problem+json\r\n"
        self.transport.write(f"{head}content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode() + body)
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        refusal = getattr(self.conn, "refusal", None)
        if refusal is not None and refusal.error_status_hint == 431:  # h11's own hint, for a head over its limit
            limit = self.conn._max_incomplete_event_size
            detail = f"the request head (its line and headers) is over {limit} bytes"
            self._close_with(431, "Request Header Fields Too Large", "Request header fields too large", detail)
            return
        reason = _BYTES.sub(r"\1", str(refusal))[:MAX_REASON] if refusal is not None else msg
        self._close_with(400, "Bad Request", "Bad request", f"the request is not valid HTTP/1.1: {reason}")
