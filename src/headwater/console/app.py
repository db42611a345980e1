"""The console's ASGI app, mounted at /console by `api/app.py` beside the API routes.

It is its own Starlette app so that its errors are HTML pages (the console's own 404)
rather than the API's JSON envelopes, and so that every response it sends carries the
console's security headers. It shares the API app's `state` (store, settings, worker).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from headwater import errors
from headwater.console import render, session
from headwater.core.models import Scope as KeyScope

log = logging.getLogger("headwater.console")

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
        b"object-src 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]

Handler = Callable[[Request, session.Viewer], Awaitable[Response]]


def view(scope: KeyScope | None = KeyScope.READ) -> Callable[[Handler], Callable[[Request], Any]]:
    """A page: signed in (else to the sign-in page), holding `scope` (else a 403 page);
    a POST must carry the session's CSRF token (else a 403 page, nothing done)."""

    def wrap(handler: Handler) -> Callable[[Request], Any]:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            viewer = await session.viewer(request)
            if viewer is None:
                if request.method != "GET":
                    raise session.CsrfRejected("Your session has ended. Sign in again.")
                return RedirectResponse(f"{render.PREFIX}/sign-in", status_code=303)
            request.state.viewer = viewer
            if request.method == "POST":
                request.state.form = await session.form(request)
                session.check_csrf(viewer.csrf_token, request.state.form.get("csrf"))
            if scope is not None and not viewer.can(scope):
                raise errors.InsufficientScope(f"This page needs a key with the '{scope}' scope.")
            return await handler(request, viewer)

        return endpoint

    return wrap


async def error_page(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        status = exc.status_code
        message = "There is no such page." if status == 404 else "This request is not allowed."
    elif isinstance(exc, errors.HeadwaterError):
        status, message = exc.status, exc.message
        if status >= 500:
            log.warning("%s %s -> %s: %s", request.method, request.url.path, exc.code, message)
    else:
        log.exception("console error", exc_info=exc)
        status, message = 500, "Something went wrong. The server log has the details."
    if status == 404:
        message = "Not found. It does not exist, or it is not yours to see."
    if getattr(request.state, "viewer", None) is None and status != 500:
        try:  # the navigation on an error page too, for a signed-in viewer
            request.state.viewer = await session.viewer(request)
        except errors.HeadwaterError:
            request.state.viewer = None
    return render.page(
        request, "error.html", http_status=status, status_code=status, message=message
    )


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in SECURITY_HEADERS if n not in names]
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def create_console(state: State) -> ASGIApp:
    from headwater.console.views import (
        actors,
        auth,
        batches,
        events,
        keys,
        overview,
        records,
        sources,
    )

    app = Starlette(
        routes=[
            *auth.routes,
            *overview.routes,
            *sources.routes,
            *batches.routes,
            *records.routes,
            *events.routes,
            *actors.routes,
            *keys.routes,
            Mount(
                "/static", StaticFiles(packages=[("headwater.console", "static")]), name="static"
            ),
        ],
        exception_handlers={
            HTTPException: error_page,
            errors.HeadwaterError: error_page,
            Exception: error_page,
        },
    )
    app.state = state  # the API app's: one store, one worker, one set of settings
    return SecurityHeaders(app)
