"""The OpenAPI paths of sync: the change feed, integrations, their outbound queues, and connect."""

from __future__ import annotations

from typing import Any

from hub.api import openapi_queue
from hub.api.integrations import ConsentIn
from hub.api.openapi_parts import (
    APP_PART,
    GROUP,
    HUB_IDS,
    NAME,
    NO_BODY_WRITE_ERRORS,
    NO_CONTENT,
    READ_ERRORS,
    REF,
    TIME,
    WRITE_ERRORS,
    json_body,
    linked,
    located,
    param,
    responses,
    schema_ref,
    shown,
)
from hub.api.openapi_queue import KIND
from hub.config import Settings
from hub.model.collections import COLLECTIONS
from hub.model.connect import ConnectIn
from hub.model.integration import SHOWN_ONLY, Definition


def _schemas(schemas: dict[str, Any]) -> None:
    for model in (Definition, ConsentIn):
        found = model.model_json_schema(ref_template=REF)
        schemas.update(found.pop("$defs", {}))
        schemas[model.__name__] = found
    schemas["DefinitionUpdate"] = _update(schemas["Definition"], schemas["Webhook"])
    schemas["Integration"] = _answered(schemas["Definition"])
    schemas["ChangeDetails"] = _DETAILS
    schemas["Definition"]["properties"].update(_SHOWN)  # an integration as read is taken by a POST too


UPDATE = (
    "A partial update of a Definition: a member given replaces the stored one (`webhook` whole), `null` sets it back to"
    " its default (none, for most), and one left out stays. An integration sent back as read is taken: `created_at`,"
    " `updated_at` and `consented_at` are passed over, and a `webhook` without its `secret` keeps the stored one while"
    " its `url` is the stored one. Refused (422) beyond what this schema says: another `name` (an integration is not"
    " renamed), a `webhook` without its `secret` at another `url`, and an update leaving a definition that breaks a"
    " rule of Definition's (the hub's own `provider`; `include_update`, `continuous` or `webhook` on an inbound"
    " integration; `continuous` without `include_update` or without a `default_schedule` above 0; a `filter` the"
    " entity's fields cannot take); a change a lock forbids (`managed`, `allow_schedule_change`) is a 409."
)


_SHOWN = {name: {"description": "as an answer shows it; passed over"} for name in SHOWN_ONLY}
"""The times an answer shows beside a definition, taken back in a body and passed over."""


_DETAILS = {
    "type": "object",
    "description": "what a change says beyond its kind, by the write that made it (none: `{}`)",
    "properties": {
        "merged": {
            **HUB_IDS,
            "description": "a `merge`: the hub ids it took away (and the placeholders merged into them before); the"
            " `create` filling a placeholder in: the placeholders merged into it",
        },
        "merge_id": {"type": "string", "description": "a `merge` or `unmerge`: the merge's id"},
        "placeholder": {"type": "boolean", "const": True, "description": "the `create` of a placeholder"},
        "key_link": {"type": "string", "description": "a `link` or `unlink` by a key link: the link's id"},
        "external_id": {**schema_ref("ExternalIdIn"), "description": "with `key_link`: the app id it links"},
        "connected": {**schema_ref("ExternalIdIn"), "description": "a connect: the app id it connected"},
        "fields": {"type": "array", "items": {"type": "string"}, "description": "with `connected`: the fields named"},
        "references": {
            "type": "array",
            "items": {"type": "string"},
            "description": "an `update` of a record whose references show other ids, or read otherwise, by no write"
            " of its own: the reference fields",
        },
    },
}
"""The `details` of a change, as the feed and a queue's items show them: each member only where its change has it."""


def _answered(definition: dict[str, Any]) -> dict[str, Any]:
    """An integration as an answer shows it: every member of `definition`, defaults filled in, the webhook without
    its secret, and the times; each always shown, so a generated client reads each as typed."""
    members = {
        name: {k: v for k, v in schema.items() if k != "default"} for name, schema in definition["properties"].items()
    }
    url = {
        "type": "object",
        "properties": {"url": {"type": "string"}},
        "required": ["url"],
        "not": {"required": ["secret"]},
    }
    members.update(
        webhook={"anyOf": [url, {"type": "null"}], "description": "its url alone: the secret is never shown"},
        created_at=TIME,
        updated_at=TIME,
        consented_at={
            "anyOf": [TIME, {"type": "null"}],
            "description": "when the app consented (null: not yet, or `none` needs none)",
        },
    )
    return shown(
        members,
        "the definition as set (the webhook without its secret), and when it was made, changed and consented to",
    )


def _update(definition: dict[str, Any], webhook: dict[str, Any]) -> dict[str, Any]:
    """The body of a `PUT` (`integration.updated`): `definition`'s members, none required nor defaulted (one left out
    stays as stored), those with a default also `null`, which sets them back to it (a required one has none: `null`
    leaves it out, and the definition without it is refused); a webhook whose secret may be left out; and the
    times an answer shows, passed over."""
    members: dict[str, Any] = {}
    for name, schema in definition["properties"].items():
        schema = {k: v for k, v in schema.items() if k != "default"}
        if name == "webhook":
            schema = {"anyOf": [{**webhook, "required": ["url"]}, {"type": "null"}]}
        elif name not in definition["required"] and {"type": "null"} not in schema.get("anyOf", []):
            schema = {"anyOf": [schema, {"type": "null"}]}
        members[name] = schema
    members.update(_SHOWN)
    return {"type": "object", "description": UPDATE, "properties": members, "additionalProperties": False}


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, **json_body(schema)}


def _feed(settings: Settings) -> dict[str, Any]:
    change = shown(
        {
            "cursor": {"type": "string"},
            "kind": KIND,
            "collection": {"enum": list(COLLECTIONS)},
            "id": {"type": "string"},
            "ids": schema_ref("IdArray"),
            "at": TIME,
            "details": schema_ref("ChangeDetails"),
        }
    )
    page = shown(
        {
            "changes": {"type": "array", "items": change},
            "cursor": {
                "type": "string",
                "description": "resume from it (`since`): after the last change shown, or where the page started",
            },
            "more": {"type": "boolean"},
        }
    )
    return {
        "/api/v2/{group_id}/changes": {
            "parameters": [GROUP],
            "get": {
                "operationId": "list_changes",
                "tags": ["sync"],
                "summary": "Every write to the group's records in commit order, from a cursor",
                "parameters": [
                    param("since", "query", {"type": "string"}, "the cursor to resume from"),
                    param(
                        "limit", "query", {"type": "integer", "minimum": 1, "maximum": settings.max_top}, "page size"
                    ),
                ],
                "responses": responses({200: ("a page of changes", page)}, (*READ_ERRORS, 410)),
            },
        }
    }


def _integrations() -> dict[str, Any]:
    one = schema_ref("Integration")
    listing = shown({"integrations": {"type": "array", "items": one}})
    override = param(
        "override",
        "query",
        {"enum": ["true", "false"]},
        "true (an admin key only): change a managed or locked one anyway",
    )
    base = "/api/v2/{group_id}/integrations"
    return {
        base: {
            "parameters": [GROUP],
            "get": {
                "operationId": "list_integrations",
                "tags": ["sync"],
                "summary": "The group's integrations, by name",
                "responses": responses({200: ("the integrations", listing)}, READ_ERRORS),
            },
            "post": {
                "operationId": "create_integration",
                "tags": ["sync"],
                "summary": "Define an integration (an app: only for itself)",
                "requestBody": _body(schema_ref("Definition")),
                "responses": linked(
                    located(responses({201: ("the integration", one)}, WRITE_ERRORS)),
                    201,
                    [
                        *("get_integration", "update_integration", "delete_integration", "consent_integration"),
                        *("lease", "ack", "fail", "list_dead", "retry_dead"),
                    ],
                    {"group_id": "$request.path.group_id", "name": "$response.body#/name"},
                ),
            },
        },
        base + "/{name}": {
            "parameters": [GROUP, NAME],
            "get": {
                "operationId": "get_integration",
                "tags": ["sync"],
                "summary": "One integration",
                "responses": responses({200: ("the integration", one)}, (*READ_ERRORS, 403)),
            },
            "put": {
                "operationId": "update_integration",
                "tags": ["sync"],
                "summary": "Change some fields of an integration",
                "parameters": [override],
                "requestBody": _body(schema_ref("DefinitionUpdate")),
                "responses": responses({200: ("the integration", one)}, WRITE_ERRORS),
            },
            "delete": {
                "operationId": "delete_integration",
                "tags": ["sync"],
                "summary": "Drop an integration and its queue",
                "parameters": [override],
                "responses": {"204": NO_CONTENT, **responses({}, NO_BODY_WRITE_ERRORS)},
            },
        },
        base + "/{name}/consent": {
            "parameters": [GROUP, NAME],
            "post": {
                "operationId": "consent_integration",
                "tags": ["sync"],
                "summary": "Record the app's consent (to the flow named, if one is)",
                "requestBody": _body(schema_ref("ConsentIn"), required=False),
                "responses": responses({200: ("the integration", one)}, WRITE_ERRORS),
            },
        },
    }


def _connect_in(collection: str, schemas: dict[str, Any]) -> str:
    """Add ConnectIn as a connect on `collection` takes it: each of its `field_values` names a field of the
    collection and gives a value that field takes (its schema as a write's); returns the schema's name.

    Each alternative has a title of its own and holds the field's schema itself: client generators resolve a
    reference to a whole component alone, and make one model per title.
    """
    prefix = collection.title()
    name = f"{prefix}ConnectIn"
    connect = ConnectIn.model_json_schema(ref_template=REF)
    value = connect.pop("$defs")["FieldValue"]
    written = schemas[f"{prefix}Write"]["properties"]
    one_each = [
        {
            **value,
            "title": f"{prefix}{field.title().replace('_', '')}Value",
            "properties": {
                **value["properties"],
                "field": {"type": "string", "const": field},
                "value": written[field],
            },
        }
        for field in COLLECTIONS[collection].model.model_fields
    ]
    values = {**connect["properties"]["field_values"], "items": {"oneOf": one_each}}
    schemas[name] = {**connect, "title": name, "properties": {**connect["properties"], "field_values": values}}
    return name


def _connect(name: str, schemas: dict[str, Any]) -> dict[str, Any]:
    return {
        f"/api/v2/{{group_id}}/{name}/{{id}}/connect": {
            "parameters": [
                GROUP,
                param("id", "path", {"type": "string", "minLength": 1}, "a hub id, or an app's id with opts[...]"),
                param("opts[provider]", "query", APP_PART, "an app: the path id is its"),
                param("opts[realm]", "query", APP_PART, "the app's realm"),
            ],
            "post": {
                "operationId": f"connect_{name}",
                "tags": [name],
                "summary": "Link the record to an app's record and set values with their sync directions",
                "requestBody": _body(schema_ref(_connect_in(name, schemas))),
                "responses": {"204": NO_CONTENT, **responses({}, WRITE_ERRORS)},
            },
        }
    }


def paths(settings: Settings, schemas: dict[str, Any]) -> dict[str, Any]:
    """Every path of sync; adds the schemas they use to `schemas`."""
    _schemas(schemas)
    out = {**_feed(settings), **_integrations(), **openapi_queue.paths(settings, schemas)}
    for name in COLLECTIONS:
        out.update(_connect(name, schemas))
    return out
