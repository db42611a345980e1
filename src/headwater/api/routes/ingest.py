"""POST /v1/ingest and the batch endpoints (spec §4, §6.1)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from headwater import errors, ingest
from headwater.api import envelope, inputs, schemas, wire
from headwater.api.auth import Principal, authenticate
from headwater.api.idempotency import write_endpoint
from headwater.core.models import BatchStatus, Scope
from headwater.ids import new_id, now_micros
from headwater.store.base import WriteTx


async def create_batch(request: Request) -> Response:
    def prepare(principal: Principal, body: bytes) -> Callable[[WriteTx], schemas.BatchAck]:
        # CPU work, before the write lock is taken. `ingest.validate(body, lookup)` can skip
        # canonicalizing payloads whose bytes are their head's (`store.known_payloads`), but
        # that read, made here, cost more than it saved in the service on both backends
        # (docs/PERFORMANCE.md, "Round two"): not used until it can ride on the
        # transaction's own read of the heads.
        validated = ingest.validate(body)

        def inside(tx: WriteTx) -> schemas.BatchAck:
            result = ingest.apply(tx, principal.org_id, validated, new_id(), now_micros(), new_id)
            request.state.outcomes = ingest.outcome_counts(result.batch)
            request.state.rejected = result.batch.rejected
            return wire.ingest_ack(result.batch, result.results)

        return inside

    settings = request.app.state.settings
    response = await write_endpoint(
        request, Scope.INGEST, 202, prepare, body_limit=settings.max_body_bytes
    )
    if request.app.state.worker is not None and response.status_code == 202:
        request.app.state.worker.wake()
    return response


async def get_batch(request: Request) -> Response:
    store = inputs.store_of(request)
    principal = await authenticate(request, store, Scope.READ)
    batch_id = inputs.path_id(request, "batch_id", "Batch")

    def load() -> schemas.BatchOut:
        batch = store.get_batch(principal.org_id, batch_id)
        results = store.batch_results(principal.org_id, batch_id, rejected_only=True)
        if batch is None or results is None:
            raise errors.NotFound("Batch not found.")
        return wire.batch(batch, results)

    return envelope.success(await run_in_threadpool(load), inputs.request_id(request))


async def list_batches(request: Request) -> Response:
    store = inputs.store_of(request)
    principal = await authenticate(request, store, Scope.READ)
    limit, offset = inputs.page(request)
    source_id = inputs.query_uuid(request, "sourceId")
    status = inputs.query_enum(request, "status", BatchStatus)

    def load() -> tuple[list[schemas.BatchOut], int]:
        page = store.list_batches(principal.org_id, source_id, status, limit, offset)
        items = [
            wire.batch(b, store.batch_results(principal.org_id, b.id, rejected_only=True) or [])
            for b in page
        ]
        return items, page.total

    items, total = await run_in_threadpool(load)
    return envelope.success(
        items, inputs.request_id(request), pagination=inputs.pagination(total, limit, offset)
    )


async def list_batch_records(request: Request) -> Response:
    store = inputs.store_of(request)
    principal = await authenticate(request, store, Scope.READ)
    batch_id = inputs.path_id(request, "batch_id", "Batch")
    limit, offset = inputs.page(request)
    results = await run_in_threadpool(store.batch_results, principal.org_id, batch_id)
    if results is None:
        raise errors.NotFound("Batch not found.")
    items = [wire.record_result(r) for r in results[offset : offset + limit]]
    return envelope.success(
        items, inputs.request_id(request), pagination=inputs.pagination(len(results), limit, offset)
    )


routes = [
    Route("/v1/ingest", create_batch, methods=["POST"]),
    Route("/v1/ingest", list_batches, methods=["GET"]),
    Route("/v1/ingest/{batch_id}", get_batch, methods=["GET"]),
    Route("/v1/ingest/{batch_id}/records", list_batch_records, methods=["GET"]),
]
