"""The id map as its own collection (seeds 000/001): integration systems, entity types, key links."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.api import context
from hub.api.auth import principal
from hub.api.json import JSONResponse, read_json
from hub.errors import Forbidden
from hub.model import timefmt
from hub.model.key_link import (
    IDENTIFYING,
    KeyLink,
    KeyLinkIn,
    parse_key_link,
    parse_link_id,
    parse_link_query,
    parse_search,
    stable_id,
)
from hub.model.paging import check_params
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


def _may_touch(request: Request, group_id: str, link: str) -> str:
    """403 unless the caller may link, move or unlink this link's id (an app: only its own, in its realm)."""
    named = parse_link_id(link)
    if named is not None:
        principal(request).ensure_may_claim(group_id, [named[1]], context.settings(request).hub_provider)
    return link


def _own_system(request: Request, body: KeyLinkIn) -> KeyLinkIn:
    """403 for an app naming a link by a system number not its own. Resolved, another app's number was a 403 naming
    that app if it held an id in any group and a 422 if not: an oracle for the apps `integration_systems` hides."""
    who, number = principal(request), body.integration_system_id
    if number is not None and who.provider is not None and number != stable_id(who.provider):
        raise Forbidden(
            f"app {who.provider!r} may name by integration_system_id only its own system, {stable_id(who.provider)}",
            integration_system_id=number,
        )
    return body


async def list_systems(request: Request) -> Response:
    check_params(request.query_params, frozenset({"system_name"}))
    settings, who = context.settings(request), principal(request)
    found = await key_links.systems(context.store(request), settings, request.query_params.get("system_name"))
    if not who.admin:  # the providers of other tenants are none of an app's business
        found = [(n, name) for n, name in found if name in (settings.hub_provider, who.provider)]
    return JSONResponse({"integration_systems": [{"integration_system_id": n, "system_name": s} for n, s in found]})


async def list_entity_types(request: Request) -> Response:
    check_params(request.query_params, frozenset({"entity_type_name"}))
    found = key_links.entity_types(request.query_params.get("entity_type_name"))
    return JSONResponse({"entity_types": [{"integration_entity_type_id": n, "entity_type_name": c} for n, c in found]})


async def search(request: Request) -> Response:
    settings = context.settings(request)
    given = parse_search(request.query_params, settings.default_top, settings.max_top)
    links, total = await key_links.search(context.store(request), settings, context.group_id(request), given)
    query = given.query
    made = [query.token(links[-1], len(links))] if links else []  # None where the position is too long for a link
    tokens = [token for token in made if token is not None] if len(links) == query.top else None
    pagination = context.token_pagination(request, query.skip, query.top, total, tokens, query.after is not None)
    return JSONResponse({"key_links": [link_json(link) for link in links], "pagination": pagination})


async def get_link(request: Request) -> Response:
    check_params(request.query_params, frozenset())
    link = await key_links.one(context.store(request), context.group_id(request), request.path_params["link_id"])
    return JSONResponse({"key_links": link_json(link)})


async def create_link(request: Request) -> Response:
    check_params(request.query_params, frozenset())
    settings = context.settings(request)
    body = _own_system(request, parse_key_link(await read_json(request, settings.max_body_bytes)))
    store, group_id = context.store(request), context.group_id(request)
    _, ext = await key_links.named(store, settings, body, "internal_id")
    principal(request).ensure_may_claim(group_id, [ext], settings.hub_provider)
    link = await key_links.create(store, settings, group_id, body, context.actor(request))
    location = f"{request.url.path}/{link.link_id}"  # a link id is base64url: one path segment as it is
    return JSONResponse({"key_links": link_json(link)}, status_code=201, headers={"location": location})


async def move_link(request: Request) -> Response:
    check_params(request.query_params, frozenset())
    settings = context.settings(request)
    body = _own_system(request, parse_key_link(await read_json(request, settings.max_body_bytes)))
    store, group_id = context.store(request), context.group_id(request)
    link_id = _may_touch(request, group_id, request.path_params["link_id"])
    link = await key_links.move(store, settings, group_id, link_id, body, context.actor(request))
    return JSONResponse({"key_links": link_json(link)})


async def move_named_link(request: Request) -> Response:
    """PUT on the collection: the body names the link (`id`, or entity type, app and external id)."""
    check_params(request.query_params, frozenset())
    settings, store = context.settings(request), context.store(request)
    body = _own_system(request, parse_key_link(await read_json(request, settings.max_body_bytes)))
    group_id = context.group_id(request)
    named = _may_touch(request, group_id, await key_links.identify(store, settings, body, "internal_id"))
    link = await key_links.move(store, settings, group_id, named, body, context.actor(request))
    return JSONResponse({"key_links": link_json(link)})


async def delete_link(request: Request) -> Response:
    check_params(request.query_params, frozenset())
    group_id = context.group_id(request)
    await key_links.delete(
        context.store(request), group_id, _may_touch(request, group_id, request.path_params["link_id"])
    )
    return Response(status_code=204)


async def delete_named_link(request: Request) -> Response:
    """DELETE on the collection: the query names the link, as a PUT body does."""
    check_params(request.query_params, IDENTIFYING)
    settings, store = context.settings(request), context.store(request)
    group_id = context.group_id(request)
    named = await key_links.identify(store, settings, _own_system(request, parse_link_query(request.query_params)))
    await key_links.delete(store, group_id, _may_touch(request, group_id, named))
    return Response(status_code=204)


ROUTES = [
    Route("/api/v2/integration_systems", list_systems, methods=["GET"]),
    Route("/api/v2/entity_types", list_entity_types, methods=["GET"]),
    Route("/api/v2/{group_id}/key_links", search, methods=["GET"]),
    Route("/api/v2/{group_id}/key_links", create_link, methods=["POST"]),
    Route("/api/v2/{group_id}/key_links", move_named_link, methods=["PUT"]),
    Route("/api/v2/{group_id}/key_links", delete_named_link, methods=["DELETE"]),
    Route("/api/v2/{group_id}/key_links/{link_id:segment}", get_link, methods=["GET"]),
    Route("/api/v2/{group_id}/key_links/{link_id:segment}", move_link, methods=["PUT"]),
    Route("/api/v2/{group_id}/key_links/{link_id:segment}", delete_link, methods=["DELETE"]),
]
