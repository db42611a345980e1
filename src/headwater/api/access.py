"""Per-request metrics and the access log: one JSON line per request (spec §8).

A log line names the request id, organisation, key prefix, route, status, duration and
record count. Tokens and payloads never appear: the key is identified by its display
prefix, and bodies are not logged.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from headwater.observability import Metrics

log = logging.getLogger("headwater.access")


class AccessMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        path = getattr(route, "path", None) or "unmatched"
        method = scope["method"]
        self.metrics.requests.labels(path, method, str(status)).inc()
        self.metrics.latency.labels(path, method).observe(seconds)
        state = scope.get("state") or {}
        counts: dict[str, int] = state.get("outcomes") or {}
        for outcome, count in counts.items():
            if count:
                self.metrics.records.labels(outcome).inc(count)
        principal = state.get("principal")
        fields = {
            "requestId": state.get("request_id"),
            "method": method,
            "route": path,
            "status": status,
            "durationMs": round(seconds * 1000, 3),
            "orgId": principal.org_id if principal else None,
            "keyPrefix": principal.key.prefix if principal else None,
            "records": sum(counts.values()) + int(state.get("rejected", 0)) if counts else None,
        }
        log.info("%s %s %s", method, path, status, extra={"fields": fields})
