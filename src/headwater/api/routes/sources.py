"""Sources (spec §3): create, list, get with counts, patch. Never hard-deleted."""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from headwater import errors, jobs
from headwater.api import envelope, inputs, schemas, wire
from headwater.api.auth import Principal, authenticate
from headwater.api.idempotency import write_endpoint
from headwater.core import mapping, sources
from headwater.core.models import Scope
from headwater.ids import new_id, now_micros
from headwater.store.base import WriteTx

#: source bodies are small; a mappings document is the largest part
MAX_SOURCE_BODY = 1024 * 1024


def _check_name(name: object) -> None:
    if sources.blank_name(name):
        raise errors.ValidationFailed(
            "Request body is invalid.", [{"field": "name", "message": "must not be blank"}]
        )


def _check_mappings(mappings: object) -> None:
    """Mappings are validated on write (spec §6.4), against the schema of docs/mappings.md."""
    if isinstance(mappings, dict):
        try:
            mapping.parse_mappings(mappings)
        except mapping.InvalidMappings as exc:
            raise errors.ValidationFailed(
                "Mappings are invalid.", [{"field": exc.field, "message": str(exc)}]
            ) from None


async def create_source(request: Request) -> Response:
    def prepare(principal: Principal, body: bytes) -> Callable[[WriteTx], schemas.SourceOut]:
        fields = inputs.decode(body, sources.CreateSource)
        _check_name(fields.name)
        _check_mappings(fields.mappings)
        source = sources.new_source(fields, new_id(), principal.org_id, now_micros())

        def inside(tx: WriteTx) -> schemas.SourceOut:
            tx.insert_source(source)
            return wire.source(source)

        return inside

    return await write_endpoint(request, Scope.INGEST, 201, prepare, body_limit=MAX_SOURCE_BODY)


async def list_sources(request: Request) -> Response:
    store = inputs.store_of(request)
    principal = await authenticate(request, store, Scope.READ)
    limit, offset = inputs.page(request)
    page = await run_in_threadpool(store.list_sources, principal.org_id, limit, offset)
    return envelope.success(
        [wire.source(s) for s in page],
        inputs.request_id(request),
        pagination=inputs.pagination(page.total, limit, offset),
    )


async def get_source(request: Request) -> Response:
    store = inputs.store_of(request)
    principal = await authenticate(request, store, Scope.READ)
    source_id = inputs.path_id(request, "source_id", "Source")

    def load() -> schemas.SourceOut:
        source = store.get_source(principal.org_id, source_id)
        if source is None:
            raise errors.NotFound("Source not found.")
        return wire.source(source, store.source_counts(principal.org_id, source_id))

    return envelope.success(await run_in_threadpool(load), inputs.request_id(request))


async def patch_source(request: Request) -> Response:
    source_id = inputs.path_id(request, "source_id", "Source")

    def prepare(principal: Principal, body: bytes) -> Callable[[WriteTx], schemas.SourceOut]:
        patch = inputs.decode(body, sources.PatchSource, {"status": "active, paused, archived"})
        _check_name(patch.name)
        _check_mappings(patch.mappings)

        def inside(tx: WriteTx) -> schemas.SourceOut:
            source = tx.get_source(principal.org_id, source_id)
            if source is None:
                raise errors.NotFound("Source not found.")
            updated = sources.patched(source, patch, now_micros())
            if updated is not source:
                tx.update_source(updated)
            return wire.source(updated)

        return inside

    return await write_endpoint(request, Scope.INGEST, 200, prepare, body_limit=MAX_SOURCE_BODY)


async def renormalize(request: Request) -> Response:
    """Queue a rebuild of the source's events (spec §6.5); progress reads like a batch."""
    source_id = inputs.path_id(request, "source_id", "Source")

    def prepare(principal: Principal, body: bytes) -> Callable[[WriteTx], schemas.BatchOut]:
        def inside(tx: WriteTx) -> schemas.BatchOut:
            return wire.batch(jobs.queue_renormalize(tx, principal.org_id, source_id), [])

        return inside

    response = await write_endpoint(
        request,
        Scope.INGEST,
        202,
        prepare,
        body_limit=MAX_SOURCE_BODY,
        json_body=False,
        optional_json_body=True,  # no body needed; one sent must be JSON like every POST's
    )
    if request.app.state.worker is not None:
        request.app.state.worker.wake()
    return response


routes = [
    Route("/v1/sources/{source_id}/renormalize", renormalize, methods=["POST"]),
    Route("/v1/sources", create_source, methods=["POST"]),
    Route("/v1/sources", list_sources, methods=["GET"]),
    Route("/v1/sources/{source_id}", get_source, methods=["GET"]),
    Route("/v1/sources/{source_id}", patch_source, methods=["PATCH"]),
]
