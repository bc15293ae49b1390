"""Integration definitions: `/api/v2/{group_id}/integrations[/{name}]` and `…/{name}/consent`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.api import context
from hub.api.json import JSONResponse, read_json
from hub.api.params import flag
from hub.model import timefmt
from hub.model.integration import Integration
from hub.model.query import check_params
from hub.service import integrations

OVERRIDE = frozenset({"override"})


def render(integration: Integration) -> dict[str, Any]:
    """The definition as set, the webhook without its secret, and when it was created, changed, consented."""
    out = integration.definition.model_dump()
    if integration.definition.webhook is not None:
        out["webhook"] = {"url": integration.definition.webhook.url}
    out["created_at"] = timefmt.display(integration.created_at)
    out["updated_at"] = timefmt.display(integration.updated_at)
    out["consented_at"] = timefmt.display(integration.consented_at) if integration.consented_at else None
    return out


def _name(request: Request) -> str:
    return str(request.path_params["name"])


async def list_integrations(request: Request) -> Response:
    check_params(request.query_params, frozenset())
    found = await integrations.all_of(request.app.state.store, context.group_id(request))
    return JSONResponse({"integrations": [render(i) for i in found]})


async def create_integration(request: Request) -> Response:
    group_id = context.group_id(request)
    check_params(request.query_params, frozenset())
    body = await read_json(request, request.app.state.settings.max_body_bytes)
    created = await integrations.create(request.app.state.store, group_id, body)
    location = f"{request.url.path}/{created.name}"
    return JSONResponse(render(created), status_code=201, headers={"location": location})


async def get_integration(request: Request) -> Response:
    check_params(request.query_params, frozenset())
    found = await integrations.get(request.app.state.store, context.group_id(request), _name(request))
    return JSONResponse(render(found))


async def update_integration(request: Request) -> Response:
    group_id = context.group_id(request)
    override = flag(request, "override", OVERRIDE)
    body = await read_json(request, request.app.state.settings.max_body_bytes)
    changed = await integrations.update(request.app.state.store, group_id, _name(request), body, override)
    return JSONResponse(render(changed))


async def delete_integration(request: Request) -> Response:
    group_id = context.group_id(request)
    override = flag(request, "override", OVERRIDE)
    await integrations.delete(request.app.state.store, group_id, _name(request), override)
    return Response(status_code=204)


async def consent(request: Request) -> Response:
    check_params(request.query_params, frozenset())
    given = await integrations.consent(request.app.state.store, context.group_id(request), _name(request))
    return JSONResponse(render(given))


BASE = "/api/v2/{group_id}/integrations"
ROUTES = [
    Route(BASE, list_integrations, methods=["GET"]),
    Route(BASE, create_integration, methods=["POST"]),
    Route(BASE + "/{name}", get_integration, methods=["GET"]),
    Route(BASE + "/{name}", update_integration, methods=["PUT"]),
    Route(BASE + "/{name}", delete_integration, methods=["DELETE"]),
    Route(BASE + "/{name}/consent", consent, methods=["POST"]),
]
