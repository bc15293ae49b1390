"""The OpenAPI 3.1 description of the API, served at /openapi.json without a key.

Record schemas come from each collection's pydantic model (the one bodies are
validated with) and id arrays from the validator of id entries, so the description
cannot drift from what the code accepts.
"""

from __future__ import annotations

from functools import cache
from typing import Any, get_args

from pydantic import TypeAdapter
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.api import context, openapi_idmap, openapi_queue, openapi_sync
from hub.api.json import JSONResponse
from hub.api.openapi_parts import (
    APP_PART,
    ERRORS,
    GROUP,
    IDS_HEADER,
    NO_BODY_WRITE_ERRORS,
    NOT_BLANK,
    READ_ERRORS,
    REF,
    WRITE_ERRORS,
    json_body,
    linked,
    located,
    pagination,
    param,
    responses,
    schema_ref,
)
from hub.config import Settings
from hub.model.collections import COLLECTIONS, READ_ONLY, Collection, Status
from hub.model.fields import MAX_IDS
from hub.model.filter import MAX_CONDITIONS, MAX_DEPTH, MAX_FILTER
from hub.model.ids import MAX_RECORD_IDS, SPACE, ExternalIdIn
from hub.model.keyset import TOKEN
from hub.model.paging import MAX_SKIP, check_params
from hub.model.query import MAX_ORDER_KEYS


def _record_schemas(collection: Collection, schemas: dict[str, Any]) -> str:
    """Add the write, record, result and batch schemas of a collection; returns their name prefix."""
    prefix = collection.name.title()
    model = collection.model.model_json_schema(ref_template=REF)
    schemas.update(model.pop("$defs", {}))
    fields: dict[str, Any] = model["properties"]
    any_id = [{"type": "string", "description": "a hub id"}, schema_ref("IdArray")]
    any_id_in = [{"type": "string", "pattern": NOT_BLANK, "description": "a hub id"}, schema_ref("IdArrayIn")]
    schemas[f"{prefix}Write"] = {
        "type": "object",
        "description": f"One {collection.name} record to create or update. `id` is a hub id or an id array"
        " (a lone id object is read as an array of one); the output-only fields are accepted and ignored.",
        "properties": {
            "id": {"anyOf": [*any_id_in, schema_ref("ExternalIdIn"), {"type": "null"}]},
            **fields,
            **{name: {"description": "output only: ignored"} for name in READ_ONLY},
        },
        "additionalProperties": False,
    }
    meta = {
        "id": {"oneOf": any_id, "description": "the hub id, or with CONNEC-EXTERNAL-IDS: true every id of the record"},
        "code": {"type": "string", "pattern": f"^{collection.code_prefix}[0-9]+$"},
        "status": {"enum": list(get_args(Status))},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "group_id": {"type": "string"},
        "channel_id": {"type": "string"},
        # each const states its type: client generators write a bare `{"const": true}` as code that fails to compile
        "resource_type": {"type": "string", "const": collection.name},
        "placeholder": {
            "type": "boolean",
            "const": True,
            "description": "only on a placeholder: a record that references named before any app sent it, holding"
            " nothing but ids (shown whatever `$select` says)",
        },
    }
    refs = {
        name: {"oneOf": any_id, "description": f"a {target} record"} for name, target in collection.references.items()
    }
    record = schema_ref(f"{prefix}Record")
    schemas[f"{prefix}Record"] = {
        "type": "object",
        "description": f"A record of {collection.name} as the hub shows it; `$select` may leave out all but `id`.",
        "properties": {**fields, **refs, **meta},
        "required": ["id"],
    }
    outcome = {
        "result": {
            "enum": ["created", "updated", "unchanged"],
            "description": "`unchanged`: the write gave the record nothing new and was not recorded",
        },
        "merged": {"type": "array", "items": {"type": "string"}, "description": "hub ids merged into this one"},
    }
    schemas[f"{prefix}Result"] = {
        "type": "object",
        "properties": {collection.name: record, **outcome},
        "required": [collection.name, "result"],
    }
    item = {
        "type": "object",
        "properties": {
            "status": {"type": "integer"},
            collection.name: record,
            **outcome,
            "error": schema_ref("Problem"),
        },
        "required": ["status"],
    }
    schemas[f"{prefix}Batch"] = {
        "type": "object",
        "properties": {"results": {"type": "array", "items": item, "description": "one per item, in input order"}},
        "required": ["results"],
    }
    return prefix


def _parameters(settings: Settings) -> dict[str, Any]:
    return {
        "group": GROUP,
        "id": param(
            "id", "path", {"type": "string", "minLength": 1}, "a hub id, or with opts[provider]/opts[realm] an app's id"
        ),
        "ids": IDS_HEADER,
        "app": [
            param("opts[provider]", "query", APP_PART, "an app: the path id, or opts[linked], is that app's"),
            param("opts[realm]", "query", APP_PART, "the app's realm"),
        ],
        "select": param(
            "$select",
            "query",
            {"type": "string", "pattern": f"[^{SPACE},]"},  # at least one name: `$select=` alone is a 400
            "fields to show, comma-separated (`id` always stays); `email/address` a part of an object field",
        ),
        "listing": [
            param("$top", "query", {"type": "integer", "minimum": 1, "maximum": settings.max_top}, "page size"),
            param("$skip", "query", {"type": "integer", "minimum": 0, "maximum": MAX_SKIP}, "records to skip"),
            param(
                "$skiptoken",
                "query",
                {"type": "string", "pattern": f"^{TOKEN.pattern}$"},
                "where the page before ended, as its `next` link gives it: not with $skip, and with the $orderby"
                " it was made in",
            ),
            param(
                "$orderby", "query", {"type": "string"}, f"`field asc|desc`, comma-separated, at most {MAX_ORDER_KEYS}"
            ),
            param(
                "$filter",
                "query",
                {"type": "string", "maxLength": MAX_FILTER},
                f"OData-style: eq ne gt ge lt le, and, or, not, in (…); at most {MAX_CONDITIONS} conditions,"
                f" {MAX_DEPTH} levels deep; each value of its field's type, or null",
            ),
            param(
                "$count",
                "query",
                {"enum": ["true", "false"]},
                "false: `total` is null, and a filtered page does not count its matches (`next` follows full pages)",
            ),
            param("opts[linked]", "query", {"enum": ["true", "false"]}, "with opts[provider]/[realm]: held or not"),
        ],
    }


def _operations(collection: Collection, settings: Settings, schemas: dict[str, Any]) -> dict[str, Any]:
    prefix = _record_schemas(collection, schemas)
    name = collection.name
    p = _parameters(settings)
    record = schema_ref(f"{prefix}Record")
    one = {"type": "object", "properties": {name: record}, "required": [name]}
    paged = pagination({"type": ["integer", "null"]}, "the sort values")
    page = {
        "type": "object",
        "properties": {name: {"type": "array", "items": record}, "pagination": paged},
        "required": [name, "pagination"],
    }
    write = schema_ref(f"{prefix}Write")
    batch = {"type": "array", "items": write, "maxItems": settings.max_batch}
    upsert_body = {"type": "object", "properties": {name: {"oneOf": [write, batch]}}, "required": [name]}
    update_body = {"type": "object", "properties": {name: write}, "required": [name]}
    single = schema_ref(f"{prefix}Result")
    tags = [name]
    return {
        f"/api/v2/{{group_id}}/{name}": {
            "parameters": [p["group"], p["ids"]],
            "get": {
                "operationId": f"list_{name}",
                "tags": tags,
                "summary": f"A page of {name}",
                "parameters": [*p["listing"], *p["app"], p["select"]],
                "responses": responses({200: ("the page", page)}, READ_ERRORS),
            },
            "post": {
                "operationId": f"upsert_{name}",
                "tags": tags,
                "summary": f"Create or update {name} by any matching id (an array is a batch)",
                "requestBody": {"required": True, **json_body(upsert_body | {"additionalProperties": False})},
                "responses": linked(
                    located(
                        responses(
                            {
                                200: (
                                    "updated (or merged), or a batch's results",
                                    {"oneOf": [single, schema_ref(f"{prefix}Batch")]},
                                ),
                                201: ("created", single),
                            },
                            WRITE_ERRORS,
                        )
                    ),
                    201,
                    [f"{op}_{name}" for op in ("get", "update", "archive", "merge", "merge_history", "connect")],
                    {"group_id": "$request.path.group_id", "id": f"$response.body#/{name}/id"},
                    "`id` is the hub id in an answer without `CONNEC-EXTERNAL-IDS: true`; with it, `id` is the id"
                    " array: pass its entry of the hub's provider",
                ),
            },
        },
        f"/api/v2/{{group_id}}/{name}/{{id}}": {
            "parameters": [p["group"], p["id"], p["ids"]],
            "get": {
                "operationId": f"get_{name}",
                "tags": tags,
                "summary": f"One of the {name}",
                "parameters": [*p["app"], p["select"]],
                "responses": responses({200: ("the record", one)}, READ_ERRORS),
            },
            "put": {
                "operationId": f"update_{name}",
                "tags": tags,
                "summary": "Partial update; ids in the body are added",
                "description": "Fields the writing app (its key's, or the app whose id names the record or is in the"
                " body) keeps its own by connect's sync directions are left alone.",
                "parameters": [*p["app"], p["select"]],
                "requestBody": {"required": True, **json_body(update_body | {"additionalProperties": False})},
                "responses": responses(
                    {200: ("updated (or merged)", single), 201: ("a placeholder filled in: its create", single)},
                    WRITE_ERRORS,
                ),
            },
            "delete": {
                "operationId": f"archive_{name}",
                "tags": tags,
                "summary": "Archive: the status becomes ARCHIVED, the ids stay linked",
                "description": "A write of the status from the app whose key makes it, or whose id names the record:"
                " where that app keeps its status its own (connect's sync directions), the record is left as it is.",
                "parameters": [*p["app"], p["select"]],
                "responses": responses({200: ("the record, archived", one)}, NO_BODY_WRITE_ERRORS),
            },
        },
    }


@cache
def document(settings: Settings) -> dict[str, Any]:
    """The whole description; the limits it states are those of `settings`."""
    schemas: dict[str, Any] = {
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details; some carry more members (`errors`, `allowed`, `id`, `records`).",
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
            },
            "required": ["type", "title", "status", "detail"],
        },
        "IdArray": {
            **TypeAdapter(list[ExternalIdIn]).json_schema(ref_template=REF),
            "description": "{realm, provider, id} entries: one per app holding the record, and the hub's own",
        },
        "IdArrayIn": {
            **TypeAdapter(list[ExternalIdIn]).json_schema(ref_template=REF),
            "maxItems": MAX_IDS,
            "description": f"{{realm, provider, id}} entries a write names, at most {MAX_IDS}: the {MAX_RECORD_IDS}"
            " app ids a record may hold and its hub id, so a record or a reference is written back as read",
        },
    }
    paths: dict[str, Any] = {}
    for collection in COLLECTIONS.values():
        paths.update(_operations(collection, settings, schemas))
    paths.update(openapi_idmap.paths(settings, schemas))
    paths.update(openapi_sync.paths(settings, schemas))
    paths["/openapi.json"] = {
        "get": {
            "operationId": "openapi",
            "summary": "This description",
            "security": [],
            "responses": responses({200: ("OpenAPI 3.1", {"type": "object"})}, (400,)),
        }
    }
    headers = {
        401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "the schemes the hub accepts"}},
        415: {
            "Accept-Encoding": {
                "schema": {"type": "string", "const": "identity"},
                "description": "on a body refused for its Content-Encoding alone: the hub reads bodies uncompressed",
            }
        },
        503: {"Retry-After": {"schema": {"type": "integer"}, "description": "the seconds to wait before trying again"}},
    }
    problems = {
        f"E{code}": {
            "description": text,
            **json_body(schema_ref("Problem"), "application/problem+json"),
            **({"headers": headers[code]} if code in headers else {}),
        }
        for code, text in ERRORS.items()
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "The hub",
            "version": "2",
            "description": "Sync people and organizations across connected apps by their own ids.",
        },
        "security": [{"basic": []}, {"bearer": []}],
        "paths": paths,
        "webhooks": openapi_queue.webhooks(),
        "components": {
            "schemas": schemas,
            "responses": problems,
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic", "description": "user: the key id; password: the secret"},
                "bearer": {"type": "http", "scheme": "bearer", "description": "`<key id>.<secret>`"},
            },
        },
    }


async def openapi_json(request: Request) -> Response:
    check_params(request.query_params, frozenset())
    return JSONResponse(document(context.settings(request)))


ROUTES = [Route("/openapi.json", openapi_json, methods=["GET"])]
