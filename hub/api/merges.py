"""Merges on request, their history, and undoing them: `…/{collection}/{id}/merge|merges|unmerge`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.api import context, paths
from hub.api.auth import principal
from hub.api.json import JSONResponse, read_json
from hub.api.render import merge_entry
from hub.model.collections import Collection
from hub.model.history import HISTORY_PARAMS, parse_history
from hub.model.payload import parse_merge, parse_unmerge
from hub.model.query import APP_PARAMS, Read
from hub.model.record import Record
from hub.service import merging, reading


async def _path(request: Request, allowed: frozenset[str] = APP_PARAMS) -> tuple[str, Collection, str, Read]:
    collection, group_id = context.collection(request), context.group_id(request)
    read = await context.path_read(request, collection, group_id, allowed)
    return group_id, collection, request.path_params["id"], read


async def _rendered(request: Request, group_id: str, collection: Collection, records: list[Record]) -> list[Any]:
    store = context.store(request)
    group = await reading.group_or_404(store, group_id)
    view = await reading.view(store, group, collection, records)
    return context.renderer(request, group, collection).all(view)


async def merge(request: Request) -> Response:
    group_id, collection, key, read = await _path(request)
    settings = context.settings(request)
    ask = parse_merge(collection, await read_json(request, settings.max_body_bytes))
    named = [ext for given in ask.records if isinstance(given, list) for ext in given]
    context.ensure_may_write_by(request, group_id, read.by(key))
    principal(request).ensure_may_claim(group_id, [*named, *ask.write.claimed()], settings.hub_provider)
    ask.write.writer = context.writer(request, group_id, read)  # chosen by that app: its sync directions hold
    store, actor = context.store(request), context.actor(request)
    view, entry = await merging.merge_records(store, settings, group_id, collection, key, read.app, ask, actor)
    shown = merge_entry(collection, entry)
    if ask.dry_run:
        del shown["id"], shown["undone"]
    rendered = context.renderer(request, view.group, collection).record(view.records[0], view.refs)
    return JSONResponse({collection.name: rendered, "merge": shown, "dry_run": ask.dry_run})


async def history(request: Request) -> Response:
    """A page of the record's merges, and `next` (a `$skiptoken` naming the last merge shown) while more follow:
    no total, which would read every merge of the record."""
    group_id, collection, key, read = await _path(request, HISTORY_PARAMS)
    page = parse_history(request.query_params)
    entries, token = await merging.history(context.store(request), group_id, collection, key, read.app, page)
    tokens = None if token is None else [token]
    pagination = context.token_pagination(request, page.skip, page.top, None, tokens, True, skippable=False)
    return JSONResponse({"merges": [merge_entry(collection, e) for e in entries], "pagination": pagination})


async def unmerge(request: Request) -> Response:
    group_id, collection, key, read = await _path(request)
    context.ensure_may_write_by(request, group_id, read.by(key))
    merge_id = parse_unmerge(await read_json(request, context.settings(request).max_body_bytes))
    store, actor = context.store(request), context.actor(request)
    records, entry = await merging.unmerge(store, group_id, collection, key, read.app, merge_id, actor)
    rendered = await _rendered(request, group_id, collection, records)
    return JSONResponse({collection.name: rendered, "merge": merge_entry(collection, entry)})


ROUTES = [
    Route(paths.IN_COLLECTION + "/{id:segment}/merge", merge, methods=["POST"]),
    Route(paths.IN_COLLECTION + "/{id:segment}/merges", history, methods=["GET"]),
    Route(paths.IN_COLLECTION + "/{id:segment}/unmerge", unmerge, methods=["POST"]),
]
