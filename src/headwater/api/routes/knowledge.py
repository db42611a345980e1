"""Discovery runs and libraries (spec §10.1) and the processes they hold (§9.2).

Processes are read from the organisation's active library (or the one `libraryId`
names), never computed from the event table on a read.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from headwater import errors
from headwater.api import envelope, inputs, schemas, wire
from headwater.api.auth import Principal, authenticate
from headwater.api.idempotency import write_endpoint
from headwater.core.knowledge import DiscoverParameters, LibraryOrigin, new_library
from headwater.core.models import Scope
from headwater.core.timestamps import format_micros
from headwater.ids import new_id, now_micros
from headwater.store.base import WriteTx

#: the discover body holds a few parameters
MAX_DISCOVER_BODY = 64 * 1024


def parameters_of(body: bytes) -> DiscoverParameters:
    """The POST body's parameters (an empty body means the defaults); 400 with details."""
    if not body.strip():
        return DiscoverParameters()
    return inputs.decode(body, DiscoverParameters)


async def discover(request: Request) -> Response:
    def prepare(principal: Principal, body: bytes) -> Callable[[WriteTx], schemas.DiscoverAck]:
        if body.strip():  # the body is optional; when sent, it is JSON
            inputs.require_json(request)
        parameters = parameters_of(body)

        def inside(tx: WriteTx) -> schemas.DiscoverAck:
            run = new_library(
                new_id(), principal.org_id, parameters, LibraryOrigin.REQUEST, now_micros()
            )
            tx.insert_library(run)
            return schemas.DiscoverAck(
                library_id=run.id, status="queued", created_at=format_micros(run.created_at)
            )

        return inside

    response = await write_endpoint(
        request, Scope.INGEST, 202, prepare, body_limit=MAX_DISCOVER_BODY, json_body=False
    )
    if request.app.state.worker is not None and response.status_code == 202:
        request.app.state.worker.wake()
    return response


async def list_libraries(request: Request) -> Response:
    store = inputs.store_of(request)
    principal = await authenticate(request, store, Scope.READ)
    limit, offset = inputs.page(request)
    page = await run_in_threadpool(store.list_libraries, principal.org_id, limit, offset)
    return envelope.success(
        [wire.library(x) for x in page],
        inputs.request_id(request),
        pagination=inputs.pagination(page.total, limit, offset),
    )


async def get_library(request: Request) -> Response:
    store = inputs.store_of(request)
    principal = await authenticate(request, store, Scope.READ)
    library_id = inputs.path_id(request, "library_id", "Library")
    found = await run_in_threadpool(store.get_library, principal.org_id, library_id)
    if found is None:
        raise errors.NotFound("Library not found.")
    return envelope.success(wire.library(found), inputs.request_id(request))


def library_of(request: Request, org_id: str) -> str | None:
    """`libraryId` (which must be this organisation's) or the active library (None before
    the first run). Processes and rules read the same way."""
    store = inputs.store_of(request)
    wanted = inputs.query_uuid(request, "libraryId")
    if wanted is None:
        return store.active_library_id(org_id)
    if store.get_library(org_id, wanted) is None:
        raise errors.NotFound("Library not found.")
    return wanted


async def list_processes(request: Request) -> Response:
    store = inputs.store_of(request)
    principal = await authenticate(request, store, Scope.READ)
    limit, offset = inputs.page(request)
    scope = inputs.query_uuid(request, "sourceId") or ""

    def load() -> tuple[list[schemas.ProcessSummary], int]:
        library_id = library_of(request, principal.org_id)
        if library_id is None:
            return [], 0
        page = store.list_processes(principal.org_id, library_id, scope, limit, offset)
        return [wire.process_summary(p) for p in page], page.total

    items, total = await run_in_threadpool(load)
    return envelope.success(
        items, inputs.request_id(request), pagination=inputs.pagination(total, limit, offset)
    )


async def get_process(request: Request) -> Response:
    store = inputs.store_of(request)
    principal = await authenticate(request, store, Scope.READ)
    process_id = request.path_params["process_id"]
    scope = inputs.query_uuid(request, "sourceId") or ""

    def load() -> schemas.ProcessOut:
        library_id = library_of(request, principal.org_id)
        found = (
            store.get_process(principal.org_id, library_id, scope, process_id)
            if library_id is not None
            else None
        )
        if found is None:
            raise errors.NotFound("Process not found.")
        return wire.process(found)

    return envelope.success(await run_in_threadpool(load), inputs.request_id(request))


routes = [
    Route("/v1/knowledge/discover", discover, methods=["POST"]),
    Route("/v1/knowledge/libraries", list_libraries, methods=["GET"]),
    Route("/v1/knowledge/libraries/{library_id}", get_library, methods=["GET"]),
    Route("/v1/processes", list_processes, methods=["GET"]),
    Route("/v1/processes/{process_id}", get_process, methods=["GET"]),
]
