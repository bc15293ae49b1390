"""The resource API of seed 002: `/api/v2/{group_id}/{collection}[/{id}]`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.api import context, paths
from hub.api.auth import principal
from hub.api.json import JSONResponse, read_json
from hub.api.problems import from_error
from hub.api.render import Renderer
from hub.config import Settings
from hub.errors import HubError, Invalid, PayloadTooLarge
from hub.model.collections import Collection
from hub.model.ids import ExternalId
from hub.model.list_query import ListQuery
from hub.model.payload import parse_write
from hub.model.query import Read, parse_list, parse_read
from hub.model.record import Group, Write
from hub.service import batch, reading, upsert
from hub.store.base import Store


def _context(request: Request) -> tuple[Store, Settings, str, Collection]:
    return context.store(request), context.settings(request), context.group_id(request), context.collection(request)


def _renderer(request: Request, group: Group, collection: Collection, read: Read | None = None) -> Renderer:
    return context.renderer(request, group, collection, read.select if read else None)


async def list_records(request: Request) -> Response:
    store, settings, group_id, collection = _context(request)
    query, read = parse_list(collection, request.query_params, settings.default_top, settings.max_top)
    if await context.is_hub(request, group_id, query.app):
        # Every record holds the hub's own id: `linked=true` lists them all, and `linked=false` none, as the page of
        # records linked to (connec, channel) is (the hub's own ids are no links).
        query = replace(query, app=None) if query.linked else replace(query, linked=True)
    view = await reading.fetch_page(store, group_id, collection, query)
    records = _renderer(request, view.group, collection, read).all(view)
    return JSONResponse({collection.name: records, "pagination": _pagination(request, query, view)})


def _pagination(request: Request, query: ListQuery, view: reading.View) -> dict[str, Any]:
    """`{skip, top, total}` and the `next` link: a `$skiptoken` after the page's last record (its code, and under
    `$orderby` its sort values), so that the next page starts there however deep it is and whatever left the list
    before it. Where the last record's sort values are too long for a link, or make it longer than a request may
    be (`context.MAX_LINK`), the token is the last one's whose are not: the next page shows again what followed
    that record rather than pass over any. The next `$skip` only where no record's fit."""
    resumed = query.after is not None or not query.count  # no total to end a walk: full pages go on
    made = (query.token(view.records[shown - 1], shown) for shown in range(len(view.records), 0, -1))
    tokens = (token for token in made if token is not None) if len(view.records) == query.top else None
    return context.token_pagination(request, query.skip, query.top, view.total, tokens, resumed)


async def get_record(request: Request) -> Response:
    store, _, group_id, collection = _context(request)
    read = await context.path_read(request, collection, group_id)
    view = await reading.fetch_one(store, group_id, collection, request.path_params["id"], read.app)
    return _one(request, collection, view, read)


def _one(request: Request, collection: Collection, view: reading.View, read: Read) -> Response:
    """The one record of `view`, shown as a GET of it asks (`$select` too)."""
    render = _renderer(request, view.group, collection, read)
    return JSONResponse({collection.name: render.record(view.records[0], view.refs)})


def _checker(request: Request, collection: Collection) -> Callable[[Any, ExternalId | None], Write]:
    """What validates an item and allows it for the caller; the request is read once, not per item of a batch.

    The checker's `by` is the id of the app writing, if the path names it: written by, so claimed as the body's
    ids are (an app writing by another app's id wrote as that app, its sync directions and all). An app's key
    writes from its app whatever names the record (a hub id too): its directions hold.
    """
    settings, group_id, caller = context.settings(request), context.group_id(request), principal(request)

    def check(item: Any, by: ExternalId | None) -> Write:
        write = parse_write(collection, item)
        if by is not None and by not in write.ids:
            write.ids.append(by)
        write.writer = caller.app_in(group_id)
        write.set_apart(lambda ext: caller.may_claim(group_id, ext, settings.hub_provider))
        return write

    return check


async def _write_renderer(
    request: Request, store: Store, group_id: str, collection: Collection, read: Read | None = None
) -> Renderer:
    """The renderer of written records, made once per request (a batch renders each item with it)."""
    return _renderer(request, await reading.group_or_404(store, group_id), collection, read)


def _answer(render: Renderer, collection: Collection, outcome: upsert.Outcome) -> tuple[int, dict[str, Any]]:
    """(HTTP status, response body) of one upserted item, shown with the referenced records it read."""
    body: dict[str, Any] = {
        collection.name: render.record(outcome.record, outcome.refs),
        "result": "created" if outcome.created else "updated" if outcome.changed else "unchanged",
    }
    if outcome.merged:
        body["merged"] = outcome.merged
    return (201 if outcome.created else 200), body


async def _write_one(
    request: Request,
    collection: Collection,
    item: Any,
    anchor: upsert.Anchor | None = None,
    by: ExternalId | None = None,
    read: Read | None = None,
) -> tuple[int, dict[str, Any]]:
    """Upsert one item: (HTTP status, response body), the record shown as `read` asks."""
    store, settings, group_id, _ = _context(request)
    write = _checker(request, collection)(item, by)
    outcome = await upsert.upsert(store, settings, group_id, collection, write, anchor, context.actor(request))
    return _answer(await _write_renderer(request, store, group_id, collection, read), collection, outcome)


async def _write_batch(request: Request, collection: Collection, items: list[Any]) -> list[dict[str, Any]]:
    """Upsert each item as if on its own, in order (`batch.upsert_many` writes runs of them together): one result
    per item, a refused one beside the others."""
    store, settings, group_id, _ = _context(request)
    check = _checker(request, collection)
    writes: list[Write | HubError] = []
    for entry in items:
        try:
            writes.append(check(entry, None))
        except HubError as error:
            writes.append(error)
    outcomes = await batch.upsert_many(store, settings, group_id, collection, writes, context.actor(request))
    # A new group whose items were all refused was never stored: there is none to render with, nor anything to.
    written = any(not isinstance(outcome, HubError) for outcome in outcomes)
    render = await _write_renderer(request, store, group_id, collection) if written else None
    results = []
    for outcome in outcomes:
        if isinstance(outcome, HubError):
            results.append({"status": outcome.status, "error": from_error(outcome)})
        elif render is not None:
            status, body = _answer(render, collection, outcome)
            results.append({"status": status, **body})
    return results


def _hub_id(rendered: dict[str, Any]) -> str:
    """The hub id of a rendered record, whether `id` is a string or an id array (hub's own last)."""
    value = rendered["id"]
    return value if isinstance(value, str) else str(value[-1]["id"])


def _item(collection: Collection, body: Any) -> Any:
    if not isinstance(body, dict) or set(body) != {collection.name}:
        raise Invalid(f"the body must be an object with the single key {collection.name!r}")
    return body[collection.name]


async def create_or_update(request: Request) -> Response:
    _, settings, _, collection = _context(request)
    parse_read(collection, request.query_params, frozenset())
    item = _item(collection, await read_json(request, settings.max_body_bytes))
    if not isinstance(item, list):
        status, body = await _write_one(request, collection, item)
        # The path as the scope holds it (checked group and collection): `request.url` parses the whole URL.
        headers = {"location": f"{request.scope['path']}/{_hub_id(body[collection.name])}"} if status == 201 else None
        return JSONResponse(body, status_code=status, headers=headers)
    if len(item) > settings.max_batch:
        raise PayloadTooLarge(f"a batch holds at most {settings.max_batch} records, not {len(item)}")
    results = await _write_batch(request, collection, item)
    return JSONResponse({"results": results})


async def update_record(request: Request) -> Response:
    store, settings, group_id, collection = _context(request)
    read = await context.path_read(request, collection, group_id)
    await reading.group_or_404(store, group_id)  # an unknown group is said so, as every route says it
    key = request.path_params["id"]
    item = _item(collection, await read_json(request, settings.max_body_bytes))
    by = read.by(key)
    context.ensure_may_write_by(request, group_id, by)
    # 201 where it filled a placeholder in: the change feed has that as the record's create, and so does the answer
    status, body = await _write_one(request, collection, item, anchor=(key, read.app), by=by, read=read)
    return JSONResponse(body, status_code=status)


async def archive_record(request: Request) -> Response:
    store, _, group_id, collection = _context(request)
    read = await context.path_read(request, collection, group_id)
    context.ensure_may_write_by(request, group_id, read.by(request.path_params["id"]))
    writer = context.writer(request, group_id, read)
    view = await upsert.archive(store, group_id, collection, request.path_params["id"], read.app, writer)
    return _one(request, collection, view, read)


ROUTES = [
    Route(paths.IN_COLLECTION, list_records, methods=["GET"]),
    Route(paths.IN_COLLECTION, create_or_update, methods=["POST"]),
    Route(paths.IN_COLLECTION + "/{id:segment}", get_record, methods=["GET"]),
    Route(paths.IN_COLLECTION + "/{id:segment}", update_record, methods=["PUT"]),
    Route(paths.IN_COLLECTION + "/{id:segment}", archive_record, methods=["DELETE"]),
]
