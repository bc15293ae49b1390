"""The change feed: `GET /api/v2/{group_id}/changes?since=<cursor>&limit=N`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.api import context
from hub.api.json import JSONResponse
from hub.model import timefmt
from hub.model.change import Change, cursor
from hub.model.paging import check_params, whole_param
from hub.model.record import Group
from hub.service import changes

PARAMS = frozenset({"since", "limit"})


def render(group: Group, hub_provider: str, change: Change) -> dict[str, Any]:
    """One change: the record's hub id, its whole id array (the hub's own last) as it was after the change."""
    own = group.own_id(hub_provider, change.hub_id)
    return {
        "cursor": cursor(group.group_id, change.seq),
        "kind": change.kind,
        "collection": change.collection,
        "id": change.hub_id,
        "ids": [e.as_json() for e in (*change.ids, own)],
        "at": timefmt.display(change.at),
        "details": change.details,
    }


async def list_changes(request: Request) -> Response:
    settings = context.settings(request)
    group_id = context.group_id(request)
    check_params(request.query_params, PARAMS)
    limit = whole_param(request.query_params, "limit", settings.default_top, 1, settings.max_top)
    found = await changes.page(context.store(request), group_id, request.query_params.get("since"), limit)
    return JSONResponse(
        {
            "changes": [render(found.group, settings.hub_provider, c) for c in found.changes],
            "cursor": found.cursor,
            "more": found.more,
        }
    )


ROUTES = [Route("/api/v2/{group_id}/changes", list_changes, methods=["GET"])]
