"""Queueing a source's re-normalization (spec §6.5), shared by the API and the console."""

from __future__ import annotations

from headwater import errors
from headwater.core.models import Batch, BatchKind, BatchStatus, Outcome
from headwater.ids import new_id, now_micros
from headwater.store.base import WriteTx


def queue_renormalize(tx: WriteTx, org_id: str, source_id: str) -> Batch:
    """A `renormalize` batch for the source (its progress reads like a batch's); the
    source's batches that ended in `error` are retried too. NotFound for another
    organisation's source."""
    now = now_micros()
    if tx.get_source(org_id, source_id) is None:
        raise errors.NotFound("Source not found.")
    tx.requeue_source_errors(source_id, now)
    job = Batch(
        id=new_id(),
        org_id=org_id,
        source_id=source_id,
        status=BatchStatus.QUEUED,
        counts=dict.fromkeys(Outcome, 0),
        rejected=0,
        records_created=None,
        events_created=None,
        attempts=0,
        error_code=None,
        error_message=None,
        created_at=now,
        started_at=None,
        completed_at=None,
        kind=BatchKind.RENORMALIZE,
    )
    tx.insert_batch(job, [])
    return job
