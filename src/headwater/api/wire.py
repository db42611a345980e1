"""Domain values as wire types (`schemas.py`): camelCase JSON, RFC 3339 times."""

from __future__ import annotations

from typing import Any

import msgspec

from headwater.api import schemas as s
from headwater.core.knowledge import Library, ProcessRow, process_name
from headwater.core.models import (
    ActorView,
    ApiKey,
    Batch,
    BatchKind,
    BatchStatus,
    HeadRow,
    Outcome,
    RecordResult,
    RecordVersion,
    Source,
    SourceCounts,
    StoredEvent,
)
from headwater.core.process import Process
from headwater.core.timestamps import format_micros

_changes = msgspec.json.Decoder(list[s.Change]).decode
_process_detail = msgspec.json.Decoder(Process).decode


def _time(micros: int | None) -> str | None:
    return format_micros(micros) if micros is not None else None


def source(x: Source, counts: SourceCounts | None = None) -> s.SourceOut:
    out = s.SourceOut(
        id=x.id,
        type=x.type,
        name=x.name,
        status=x.status.value,
        entity_types=list(x.entity_types),
        description=x.description,
        mappings=x.mappings,
        created_at=format_micros(x.created_at),
        updated_at=format_micros(x.updated_at),
    )
    if counts is not None:
        out.counts = s.SourceCountsOut(
            records=counts.records,
            versions=counts.versions,
            events=counts.events,
            batches=counts.batches,
        )
        out.last_ingested_at = _time(counts.last_ingested_at)
    return out


def api_key(key: ApiKey, token: str | None = None) -> s.KeyOut:
    out = s.KeyOut(
        id=key.id,
        label=key.label,
        prefix=key.prefix,
        scopes=sorted(key.scopes),  # type: ignore[arg-type]
        created_at=format_micros(key.created_at),
        last_used_at=_time(key.last_used_at),
        revoked_at=_time(key.revoked_at),
    )
    if token is not None:
        out.token = token
    return out


def rejection(r: RecordResult) -> s.Rejected:
    return s.Rejected(
        index=r.index,
        record_id=r.record_id,
        code=r.code or "",
        message=r.message or "",
        entity_type=r.entity_type,
    )


def ingest_ack(batch: Batch, results: list[RecordResult]) -> s.BatchAck:
    """The 202 body of POST /v1/ingest."""
    return s.BatchAck(
        batch_id=batch.id,
        source_id=batch.source_id,
        status=batch.status.value,
        accepted=batch.accepted,
        deduplicated=batch.deduplicated,
        rejected=[rejection(r) for r in results if r.code is not None],
        created_at=format_micros(batch.created_at),
    )


def batch(b: Batch, results: list[RecordResult]) -> s.BatchOut:
    """GET /v1/ingest/{batchId}: the ack's fields plus progress and outcomes."""
    return s.BatchOut(
        batch_id=b.id,
        source_id=b.source_id,
        status=b.status.value,
        accepted=b.accepted,
        deduplicated=b.deduplicated,
        rejected=[rejection(r) for r in results if r.code is not None],
        created_at=format_micros(b.created_at),
        records_created=b.records_created,
        events_created=b.events_created,
        started_at=_time(b.started_at),
        completed_at=_time(b.completed_at),
        attempts=b.attempts,
        kind=b.kind.value,
        progress=s.Progress(done=b.progress_done, total=b.progress_total)
        if b.kind is BatchKind.RENORMALIZE
        else None,
        outcomes=s.Outcomes(
            created=b.counts[Outcome.CREATED],
            superseded=b.counts[Outcome.SUPERSEDED],
            unchanged=b.counts[Outcome.UNCHANGED],
            stale=b.counts[Outcome.STALE],
        ),
        # also while a failed batch waits for its retry: the last error, for operators
        error=s.ErrorInfo(code=b.error_code, message=b.error_message)
        if b.status is BatchStatus.ERROR or b.error_code is not None
        else None,
    )


def record_result(r: RecordResult) -> s.RecordOutcome:
    return s.RecordOutcome(
        index=r.index,
        record_id=r.record_id,
        entity_type=r.entity_type,
        outcome=r.outcome.value if r.outcome is not None else "rejected",
        version_id=r.version_id,
        code=r.code,
        message=r.message,
    )


def actor(a: ActorView | None) -> s.ActorOut | None:
    if a is None:
        return None
    return s.ActorOut(id=a.id, email=a.email, name=a.name, placeholder=a.placeholder)


def actor_with_aliases(a: ActorView, aliases: list[tuple[str, str]]) -> s.ActorWithAliases:
    return s.ActorWithAliases(
        id=a.id,
        email=a.email,
        name=a.name,
        placeholder=a.placeholder,
        aliases=[s.Alias(kind=kind, value=value) for kind, value in aliases],  # type: ignore[arg-type]
    )


def _event_fields(e: StoredEvent) -> dict[str, Any]:
    row = e.row
    return {
        "id": row.id,
        "action": row.action,
        "actor": actor(e.actor),
        "entity": s.EntityRef(type=row.key.entity_type, id=row.key.record_id, name=row.entity_name),
        "timestamp": format_micros(row.timestamp),
        "changes": _changes(row.changes),
        "source_id": row.source_id,
        "batch_id": row.batch_id,
        "record_version_id": row.record_version_id,
        "deleted": row.deleted,
        "created_at": format_micros(row.created_at),
    }


def event(e: StoredEvent) -> s.EventOut:
    return s.EventOut(**_event_fields(e))


def event_with_provenance(e: StoredEvent, versions: list[RecordVersion]) -> s.EventWithProvenance:
    return s.EventWithProvenance(**_event_fields(e), provenance=[provenance(v) for v in versions])


def timeline_item(e: StoredEvent, before: Any, after: Any) -> s.TimelineItem:
    return s.TimelineItem(**_event_fields(e), state_before=before, state_after=after)


def provenance(v: RecordVersion) -> s.Provenance:
    return s.Provenance(
        id=v.id,
        source_id=v.source_id,
        entity_type=v.key.entity_type,
        record_id=v.key.record_id,
        connector_type="custom_api",
        ingested_at=format_micros(v.ingested_at),
        batch_id=v.batch_id,
    )


def version(v: RecordVersion) -> s.VersionOut:
    return s.VersionOut(
        id=v.id,
        outcome=v.outcome.value,  # type: ignore[arg-type]
        content_hash=v.content_hash.hex(),
        source_updated_at=format_micros(v.source_updated_at),
        deleted=v.deleted,
        previous_version_id=v.previous_version_id,
        batch_id=v.batch_id,
        ingested_at=format_micros(v.ingested_at),
    )


def head(h: HeadRow) -> s.HeadOut:
    return s.HeadOut(
        entity_type=h.key.entity_type,
        record_id=h.key.record_id,
        version_id=h.version_id,
        content_hash=h.content_hash.hex(),
        source_updated_at=format_micros(h.source_updated_at),
        deleted=h.deleted,
    )


def library(x: Library) -> s.LibraryOut:
    p = x.parameters
    return s.LibraryOut(
        id=x.id,
        status=x.status.value,
        active=x.active,
        processes=x.processes,
        rules=x.rules,
        events_read=x.events_read,
        started_at=_time(x.started_at),
        completed_at=_time(x.completed_at),
        parameters=s.LibraryParameters(
            min_support=p.minSupport, min_confidence=p.minConfidence, top_variants=p.topVariants
        ),
        created_at=format_micros(x.created_at),
        origin=x.origin,  # type: ignore[arg-type]
        attempts=x.attempts,
        error=s.ErrorInfo(code=x.error_code, message=x.error_message)
        if x.status is BatchStatus.ERROR or x.error_code is not None
        else None,
    )


def _process_fields(p: ProcessRow) -> dict[str, Any]:
    return {
        "id": p.process_id,
        "name": process_name(p.entity_type),
        "entity_type": p.entity_type,
        "step_field": p.step_field,
        "cases": p.cases,
        "events": p.events,
        "library_id": p.library_id,
        "updated_at": format_micros(p.updated_at),
        "source_id": p.scope or None,
    }


def process_summary(p: ProcessRow) -> s.ProcessSummary:
    return s.ProcessSummary(**_process_fields(p))


def process(p: ProcessRow) -> s.ProcessOut:
    detail = _process_detail(p.detail)
    return s.ProcessOut(
        **_process_fields(p),
        steps=[s.StepOut(name=x.name, cases=x.cases, median_seconds_in_step=x.median_seconds_in_step) for x in detail.steps],
        starts=[s.StepCountOut(step=x.step, cases=x.cases) for x in detail.starts],
        ends=[s.StepCountOut(step=x.step, cases=x.cases) for x in detail.ends],
        transitions=[
            s.TransitionOut(
                source=t.from_step, target=t.to_step, cases=t.cases, count=t.count,
                median_seconds=t.median_seconds, p90_seconds=t.p90_seconds,
            )
            for t in detail.transitions
        ],
        variants=[s.VariantOut(steps=list(v.steps), cases=v.cases) for v in detail.variants],
    )  # fmt: skip
