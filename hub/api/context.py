"""What every endpoint takes from its request: the store, the settings, the checked path, the actor."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from starlette.requests import Request

from hub.api.auth import checked_group, principal
from hub.api.render import Renderer, wants_ids
from hub.config import Settings
from hub.errors import NotFound, quoted
from hub.model.collections import COLLECTIONS, Collection
from hub.model.history import ANONYMOUS
from hub.model.ids import ExternalId
from hub.model.query import ONE_PARAMS, Read, Selected, parse_read
from hub.model.record import Group
from hub.service import reading
from hub.store.base import Store


def store(request: Request) -> Store:
    chosen: Store = request.app.state.store
    return chosen


def settings(request: Request) -> Settings:
    chosen: Settings = request.app.state.settings
    return chosen


def group_id(request: Request) -> str:
    """The checked group id; the CONNEC-EXTERNAL-IDS header is checked here too, before anything is written."""
    given = checked_group(request.path_params["group_id"])
    wants_ids(request.headers)
    return given


def collection(request: Request) -> Collection:
    name = request.path_params["collection"]
    if name not in COLLECTIONS:
        raise NotFound(f"no collection {quoted(name)}; the collections are {', '.join(COLLECTIONS)}")
    return COLLECTIONS[name]


def actor(request: Request) -> str:
    """Who is asking, as the auth middleware names it (app or admin, and key id); anonymous on a public path."""
    return str(getattr(request.state, "actor", None) or ANONYMOUS)


async def is_hub(request: Request, group_id: str, app: tuple[str, str] | None) -> bool:
    """`reading.is_hub` for this request's store and settings."""
    return await reading.is_hub(store(request), settings(request).hub_provider, group_id, app)


async def path_read(
    request: Request, collection: Collection, group_id: str, allowed: frozenset[str] = ONE_PARAMS
) -> Read:
    """What a path's query asks for (`parse_read`), keyed by hub id where it names the hub's own ids (`is_hub`)."""
    read = parse_read(collection, request.query_params, allowed)
    return replace(read, app=None) if await is_hub(request, group_id, read.app) else read


def ensure_may_write_by(request: Request, group_id: str, by: ExternalId | None) -> None:
    """403 unless the caller may write by the app id its path names a record by (`Read.by`): a write by it matches
    by it, which only that app or the admin may, as with the ids in a body; reading by it is anyone's."""
    if by is not None:
        principal(request).ensure_may_claim(group_id, [by], settings(request).hub_provider)


def writer(request: Request, group_id: str, read: Read) -> tuple[str, str] | None:
    """The app a write addressed by its path speaks for, whose sync directions hold: the key's app, or else the app
    whose id the path names the record by (the admin writing by an app's id writes as that app, as a `PUT` by it)."""
    return principal(request).app_in(group_id) or read.app


def renderer(request: Request, group: Group, collection: Collection, select: Selected | None = None) -> Renderer:
    return Renderer(group, collection, settings(request).hub_provider, wants_ids(request.headers), select)


MAX_LINK = 12 * 1024
"""The longest `next` link by `$skiptoken`: its request, with the headers a client sends beside it, stays within the
16 KiB head the server reads (h11's limit). Sort values under `keyset.MAX_POSITION` beside a long `%`-escaped
`$filter` made a link over it, refused ("Receive buffer too long") wherever its head came in several packets."""


def pagination(request: Request, skip: int, top: int, total: int | None) -> dict[str, Any]:
    """`{skip, top, total}` of a full page, and `next`, the URL of the page after by `$skip`, unless the total says
    this is the last (without a total, a full page may have more after it)."""
    out: dict[str, Any] = {"skip": skip, "top": top, "total": total}
    if total is None or skip + top < total:
        out["next"] = str(request.url.remove_query_params("$skiptoken").include_query_params(**{"$skip": skip + top}))
    return out


def token_pagination(
    request: Request,
    skip: int,
    top: int,
    total: int | None,
    tokens: Iterable[str] | None,
    resumed: bool,
    skippable: bool = True,
) -> dict[str, Any]:
    """`{skip, top, total}`, and `next` by `$skiptoken` while the total says more follow or, on a page `resumed` from a
    token, while pages come full: what was removed since the first page makes the `skip` a token carries too high to
    trust, and a walk must not stop short.

    `tokens` (None unless the page is full) each start the next page after an item of it, the last item's first: the
    link carries the first that keeps it within `MAX_LINK`, the next page showing again what followed its item. Where
    none does, `next` goes by `$skip`, no longer than the request that came in; a page that takes no `$skip` keeps the
    last token's, the only way on."""
    out: dict[str, Any] = {"skip": skip, "top": top, "total": total}
    if tokens is None or not (resumed or skip + top < (total or 0)):
        return out
    link = None
    for token in tokens:
        link = str(request.url.remove_query_params("$skip").include_query_params(**{"$skiptoken": token}))
        if len(link) <= MAX_LINK:
            return out | {"next": link}
    if skippable:
        return pagination(request, skip, top, total)
    return out if link is None else out | {"next": link}
