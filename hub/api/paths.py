"""The `{collection:collection}` path parameter: any segment but the fixed words other group routes begin with.

The resource routes are the busiest, so the router tries them first (it tries routes in
order); a collection segment that could be `key_links` would take those paths from their
own routes. `check_routes` refuses a group route that begins with a word not listed here.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, unquote

from starlette.convertors import Convertor, register_url_convertor
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.api.problems import error_response
from hub.errors import BadRequest

FIXED = ("key_links", "changes", "integrations")
"""The first segments after the group of the routes that are not about one collection."""


class CollectionConvertor(Convertor[str]):
    regex = "(?!(?:" + "|".join(FIXED) + ")(?:/|$))[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("collection", CollectionConvertor())


IN_COLLECTION = "/api/v2/{group_id}/{collection:collection}"
"""How the path of every route about one collection begins."""


class SegmentConvertor(Convertor[str]):
    """`{id:segment}`, `{name:segment}`: one path segment as the client wrote it, `/` and `%` included
    (`PercentEncoding` leaves those escaped for the router; they are read back here)."""

    regex = "[^/]+"

    def convert(self, value: str) -> str:
        return unquote(value) if "%" in value else value

    def to_string(self, value: str) -> str:
        return quote(value, safe="")


register_url_convertor("segment", SegmentConvertor())


class PercentEncoding:
    """Route on the path as sent, so an app's id holding `/` (`inv%2F2024%2F1`) stays one segment, and refuse
    escapes that are no UTF-8.

    The server decodes `%2F` into a `/` before routing: the id `inv/2024/1` was three segments (404),
    and `x/merge` reached the merge route. Where the path was percent-encoded, each of its segments is
    decoded here save `%` and `/`, left escaped (`%25`, `%2F`) for `SegmentConvertor` to read back.
    Decoded leniently, `%ff`, `%fe` and `%80` (Latin-1 escapes) each stood for U+FFFD: a read, an update
    or an archive by any of them reached the record whose id is U+FFFD. Now a 400, in the query string too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                scope = _routed(scope)
            except UnicodeDecodeError:
                refused = BadRequest("the path or query string holds a %-escape that is no UTF-8 (encode ids as UTF-8)")
                await error_response(refused)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _routed(scope: Scope) -> Scope:
    """The scope with its path decoded segment by segment (as `PercentEncoding` says); UnicodeDecodeError where an
    escape of the path or query string is no UTF-8."""
    query: bytes = scope.get("query_string") or b""
    if b"%" in query:
        parse_qsl(query.decode("latin-1"), keep_blank_values=True, errors="strict")
    raw: bytes = scope.get("raw_path") or b""
    if b"%" not in raw:
        return scope
    parts = (unquote(part, errors="strict") for part in raw.decode("latin-1").split("/"))
    return {**scope, "path": "/".join(part.replace("%", "%25").replace("/", "%2F") for part in parts)}
