"""create_app: wiring only. The store is opened and closed in the lifespan and kept on app.state."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware

from hub.api import changes, connect, integrations, key_links, merges, openapi, problems, queue, resources
from hub.api.auth import AuthMiddleware, check_routes
from hub.api.headers import SingleHeaders
from hub.api.pacing import PacedBody
from hub.api.paths import PercentEncoding
from hub.config import Settings
from hub.service.access import Authenticator
from hub.service.changes import prune_forever
from hub.service.webhooks import deliver_forever
from hub.store import store_from_url
from hub.store.base import Store


@asynccontextmanager
async def background(*jobs: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run `jobs` as tasks while the app serves; cancel them (and wait) before the store closes."""
    tasks = [asyncio.create_task(job) for job in jobs]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def create_app(settings: Settings | None = None, store: Store | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    chosen = store or store_from_url(settings.store)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await chosen.open()
        app.state.store = chosen
        app.state.settings = settings
        app.state.authenticator = Authenticator(chosen, settings.key_cache_seconds)
        try:
            render = functools.partial(queue.render_delivery, hub_provider=settings.hub_provider)
            async with background(prune_forever(chosen, settings), deliver_forever(chosen, settings, render)):
                yield
        finally:
            await chosen.close()

    routes = [  # the router tries them in order: the busiest first
        *resources.ROUTES,
        *merges.ROUTES,
        *connect.ROUTES,
        *key_links.ROUTES,
        *changes.ROUTES,
        *integrations.ROUTES,
        *queue.ROUTES,
        *openapi.ROUTES,
    ]
    check_routes(routes)
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(PacedBody),
            Middleware(PercentEncoding),
            Middleware(SingleHeaders),
            Middleware(AuthMiddleware),
        ],
        exception_handlers={**problems.HANDLERS, **dict.fromkeys(chosen.unreachable, problems.unreachable)},
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False  # a path with a trailing slash is a 404, not a 307 to `http://` + `Host`
    return app
