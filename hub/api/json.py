"""JSON in and out with orjson, with the body-size limit and clear errors for bad JSON."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from hub.errors import BadRequest, PayloadTooLarge, UnsupportedEncoding, UnsupportedMediaType
from hub.model.numbers import whole


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


_CONTAINERS = (dict, list)
"""The types orjson gives arrays and objects (exactly these, no subclass)."""


def check_depth(value: Any, limit: int) -> None:
    """400 if arrays and objects nest deeper than `limit`; level by level, so no input can exhaust the stack. Only the
    containers of each level are kept for the next (each value's type looked at once, as an exact type): it walks
    every value of a batch, and looking twice at each took 3-6 ms of a batch of 1,000 people, 1.3 ms now."""
    level = [value] if type(value) in _CONTAINERS else []
    for _ in range(limit + 1):
        if not level:
            return
        level = [c for item in level for c in (item.values() if type(item) is dict else item) if type(c) in _CONTAINERS]
    raise BadRequest(f"the body nests arrays and objects deeper than {limit} levels")


def _is_json(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _charset(content_type: str) -> str | None:
    """The `charset` parameter of a Content-Type, unquoted, if it names one other than UTF-8: JSON is UTF-8 (RFC
    8259), and a body declared in another was read as UTF-8 all the same, refused in the parser's words."""
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        value = value.strip().strip('"')
        if name.strip().lower() == "charset" and value.lower() not in ("utf-8", "utf8"):
            return value
    return None


BOM = b"\xef\xbb\xbf"
"""A UTF-8 byte order mark, which RFC 8259 lets a parser pass over at the start of a body (as `hub import` does)."""


def header_said(value: str, most: int = 100) -> str:
    """A header's value quoted in a message as the client wrote it, cut at `most` characters: header bytes reach the
    hub read as Latin-1, so UTF-8 text was quoted garbled (`trué` as `truÃ©`)."""
    return repr(value.encode("latin-1", "replace").decode("utf-8", "replace")[:most])


def not_json(error: orjson.JSONDecodeError, data: bytes | bytearray) -> str:
    """Why `data` is not JSON, in its own words: a byte that is no UTF-8 (Latin-1's `é`) was "str is not valid UTF-8:
    surrogates not allowed" at its first character, naming a Python type and a surrogate it did not hold."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"byte 0x{data[bad.start]:02x} at position {bad.start} is not UTF-8, which JSON is"
    return str(error)


async def read_json(request: Request, limit: int, optional: bool = False) -> Any:
    """The parsed body; 415 unless it is declared JSON (or undeclared) and not encoded, 413 past `limit` bytes, 400
    if it is not JSON or nests deeper than the `max_json_depth` setting. An empty body is a 400 too, or, where the
    body is `optional`, an empty object."""
    content_type = request.headers.get("content-type")
    if content_type is not None and not _is_json(content_type):
        raise UnsupportedMediaType(f"the body must be application/json, not {header_said(content_type)}")
    if content_type is not None and (charset := _charset(content_type)) is not None:
        raise UnsupportedMediaType(f"the body must be JSON in UTF-8, not in charset {header_said(charset)}")
    encoding = request.headers.get("content-encoding", "identity")
    if encoding.strip().lower() != "identity":  # read as sent, gzip was "not valid JSON" and a plain body passed
        said = header_said(encoding)
        raise UnsupportedEncoding(f"Content-Encoding {said} is not supported: send the body uncompressed")
    declared = whole(request.headers.get("content-length", ""))
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"the body is over the limit of {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"the body is over the limit of {limit} bytes")
    if not body:
        if optional:
            return {}
        raise BadRequest("the request needs a JSON body")
    data = body[len(BOM) :] if body.startswith(BOM) else body
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"the body is not valid JSON: {not_json(error, data)}") from None
    check_depth(value, request.app.state.settings.max_json_depth)
    return value
