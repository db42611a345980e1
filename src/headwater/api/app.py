"""The ASGI application: routes, error handlers, request ids, storage lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.types import ASGIApp

from headwater.api import errors
from headwater.api.middleware import RequestIdMiddleware
from headwater.api.routes import health, ingest, keys, sources
from headwater.config import Settings
from headwater.store import Store, migrate, open_store


def create_app(settings: Settings | None = None, store: Store | None = None) -> ASGIApp:
    """Build the app. Without `store`, the database is migrated and opened on startup."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        owned = store is None
        if owned:
            migrate.upgrade(settings.database_url)
        app.state.store = store or open_store(settings.database_url)
        try:
            yield
        finally:
            if owned:
                app.state.store.close()

    app = Starlette(
        routes=[*health.routes, *sources.routes, *ingest.routes, *keys.routes],
        exception_handlers=errors.handlers,
        lifespan=lifespan,
    )
    app.state.settings = settings
    if store is not None:
        app.state.store = store
    return RequestIdMiddleware(app)
