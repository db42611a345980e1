"""Records (spec §7): heads, a record's version chain, verbatim payloads, entity timelines.

`recordId` may contain any character, `/` included: clients URL-encode it, and the
route takes the rest of the path.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from headwater import errors
from headwater.api import envelope, inputs, schemas, wire
from headwater.api.auth import authenticate
from headwater.core.models import RecordKey, Scope

_decode = msgspec.json.Decoder().decode


def _key(request: Request) -> RecordKey:
    return RecordKey(request.path_params["entity_type"], request.path_params["record_id"])


def _require_source(request: Request, org_id: str, source_id: str) -> None:
    if inputs.store_of(request).get_source(org_id, source_id) is None:
        raise errors.NotFound("Source not found.")


async def list_heads(request: Request) -> Response:
    store = inputs.store_of(request)
    principal = await authenticate(request, store, Scope.READ)
    source_id = inputs.path_id(request, "source_id", "Source")
    limit, offset = inputs.page(request)
    entity_type = request.query_params.get("entityType")

    def load() -> tuple[list[schemas.HeadOut], int]:
        _require_source(request, principal.org_id, source_id)
        page = store.list_heads(principal.org_id, source_id, entity_type, limit, offset)
        return [wire.head(h) for h in page], page.total

    items, total = await run_in_threadpool(load)
    return envelope.success(
        items, inputs.request_id(request), pagination=inputs.pagination(total, limit, offset)
    )


async def get_record(request: Request) -> Response:
    """The head and a page of the version chain (oldest first, each with outcome and hash):
    `limit`/`offset` page `versions`, and `meta.pagination` counts the whole chain."""
    store = inputs.store_of(request)
    principal = await authenticate(request, store, Scope.READ)
    source_id = inputs.path_id(request, "source_id", "Source")
    key = _key(request)
    limit, offset = inputs.page(request)

    def load() -> tuple[dict[str, Any], int]:
        head = store.get_head(principal.org_id, source_id, key)
        if head is None:
            raise errors.NotFound("Record not found.")
        chain = store.record_versions_page(principal.org_id, source_id, key, limit, offset)
        record = {
            "sourceId": source_id,
            "entityType": key.entity_type,
            "recordId": key.record_id,
            "head": wire.head(head),
            "versions": [wire.version(v) for v in chain],
        }
        return record, chain.total

    record, total = await run_in_threadpool(load)
    return envelope.success(
        record, inputs.request_id(request), pagination=inputs.pagination(total, limit, offset)
    )


async def get_payload(request: Request) -> Response:
    """The payload bytes exactly as they were sent: not re-encoded, not enveloped."""
    store = inputs.store_of(request)
    principal = await authenticate(request, store, Scope.READ)
    version_id = inputs.path_id(request, "version_id", "Record version")
    version = await run_in_threadpool(store.get_version, principal.org_id, version_id)
    if version is None:
        raise errors.NotFound("Record version not found.")
    return Response(
        version.payload,
        media_type=envelope.JSON,
        headers={"X-Content-Hash": version.content_hash.hex()},
    )


async def timeline(request: Request) -> Response:
    """A page of the entity's events in time order (`limit`/`offset`, `meta.pagination`),
    each with the record's state before and after."""
    store = inputs.store_of(request)
    principal = await authenticate(request, store, Scope.READ)
    source_id = inputs.path_id(request, "source_id", "Source")
    key = _key(request)
    limit, offset = inputs.page(request)

    def load() -> tuple[list[schemas.TimelineItem], int]:
        _require_source(request, principal.org_id, source_id)
        page = store.entity_events_page(principal.org_id, source_id, key, limit, offset)
        events = page.items
        if not page.total and store.get_head(principal.org_id, source_id, key) is None:
            raise errors.NotFound("Record not found.")
        ids = {e.row.record_version_id for e in events}
        versions = store.get_versions(principal.org_id, sorted(ids))
        previous_ids = {v.previous_version_id for v in versions.values() if v.previous_version_id}
        previous = store.get_versions(principal.org_id, sorted(previous_ids))
        items = []
        for e in events:
            version = versions.get(e.row.record_version_id)
            before_id = version.previous_version_id if version is not None else None
            before = previous.get(before_id) if before_id else None
            items.append(
                wire.timeline_item(
                    e,
                    _decode(before.payload) if before is not None else None,
                    _decode(version.payload) if version is not None else None,
                )
            )
        return items, page.total

    items, total = await run_in_threadpool(load)
    return envelope.success(
        items, inputs.request_id(request), pagination=inputs.pagination(total, limit, offset)
    )


routes = [
    Route("/v1/sources/{source_id}/records", list_heads, methods=["GET"]),
    Route(
        "/v1/sources/{source_id}/records/{entity_type}/{record_id:path}",
        get_record,
        methods=["GET"],
    ),
    Route("/v1/records/versions/{version_id}/payload", get_payload, methods=["GET"]),
    Route(
        "/v1/entities/{source_id}/{entity_type}/{record_id:path}/timeline",
        timeline,
        methods=["GET"],
    ),
]
