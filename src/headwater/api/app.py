"""The ASGI application: routes, error handlers, request ids, storage lifecycle."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.types import ASGIApp

from headwater.api import errors
from headwater.api.access import AccessMiddleware
from headwater.api.middleware import RequestIdMiddleware, UrlGuardMiddleware
from headwater.api.routes import (
    actors,
    docs,
    events,
    health,
    ingest,
    keys,
    knowledge,
    records,
    rules,
    sources,
)
from headwater.config import Settings
from headwater.observability import Metrics
from headwater.store import Store, migrate, open_store
from headwater.worker import Worker


def create_app(settings: Settings | None = None, store: Store | None = None) -> ASGIApp:
    """Build the app. Without `store`, the database is migrated and opened on startup.

    With `settings.embedded_worker` (the default) a normalizer thread runs beside the API.
    """
    settings = settings or Settings.from_env()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        owned = store is None
        if owned:
            migrate.upgrade(settings.database_url)
        app.state.store = store or open_store(settings.database_url)
        metrics.watch(app.state.store)
        stop = threading.Event()
        thread = None
        if settings.embedded_worker:
            app.state.worker = Worker(
                app.state.store,
                metrics=metrics,
                discover_interval=settings.discover_interval,
            )
            thread = threading.Thread(target=app.state.worker.run, args=(stop,), name="normalizer")
            thread.start()
        try:
            yield
        finally:
            stop.set()
            if thread is not None:
                app.state.worker.wake()
                thread.join()
            if owned:
                app.state.store.close()

    app = Starlette(
        routes=[
            *health.routes,
            *sources.routes,
            *ingest.routes,
            *keys.routes,
            *events.routes,
            *records.routes,
            *actors.routes,
            *knowledge.routes,
            *rules.routes,
            *health.metrics_routes,
            *docs.routes,
        ],
        exception_handlers=errors.handlers,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.worker = None
    app.state.metrics = metrics
    if store is not None:
        app.state.store = store
    return RequestIdMiddleware(AccessMiddleware(UrlGuardMiddleware(app), metrics))
