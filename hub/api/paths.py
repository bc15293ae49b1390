"""The `{collection:collection}` path parameter: any segment but the fixed words other group routes begin with.

The resource routes are the busiest, so the router tries them first (it tries routes in
order); a collection segment that could be `key_links` would take those paths from their
own routes. `check_routes` refuses a group route that begins with a word not listed here.
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor

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
