"""The OpenAPI paths of the id map (integration systems, entity types, key links) and of merges."""

from __future__ import annotations

from typing import Any, get_args

from hub.api.openapi_parts import (
    APP_PART,
    GROUP,
    HUB_IDS,
    ID_PART,
    IDS_HEADER,
    NO_BODY_WRITE_ERRORS,
    NO_CONTENT,
    NOT_BLANK,
    READ_ERRORS,
    REF,
    TIME,
    WRITE_ERRORS,
    json_body,
    linked,
    located,
    pagination,
    param,
    responses,
    schema_ref,
    shown,
)
from hub.config import Settings
from hub.model.collections import COLLECTIONS, Status
from hub.model.history import HISTORY_TOKEN, HISTORY_TOP, MAX_HISTORY_TOP
from hub.model.key_link import IDENTIFYING, SEARCH_PARAMS, TOKEN, KeyLinkIn
from hub.model.merge import MAX_MERGED
from hub.model.numbers import MAX_WHOLE
from hub.model.paging import MAX_SKIP
from hub.model.query import MAX_PARAM

NUMBER = {"type": "integer", "minimum": 0, "maximum": MAX_WHOLE}
"""A number `integration_systems` or `entity_types` gives (`StableId`, below 2^31) as a search takes it: any whole
number the hub reads (one no app or entity type has matches no link)."""


def _link_query(name: str) -> dict[str, Any]:
    if name in ("integration_entity_type_id", "integration_system_id"):
        return param(name, "query", NUMBER, "the number `entity_types` or `integration_systems` gives it")
    if name in ("created_after", "created_before"):
        moment = {"type": "string", "format": "date-time", "maxLength": MAX_PARAM}
        return param(name, "query", moment, "linked after or before this moment")
    return param(name, "query", APP_PART, "must match")


def _unlink_query(name: str) -> dict[str, Any]:
    """A member of the link a `DELETE …/key_links` query names, described as the body member it is read as
    (`parse_link_query`): not as a search's, which takes any number and text and finds nothing by them."""
    if name == "id":
        return param(name, "query", ID_PART, "a link id")
    member = KeyLinkIn.model_json_schema()["properties"][name]["anyOf"][0]
    return param(name, "query", member, "names the link, as in a key link body")


def _schemas(schemas: dict[str, Any]) -> None:
    link_in = KeyLinkIn.model_json_schema(ref_template=REF)
    schemas["KeyLinkIn"] = link_in
    schemas["KeyLink"] = shown(
        {
            "id": {"type": "string", "description": "the link's own id: its entity type and external id, encoded"},
            "entity_type": {"enum": list(COLLECTIONS)},
            "integration_entity_type_id": {"type": "integer"},
            "internal_id": {"type": "string", "description": "the hub id of the record holding the external id"},
            "provider": {"type": "string"},
            "integration_system_id": {"type": "integer"},
            "realm": {"type": "string"},
            "external_id": {"type": "string"},
            "created_at": TIME,
        }
    )
    schemas["MergeEntry"] = _merge_entry()


def _merge_entry() -> dict[str, Any]:
    """A merge as its answers and history show it (`MergeEntry.as_json`), every member typed: an app's sync loop
    reads `merged` and `undone`, and the undo takes `id`. A dry run leaves out `id` and `undone` (nothing recorded).
    """
    text, ids = {"type": "string"}, schema_ref("IdArray")
    snapshot = shown(
        {
            "id": text,
            "seq": {"type": "integer", "description": "the number its code is made of"},
            "status": {"enum": list(get_args(Status))},
            "created_at": TIME,
            "updated_at": TIME,
            "fields": {"type": "object", "description": "its fields' values, by name; references by hub id"},
            "ids": ids,
            "placeholder": {"type": "boolean"},
            "aliases": {**HUB_IDS, "description": "the hub ids merged into it before"},
        },
        "a record as it was before the merge (`before`), or as the merge left the survivor (`after`)",
    )
    moved = shown({"id": schema_ref("ExternalIdIn"), "from": text, "to": text}, "an app id the merge moved")
    members = {
        "id": {**text, "description": "the merge's id, which its undo names (not on a dry run)"},
        "group_id": text,
        "collection": {"enum": list(COLLECTIONS)},
        "at": TIME,
        "actor": {**text, "description": "the key that asked for it: `admin (key hk_…)`, `crm (key hk_…)`"},
        "trigger": {"enum": ["request", "upsert", "connect", "key_link"]},
        "survivor": {**text, "description": "the hub id of the record kept"},
        "merged": {**HUB_IDS, "description": "the hub ids merged away, now naming the survivor"},
        "matched": {
            "type": "array",
            "items": shown({"record": text, "by": ids}, "a record of the merge and the ids that named it"),
        },
        "requested": {"type": "object", "description": "the values chosen"},
        "moves": {"type": "array", "items": moved},
        "before": {"type": "array", "items": snapshot, "description": "the survivor first, then the others"},
        "after": snapshot,
        "undone": {
            "anyOf": [shown({"at": TIME, "actor": text}, "when and by whom it was undone"), {"type": "null"}],
            "description": "null while it holds (not on a dry run)",
        },
    }
    entry = shown(members, "one merge as recorded: who, when, why (the ids that matched), and every record")
    entry["required"] = [name for name in members if name not in ("id", "undone")]
    return entry


NAMED_IN_FULL = [
    [kind, app, "realm", "external_id"]
    for kind in ("entity_type", "integration_entity_type_id")
    for app in ("provider", "integration_system_id")
]
"""The members naming a link in full, any one list of them (as `service.key_links` requires them): its entity type
and its app, each by name or by number, its realm and its external id."""


def _link_body(*needed: list[str]) -> dict[str, Any]:
    """A key link body, bare or as `{"key_links": …}` alone, giving the members of one of the lists `needed`, none
    `null` (which the hub reads as left out)."""
    given = [{"required": names, "properties": {n: {"not": {"type": "null"}} for n in names}} for names in needed]
    link = {"allOf": [schema_ref("KeyLinkIn"), {"anyOf": given}]}
    wrapped = {
        "type": "object",
        "properties": {"key_links": link},
        "required": ["key_links"],
        "additionalProperties": False,
    }
    return {"required": True, **json_body({"oneOf": [link, wrapped]})}


def _key_link_paths(settings: Settings) -> dict[str, Any]:
    link = param("link_id", "path", {"type": "string", "minLength": 1}, "a key link's id")
    one = {"type": "object", "properties": {"key_links": schema_ref("KeyLink")}, "required": ["key_links"]}
    paged = pagination({"type": "integer"}, "the link's position", "how many links of the search came before the page")
    page = {
        "type": "object",
        "properties": {"key_links": {"type": "array", "items": schema_ref("KeyLink")}, "pagination": paged},
        "required": ["key_links", "pagination"],
    }
    window = [
        param("$top", "query", {"type": "integer", "minimum": 1, "maximum": settings.max_top}, "page size"),
        param("$skip", "query", {"type": "integer", "minimum": 0, "maximum": MAX_SKIP}, "links to skip"),
        param(
            "$skiptoken",
            "query",
            {"type": "string", "pattern": f"^{TOKEN.pattern}$"},
            "where a page ends, as its `next` link gives it (not with $skip)",
        ),
    ]
    search = [_link_query(n) for n in sorted(SEARCH_PARAMS - {"$top", "$skip", "$skiptoken"})]
    tags = ["key_links"]
    return {
        "/api/v2/{group_id}/key_links": {
            "parameters": [GROUP],
            "get": {
                "operationId": "search_key_links",
                "tags": tags,
                "summary": "Search the group's key links by any of their parts",
                "parameters": [*search, *window],
                "responses": responses({200: ("a page of links", page)}, READ_ERRORS),
            },
            "post": {
                "operationId": "create_key_link",
                "tags": tags,
                "summary": "Link an app id to an existing record",
                "requestBody": _link_body(*[[*names, "internal_id"] for names in NAMED_IN_FULL]),
                "responses": linked(
                    located(responses({201: ("the new link", one)}, WRITE_ERRORS)),
                    201,
                    ["get_key_link", "move_key_link", "delete_key_link"],
                    {"group_id": "$request.path.group_id", "link_id": "$response.body#/key_links/id"},
                ),
            },
            "put": {
                "operationId": "move_named_key_link",
                "tags": tags,
                "summary": "Move the link the body names to the record `internal_id`",
                "requestBody": _link_body(*[[*names, "internal_id"] for names in [*NAMED_IN_FULL, ["id"]]]),
                "responses": responses({200: ("the moved link", one)}, WRITE_ERRORS),
            },
            "delete": {
                "operationId": "delete_named_key_link",
                "tags": tags,
                "summary": "Unlink the id the query names; the record stays",
                "parameters": [_unlink_query(n) for n in sorted(IDENTIFYING)],
                "responses": {"204": NO_CONTENT, **responses({}, (*NO_BODY_WRITE_ERRORS, 422))},
            },
        },
        "/api/v2/{group_id}/key_links/{link_id}": {
            "parameters": [GROUP, link],
            "get": {
                "operationId": "get_key_link",
                "tags": tags,
                "summary": "One key link",
                "responses": responses({200: ("the link", one)}, READ_ERRORS),
            },
            "put": {
                "operationId": "move_key_link",
                "tags": tags,
                "summary": "Move the link to the record `internal_id`",
                "requestBody": _link_body(["internal_id"]),
                "responses": responses({200: ("the moved link", one)}, WRITE_ERRORS),
            },
            "delete": {
                "operationId": "delete_key_link",
                "tags": tags,
                "summary": "Unlink the id; the record stays",
                "responses": {"204": NO_CONTENT, **responses({}, NO_BODY_WRITE_ERRORS)},
            },
        },
    }


def _global_paths() -> dict[str, Any]:
    def listing(key: str, items: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "properties": {key: {"type": "array", "items": items}}, "required": [key]}

    system = shown(
        {"integration_system_id": {"type": "integer"}, "system_name": {"type": "string"}},
        "an app holding ids (or the hub), and its number",
    )
    kind = shown(
        {"integration_entity_type_id": {"type": "integer"}, "entity_type_name": {"type": "string"}},
        "a collection, and its number",
    )
    return {
        "/api/v2/integration_systems": {
            "get": {
                "operationId": "list_integration_systems",
                "tags": ["key_links"],
                "summary": "The providers: the hub's own and those holding ids (an app sees its own and the hub's)",
                "parameters": [param("system_name", "query", {"type": "string"}, "only this one (any case)")],
                "responses": responses({200: ("the systems", listing("integration_systems", system))}, (400, 401, 503)),
            }
        },
        "/api/v2/entity_types": {
            "get": {
                "operationId": "list_entity_types",
                "tags": ["key_links"],
                "summary": "The collections",
                "parameters": [param("entity_type_name", "query", {"type": "string"}, "only this one (any case)")],
                "responses": responses({200: ("the entity types", listing("entity_types", kind))}, (400, 401, 503)),
            }
        },
    }


def _merge_paths(name: str) -> dict[str, Any]:
    prefix = name.title()
    base = f"/api/v2/{{group_id}}/{name}/{{id}}"
    common = [
        GROUP,
        param(
            "id", "path", {"type": "string", "minLength": 1}, "a hub id, or with opts[provider]/opts[realm] an app's id"
        ),
        param("opts[provider]", "query", APP_PART, "an app: the path id is that app's"),
        param("opts[realm]", "query", APP_PART, "the app's realm"),
    ]
    record_ref = {
        "oneOf": [{"type": "string", "pattern": NOT_BLANK, "description": "a hub id"}, schema_ref("IdArrayIn")]
    }
    merge_body = {
        "type": "object",
        "properties": {
            "records": {"type": "array", "items": record_ref, "minItems": 1, "maxItems": MAX_MERGED},
            "fields": {
                "anyOf": [{"allOf": [schema_ref(f"{prefix}Write"), {"not": {"required": ["id"]}}]}, {"type": "null"}],
                "description": "chosen values (the ids follow the records: not chosen here)",
            },
            "dry_run": {"type": "boolean"},
        },
        "required": ["records"],
        "additionalProperties": False,
    }
    merged = {
        "type": "object",
        "properties": {
            name: schema_ref(f"{prefix}Record"),
            "merge": schema_ref("MergeEntry"),
            "dry_run": {"type": "boolean"},
        },
        "required": [name, "merge", "dry_run"],
    }
    undone = {
        "type": "object",
        "properties": {
            name: {"type": "array", "items": schema_ref(f"{prefix}Record")},
            "merge": schema_ref("MergeEntry"),
        },
        "required": [name, "merge"],
    }
    paged = {
        "type": "object",
        "properties": {
            "skip": {"type": "integer", "description": "how many merges came before the page"},
            "top": {"type": "integer"},
            "total": {"type": "null", "description": "not counted: a count would read every merge of the record"},
            "next": {
                "type": "string",
                "description": "the URL of the next page (with a `$skiptoken`); absent on the last",
            },
        },
        "required": ["skip", "top", "total"],
    }
    history = {
        "type": "object",
        "properties": {"merges": {"type": "array", "items": schema_ref("MergeEntry")}, "pagination": paged},
        "required": ["merges", "pagination"],
    }
    page = [
        param(
            "$top",
            "query",
            {"type": "integer", "minimum": 1, "maximum": MAX_HISTORY_TOP},
            f"page size (default {HISTORY_TOP}: each entry holds every record of its merge)",
        ),
        param(
            "$skiptoken",
            "query",
            {"type": "string", "pattern": f"^{HISTORY_TOKEN.pattern}$"},
            "the record whose history was walked and the merge the page before ended with, as its `next` link gives it",
        ),
    ]
    unmerge_body = {
        "type": "object",
        "properties": {"merge_id": {"type": "string", "pattern": NOT_BLANK}},  # spaces alone are refused
        "required": ["merge_id"],
        "additionalProperties": False,
    }
    tags = [name]
    return {
        f"{base}/merge": {
            "parameters": common,
            "post": {
                "operationId": f"merge_{name}",
                "tags": tags,
                "summary": "Merge other records into this one (or preview it with dry_run)",
                "parameters": [IDS_HEADER],
                "requestBody": {"required": True, **json_body(merge_body)},
                "responses": responses({200: ("the survivor and the merge", merged)}, WRITE_ERRORS),
            },
        },
        f"{base}/merges": {
            "parameters": common,
            "get": {
                "operationId": f"merge_history_{name}",
                "tags": tags,
                "summary": "A page of the merges this record (or one merged into it) took part in, newest first",
                "parameters": page,
                "responses": responses({200: ("a page of the merges", history)}, READ_ERRORS),
            },
        },
        f"{base}/unmerge": {
            "parameters": common,
            "post": {
                "operationId": f"unmerge_{name}",
                "tags": tags,
                "summary": "Undo a merge: the merged-away records come back with their own ids",
                "parameters": [IDS_HEADER],
                "requestBody": {"required": True, **json_body(unmerge_body)},
                "responses": responses({200: ("the records restored", undone)}, WRITE_ERRORS),
            },
        },
    }


def paths(settings: Settings, schemas: dict[str, Any]) -> dict[str, Any]:
    """Every path of the id map and of merges; adds the schemas they use to `schemas`."""
    _schemas(schemas)
    out = {**_global_paths(), **_key_link_paths(settings)}
    for name in COLLECTIONS:
        out.update(_merge_paths(name))
    return out
