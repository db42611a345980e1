"""Records: find one, its version chain as a timeline with diffs and the events each
version produced, and each version's verbatim payload (view and download)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from headwater import errors
from headwater.api import inputs
from headwater.console import diff, render
from headwater.console.app import view
from headwater.console.session import Viewer
from headwater.console.views.common import PAGE, path_id, query_text, query_uuid
from headwater.core.models import RecordKey, StoredEvent
from headwater.store.base import Store

#: versions shown on a record's page (the newest ones); the rest are summarized
CHAIN_SHOWN = 200


@view()
async def find_records(request: Request, viewer: Viewer) -> Response:
    """The finder; with a source, its records in key order (a keyset page)."""
    store = inputs.store_of(request)
    source_id = query_uuid(request, "sourceId")
    entity_type = query_text(request, "entityType", 100)
    record_id = request.query_params.get("recordId", "")
    if source_id and entity_type and record_id:
        return RedirectResponse(render.record_url(source_id, entity_type, record_id), 303)
    after_type = query_text(request, "afterType", 100)
    after_id = request.query_params.get("afterId")

    def load() -> dict[str, Any]:
        sources = store.list_sources(viewer.org_id, 100, 0).items
        heads = []
        if source_id is not None:
            if store.get_source(viewer.org_id, source_id) is None:
                raise errors.NotFound()
            after = RecordKey(after_type, after_id) if after_type and after_id is not None else None
            heads = store.heads_after(viewer.org_id, source_id, entity_type, after, PAGE + 1)
        return {"sources": sources, "heads": heads[:PAGE], "more": len(heads) > PAGE}

    loaded = await run_in_threadpool(load)
    return render.page(
        request, "records.html", source_id=source_id, entity_type=entity_type or "",
        record_id=record_id, **loaded,
    )  # fmt: skip


def _events_by_version(events: list[StoredEvent]) -> dict[str, list[StoredEvent]]:
    grouped: dict[str, list[StoredEvent]] = {}
    for event in events:
        grouped.setdefault(event.row.record_version_id, []).append(event)
    return grouped


def _record(store: Store, org_id: str, source_id: str, key: RecordKey) -> dict[str, Any]:
    source = store.get_source(org_id, source_id)
    head = store.get_head(org_id, source_id, key) if source else None
    if source is None or head is None:
        raise errors.NotFound()
    # The newest CHAIN_SHOWN versions, plus the one before them as the first one's diff
    # base: a page of the chain, never the whole history of a busy record.
    total = store.record_versions_page(org_id, source_id, key, 1, 0).total
    skipped = max(total - CHAIN_SHOWN - 1, 0)
    chain = store.record_versions_page(org_id, source_id, key, CHAIN_SHOWN + 1, skipped).items
    since = chain[0].source_updated_at if chain else None
    events = _events_by_version(store.record_events(org_id, source_id, key, since))
    entries = []
    previous: dict[str, Any] | None = None
    for version in chain:
        payload = diff.decode(version.payload)
        entries.append(
            {
                "version": version,
                "changes": diff.field_changes(previous, payload) if previous is not None else [],
                "first": previous is None,
                "events": events.get(version.id, []),
            }
        )
        previous = payload
    if skipped or len(entries) > CHAIN_SHOWN:
        entries = entries[-CHAIN_SHOWN:]  # the base version was read for its diff only
    entries.reverse()  # newest first
    return {
        "source": source,
        "key": key,
        "head": head,
        "entries": entries,
        "hidden": total - len(entries),
    }


@view()
async def show_record(request: Request, viewer: Viewer) -> Response:
    source_id = query_uuid(request, "sourceId")
    entity_type = request.query_params.get("entityType")
    record_id = request.query_params.get("recordId")
    if source_id is None or not entity_type or record_id is None:
        raise errors.NotFound()
    key = RecordKey(entity_type, record_id)
    loaded = await run_in_threadpool(
        _record, inputs.store_of(request), viewer.org_id, source_id, key
    )
    return render.page(request, "record.html", **loaded)


@view()
async def show_version(request: Request, viewer: Viewer) -> Response:
    store = inputs.store_of(request)
    version_id = path_id(request, "version_id")

    def load() -> dict[str, Any]:
        version = store.get_version(viewer.org_id, version_id)
        if version is None:
            raise errors.NotFound()
        previous = (
            store.get_version(viewer.org_id, version.previous_version_id)
            if version.previous_version_id
            else None
        )
        events = [
            e
            for e in store.record_events(
                viewer.org_id, version.source_id, version.key, version.source_updated_at
            )
            if e.row.record_version_id == version.id
        ]
        changes = (
            diff.field_changes(diff.decode(previous.payload), diff.decode(version.payload))
            if previous is not None
            else []
        )
        return {
            "version": version,
            "previous": previous,
            "changes": changes,
            "events": events,
            "source": store.get_source(viewer.org_id, version.source_id),
            "pretty": render.pretty_json(version.payload),
            "size": len(version.payload),
        }

    return render.page(request, "version.html", **await run_in_threadpool(load))


@view()
async def raw_payload(request: Request, viewer: Viewer) -> Response:
    """The verbatim bytes, as text (never as HTML: nosniff, and a text type), or as a
    download."""
    version_id = path_id(request, "version_id")
    version = await run_in_threadpool(
        inputs.store_of(request).get_version, viewer.org_id, version_id
    )
    if version is None:
        raise errors.NotFound()
    headers = {"X-Content-Type-Options": "nosniff"}
    if request.query_params.get("download"):
        headers["Content-Disposition"] = f'attachment; filename="{version.id}.json"'
        return Response(version.payload, media_type="application/json", headers=headers)
    return Response(version.payload, media_type="text/plain; charset=utf-8", headers=headers)


routes = [
    Route("/records", find_records, methods=["GET"]),
    Route("/record", show_record, methods=["GET"]),
    Route("/versions/{version_id}", show_version, methods=["GET"]),
    Route("/versions/{version_id}/payload", raw_payload, methods=["GET"]),
]
