"""Integration definitions: `/api/v2/{group_id}/integrations[/{name}]` and `…/{name}/consent`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.api import context
from hub.api.auth import principal
from hub.api.json import JSONResponse, read_json
from hub.api.params import flag, optional_json
from hub.errors import Forbidden
from hub.model import timefmt
from hub.model.integration import ConsentType, Integration
from hub.model.paging import check_params
from hub.model.payload import validated
from hub.service import integrations

OVERRIDE = frozenset({"override"})


class ConsentIn(BaseModel):
    """A consent's optional body: the flow the app showed its user, refused if the integration now awaits another."""

    model_config = ConfigDict(extra="forbid", strict=True)

    consent_type: ConsentType | None = None


Endpoint = Callable[[Request], Awaitable[Response]]


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


def owned(endpoint: Endpoint) -> Endpoint:
    """Guard an endpoint of one integration: an app reaches only its own integrations, the admin every one."""

    async def guarded(request: Request) -> Response:
        who = principal(request)
        if not who.admin:
            group_id = context.group_id(request)
            found = await integrations.get(context.store(request), group_id, _name(request))
            app = found.definition
            who.ensure_own_app(group_id, app.provider, app.realm, "use the integrations")
        return await endpoint(request)

    return guarded


def _check_app(request: Request, group_id: str, body: Any) -> None:
    """403 if a definition names an app (provider and realm) other than the caller's. A provider or realm that is no
    string names no app: validation refuses it with a 422 naming the field (checked here, `null` was app 'None')."""
    if isinstance(body, dict) and ("provider" in body or "realm" in body):
        who = principal(request)
        provider, realm = body.get("provider", who.provider), body.get("realm", who.realms.get(group_id))
        if isinstance(provider, str) and isinstance(realm, str):
            who.ensure_own_app(group_id, provider, realm, "define an integration")


def _override(request: Request) -> bool:
    """`?override=true`, which lifts the locks of `managed` and `allow_schedule_change`: the operator's (an admin
    key) alone, since an app with it could undo what the operator set up for it."""
    override = flag(request, "override", OVERRIDE)
    if override and not principal(request).admin:
        raise Forbidden(
            "override=true is the operator's: only an admin key may lift the locks of managed and allow_schedule_change"
        )
    return override


async def list_integrations(request: Request) -> Response:
    """The group's integrations an app may reach (its own; the admin's: all), as `owned` guards each one."""
    check_params(request.query_params, frozenset())
    group_id, who = context.group_id(request), principal(request)
    found = await integrations.all_of(context.store(request), group_id)
    own = [i for i in found if who.acts_for(group_id, i.definition.provider, i.definition.realm)]
    return JSONResponse({"integrations": [render(i) for i in own]})


async def create_integration(request: Request) -> Response:
    group_id = context.group_id(request)
    check_params(request.query_params, frozenset())
    body = await read_json(request, context.settings(request).max_body_bytes)
    _check_app(request, group_id, body)
    store, settings, operator = context.store(request), context.settings(request), principal(request).admin
    created = await integrations.create(store, settings, group_id, body, operator)
    location = f"{request.url.path}/{quote(created.name, safe='')}"  # a name may hold `?`, `#`, `%` or `€`
    return JSONResponse(render(created), status_code=201, headers={"location": location})


async def get_integration(request: Request) -> Response:
    check_params(request.query_params, frozenset())
    found = await integrations.get(context.store(request), context.group_id(request), _name(request))
    return JSONResponse(render(found))


async def update_integration(request: Request) -> Response:
    group_id = context.group_id(request)
    override = _override(request)
    body = await read_json(request, context.settings(request).max_body_bytes)
    _check_app(request, group_id, body)
    store, settings = context.store(request), context.settings(request)
    who = principal(request)
    changed = await integrations.update(
        store, settings, group_id, _name(request), body, override, who.admin, caller=who
    )
    return JSONResponse(render(changed))


async def delete_integration(request: Request) -> Response:
    group_id = context.group_id(request)
    override = _override(request)
    await integrations.delete(context.store(request), group_id, _name(request), override, caller=principal(request))
    return Response(status_code=204)


async def consent(request: Request) -> Response:
    check_params(request.query_params, frozenset())
    store, who = context.store(request), principal(request)
    asked = validated(ConsentIn, await optional_json(request, context.settings(request).max_body_bytes))
    given = await integrations.consent(store, context.group_id(request), _name(request), asked.consent_type, caller=who)
    return JSONResponse(render(given))


BASE = "/api/v2/{group_id}/integrations"
ROUTES = [
    Route(BASE, list_integrations, methods=["GET"]),
    Route(BASE, create_integration, methods=["POST"]),
    Route(BASE + "/{name:segment}", owned(get_integration), methods=["GET"]),
    Route(BASE + "/{name:segment}", owned(update_integration), methods=["PUT"]),
    Route(BASE + "/{name:segment}", owned(delete_integration), methods=["DELETE"]),
    Route(BASE + "/{name:segment}/consent", owned(consent), methods=["POST"]),
]
