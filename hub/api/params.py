"""Query flags and JSON bodies shared by the group-level surfaces (integrations, queue)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from hub.api.json import read_json
from hub.errors import BadRequest, quoted
from hub.model.paging import check_params


def flag(request: Request, name: str, allowed: frozenset[str]) -> bool:
    """A `true`/`false` query parameter (false when absent); other parameters than `allowed` are a 400."""
    check_params(request.query_params, allowed)
    raw = request.query_params.get(name, "false")
    if raw not in ("true", "false"):
        raise BadRequest(f"{name} is true or false, not {quoted(raw)}")
    return raw == "true"


async def optional_json(request: Request, limit: int) -> Any:
    """The JSON body, or an empty object when the request has none: no body declared (whatever its type), or one
    that came empty (streamed in chunks, as clients send a stream, or a `Content-Length` of `00`)."""
    if request.headers.get("content-length", "0") == "0" and "transfer-encoding" not in request.headers:
        return {}
    return await read_json(request, limit, optional=True)
