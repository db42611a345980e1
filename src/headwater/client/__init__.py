"""The Python SDK for Headwater's v1 API: typed, retrying, with bulk loading.

    from headwater.client import HeadwaterClient

    with HeadwaterClient(api_key, base_url="http://127.0.0.1:8000") as client:
        source = client.sources.create("CRM")
        result = client.ingest_all(source.id, records, wait=True)
        for event in client.events.feed(source_id=source.id):
            print(event.action, event.entity.id)

Depends on httpx and msgspec only; it imports nothing of the server.
"""

from __future__ import annotations

from headwater.client._core import (
    DEFAULT_CONCURRENCY,
    MAX_RECORDS_PER_REQUEST,
    MAX_REQUEST_BYTES,
    RetryPolicy,
    chunk_records,
)
from headwater.client._export import ExportResult
from headwater.client.aio import AsyncEventFeed, AsyncHeadwaterClient
from headwater.client.errors import ConnectionFailed, HeadwaterError
from headwater.client.models import (
    Actor,
    ActorRef,
    Alias,
    ApiKey,
    Batch,
    BatchAck,
    BatchReport,
    Change,
    EntityRef,
    Event,
    Head,
    Health,
    IngestResult,
    Outcomes,
    Page,
    Provenance,
    Record,
    RecordHistory,
    RecordOutcome,
    RejectedItem,
    RejectedRecord,
    Source,
    SourceCounts,
    Version,
)
from headwater.client.sync import EventFeed, HeadwaterClient

__all__ = [
    "DEFAULT_CONCURRENCY",
    "MAX_RECORDS_PER_REQUEST",
    "MAX_REQUEST_BYTES",
    "Actor",
    "ActorRef",
    "Alias",
    "ApiKey",
    "AsyncEventFeed",
    "AsyncHeadwaterClient",
    "Batch",
    "BatchAck",
    "BatchReport",
    "Change",
    "ConnectionFailed",
    "EntityRef",
    "Event",
    "EventFeed",
    "ExportResult",
    "Head",
    "HeadwaterClient",
    "HeadwaterError",
    "Health",
    "IngestResult",
    "Outcomes",
    "Page",
    "Provenance",
    "Record",
    "RecordHistory",
    "RecordOutcome",
    "RejectedItem",
    "RejectedRecord",
    "RetryPolicy",
    "Source",
    "SourceCounts",
    "Version",
    "chunk_records",
]
