"""The ingest shell: validate outside the transaction, decide and write inside it.

`validate` is CPU work (decode, canonical hash) done before taking the write lock;
`apply` runs inside one write transaction: check the source, lock and load the heads
of the request's records, let `core.outcome.plan_ingest` decide, write what it says.
When the transaction commits, every stored version, head and the batch are durable
together; nothing of a failed request is left behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from headwater import errors
from headwater.core import outcome, validation
from headwater.core.models import (
    Batch,
    BatchStatus,
    Outcome,
    RecordResult,
    Rejection,
    SourceStatus,
    ValidRecord,
)
from headwater.store.base import WriteTx


@dataclass(frozen=True, slots=True)
class ValidatedRequest:
    source_id: str
    records: list[ValidRecord]
    rejections: list[Rejection]


@dataclass(frozen=True, slots=True)
class IngestResult:
    batch: Batch
    results: list[RecordResult]


def validate(body: bytes, lookup: validation.KnownLookup | None = None) -> ValidatedRequest:
    """Whole-request checks (400 on failure), then each record on its own.

    `lookup(source_id, keys)` (e.g. `partial(store.known_payloads, org_id)`) lets payload
    bytes identical to their head's skip canonicalization (`validation.check_record`).
    """
    try:
        source_id, checked = validation.parse_request(body, lookup)
    except validation.RequestInvalid as exc:
        raise errors.ValidationFailed(
            str(exc), [{"field": d.field, "message": d.message} for d in exc.details]
        ) from None
    records = [r for r in checked if isinstance(r, ValidRecord)]
    rejections = [r for r in checked if isinstance(r, Rejection)]
    return ValidatedRequest(source_id, records, rejections)


def apply(
    tx: WriteTx,
    org_id: str,
    request: ValidatedRequest,
    batch_id: str,
    now: int,
    new_id: Callable[[], str],
) -> IngestResult:
    """Store one validated request as a batch; raises NotFound / SourceNotActive."""
    source = tx.get_source(org_id, request.source_id)
    if source is None:
        raise errors.NotFound("Source not found.")
    if source.status is not SourceStatus.ACTIVE:
        raise errors.SourceNotActive(f"Source is {source.status.value}; ingest is refused.")

    keys = {r.key for r in request.records}
    tx.lock_records(source.id, keys)
    heads = tx.load_heads(source.id, keys)
    stored = tx.find_versions(source.id, outcome.versions_to_check(request.records, heads))
    plan = outcome.plan_ingest(request.records, request.rejections, heads, stored, new_id)

    if plan.versions:  # a replay stores nothing: no statement, no round trip
        tx.insert_versions(org_id, source.id, batch_id, plan.versions, now)
    heads = {**plan.fingerprints, **plan.heads}
    if heads:
        tx.upsert_heads(org_id, source.id, heads)
    nothing_to_do = plan.accepted == 0
    batch = Batch(
        id=batch_id,
        org_id=org_id,
        source_id=source.id,
        status=BatchStatus.DONE if nothing_to_do else BatchStatus.QUEUED,
        counts=plan.counts,
        rejected=len(request.rejections),
        records_created=0 if nothing_to_do else None,
        events_created=0 if nothing_to_do else None,
        attempts=0,
        error_code=None,
        error_message=None,
        created_at=now,
        started_at=None,
        completed_at=now if nothing_to_do else None,
    )
    tx.insert_batch(batch, plan.results)
    return IngestResult(batch, plan.results)


def outcome_counts(batch: Batch) -> dict[str, int]:
    return {o.value: batch.counts[o] for o in Outcome}
