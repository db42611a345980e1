"""Sources (spec §3): create, list, get with counts, patch. Never hard-deleted."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from headwater import errors
from headwater.api import envelope, idempotency, inputs, wire
from headwater.api.auth import authenticate
from headwater.core import sources
from headwater.core.models import Scope
from headwater.ids import new_id, now_micros
from headwater.store.base import Store

#: source bodies are small; a mappings document is the largest part
MAX_SOURCE_BODY = 1024 * 1024


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _check_name(name: object) -> None:
    if sources.blank_name(name):
        raise errors.ValidationFailed(
            "Request body is invalid.", [{"field": "name", "message": "must not be blank"}]
        )


async def create_source(request: Request) -> Response:
    store = _store(request)
    principal = await authenticate(request, store, Scope.INGEST)
    inputs.require_json(request)
    body = await inputs.read_body(request, MAX_SOURCE_BODY)
    claim = await idempotency.begin(request, store, principal, body)
    if isinstance(claim, Response):
        return claim
    request_id = inputs.request_id(request)

    def work() -> bytes:
        fields = inputs.decode(body, sources.CreateSource)
        _check_name(fields.name)
        source = sources.new_source(fields, new_id(), principal.org_id, now_micros())
        with store.write() as tx:
            tx.insert_source(source)
            response = envelope.success_body(wire.source(source), request_id)
            idempotency.remember(tx, claim, 201, response)
        return response

    response_body = await idempotency.run(store, claim, request_id, work)
    return Response(response_body, status_code=201, media_type=envelope.JSON)


async def list_sources(request: Request) -> Response:
    store = _store(request)
    principal = await authenticate(request, store, Scope.READ)
    limit, offset = inputs.page(request)
    page = await run_in_threadpool(store.list_sources, principal.org_id, limit, offset)
    return envelope.success(
        [wire.source(s) for s in page],
        inputs.request_id(request),
        pagination=inputs.pagination(page.total, limit, offset),
    )


async def get_source(request: Request) -> Response:
    store = _store(request)
    principal = await authenticate(request, store, Scope.READ)
    source_id = inputs.path_id(request, "source_id", "Source")

    def load() -> dict[str, Any]:
        source = store.get_source(principal.org_id, source_id)
        if source is None:
            raise errors.NotFound("Source not found.")
        return wire.source(source, store.source_counts(principal.org_id, source_id))

    return envelope.success(await run_in_threadpool(load), inputs.request_id(request))


async def patch_source(request: Request) -> Response:
    store = _store(request)
    principal = await authenticate(request, store, Scope.INGEST)
    source_id = inputs.path_id(request, "source_id", "Source")
    inputs.require_json(request)
    body = await inputs.read_body(request, MAX_SOURCE_BODY)
    claim = await idempotency.begin(request, store, principal, body)
    if isinstance(claim, Response):
        return claim
    request_id = inputs.request_id(request)

    def work() -> bytes:
        patch = inputs.decode(body, sources.PatchSource)
        _check_name(patch.name)
        with store.write() as tx:
            source = tx.get_source(principal.org_id, source_id)
            if source is None:
                raise errors.NotFound("Source not found.")
            updated = sources.patched(source, patch, now_micros())
            if updated is not source:
                tx.update_source(updated)
            response = envelope.success_body(wire.source(updated), request_id)
            idempotency.remember(tx, claim, 200, response)
        return response

    response_body = await idempotency.run(store, claim, request_id, work)
    return Response(response_body, media_type=envelope.JSON)


routes = [
    Route("/v1/sources", create_source, methods=["POST"]),
    Route("/v1/sources", list_sources, methods=["GET"]),
    Route("/v1/sources/{source_id}", get_source, methods=["GET"]),
    Route("/v1/sources/{source_id}", patch_source, methods=["PATCH"]),
]
