"""POST /v1/ingest and the batch endpoints (spec §4, §6.1)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from headwater import errors, ingest
from headwater.api import envelope, idempotency, inputs, schemas, wire
from headwater.api.auth import authenticate
from headwater.core.models import BatchStatus, Scope
from headwater.ids import new_id, now_micros


async def create_batch(request: Request) -> Response:
    store = inputs.store_of(request)
    principal = await authenticate(request, store, Scope.INGEST)
    inputs.require_json(request)
    body = await inputs.read_body(request, request.app.state.settings.max_body_bytes)
    claim = await idempotency.begin(request, store, principal, body)
    if isinstance(claim, Response):
        return claim
    request_id = inputs.request_id(request)

    def work() -> bytes:
        validated = ingest.validate(body)
        with store.write() as tx:
            result = ingest.apply(tx, principal.org_id, validated, new_id(), now_micros(), new_id)
            request.state.outcomes = ingest.outcome_counts(result.batch)
            request.state.rejected = result.batch.rejected
            response = envelope.success_body(
                wire.ingest_ack(result.batch, result.results), request_id
            )
            idempotency.remember(tx, claim, 202, response)
        return response

    response_body = await idempotency.run(store, claim, request_id, work)
    if request.app.state.worker is not None:
        request.app.state.worker.wake()
    return Response(response_body, status_code=202, media_type=envelope.JSON)


async def get_batch(request: Request) -> Response:
    store = inputs.store_of(request)
    principal = await authenticate(request, store, Scope.READ)
    batch_id = inputs.path_id(request, "batch_id", "Batch")

    def load() -> schemas.BatchOut:
        batch = store.get_batch(principal.org_id, batch_id)
        results = store.batch_results(principal.org_id, batch_id)
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
        items = [wire.batch(b, store.batch_results(principal.org_id, b.id) or []) for b in page]
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
