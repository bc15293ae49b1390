"""JSON in and out with orjson, with the body-size limit and clear errors for bad JSON."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from hub.errors import BadRequest, PayloadTooLarge


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


async def read_json(request: Request, limit: int) -> Any:
    """The parsed body; 413 past `limit` bytes, 400 if it is not JSON."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is over the limit of {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"the body is over the limit of {limit} bytes")
    if not body:
        raise BadRequest("the request needs a JSON body")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"the body is not valid JSON: {error}") from None
