"""The events as an event log (spec §9.1): `GET /v1/export/ocel` and `GET /v1/export/xes`.

Both stream: a generator reads keyset pages of `PAGE` events and yields each page's
text, so the server holds one page (and, for an OCEL object, one entity's attributes)
whatever the log's size. Everything that can fail with an error envelope (key, filters,
source) is checked before the first byte; a storage failure later can only cut the
body short, which the client sees as a broken transfer (and an unparseable log).

`X-Export-Events` says how many events the log holds: every event ends with the body's
only newlines up to that count (OCEL: events come first, one per line; XES: one
`<event>` per line, nothing else ends a line), which is how the client shows progress.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from headwater import errors
from headwater.api import inputs
from headwater.api.auth import authenticate
from headwater.api.routes.events import _flag, _time
from headwater.core import eventlog
from headwater.core.mapping import Mapping, mappings_for
from headwater.core.models import EventFilter, RecordKey, Scope, StoredEvent
from headwater.store.base import Store

#: events per read: large enough that a query's overhead is small, small enough that a
#: page's rows and text stay a few MB
PAGE = 1_000
_DEFAULT = Mapping.default()


@dataclass(frozen=True, slots=True)
class Export:
    store: Store
    org_id: str
    filters: EventFilter
    max_seq: int
    count: int


def _filters(request: Request) -> EventFilter:
    filters = EventFilter(
        source_id=inputs.query_uuid(request, "sourceId"),
        entity_type=request.query_params.get("entityType"),
        time_from=_time(request, "from"),
        time_to=_time(request, "to"),
        include_deleted=_flag(request, "includeDeleted"),
    )
    if (
        filters.time_from is not None
        and filters.time_to is not None
        and filters.time_from > filters.time_to
    ):
        raise errors.ValidationFailed(
            "Query parameter to is before from.",
            [{"field": "to", "message": "must not be before from"}],
        )
    return filters


async def _prepare(request: Request) -> Export:
    store = inputs.store_of(request)
    principal = await authenticate(request, store, Scope.READ)
    filters = _filters(request)

    def load() -> Export:
        if (
            filters.source_id is not None
            and store.get_source(principal.org_id, filters.source_id) is None
        ):
            raise errors.NotFound("Source not found.")
        max_seq = store.feed_high_water(principal.org_id)
        count = store.export_count(principal.org_id, filters, max_seq)
        return Export(store, principal.org_id, filters, max_seq, count)

    return await run_in_threadpool(load)


def _headers(export: Export, filename: str) -> dict[str, str]:
    return {
        "X-Export-Events": str(export.count),
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    }


class _Mappings:
    """Each source's current mappings, read when the source's first entity comes up."""

    def __init__(self, export: Export) -> None:
        self.export = export
        self.cache: dict[str, dict[str, Mapping]] = {}

    def of(self, source_id: str, entity_type: str) -> Mapping:
        mappings = self.cache.get(source_id)
        if mappings is None:
            source = self.export.store.get_source(self.export.org_id, source_id)
            mappings = mappings_for(source.mappings if source is not None else None)
            self.cache[source_id] = mappings
        return mappings.get(entity_type, _DEFAULT)


def _created_payloads(export: Export, page: list[StoredEvent], mappings: _Mappings
                      ) -> dict[str, dict[str, Any]]:  # fmt: skip
    """The payloads of the page's creation events (their fields' first values), by version."""
    wanted = [
        e.row.record_version_id
        for e in page
        if e.row.action
        == mappings.of(e.row.source_id, e.row.key.entity_type).action(
            e.row.key.entity_type, "created"
        )
    ]
    if not wanted:
        return {}
    versions = export.store.get_versions(export.org_id, wanted)
    found: dict[str, dict[str, Any]] = {}
    for version_id, version in versions.items():
        payload = msgspec.json.decode(version.payload) if version.payload else None
        found[version_id] = payload if isinstance(payload, dict) else {}
    return found


def ocel_body(export: Export) -> Iterator[bytes]:
    store, org, filters, top = export.store, export.org_id, export.filters, export.max_seq
    declared = eventlog.Declared()
    yield b'{"events":['
    separator = b""
    after_time: tuple[int, int] | None = None
    while True:
        page = store.export_events_by_time(org, filters, top, after_time, PAGE)
        if not page:
            break
        parts = []
        for event in page:
            parts.append(separator + eventlog.ocel_event(event, declared) + b"\n")
            separator = b","
        yield b"".join(parts)
        last = page[-1].row
        after_time = (last.timestamp, last.seq)
    yield b'],"objects":['
    separator = b""
    mappings = _Mappings(export)
    current: eventlog.EntityObject | None = None
    after_entity: tuple[str, str, str, int, int] | None = None
    while True:
        page = store.export_events_by_entity(org, filters, top, after_entity, PAGE)
        if not page:
            break
        parts = []
        created = _created_payloads(export, page, mappings)
        for event in page:
            row = event.row
            if current is None or current.source_id != row.source_id or current.key != row.key:
                if current is not None:
                    parts.append(separator + current.encode(declared) + b"\n")
                    separator = b","
                mapping = mappings.of(row.source_id, row.key.entity_type)
                current = eventlog.EntityObject(row.source_id, row.key, mapping)
            first = row.action == current.created_action
            current.add(event, created.get(row.record_version_id) if first else None)
        yield b"".join(parts)
        last = page[-1].row
        after_entity = (last.source_id, last.key.entity_type, last.key.record_id,
                        last.timestamp, last.seq)  # fmt: skip
    if current is not None:
        yield separator + current.encode(declared) + b"\n"
        separator = b","
    after_actor: str | None = None
    while True:
        actors = store.export_actors(org, filters, top, after_actor, PAGE)
        if not actors:
            break
        parts = []
        for actor in actors:
            parts.append(separator + eventlog.ocel_actor(actor, declared) + b"\n")
            separator = b","
        yield b"".join(parts)
        after_actor = actors[-1].id
    yield b"]," + declared.type_lists() + b"}\n"


def xes_body(export: Export) -> Iterator[bytes]:
    store, org, filters, top = export.store, export.org_id, export.filters, export.max_seq
    yield eventlog.XES_HEAD.encode()
    current: tuple[str, RecordKey] | None = None
    after: tuple[str, str, str, int, int] | None = None
    while True:
        page = store.export_events_by_entity(org, filters, top, after, PAGE)
        if not page:
            break
        parts = []
        for event in page:
            row = event.row
            if current != (row.source_id, row.key):
                if current is not None:
                    parts.append(eventlog.XES_TRACE_CLOSE)
                current = (row.source_id, row.key)
                parts.append(eventlog.xes_trace_open(row.source_id, row.key))
            parts.append(eventlog.xes_event(event))
        yield "".join(parts).encode()
        last = page[-1].row
        after = (last.source_id, last.key.entity_type, last.key.record_id, last.timestamp,
                 last.seq)  # fmt: skip
    tail = eventlog.XES_TRACE_CLOSE if current is not None else ""
    yield (tail + eventlog.XES_TAIL).encode()


async def export_ocel(request: Request) -> Response:
    export = await _prepare(request)
    return StreamingResponse(
        ocel_body(export),
        media_type="application/json",
        headers=_headers(export, "headwater.ocel.json"),
    )


async def export_xes(request: Request) -> Response:
    export = await _prepare(request)
    return StreamingResponse(
        xes_body(export),
        media_type="application/xml",
        headers=_headers(export, "headwater.xes"),
    )


routes = [
    Route("/v1/export/ocel", export_ocel, methods=["GET"]),
    Route("/v1/export/xes", export_xes, methods=["GET"]),
]
