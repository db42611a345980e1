"""Request ids (spec §1): every response carries `X-Request-Id` equal to `meta.requestId`.

A pure ASGI middleware outside Starlette, so that even responses produced by the
server-error handler carry the header.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from headwater import errors
from headwater.api import envelope
from headwater.core.validation import parse_uuid
from headwater.ids import new_id

log = logging.getLogger("headwater.api")


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _client_request_id(scope) or new_id()
        scope.setdefault("state", {})["request_id"] = request_id
        header = (b"x-request-id", request_id.encode())

        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    headers.append(header)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Starlette's handlers answer every error inside the app; this is for a fault in
            # the middlewares around it, which uvicorn would answer in plain text
            log.exception("unhandled error outside the app, requestId=%s", request_id)
            if started:
                raise
            await envelope.failure(errors.InternalError(), request_id)(scope, receive, send_with_id)


def _client_request_id(scope: Scope) -> str | None:
    """A client's X-Request-Id is reused when it is a UUID (so meta.requestId always is)."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            return parse_uuid(value.decode("latin-1").strip())
    return None


#: query parameters that may be given more than once (none yet): every other one takes one
#: value, and `limit=1&limit=50` is refused rather than read as either
MULTI_VALUED: frozenset[str] = frozenset()


class UrlGuardMiddleware:
    """Refuse NUL characters in the path or query (400): no id or filter can contain one,
    and PostgreSQL cannot even compare text holding one. Refuse a repeated query parameter
    (400) too: which value counts would be a guess."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query: bytes = scope.get("query_string", b"")
            if "\x00" in scope["path"] or b"%00" in query or b"\x00" in query:
                error = errors.ValidationFailed(
                    "The URL contains a NUL character.",
                    [{"field": "url", "message": "NUL is not allowed"}],
                )
                response = envelope.failure(error, scope["state"]["request_id"])
                await response(scope, receive, send)
                return
            repeated = _repeated(query)
            if repeated:
                error = errors.ValidationFailed(
                    "A query parameter is repeated.",
                    [{"field": name, "message": "must be given once"} for name in repeated],
                )
                response = envelope.failure(error, scope["state"]["request_id"])
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _repeated(query: bytes) -> list[str]:
    """Names given more than once, in the order they first repeat."""
    if b"&" not in query:
        return []
    seen: set[str] = set()
    repeated: list[str] = []
    for name, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if name in seen and name not in MULTI_VALUED and name not in repeated:
            repeated.append(name)
        seen.add(name)
    return repeated
