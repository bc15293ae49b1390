"""Every error as RFC 9457 problem+json, rendered by one function."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Match, Route

from hub.api.json import dumps
from hub.errors import HubError, Unauthorized, Unavailable, UnsupportedEncoding

log = logging.getLogger("hub")

CHALLENGE = 'Basic realm="hub", Bearer realm="hub"'
"""`WWW-Authenticate` of every 401: the two forms a key may take."""

_TITLES = {
    400: "Bad request",
    404: "Not found",
    405: "Method not allowed",
    413: "Payload too large",
    415: "Unsupported media type",
}


def problem_body(status: int, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}


def problem(status: int, title: str, detail: str, headers: Mapping[str, str] | None = None, **extra: Any) -> Response:
    body = dumps(problem_body(status, title, detail, **extra))
    return Response(body, status_code=status, headers=headers, media_type="application/problem+json")


def error_response(error: HubError) -> Response:
    """The problem answer of an error, with the headers its kind carries (`_headers_of`), wherever it is raised."""
    return problem(error.status, error.title, error.detail, _headers_of(error), **error.extra)


def from_error(error: HubError) -> dict[str, Any]:
    return problem_body(error.status, error.title, error.detail, **error.extra)


def _headers_of(error: HubError) -> dict[str, str] | None:
    """The headers an error's answer carries besides its body: when to retry, how to authenticate, how to encode."""
    if isinstance(error, Unavailable):
        return {"retry-after": "1"}
    if isinstance(error, UnsupportedEncoding):
        return {"accept-encoding": "identity"}
    return {"www-authenticate": CHALLENGE} if isinstance(error, Unauthorized) else None


async def hub_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HubError)
    return error_response(exc)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = f"no route for {request.method} {request.url.path}" if exc.status_code == 404 else str(exc.detail)
    headers = {name.lower(): value for name, value in (exc.headers or {}).items()}  # one Allow, not Starlette's too
    if exc.status_code == 405:
        headers["allow"] = ", ".join(_allowed(request))
        detail = f"{request.method} is not allowed on {request.url.path}; use {headers['allow']}"
    return problem(exc.status_code, _TITLES.get(exc.status_code, "Error"), detail, headers)


def _allowed(request: Request) -> list[str]:
    """Every method some route serves on this path (one path may be served by several routes)."""
    methods = set()
    for route in request.app.routes:
        if isinstance(route, Route) and route.matches(request.scope)[0] != Match.NONE:
            methods |= route.methods or set()
    return sorted(methods)


async def client_gone(request: Request, exc: Exception) -> Response:
    """The answer to a request whose client went before its body arrived whole (or was cut off by `hub serve` as too
    slow): no one reads it, but without it the request ended in a traceback logged as the hub's own error."""
    return problem(400, "Bad request", "the client went away before its request body arrived whole")


async def unreachable(request: Request, exc: Exception) -> Response:
    """A store out of reach (`Store.unreachable`): a 503 that says to try again, the cause logged for the operator."""
    log.warning("the store could not be reached on %s %s: %s", request.method, request.url.path, exc)
    return error_response(Unavailable("the store cannot be reached now: try again later"))


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "Internal error", "the hub failed to handle this request; it has been logged")


HANDLERS = {HubError: hub_error, HTTPException: http_error, ClientDisconnect: client_gone, Exception: server_error}
