"""The HTTP/1.1 protocol the hub is served with: uvicorn's, refusing a request it cannot parse as problem+json."""

from __future__ import annotations

from typing import Any

import h11
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from uvicorn.protocols.http.h11_impl import H11Protocol

from hub.api.json import dumps
from hub.api.problems import problem_body

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
    gets, naming why, where uvicorn answered `text/plain` "Invalid HTTP request received."."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        size = self.config.h11_max_incomplete_event_size
        self.conn = _Connection(h11.SERVER, DEFAULT_MAX_INCOMPLETE_EVENT_SIZE if size is None else size)

    def send_400_response(self, msg: str) -> None:
        refusal = getattr(self.conn, "refusal", None)
        reason = str(refusal)[:MAX_REASON] if refusal is not None else msg
        body = dumps(problem_body(400, "Bad request", f"the request is not valid HTTP/1.1: {reason}"))
        headers = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        answer = h11.Response(status_code=400, headers=headers, reason=b"Bad Request")
        for event in (answer, h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()
