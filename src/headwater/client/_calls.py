"""Every endpoint of the v1 API (spec; `headwater.api.openapi.ENDPOINTS`) as a `Call`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec

from headwater.client._core import (
    Call,
    FeedPage,
    bytes_decoder,
    data_decoder,
    encode_record,
    feed_decoder,
    json_body,
    page_decoder,
    segment,
)
from headwater.client.models import (
    Actor,
    ApiKey,
    Batch,
    BatchAck,
    Event,
    Head,
    Health,
    Page,
    RecordHistory,
    RecordOutcome,
    Source,
)

UNSET: Any = msgspec.UNSET
Time = str | datetime


def _page(limit: int, offset: int, **more: Any) -> dict[str, Any]:
    return {**more, "limit": limit, "offset": offset}


# sources
def create_source(
    name: str,
    entity_types: list[str] | None,
    description: str | None,
    mappings: dict[str, Any] | None,
    idempotency_key: str | None,
) -> Call[Source]:
    body = json_body(
        {
            "name": name,
            "entityTypes": UNSET if entity_types is None else entity_types,
            "description": UNSET if description is None else description,
            "mappings": UNSET if mappings is None else mappings,
        }
    )
    return Call("POST", "/v1/sources", data_decoder(Source), body=body,
                idempotency_key=idempotency_key)  # fmt: skip


def list_sources(limit: int, offset: int) -> Call[Page[Source]]:
    return Call("GET", "/v1/sources", page_decoder(Source), params=_page(limit, offset))


def get_source(source_id: str) -> Call[Source]:
    return Call("GET", f"/v1/sources/{segment(source_id)}", data_decoder(Source))


def update_source(
    source_id: str, fields: dict[str, Any], idempotency_key: str | None
) -> Call[Source]:
    return Call("PATCH", f"/v1/sources/{segment(source_id)}", data_decoder(Source),
                body=json_body(fields), idempotency_key=idempotency_key)  # fmt: skip


def renormalize(source_id: str, idempotency_key: str | None) -> Call[Batch]:
    return Call("POST", f"/v1/sources/{segment(source_id)}/renormalize", data_decoder(Batch),
                idempotency_key=idempotency_key)  # fmt: skip


# ingest and batches
def ingest(source_id: str, records: Iterable[Any], idempotency_key: str | None) -> Call[BatchAck]:
    body = (
        b'{"sourceId":'
        + msgspec.json.encode(source_id)
        + b',"records":['
        + b",".join(encode_record(r) for r in records)
        + b"]}"
    )
    return ingest_body(body, idempotency_key)


def ingest_body(body: bytes, idempotency_key: str | None) -> Call[BatchAck]:
    return Call("POST", "/v1/ingest", data_decoder(BatchAck), body=body,
                idempotency_key=idempotency_key)  # fmt: skip


def get_batch(batch_id: str) -> Call[Batch]:
    return Call("GET", f"/v1/ingest/{segment(batch_id)}", data_decoder(Batch))


def list_batches(
    source_id: str | None, status: str | None, limit: int, offset: int
) -> Call[Page[Batch]]:
    params = _page(limit, offset, sourceId=source_id, status=status)
    return Call("GET", "/v1/ingest", page_decoder(Batch), params=params)


def batch_records(batch_id: str, limit: int, offset: int) -> Call[Page[RecordOutcome]]:
    return Call("GET", f"/v1/ingest/{segment(batch_id)}/records", page_decoder(RecordOutcome),
                params=_page(limit, offset))  # fmt: skip


# events
def event_filters(
    source_id: str | None = None,
    entity_type: str | None = None,
    entity_id: str | None = None,
    action: str | None = None,
    actor_id: str | None = None,
    time_from: Time | None = None,
    time_to: Time | None = None,
    include_deleted: bool | None = None,
) -> dict[str, Any]:
    return {
        "sourceId": source_id,
        "entityType": entity_type,
        "entityId": entity_id,
        "action": action,
        "actorId": actor_id,
        "from": time_from,
        "to": time_to,
        "includeDeleted": include_deleted,
    }


def list_events(filters: dict[str, Any], limit: int, offset: int) -> Call[Page[Event]]:
    return Call("GET", "/v1/events", page_decoder(Event), params=_page(limit, offset, **filters))


def event_feed(filters: dict[str, Any], after: str, limit: int) -> Call[FeedPage[Event]]:
    params = {**filters, "after": after, "limit": limit}
    return Call("GET", "/v1/events", feed_decoder(Event), params=params)


def get_event(event_id: str) -> Call[Event]:
    return Call("GET", f"/v1/events/{segment(event_id)}", data_decoder(Event))


# records
def list_heads(
    source_id: str, entity_type: str | None, limit: int, offset: int
) -> Call[Page[Head]]:
    return Call("GET", f"/v1/sources/{segment(source_id)}/records", page_decoder(Head),
                params=_page(limit, offset, entityType=entity_type))  # fmt: skip


def get_record(
    source_id: str, entity_type: str, record_id: str, limit: int = 20, offset: int = 0
) -> Call[RecordHistory]:
    path = f"/v1/sources/{segment(source_id)}/records/{segment(entity_type)}/{segment(record_id)}"
    return Call("GET", path, data_decoder(RecordHistory), params=_page(limit, offset))


def version_payload(version_id: str) -> Call[bytes]:
    return Call("GET", f"/v1/records/versions/{segment(version_id)}/payload", bytes_decoder)


def timeline(
    source_id: str, entity_type: str, record_id: str, limit: int = 20, offset: int = 0
) -> Call[list[Event]]:
    path = f"/v1/entities/{segment(source_id)}/{segment(entity_type)}/{segment(record_id)}/timeline"
    return Call("GET", path, data_decoder(list[Event]), params=_page(limit, offset))


# actors
def list_actors(limit: int, offset: int) -> Call[Page[Actor]]:
    return Call("GET", "/v1/actors", page_decoder(Actor), params=_page(limit, offset))


def get_actor(actor_id: str) -> Call[Actor]:
    return Call("GET", f"/v1/actors/{segment(actor_id)}", data_decoder(Actor))


# keys
def create_key(label: str, scopes: list[str], idempotency_key: str | None) -> Call[ApiKey]:
    return Call("POST", "/v1/keys", data_decoder(ApiKey),
                body=json_body({"label": label, "scopes": scopes}),
                idempotency_key=idempotency_key)  # fmt: skip


def list_keys(limit: int, offset: int) -> Call[Page[ApiKey]]:
    return Call("GET", "/v1/keys", page_decoder(ApiKey), params=_page(limit, offset))


def revoke_key(key_id: str, idempotency_key: str | None) -> Call[ApiKey]:
    return Call("DELETE", f"/v1/keys/{segment(key_id)}", data_decoder(ApiKey),
                idempotency_key=idempotency_key)  # fmt: skip


# operations
def health(path: str) -> Call[Health]:
    return Call("GET", path, data_decoder(Health))


def source_patch(
    name: str | None,
    description: str | None,
    entity_types: list[str] | None,
    mappings: dict[str, Any] | None,
    status: str | None,
) -> dict[str, Any]:
    fields = {
        "name": name,
        "description": description,
        "entityTypes": entity_types,
        "mappings": mappings,
        "status": status,
    }
    return {k: v for k, v in fields.items() if v is not None}
