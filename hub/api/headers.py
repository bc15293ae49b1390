"""Headers the hub reads one value of must come once: which of two was meant is not the hub's guess."""

from __future__ import annotations

from collections import Counter

from starlette.types import ASGIApp, Receive, Scope, Send

from hub.api.problems import error_response
from hub.api.render import HEADER
from hub.errors import BadRequest

SINGLE = frozenset({b"authorization", b"content-type", b"content-encoding", HEADER.encode()})
"""The headers the hub reads (Starlette's `Headers.get` takes the first of several and drops the rest)."""


class SingleHeaders:
    """400 for a request giving a header of `SINGLE` twice with two values, before anything reads it.

    Two `Authorization` headers authenticated by the first, whatever the second said (a proxy that reads the last
    saw another caller); `CONNEC-EXTERNAL-IDS: true` and `: false` answered id arrays; two `Content-Type`s were
    read as the first, and `Content-Encoding: identity` then `: gzip` wrote a body said to be compressed as JSON.
    The same value twice (a proxy adding what the client sent) means one thing, and passes.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            counted = Counter(name for name, _ in {(n, v) for n, v in scope["headers"] if n in SINGLE})
            repeated = sorted(name.decode() for name, count in counted.items() if count > 1)
            if repeated:
                refused = BadRequest(f"header(s) given more than once, with two values: {', '.join(repeated)}")
                await error_response(refused)(scope, receive, send)
                return
        await self.app(scope, receive, send)
