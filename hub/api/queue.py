"""An outbound integration's queue: `…/integrations/{name}/lease|ack|fail|dead|dead/retry`."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.api import context
from hub.api.auth import principal
from hub.api.integrations import owned
from hub.api.json import JSONResponse, read_json
from hub.api.params import optional_json
from hub.api.render import Renderer
from hub.errors import Invalid
from hub.model import timefmt
from hub.model.change import cursor
from hub.model.collections import COLLECTIONS
from hub.model.ids import WithoutNul
from hub.model.integration import MAX_BATCH_SIZE
from hub.model.numbers import MAX_WHOLE
from hub.model.paging import check_params, whole_param
from hub.model.payload import validated
from hub.model.queue import QueueItem
from hub.service import outbound
from hub.service.outbound import Delivery, Settled

Numbers = Annotated[list[Annotated[int, Field(ge=1, le=2**63 - 1)]], Field(min_length=1, max_length=1000)]


class LeaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    seconds: Annotated[int, Field(ge=1)] | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_BATCH_SIZE)] | None = Field(
        None,
        description="the most items to hand out; the integration's batch_size if lower (an admin may change it)",
    )
    """Past MAX_BATCH_SIZE a 422: no lease can hand that many out, and a client asking for it has a bug to hear of."""


class SettleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    lease: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    items: Numbers
    error: Annotated[str, StringConstraints(max_length=1000), WithoutNul] = "failed (no reason given)"


class RetryIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    items: Numbers | None = None


def render_item(delivery: Delivery, item: QueueItem, record: dict[str, Any]) -> dict[str, Any]:
    return {
        "item": item.item,
        "kind": item.kind,
        "cursor": cursor(delivery.group.group_id, item.change_seq),
        "changed_at": timefmt.display(item.changed_at),
        "attempt": item.attempts + 1,
        "collection": item.collection,
        "details": item.details,
        "matches": (item.collection, item.hub_id) not in delivery.unmatched,
        "record": record,
    }


def render_delivery(delivery: Delivery, hub_provider: str) -> list[dict[str, Any]]:
    """Each item with its record as the app reads it: id arrays (so it finds its own ids), and every field
    but those that do not sync to the app."""
    renderers = {name: Renderer(delivery.group, COLLECTIONS[name], hub_provider, True, None) for name in delivery.views}
    out = []
    for item, record in delivery.items:
        shown = renderers[item.collection].record(record, delivery.views[item.collection].refs)
        hidden = delivery.hidden.get(record.hub_id, frozenset())
        out.append(render_item(delivery, item, {k: v for k, v in shown.items() if k not in hidden}))
    return out


def _dead(group_id: str, item: QueueItem) -> dict[str, Any]:
    return {
        "item": item.item,
        "kind": item.kind,
        "cursor": cursor(group_id, item.change_seq),
        "changed_at": timefmt.display(item.changed_at),
        "collection": item.collection,
        "id": item.hub_id,
        "attempts": item.attempts,
        "last_error": item.last_error,
        "details": item.details,
    }


def _settled(settled: Settled, done: str) -> dict[str, Any]:
    return {done: settled.done, "refused": settled.refused}


async def lease(request: Request) -> Response:
    settings = context.settings(request)
    group_id = context.group_id(request)
    check_params(request.query_params, frozenset())
    asked = validated(LeaseIn, await optional_json(request, settings.max_body_bytes))
    if asked.seconds is not None and asked.seconds > settings.max_lease_seconds:
        raise Invalid(
            f"seconds: a lease lasts at most {settings.max_lease_seconds} seconds",
            errors=[{"field": "seconds", "message": f"at most {settings.max_lease_seconds}"}],
        )
    store = context.store(request)
    name, who = request.path_params["name"], principal(request)
    given, delivery = await outbound.hand_out(store, settings, group_id, name, asked.seconds, asked.limit, caller=who)
    return JSONResponse(
        {
            "lease": given.lease_id,
            "expires_at": timefmt.display(given.until),
            "items": render_delivery(delivery, settings.hub_provider),
        }
    )


async def _settle_body(request: Request) -> tuple[str, SettleIn]:
    group_id = context.group_id(request)
    check_params(request.query_params, frozenset())
    return group_id, validated(SettleIn, await read_json(request, context.settings(request).max_body_bytes))


async def ack(request: Request) -> Response:
    group_id, body = await _settle_body(request)
    name = request.path_params["name"]
    settled = await outbound.ack(
        context.store(request), group_id, name, body.lease, body.items, caller=principal(request)
    )
    return JSONResponse(_settled(settled, "acked"))


async def fail(request: Request) -> Response:
    group_id, body = await _settle_body(request)
    settings = context.settings(request)
    name = request.path_params["name"]
    store, who = context.store(request), principal(request)
    settled = await outbound.fail(store, settings, group_id, name, body.lease, body.items, body.error, caller=who)
    return JSONResponse(_settled(settled, "failed"))


async def list_dead(request: Request) -> Response:
    settings = context.settings(request)
    group_id = context.group_id(request)
    check_params(request.query_params, frozenset({"after", "limit"}))
    after = whole_param(request.query_params, "after", 0, 0, MAX_WHOLE)
    limit = whole_param(request.query_params, "limit", settings.default_top, 1, settings.max_top)
    store, name = context.store(request), request.path_params["name"]
    items, more = await outbound.dead(store, settings, group_id, name, after, limit, caller=principal(request))
    return JSONResponse({"dead": [_dead(group_id, i) for i in items], "more": more})


async def retry_dead(request: Request) -> Response:
    group_id = context.group_id(request)
    check_params(request.query_params, frozenset())
    body = validated(RetryIn, await optional_json(request, context.settings(request).max_body_bytes))
    store, settings = context.store(request), context.settings(request)
    name = request.path_params["name"]
    retried = await outbound.retry(store, settings, group_id, name, body.items, caller=principal(request))
    return JSONResponse(_settled(retried, "retried"))


BASE = "/api/v2/{group_id}/integrations/{name:segment}"
ROUTES = [
    Route(BASE + "/lease", owned(lease), methods=["POST"]),
    Route(BASE + "/ack", owned(ack), methods=["POST"]),
    Route(BASE + "/fail", owned(fail), methods=["POST"]),
    Route(BASE + "/dead", owned(list_dead), methods=["GET"]),
    Route(BASE + "/dead/retry", owned(retry_dead), methods=["POST"]),
]
