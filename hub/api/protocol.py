"""The HTTP/1.1 protocol the hub is served with: uvicorn's, refusing a request it cannot parse as problem+json."""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from uvicorn.protocols.http.h11_impl import H11Protocol

from hub.api.json import dumps
from hub.api.problems import problem_body
from hub.config import Settings

MAX_REASON = 200
"""The most of the parser's reason a refusal quotes (it may quote the whole request line)."""


class _Connection(h11.Connection):
    """h11's connection, keeping why it last refused what the client sent (uvicorn drops the reason)."""

    refusal: h11.RemoteProtocolError | None = None

    def next_event(self) -> Any:
        try:
            return super().next_event()
        except h11.RemoteProtocolError as error:
            self.refusal = error
            raise


class ProblemH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, but a request the parser refuses before the app sees it (a space or a byte outside
    ASCII in the URL, a Host header twice, a malformed Content-Length) gets the problem+json every other refusal
    gets, naming why, where uvicorn answered `text/plain` "Invalid HTTP request received.".

    And a request head must arrive whole within `head_seconds` of the connection, or of its first byte after an
    answer: uvicorn closes only a connection idle after an answer, so one opened and left silent, or sent half a
    head, held a file descriptor for as long as its client liked, and enough of them used them all up.
    """

    head_seconds: float = Settings.request_head_seconds

    @classmethod
    def waiting(cls, head_seconds: float) -> type[ProblemH11Protocol]:
        """The protocol waiting `head_seconds` for a request head (uvicorn takes a class, and makes it itself)."""
        return type(cls.__name__, (cls,), {"head_seconds": head_seconds})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        size = self.config.h11_max_incomplete_event_size
        self.conn = _Connection(h11.SERVER, DEFAULT_MAX_INCOMPLETE_EVENT_SIZE if size is None else size)
        self.head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.head_timer = self.loop.call_later(self.head_seconds, self._head_too_slow)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        unfinished = self.conn.their_state == h11.IDLE and bool(self.conn.trailing_data[0])
        if unfinished and self.head_timer is None:
            self.head_timer = self.loop.call_later(self.head_seconds, self._head_too_slow)
        elif not unfinished and self.head_timer is not None:
            self._stop_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def _stop_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_too_slow(self) -> None:
        self.head_timer = None
        seconds = f"{self.head_seconds:g} second{'' if self.head_seconds == 1 else 's'}"
        detail = f"the request head did not arrive whole within {seconds}"
        self._close_with(408, "Request Timeout", "Request timeout", detail)

    def _close_with(self, status: int, reason: str, title: str, detail: str) -> None:
        """Answer a problem and close, the answer written as it is: h11 answers only a request it has whole."""
        body = dumps(problem_body(status, title, detail))
        head = f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/problem+json\r\n"
        self.transport.write(f"{head}content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode() + body)
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        refusal = getattr(self.conn, "refusal", None)
        reason = str(refusal)[:MAX_REASON] if refusal is not None else msg
        self._close_with(400, "Bad Request", "Bad request", f"the request is not valid HTTP/1.1: {reason}")
