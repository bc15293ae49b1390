"""Connect (seed 004): `POST /api/v2/{group_id}/{collection}/{id}/connect`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.api import context, paths
from hub.api.auth import principal
from hub.api.json import read_json
from hub.model.connect import parse_connect
from hub.model.query import APP_PARAMS
from hub.service import connect


async def connect_record(request: Request) -> Response:
    settings = context.settings(request)
    group_id, collection = context.group_id(request), context.collection(request)
    read = await context.path_read(request, collection, group_id, APP_PARAMS)
    body = await read_json(request, settings.max_body_bytes)
    asked = parse_connect(collection, body, settings.hub_provider)
    context.ensure_may_write_by(request, group_id, read.by(request.path_params["id"]))
    principal(request).ensure_may_claim(group_id, [asked.ext, *asked.write.claimed()], settings.hub_provider)
    store = context.store(request)
    await connect.connect(
        store, settings, group_id, collection, request.path_params["id"], read.app, asked, context.actor(request)
    )
    return Response(status_code=204)


ROUTES = [Route(paths.IN_COLLECTION + "/{id:segment}/connect", connect_record, methods=["POST"])]
