"""The ASGI application: routes, error handlers, request ids, storage lifecycle."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
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
from headwater.api.routes import export as export_routes
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
                poll_interval=settings.poll_interval,
                lease_seconds=settings.lease_seconds,
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
            *export_routes.routes,
            *knowledge.routes,
            *rules.routes,
            *health.metrics_routes,
            *docs.routes,
        ],
        exception_handlers=errors.handlers,
        lifespan=lifespan,
    )
    # no 307 to a slash-less twin: a near-miss path is a 404 in the envelope, and a
    # Location built from the Host header would point wherever the client claimed
    app.router.redirect_slashes = False
    if settings.console:
        _mount_console(app)
    app.state.settings = settings
    app.state.worker = None
    app.state.metrics = metrics
    if store is not None:
        app.state.store = store
    return RequestIdMiddleware(AccessMiddleware(UrlGuardMiddleware(app), metrics))


def _mount_console(app: Starlette) -> None:
    """The web console at /console (console/), sharing this app's state; `/` leads there.
    Redirects carry a path only, never a URL built from the Host header."""
    from headwater.console.app import create_console

    async def to_console(request: Request) -> Response:
        return RedirectResponse("/console/", status_code=307)

    app.router.routes += [
        Route("/", to_console, methods=["GET"]),
        Route("/console", to_console, methods=["GET"]),
        Mount("/console", create_console(app.state)),
    ]
