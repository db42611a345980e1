"""Sources: list, create, rename, pause / resume / archive, mappings, re-normalization."""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from headwater import errors, jobs
from headwater.api import inputs
from headwater.console import render
from headwater.console.app import view
from headwater.console.session import Viewer
from headwater.console.views.common import PAGE, path_id, query_offset, redirect
from headwater.core import mapping, sources
from headwater.core.models import Scope, SourceStatus
from headwater.ids import new_id, now_micros
from headwater.store.base import Store

#: entity types listed on a source's page, and the cap of each one's record count
ENTITY_TYPES_SHOWN, COUNT_CAP = 50, 10_000
NOTICES = {
    "created": "Source created.",
    "renamed": "Saved.",
    "status": "Status changed.",
    "mappings": "Mappings saved. Re-normalize to rebuild the events with them.",
    "renormalize": "Re-normalization queued.",
}


def _entity_types(text: str) -> list[str]:
    return [t.strip() for t in text.replace("\n", ",").split(",") if t.strip()]


def _decode(struct: type[Any], fields: dict[str, Any]) -> Any:
    """The API's own request types check the console's forms (same rules, same limits)."""
    return inputs.decode(json.dumps(fields).encode(), struct)


@view()
async def list_sources(request: Request, viewer: Viewer) -> Response:
    store = inputs.store_of(request)
    offset = query_offset(request)
    page = await run_in_threadpool(store.list_sources, viewer.org_id, PAGE, offset)
    return render.page(
        request, "sources.html", sources=page.items, total=page.total, offset=offset, page=PAGE,
        error=None, form={},
    )  # fmt: skip


@view(Scope.INGEST)
async def create_source(request: Request, viewer: Viewer) -> Response:
    form = request.state.form
    fields: dict[str, Any] = {
        "name": form.get("name", ""),
        "entityTypes": _entity_types(form.get("entityTypes", "")),
    }
    if form.get("description", "").strip():
        fields["description"] = form["description"]
    try:
        body = _decode(sources.CreateSource, fields)
        if sources.blank_name(body.name):
            raise errors.ValidationFailed("The name must not be blank.")
    except errors.ValidationFailed as exc:
        store = inputs.store_of(request)
        page = await run_in_threadpool(store.list_sources, viewer.org_id, PAGE, 0)
        return render.page(
            request, "sources.html", http_status=400, sources=page.items, total=page.total, offset=0,
            page=PAGE, error=_message(exc), form=form,
        )  # fmt: skip
    source = sources.new_source(body, new_id(), viewer.org_id, now_micros())

    def write() -> None:
        with inputs.store_of(request).write() as tx:
            tx.insert_source(source)

    await run_in_threadpool(write)
    return redirect(f"/sources/{source.id}?done=created")


def _message(exc: errors.HeadwaterError) -> str:
    details = exc.details or []
    parts = [f"{d['field']}: {d['message']}" for d in details if isinstance(d, dict)]
    return exc.message + (" " + "; ".join(parts) if parts else "")


def _load(store: Store, org_id: str, source_id: str) -> dict[str, Any]:
    source = store.get_source(org_id, source_id)
    if source is None:
        raise errors.NotFound()
    outcomes, batches, last = store.source_totals(org_id, source_id)
    latest_job = store.batches_before(org_id, source_id, None, None, 1)
    return {
        "source": source,
        "outcomes": outcomes,
        "records": outcomes["created"],
        "versions": outcomes["created"] + outcomes["superseded"] + outcomes["stale"],
        "batches": batches,
        "last_ingested": last,
        "events": store.source_event_count(org_id, source_id, COUNT_CAP),
        "entity_types": store.source_entity_types(source_id, ENTITY_TYPES_SHOWN, COUNT_CAP),
        "cap": COUNT_CAP,
        "latest": latest_job[0] if latest_job else None,
        "mappings_text": json.dumps(source.mappings, indent=2) if source.mappings else "",
    }


@view()
async def show_source(request: Request, viewer: Viewer) -> Response:
    source_id = path_id(request, "source_id")
    loaded = await run_in_threadpool(_load, inputs.store_of(request), viewer.org_id, source_id)
    notice = NOTICES.get(request.query_params.get("done", ""))
    return render.page(
        request, "source.html", notice=notice, error=None, error_field=None, **loaded
    )


@view(Scope.INGEST)
async def change_source(request: Request, viewer: Viewer) -> Response:
    """One form per action: rename, status, mappings, renormalize."""
    source_id = path_id(request, "source_id")
    form = request.state.form
    action = form.get("action", "")
    store = inputs.store_of(request)
    if action == "renormalize":

        def queue() -> None:
            with store.write() as tx:
                jobs.queue_renormalize(tx, viewer.org_id, source_id)

        await run_in_threadpool(queue)
        worker = request.app.state.worker
        if worker is not None:
            worker.wake()
        return redirect(f"/sources/{source_id}?done=renormalize")
    fields: dict[str, Any]
    if action == "rename":
        fields = {"name": form.get("name", ""), "description": form.get("description") or None}
        fields["entityTypes"] = _entity_types(form.get("entityTypes", ""))
    elif action == "status" and form.get("status") in {s.value for s in SourceStatus}:
        fields = {"status": form["status"]}
    elif action == "mappings":
        text = form.get("mappings", "").strip()
        try:
            fields = {"mappings": json.loads(text) if text else None}
            if fields["mappings"] is not None:
                if not isinstance(fields["mappings"], dict):
                    raise mapping.InvalidMappings("mappings", "must be a JSON object")
                mapping.parse_mappings(fields["mappings"])
        except ValueError as exc:
            field = getattr(exc, "field", "mappings")
            return await _with_error(request, viewer, source_id, str(exc), field, text)
    else:
        raise errors.ValidationFailed("Unknown action.")
    try:
        patch = _decode(sources.PatchSource, fields)
        if sources.blank_name(patch.name):
            raise errors.ValidationFailed("The name must not be blank.")
    except errors.ValidationFailed as exc:
        return await _with_error(request, viewer, source_id, _message(exc), None, None)

    def write() -> None:
        with store.write() as tx:
            source = tx.get_source(viewer.org_id, source_id)
            if source is None:
                raise errors.NotFound()
            updated = sources.patched(source, patch, now_micros())
            if updated is not source:
                tx.update_source(updated)

    await run_in_threadpool(write)
    return redirect(f"/sources/{source_id}?done={'renamed' if action == 'rename' else action}")


async def _with_error(
    request: Request,
    viewer: Viewer,
    source_id: str,
    message: str,
    field: str | None,
    mappings_text: str | None,
) -> Response:
    loaded = await run_in_threadpool(_load, inputs.store_of(request), viewer.org_id, source_id)
    if mappings_text is not None:
        loaded["mappings_text"] = mappings_text
    return render.page(
        request,
        "source.html",
        http_status=400,
        notice=None,
        error=message,
        error_field=field,
        **loaded,
    )


routes = [
    Route("/sources", list_sources, methods=["GET"]),
    Route("/sources", create_source, methods=["POST"]),
    Route("/sources/{source_id}", show_source, methods=["GET"]),
    Route("/sources/{source_id}", change_source, methods=["POST"]),
]
