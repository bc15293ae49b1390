"""create_app: wiring only. The store is opened and closed in the lifespan and kept on app.state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from hub.api import problems, resources
from hub.config import Settings
from hub.store import store_from_url
from hub.store.base import Store


def create_app(settings: Settings | None = None, store: Store | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    chosen = store or store_from_url(settings.store)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await chosen.open()
        app.state.store = chosen
        app.state.settings = settings
        try:
            yield
        finally:
            await chosen.close()

    return Starlette(
        routes=resources.ROUTES,
        exception_handlers=problems.HANDLERS,  # type: ignore[arg-type, unused-ignore]
        lifespan=lifespan,
    )
