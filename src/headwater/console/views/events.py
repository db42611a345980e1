"""Events: the feed newest first with filters; one event with its provenance chain."""

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
from headwater.console.views.common import PAGE, path_id, query_text, query_uuid
from headwater.core import timestamps
from headwater.core.models import EventFilter

#: feed positions one filtered page searches: a filter that matches little walks a bounded
#: part of the feed, and the page says how far it looked ("Older" goes on from there)
WINDOW = 5_000


def _time(request: Request, name: str) -> int | None:
    raw = query_text(request, name, 64)
    if raw is None:
        return None
    try:
        # a datetime-local input sends no zone; the console shows and reads UTC
        return timestamps.parse_rfc3339(raw if raw[-1] in "Zz" or "+" in raw[10:] else raw + "Z")
    except ValueError:
        raise errors.ValidationFailed(f"{name} must be a date and time (UTC).") from None


@view()
async def list_events(request: Request, viewer: Viewer) -> Response:
    store = inputs.store_of(request)
    filters = EventFilter(
        source_id=query_uuid(request, "sourceId"),
        entity_type=query_text(request, "entityType", 100),
        entity_id=query_text(request, "entityId"),
        action=query_text(request, "action", 200),
        actor_id=query_uuid(request, "actorId"),
        time_from=_time(request, "from"),
        time_to=_time(request, "to"),
        include_deleted=request.query_params.get("includeDeleted") == "on",
    )
    raw_before = request.query_params.get("before", "")
    before = int(raw_before) if raw_before.isascii() and raw_before.isdigit() else None

    filtered = filters != EventFilter()

    def load() -> dict[str, Any]:
        found, floor = store.events_before(
            viewer.org_id, filters, before, PAGE, WINDOW if filtered else None
        )
        return {
            "events": found,
            "next": floor if floor > 1 and (found or filtered) else None,
            "floor": floor if filtered and len(found) < PAGE else None,
            "sources": store.list_sources(viewer.org_id, 100, 0).items,
        }

    loaded = await run_in_threadpool(load)
    params = {k: v for k, v in request.query_params.items() if k != "before" and v}
    return render.page(request, "events.html", filters=filters, params=params, **loaded)


@view()
async def show_event(request: Request, viewer: Viewer) -> Response:
    store = inputs.store_of(request)
    event_id = path_id(request, "event_id")

    def load() -> dict[str, Any]:
        event = store.get_event(viewer.org_id, event_id)
        if event is None:
            raise errors.NotFound()
        return {
            "event": event,
            "version": store.get_version(viewer.org_id, event.row.record_version_id),
            "batch": store.get_batch(viewer.org_id, event.row.batch_id),
            "source": store.get_source(viewer.org_id, event.row.source_id),
        }

    return render.page(request, "event.html", **await run_in_threadpool(load))


routes = [
    Route("/events", list_events, methods=["GET"]),
    Route("/events/{event_id}", show_event, methods=["GET"]),
]
