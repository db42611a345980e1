"""The one place that turns exceptions into HTTP error envelopes (spec §1)."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from headwater import errors
from headwater.api import envelope

log = logging.getLogger("headwater.api")

_BY_STATUS: dict[int, type[errors.HeadwaterError]] = {
    400: errors.ValidationFailed,
    404: errors.NotFound,
    405: errors.MethodNotAllowed,
    413: errors.PayloadTooLarge,
    415: errors.UnsupportedMediaType,
}


def _request_id(request: Request) -> str:
    state = request.scope.get("state") or {}
    return str(state.get("request_id", ""))


async def headwater_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.HeadwaterError)
    if exc.status >= 500:
        log.warning("%s %s -> %s: %s", request.method, request.url.path, exc.code, exc.message)
    return envelope.failure(exc, _request_id(request))


async def http_error(request: Request, exc: Exception) -> Response:
    """Errors the framework raises itself: unknown route (404), wrong method (405)."""
    assert isinstance(exc, HTTPException)
    kind = _BY_STATUS.get(exc.status_code, errors.InternalError)
    error = kind()
    if exc.status_code == 404:
        error = errors.NotFound(f"No route for {request.method} {request.url.path}.")
    response = envelope.failure(error, _request_id(request))
    if exc.status_code == 405:
        response.headers["Allow"] = _allowed_methods(request, exc)
    return response


def _allowed_methods(request: Request, exc: HTTPException) -> str:
    """Every method the path supports. Starlette's own Allow names only the first route
    matching the path, but /v1/ingest (GET, POST) and others are served by two routes."""
    methods: set[str] = set()
    for route in getattr(request.app, "routes", []):
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches(request.scope)
            if match is not Match.NONE:
                methods |= route.methods
    if not methods and exc.headers and "Allow" in exc.headers:
        return exc.headers["Allow"]
    return ", ".join(sorted(methods))


async def unexpected_error(request: Request, exc: Exception) -> Response:
    """A 500 never leaks a stack trace; the log has it, keyed by the request id."""
    log.exception("unhandled error, requestId=%s", _request_id(request), exc_info=exc)
    return envelope.failure(errors.InternalError(), _request_id(request))


handlers = {
    errors.HeadwaterError: headwater_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}
