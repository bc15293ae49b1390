"""The id map as its own collection (seeds 000/001): integration systems, entity types, key links."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.api import context
from hub.api.json import JSONResponse, read_json
from hub.model import timefmt
from hub.model.key_link import IDENTIFYING, KeyLink, parse_key_link, parse_search, stable_id
from hub.model.query import check_params
from hub.service import key_links


def link_json(link: KeyLink) -> dict[str, Any]:
    return {
        "id": link.link_id,
        "entity_type": link.collection,
        "integration_entity_type_id": stable_id(link.collection),
        "internal_id": link.hub_id,
        "provider": link.ext.provider,
        "integration_system_id": stable_id(link.ext.provider),
        "realm": link.ext.realm,
        "external_id": link.ext.id,
        "created_at": timefmt.display(link.created_at),
    }


async def list_systems(request: Request) -> Response:
    check_params(request.query_params, frozenset({"system_name"}))
    found = await key_links.systems(
        context.store(request), context.settings(request), request.query_params.get("system_name")
    )
    return JSONResponse({"integration_systems": [{"integration_system_id": n, "system_name": s} for n, s in found]})


async def list_entity_types(request: Request) -> Response:
    check_params(request.query_params, frozenset({"entity_type_name"}))
    found = key_links.entity_types(request.query_params.get("entity_type_name"))
    return JSONResponse({"entity_types": [{"integration_entity_type_id": n, "entity_type_name": c} for n, c in found]})


async def search(request: Request) -> Response:
    settings = context.settings(request)
    given = parse_search(request.query_params, settings.default_top, settings.max_top)
    links, total = await key_links.search(context.store(request), settings, context.group_id(request), given)
    pagination = context.pagination(request, given.query.skip, given.query.top, total)
    return JSONResponse({"key_links": [link_json(link) for link in links], "pagination": pagination})


async def get_link(request: Request) -> Response:
    check_params(request.query_params, frozenset())
    link = await key_links.one(context.store(request), context.group_id(request), request.path_params["link_id"])
    return JSONResponse({"key_links": link_json(link)})


async def create_link(request: Request) -> Response:
    check_params(request.query_params, frozenset())
    settings = context.settings(request)
    body = parse_key_link(await read_json(request, settings.max_body_bytes))
    link = await key_links.create(context.store(request), settings, context.group_id(request), body)
    return JSONResponse({"key_links": link_json(link)}, status_code=201)


async def move_link(request: Request) -> Response:
    check_params(request.query_params, frozenset())
    settings = context.settings(request)
    body = parse_key_link(await read_json(request, settings.max_body_bytes))
    store, group_id = context.store(request), context.group_id(request)
    link = await key_links.move(store, settings, group_id, request.path_params["link_id"], body)
    return JSONResponse({"key_links": link_json(link)})


async def move_named_link(request: Request) -> Response:
    """PUT on the collection: the body names the link (`id`, or entity type, app and external id)."""
    check_params(request.query_params, frozenset())
    settings, store = context.settings(request), context.store(request)
    body = parse_key_link(await read_json(request, settings.max_body_bytes))
    named = await key_links.identify(store, settings, body)
    link = await key_links.move(store, settings, context.group_id(request), named, body)
    return JSONResponse({"key_links": link_json(link)})


async def delete_link(request: Request) -> Response:
    check_params(request.query_params, frozenset())
    await key_links.delete(context.store(request), context.group_id(request), request.path_params["link_id"])
    return Response(status_code=204)


async def delete_named_link(request: Request) -> Response:
    """DELETE on the collection: the query names the link, as a PUT body does."""
    check_params(request.query_params, IDENTIFYING)
    settings, store = context.settings(request), context.store(request)
    named = await key_links.identify(store, settings, parse_key_link(dict(request.query_params)))
    await key_links.delete(store, context.group_id(request), named)
    return Response(status_code=204)


ROUTES = [
    Route("/api/v2/integration_systems", list_systems, methods=["GET"]),
    Route("/api/v2/entity_types", list_entity_types, methods=["GET"]),
    Route("/api/v2/{group_id}/key_links", search, methods=["GET"]),
    Route("/api/v2/{group_id}/key_links", create_link, methods=["POST"]),
    Route("/api/v2/{group_id}/key_links", move_named_link, methods=["PUT"]),
    Route("/api/v2/{group_id}/key_links", delete_named_link, methods=["DELETE"]),
    Route("/api/v2/{group_id}/key_links/{link_id}", get_link, methods=["GET"]),
    Route("/api/v2/{group_id}/key_links/{link_id}", move_link, methods=["PUT"]),
    Route("/api/v2/{group_id}/key_links/{link_id}", delete_link, methods=["DELETE"]),
]
"""Before the resource routes, whose `{collection}` would take `key_links` too."""
