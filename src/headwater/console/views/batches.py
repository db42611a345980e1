"""Batches: filtered by source and status, newest first; one batch with its receipt."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from headwater import errors
from headwater.api import inputs
from headwater.console import render
from headwater.console.app import view
from headwater.console.session import Viewer
from headwater.console.views.common import PAGE, path_id, query_offset, query_uuid
from headwater.core.models import BatchStatus

#: receipt lines shown per page of a batch (a receipt holds up to 500)
LINES = 100


@view()
async def list_batches(request: Request, viewer: Viewer) -> Response:
    store = inputs.store_of(request)
    source_id = query_uuid(request, "sourceId")
    raw_status = request.query_params.get("status") or None
    if raw_status is not None and raw_status not in {s.value for s in BatchStatus}:
        raise errors.ValidationFailed("Unknown status.")
    status = BatchStatus(raw_status) if raw_status else None
    before = query_uuid(request, "before")

    def load() -> dict[str, Any]:
        found = store.batches_before(viewer.org_id, source_id, status, before, PAGE + 1)
        source_page = store.list_sources(viewer.org_id, 100, 0)
        return {
            "batches": found[:PAGE],
            "next": found[PAGE - 1].id if len(found) > PAGE else None,
            "sources": {s.id: s for s in source_page.items},
        }

    loaded = await run_in_threadpool(load)
    return render.page(
        request, "batches.html", source_id=source_id, status=raw_status,
        statuses=[s.value for s in BatchStatus], **loaded,
    )  # fmt: skip


@view()
async def show_batch(request: Request, viewer: Viewer) -> Response:
    store = inputs.store_of(request)
    batch_id = path_id(request, "batch_id")
    offset = query_offset(request)

    def load() -> dict[str, Any]:
        batch = store.get_batch(viewer.org_id, batch_id)
        results = store.batch_results(viewer.org_id, batch_id)
        if batch is None or results is None:
            raise errors.NotFound()
        return {
            "batch": batch,
            "source": store.get_source(viewer.org_id, batch.source_id),
            "lines": results[offset : offset + LINES],
            "line_total": len(results),
            "rejected": [r for r in results if r.code is not None],
        }

    loaded = await run_in_threadpool(load)
    batch = loaded["batch"]
    live = batch.status in (BatchStatus.QUEUED, BatchStatus.PROCESSING)
    return render.page(
        request, "batch.html", refresh=3 if live else None, offset=offset, page=LINES, **loaded
    )


routes = [
    Route("/batches", list_batches, methods=["GET"]),
    Route("/batches/{batch_id}", show_batch, methods=["GET"]),
]
