"""The `{collection:collection}` path parameter: any segment but the fixed words other group routes begin with.

The resource routes are the busiest, so the router tries them first (it tries routes in
order); a collection segment that could be `key_links` would take those paths from their
own routes. `check_routes` refuses a group route that begins with a word not listed here.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

from starlette.convertors import Convertor, register_url_convertor
from starlette.types import ASGIApp, Receive, Scope, Send

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
    (`EncodedSlashes` leaves those escaped for the router; they are read back here)."""

    regex = "[^/]+"

    def convert(self, value: str) -> str:
        return unquote(value) if "%" in value else value

    def to_string(self, value: str) -> str:
        return quote(value, safe="")


register_url_convertor("segment", SegmentConvertor())


class EncodedSlashes:
    """Route on the path as sent, so an app's id holding `/` (`inv%2F2024%2F1`) stays one segment.

    The server decodes `%2F` into a `/` before routing: the id `inv/2024/1` was three segments (404),
    and `x/merge` reached the merge route. Where the path was percent-encoded, each of its segments is
    decoded here save `%` and `/`, left escaped (`%25`, `%2F`) for `SegmentConvertor` to read back.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw: bytes = scope.get("raw_path") or b""
        if scope["type"] == "http" and b"%" in raw:
            segments = (
                unquote(part).replace("%", "%25").replace("/", "%2F") for part in raw.decode("latin-1").split("/")
            )
            scope = {**scope, "path": "/".join(segments)}
        await self.app(scope, receive, send)
