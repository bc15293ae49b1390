"""One exception hierarchy for the whole package; the api layer renders it as problem+json."""

from __future__ import annotations

from typing import Any


def quoted(given: str) -> str:
    """What a client sent, as a problem quotes it: cut to 40 characters, so that an id of thousands (a body bounds
    it only by its size) does not come back whole."""
    return f"{given[:40]!r}{'…' * (len(given) > 40)}"


class HubError(Exception):
    """A failure the client caused or must know about, with its HTTP status."""

    status = 500
    title = "Internal error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class BadRequest(HubError):
    status = 400
    title = "Bad request"


class Unauthorized(HubError):
    """No credentials, or credentials that name no live key (401)."""

    status = 401
    title = "Unauthorized"


class Forbidden(HubError):
    """The caller is known but may not do this (403)."""

    status = 403
    title = "Forbidden"


class NotFound(HubError):
    status = 404
    title = "Not found"


class Conflict(HubError):
    status = 409
    title = "Conflict"


class Gone(HubError):
    """What was asked for existed once and has been dropped for good (e.g. a pruned change)."""

    status = 410
    title = "Gone"


class PayloadTooLarge(HubError):
    status = 413
    title = "Payload too large"


class UnsupportedMediaType(HubError):
    status = 415
    title = "Unsupported media type"


class UnsupportedEncoding(UnsupportedMediaType):
    """A body sent with a content coding the hub does not read (415): its answer says which it reads (RFC 9110,
    12.5.3), telling a client it is the coding at fault and not the media type."""


class Invalid(HubError):
    """The body or a parameter is well-formed but breaks the model (422)."""

    status = 422
    title = "Invalid input"


class Unavailable(HubError):
    """The store cannot take the request now, through no fault of it: trying again later may work (503)."""

    status = 503
    title = "Service unavailable"
