"""Pieces of the OpenAPI description shared by its modules: references, bodies, parameters, error responses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.api.render import HEADER
from hub.model.ids import ID_PART_PATTERN, SPACE
from hub.model.query import MAX_PARAM
from hub.model.record import GROUP_ID

REF = "#/components/schemas/{model}"
NOT_BLANK = f"[^{SPACE}]"
"""A pattern of a text holding more than whitespace, as the hub judges whitespace (`ids.SPACE`)."""
ID_PART = {"type": "string", "maxLength": MAX_PARAM, "pattern": NOT_BLANK}
"""A query parameter naming an id part (`opts[provider]`, a key link search's `realm`…): spaces alone are a 400."""
APP_PART = {**ID_PART, "pattern": ID_PART_PATTERN}
"""A query parameter matched against an id part that also refuses U+0000, which no id holds: `opts[provider]`,
`opts[realm]`, a key link search's `provider`, `realm`…"""
ERRORS = {
    400: "The request is malformed: a parameter, header or body that cannot be read.",
    401: "No key, a malformed Authorization header, or a key that is unknown, revoked or has another secret.",
    403: "The key's app may not do this: add, claim or write by another app's id (named in `id`; a record written"
    " back as sent may hold other apps' ids it holds already), name a key link's"
    " system by another number than its own (`integration_system_id`), reach another app's integration, or lift a"
    " lock with `override=true` (an admin key's alone).",
    404: "No such group (or one the key's app is not connected to), collection, record, key link or integration.",
    408: "On `hub serve`: the request head did not arrive whole in time, or its body too slowly; the connection is"
    " closed.",
    409: "It clashes with what is stored: one record would hold two ids of the same app, or a reference ids of several"
    " records; an external id linked already; a merge or undo that cannot be done (a merge whose history would pass"
    " its bound, `limit`: merge fewer records at once); an integration name taken or"
    " locked (`managed`, `allow_schedule_change`); a queue an inbound integration has not, or one awaiting consent;"
    " a write that kept losing races with concurrent ones (on MongoDB) until its tries ran out: try again.",
    413: "The body, or the batch, is over its limit.",
    410: "The cursor is older than what the change feed keeps (`horizon` is the oldest still good).",
    415: "The body is not declared as JSON, or is declared in another charset than UTF-8, or is encoded.",
    422: "The body is well-formed but breaks the collection's model; `errors` names each field at fault (a body that"
    " is no object, or values refused together, such as a merge naming one record, is said in `detail` alone).",
    431: "On `hub serve`: the request head (its line and headers) is over 16 KiB, as a long `$filter` in text"
    " beyond ASCII is once percent-encoded; the connection is closed.",
    503: "The store could not take the request now, and `Retry-After` says when to try again. On SQLite, another"
    " process (`hub import`, `hub index add`, another hub) held the file's write lock past the wait: nothing was"
    " written. On MongoDB, the server was out of reach (a read too), or never said whether a commit was made: the"
    " detail says so.",
}
READ_ERRORS = (400, 401, 404, 503)
WRITE_ERRORS = (400, 401, 403, 404, 409, 413, 415, 422, 503)
NO_BODY_WRITE_ERRORS = (400, 401, 403, 404, 409, 503)
"""Those of a write without a body (an archive, an unlink): nothing to be too large, of the wrong type or
invalid, but a store busy past its wait, or races lost until the tries ran out, as for any write."""
NO_CONTENT = {"description": "done; no body"}
SERVED_ERRORS = (408, 431)
"""Those `hub serve` answers any request with before a route sees it (`protocol.py`): every operation may get them."""


def schema_ref(component: str) -> dict[str, str]:
    return {"$ref": REF.format(model=component)}


def json_body(schema: dict[str, Any], media: str = "application/json") -> dict[str, Any]:
    return {"content": {media: {"schema": schema}}}


def param(name: str, where: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": schema, "description": description}


def responses(ok: dict[int, tuple[str, dict[str, Any]]], errors: tuple[int, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {str(code): {"description": text, **json_body(schema)} for code, (text, schema) in ok.items()}
    for code in (*errors, *SERVED_ERRORS):
        out[str(code)] = {"$ref": f"#/components/responses/E{code}"}
    return out


GROUP = param("group_id", "path", {"type": "string", "pattern": GROUP_ID.pattern}, "the group, e.g. cld-1234")
"""The group of every path under `/api/v2/{group_id}/`, as the hub checks it (any other is a 400)."""
NAME = param("name", "path", {"type": "string", "minLength": 1}, "the integration's name")
TIME = {"type": "string", "format": "date-time"}
"""A time as the hub shows every time (RFC 3339, UTC): typed, a client compares it with a record's `updated_at`."""
HUB_IDS = {"type": "array", "items": {"type": "string"}}
IDS_HEADER = param(
    HEADER.upper(),
    "header",
    {"type": "string", "pattern": "^(?:[tT][rR][uU][eE]|[fF][aA][lL][sS][eE])$"},
    "true (in any case): `id` and references as id arrays",
)
"""The header of every operation that answers records, in any case as `render.wants_ids` reads it."""


def linked(
    out: dict[str, Any], code: int, operations: Sequence[str], parameters: dict[str, str], said: str | None = None
) -> dict[str, Any]:
    """`out`, with OpenAPI links from its `code` answer to the operations that take what it answered, each with
    the description `said` where following one takes more than the expression.

    A client generator can follow them, and the fuzzer's call sequences do: a record created is then
    read, updated, merged, connected… by its new id, where a random id mostly gets a 404.
    """
    link = {"description": said} if said else {}
    out[str(code)]["links"] = {op: {"operationId": op, "parameters": parameters, **link} for op in operations}
    return out


def pagination(total: dict[str, Any], position: str, skip: str | None = None) -> dict[str, Any]:
    """A page's `pagination`, as lists and key link searches answer it: `next` only where a page follows, by a
    `$skiptoken` holding the last one's `position`, or by `$skip` where that is too long for a request."""
    return {
        "type": "object",
        "properties": {
            "skip": {"type": "integer", **({"description": skip} if skip else {})},
            "top": {"type": "integer"},
            "total": total,
            "next": {
                "type": "string",
                "description": f"the URL of the next page (with a `$skiptoken`; with `$skip` where {position}"
                " would make it too long for a request); absent on the last",
            },
        },
        "required": ["skip", "top", "total"],
    }


def located(out: dict[str, Any]) -> dict[str, Any]:
    """`out`, its 201 answer declaring the `Location` header it carries: the path of what the request made."""
    out["201"]["headers"] = {
        "Location": {
            "required": True,
            "schema": {"type": "string"},
            "description": "the path of what was made, its id or name percent-encoded as one segment",
        }
    }
    return out


def shown(members: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    """An answer's object showing every one of its members, each required so a generated client reads it as typed.
    More members may come in a later version of the hub: a client generated to refuse members it does not know would
    break on them, so none is refused."""
    described = {"description": description} if description else {}
    return {"type": "object", **described, "properties": members, "required": list(members)}
