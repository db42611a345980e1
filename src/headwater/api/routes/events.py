"""Reading events back (spec §7): the filtered list, the cursor feed, one event with provenance."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from headwater import errors
from headwater.api import envelope, inputs, schemas, wire
from headwater.api.auth import authenticate
from headwater.core import timestamps
from headwater.core.models import EventFilter, Scope
from headwater.store.base import Store


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """`after=` with an empty value starts the feed from the beginning."""
    if cursor == "":
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = text.partition(":")
        if prefix == "v1" and number.isascii() and number.isdigit() and len(number) <= 18:
            return int(number)
    except (ValueError, UnicodeDecodeError):
        pass
    raise errors.ValidationFailed(
        "Query parameter after is invalid.",
        [{"field": "after", "message": "must be a cursor returned as meta.nextCursor"}],
    )


def _time(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return timestamps.parse_rfc3339(raw)
    except ValueError as exc:
        raise errors.ValidationFailed(
            f"Query parameter {name} is invalid.", [{"field": name, "message": str(exc)}]
        ) from None


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "false").lower()
    if raw not in {"true", "false", "1", "0"}:
        raise errors.ValidationFailed(
            f"Query parameter {name} is invalid.",
            [{"field": name, "message": "must be true or false"}],
        )
    return raw in {"true", "1"}


def _filters(request: Request) -> EventFilter:
    params = request.query_params
    return EventFilter(
        source_id=inputs.query_uuid(request, "sourceId"),
        entity_type=params.get("entityType"),
        entity_id=params.get("entityId"),
        action=params.get("action"),
        actor_id=inputs.query_uuid(request, "actorId"),
        time_from=_time(request, "from"),
        time_to=_time(request, "to"),
        include_deleted=_flag(request, "includeDeleted"),
    )


def _canonical_actor(store: Store, org_id: str, filters: EventFilter) -> EventFilter:
    """An actor id merged into another keeps working (spec §6.5): a merge re-points the
    events to the canonical actor, so the filter must name that one."""
    assert filters.actor_id is not None
    actor = store.get_actor(org_id, filters.actor_id)
    return filters if actor is None else dataclasses.replace(filters, actor_id=actor.id)


async def list_events(request: Request) -> Response:
    """Offset pagination by (timestamp, id); with `after=<cursor>` the feed in commit order."""
    store = inputs.store_of(request)
    principal = await authenticate(request, store, Scope.READ)
    filters = _filters(request)
    limit, offset = inputs.page(request)
    request_id = inputs.request_id(request)
    if filters.actor_id is not None:
        filters = await run_in_threadpool(_canonical_actor, store, principal.org_id, filters)
    after = request.query_params.get("after")
    if after is not None:
        seq = decode_cursor(after)
        found = await run_in_threadpool(store.events_after, principal.org_id, filters, seq, limit)
        next_seq = found[-1].row.seq if found else seq
        meta: dict[str, Any] = {
            "requestId": request_id,
            "nextCursor": encode_cursor(next_seq),
            "hasMore": len(found) == limit,
        }
        return envelope.success_with_meta([wire.event(e) for e in found], meta)
    page = await run_in_threadpool(store.list_events, principal.org_id, filters, limit, offset)
    return envelope.success(
        [wire.event(e) for e in page],
        request_id,
        pagination=inputs.pagination(page.total, limit, offset),
    )


async def get_event(request: Request) -> Response:
    store = inputs.store_of(request)
    principal = await authenticate(request, store, Scope.READ)
    event_id = inputs.path_id(request, "event_id", "Event")

    def load() -> schemas.EventWithProvenance:
        found = store.get_event(principal.org_id, event_id)
        if found is None:
            raise errors.NotFound("Event not found.")
        version = store.get_version(principal.org_id, found.row.record_version_id)
        return wire.event_with_provenance(found, [version] if version is not None else [])

    return envelope.success(await run_in_threadpool(load), inputs.request_id(request))


routes = [
    Route("/v1/events", list_events, methods=["GET"]),
    Route("/v1/events/{event_id}", get_event, methods=["GET"]),
]
