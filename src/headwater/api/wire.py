"""Domain values as the camelCase JSON of the wire (spec §3, §4.4, §6.1)."""

from __future__ import annotations

from typing import Any

from headwater.core.models import ApiKey, Batch, BatchStatus, RecordResult, Source, SourceCounts
from headwater.core.timestamps import format_micros


def _time(micros: int | None) -> str | None:
    return format_micros(micros) if micros is not None else None


def source(s: Source, counts: SourceCounts | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": s.id,
        "type": s.type,
        "name": s.name,
        "status": s.status.value,
        "entityTypes": list(s.entity_types),
        "description": s.description,
        "mappings": s.mappings,
        "createdAt": format_micros(s.created_at),
        "updatedAt": format_micros(s.updated_at),
    }
    if counts is not None:
        data["counts"] = {
            "records": counts.records,
            "versions": counts.versions,
            "events": counts.events,
            "batches": counts.batches,
        }
        data["lastIngestedAt"] = _time(counts.last_ingested_at)
    return data


def api_key(key: ApiKey, token: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": key.id,
        "label": key.label,
        "prefix": key.prefix,
        "scopes": sorted(key.scopes),
        "createdAt": format_micros(key.created_at),
        "lastUsedAt": _time(key.last_used_at),
        "revokedAt": _time(key.revoked_at),
    }
    if token is not None:
        data["token"] = token
    return data


def rejection(r: RecordResult) -> dict[str, Any]:
    return {"index": r.index, "recordId": r.record_id, "code": r.code, "message": r.message}


def ingest_ack(batch: Batch, results: list[RecordResult]) -> dict[str, Any]:
    """The 202 body of POST /v1/ingest."""
    return {
        "batchId": batch.id,
        "sourceId": batch.source_id,
        "status": batch.status.value,
        "accepted": batch.accepted,
        "deduplicated": batch.deduplicated,
        "rejected": [rejection(r) for r in results if r.code is not None],
        "createdAt": format_micros(batch.created_at),
    }


def batch(b: Batch, results: list[RecordResult]) -> dict[str, Any]:
    """GET /v1/ingest/{batchId}: the ack's fields plus progress and outcomes."""
    data = ingest_ack(b, results)
    data.update(
        {
            "recordsCreated": b.records_created,
            "eventsCreated": b.events_created,
            "startedAt": _time(b.started_at),
            "completedAt": _time(b.completed_at),
            "attempts": b.attempts,
            "outcomes": {o.value: n for o, n in b.counts.items()},
            "error": {"code": b.error_code, "message": b.error_message}
            if b.status is BatchStatus.ERROR
            else None,
        }
    )
    return data


def record_result(r: RecordResult) -> dict[str, Any]:
    return {
        "index": r.index,
        "recordId": r.record_id,
        "entityType": r.entity_type,
        "outcome": r.outcome.value if r.outcome is not None else "rejected",
        "versionId": r.version_id,
        "code": r.code,
        "message": r.message,
    }
