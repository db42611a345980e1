"""Domain values as the camelCase JSON of the wire (spec §3, §4.4, §6.1)."""

from __future__ import annotations

from typing import Any

import msgspec

from headwater.core.models import (
    ActorView,
    ApiKey,
    Batch,
    BatchStatus,
    HeadRow,
    RecordResult,
    RecordVersion,
    Source,
    SourceCounts,
    StoredEvent,
)
from headwater.core.timestamps import format_micros

_decode = msgspec.json.Decoder().decode


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
            "kind": b.kind,
            "progress": {"done": b.progress_done, "total": b.progress_total}
            if b.kind == "renormalize"
            else None,
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


def actor(a: ActorView | None) -> dict[str, Any] | None:
    if a is None:
        return None
    return {"id": a.id, "email": a.email, "name": a.name, "placeholder": a.placeholder}


def actor_with_aliases(a: ActorView, aliases: list[tuple[str, str]]) -> dict[str, Any]:
    data = actor(a)
    assert data is not None
    data["aliases"] = [{"kind": kind, "value": value} for kind, value in aliases]
    return data


def event(e: StoredEvent) -> dict[str, Any]:
    row = e.row
    return {
        "id": row.id,
        "action": row.action,
        "actor": actor(e.actor),
        "entity": {"type": row.key.entity_type, "id": row.key.record_id, "name": row.entity_name},
        "timestamp": format_micros(row.timestamp),
        "changes": _decode(row.changes),
        "sourceId": row.source_id,
        "batchId": row.batch_id,
        "recordVersionId": row.record_version_id,
        "deleted": row.deleted,
        "createdAt": format_micros(row.created_at),
    }


def provenance(v: RecordVersion) -> dict[str, Any]:
    return {
        "id": v.id,
        "sourceId": v.source_id,
        "entityType": v.key.entity_type,
        "recordId": v.key.record_id,
        "connectorType": "custom_api",
        "ingestedAt": format_micros(v.ingested_at),
        "batchId": v.batch_id,
    }


def version(v: RecordVersion) -> dict[str, Any]:
    return {
        "id": v.id,
        "outcome": v.outcome.value,
        "contentHash": v.content_hash.hex(),
        "sourceUpdatedAt": format_micros(v.source_updated_at),
        "deleted": v.deleted,
        "previousVersionId": v.previous_version_id,
        "batchId": v.batch_id,
        "ingestedAt": format_micros(v.ingested_at),
    }


def head(h: HeadRow) -> dict[str, Any]:
    return {
        "entityType": h.key.entity_type,
        "recordId": h.key.record_id,
        "versionId": h.version_id,
        "contentHash": h.content_hash.hex(),
        "sourceUpdatedAt": format_micros(h.source_updated_at),
        "deleted": h.deleted,
    }
