"""Liveness and readiness probes (spec §8), without authentication."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from headwater import errors
from headwater.api import envelope, inputs
from headwater.store import migrate


async def healthz(request: Request) -> Response:
    return envelope.success({"status": "ok"}, inputs.request_id(request))


async def readyz(request: Request) -> Response:
    store = request.app.state.store
    await run_in_threadpool(store.ping)
    revision = await run_in_threadpool(store.schema_revision)
    expected = migrate.head_revision()
    if revision != expected:
        raise errors.Unavailable(f"Schema is at {revision}, this release expects {expected}.")
    return envelope.success({"status": "ready", "schema": revision}, inputs.request_id(request))


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]


async def metrics(request: Request) -> Response:
    """Prometheus text format. Unauthenticated like the probes: expose it to your scraper
    only (docs/DEPLOYMENT.md)."""
    registry = request.app.state.metrics.registry
    body = await run_in_threadpool(generate_latest, registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


metrics_routes = [Route("/metrics", metrics, methods=["GET"])]
