"""Every request is authenticated here, and a group the caller is not connected to answers 404 here.

Keys travel as HTTP Basic (`key_id:secret`, as Connec! clients send them) or as
`Authorization: Bearer <key_id>.<secret>`. The group of a request is the segment
after `/api/v2/`: every route with a `{group_id}` starts with `GROUP_PREFIX`
(`check_routes` refuses to build an app otherwise), so every such route is covered,
including routes added later, without matching the route table twice per request.
The caller lands on `request.state.principal`. A body still coming in when the key cache lets go of the key is
checked again once it is in, before anything reads it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.api.access_log import holds_key
from hub.api.paths import FIXED
from hub.api.problems import error_response, unreachable
from hub.errors import BadRequest, HubError, Unauthorized
from hub.model.access import Principal
from hub.model.record import checked_group_id
from hub.service.access import Authenticator
from hub.service.reading import no_group

PUBLIC_PATHS = frozenset({"/openapi.json"})
"""Paths served without a key: nothing in them depends on, or tells of, any group."""
MAX_HEADER = 512
TOKEN68 = re.compile(r"[A-Za-z0-9._~+/-]+=*")
"""A Bearer credential (RFC 6750): one token, so `<token> extra` or two tokens joined by a comma are malformed, not a
secret that holds a space and is said to be wrong."""


def credentials(header: str) -> tuple[str, str] | None:
    """(key id, secret) from an Authorization header, or None if it is not one of the two forms."""
    if len(header) > MAX_HEADER:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "basic":
        try:  # b64decode refuses text outside ASCII with a ValueError of its own, besides binascii.Error
            decoded = base64.b64decode(value, validate=True).decode()
        except ValueError:
            return None
        key_id, sep, secret = decoded.partition(":")
    elif scheme.lower() == "bearer" and TOKEN68.fullmatch(value):
        key_id, sep, secret = value.partition(".")
    else:
        return None
    return (key_id, secret) if sep and key_id and secret else None


def principal(request: Request) -> Principal:
    """The authenticated caller of a request."""
    who: Principal = request.state.principal
    return who


GROUP_PREFIX = "/api/v2/{group_id}/"
"""How every path with a group begins."""
_IN_GROUP = re.compile(r"/api/v2/([^/]+)/")
"""GROUP_PREFIX as the router matches it: a path parameter is one or more characters other than '/'."""
_PARAMETER = re.compile(r"\{[^}]+\}")
"""A parameter of a route's path as declared (`{id:segment}`), for `check_routes`."""


def check_routes(routes: Sequence[BaseRoute]) -> None:
    """Refuse a route that names a group anywhere but at GROUP_PREFIX (`group_of` would not see its group),
    that begins after it with a word the collection routes, tried first, would take (paths.FIXED), or whose
    parameter (but the group and the collection, which hold no `%`) is not a `{…:segment}`: the path reaches the
    router with `%` and `/` still escaped (paths.PercentEncoding), and a plain one read `100%` as `100%25`."""
    for route in routes:
        path = str(getattr(route, "path", ""))
        if "{group_id}" in path and not path.startswith(GROUP_PREFIX):
            raise ValueError(f"route {path}: a group's path must start with {GROUP_PREFIX}")
        word = path.removeprefix(GROUP_PREFIX).split("/")[0]
        if path.startswith(GROUP_PREFIX) and not word.startswith("{") and word not in FIXED:
            raise ValueError(f"route {path}: add {word!r} to hub.api.paths.FIXED, or a collection route takes it")
        plain = set(_PARAMETER.findall(path)) - {"{group_id}", "{collection:collection}"}
        if any(not p.endswith(":segment}") for p in plain):
            raise ValueError(f"route {path}: declare each parameter as {{name:segment}} (hub.api.paths)")


def group_of(path: str) -> str | None:
    """The `{group_id}` of a path under GROUP_PREFIX, whether or not a route serves the rest of it."""
    found = _IN_GROUP.match(path)
    return found.group(1) if found else None


def checked_group(given: str) -> str:
    """`given` as a group id; a 400 naming the shape of one if it has another (no group can have it)."""
    return checked_group_id(given, BadRequest)


async def admitted(authenticator: Authenticator, header: str | None, path: str) -> Principal:
    """The caller of a request to `path`; 401 without a live key, 404 (as for a missing group) for a group the key's
    app is not connected to, 400 for a malformed group id, which no group has (`checked_group`)."""
    found = credentials(header) if header is not None else None
    who = await authenticator.authenticate(*found) if found else None
    if who is None:
        if header is None:
            detail = "this request needs an API key: Authorization: Basic (key id and secret) or Bearer"
        elif found is None:
            detail = "malformed Authorization header: use Basic (key id, secret) or Bearer <key id>.<secret>"
        else:
            detail = "the key is unknown or revoked, or the secret is wrong"
        raise Unauthorized(detail)
    group_id = group_of(path)
    if group_id is not None and not who.sees(checked_group(group_id)):
        raise no_group(group_id)
    return who


IN_QUERY = (
    "an API key goes in the Authorization header (Basic, or Bearer <key id>.<secret>), not in the query string, which"
    " the hub does not read and servers on the way may log"
)


def _admit(state: dict[str, object], who: Principal) -> None:
    state["principal"], state["actor"] = who, who.actor


def rechecking(receive: Receive, authenticator: Authenticator, header: str | None, scope: Scope) -> Receive:
    """`receive`, checking the key again (`admitted`) on the body's last part: a client trickling its body in wrote
    minutes after its key was revoked or its app disconnected, long past the cache time. Checked through the cache,
    it costs a store lookup only where the cache let go of the key meanwhile."""

    async def checked() -> Message:
        message = await receive()
        if message["type"] == "http.request" and not message.get("more_body", False):
            _admit(scope["state"], await admitted(authenticator, header, scope["path"]))
        return message

    return checked


class AuthMiddleware:
    """401 without a live key; 404, exactly as for a missing group, for a group the key's app is not connected to.
    A store out of reach while it reads a key it has not cached is the 503 any route gives (`problems.unreachable`):
    the app's exception handlers answer for the routes alone, and it came out a 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        authenticator: Authenticator = scope["app"].state.authenticator
        header = Headers(scope=scope).get("authorization")
        try:
            if header is None and holds_key(scope["query_string"].decode("latin-1")):
                raise Unauthorized(IN_QUERY)
            who = await admitted(authenticator, header, scope["path"])
        except HubError as refused:
            await error_response(refused)(scope, receive, send)
            return
        except authenticator.store.unreachable as lost:
            await (await unreachable(Request(scope), lost))(scope, receive, send)
            return
        _admit(scope.setdefault("state", {}), who)
        await self.app(scope, rechecking(receive, authenticator, header, scope), send)
