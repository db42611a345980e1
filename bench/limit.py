"""The "limit" pipeline: what storing these bodies costs with nothing but the unavoidable work.

Per body, in this process, single-threaded: decode the envelope (msgspec, each payload kept
as raw JSON text), canonicalize and hash every payload with the service's own
`canonicalize` + `content_hash`, convert `sourceUpdatedAt` to microseconds, and write the
versions and heads through the service's own write transaction (`insert_versions`,
`upsert_heads`) into the same schema on the same backend, one transaction per body of 500.
No HTTP, no validation, no batch row, no receipt, no idempotency, no rate limiting.

- first load: no dedup lookup at all; every record is stored as a new version.
- replays: the least dedup that keeps the unique index happy: one bulk heads lookup per
  body (SQLite: the store's `load_heads`; PostgreSQL: one per-key index probe query, see
  `_PG_HEADS`), then store only records whose content differs from their head and whose
  `sourceUpdatedAt` is newer (on this data set that is exactly the changed ones).

`preload` fills a database with the same fast path (plus one `done` batch row per body so
the batches table grows as it would), to measure the service with many records stored.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from headwater.core.canonical import canonicalize, content_hash
from headwater.core.models import (
    Batch,
    BatchStatus,
    Head,
    Outcome,
    PlannedVersion,
    RecordKey,
    RecordResult,
    ValidRecord,
)
from headwater.core.timestamps import to_micros
from headwater.ids import new_id, now_micros
from headwater.store.base import Store, WriteTx


class _Record(msgspec.Struct):
    recordId: str
    entityType: str
    sourceUpdatedAt: str
    payload: msgspec.Raw
    deleted: bool = False


class _Body(msgspec.Struct):
    sourceId: str
    records: list[_Record]


_decode_body = msgspec.json.Decoder(_Body).decode


@dataclass(frozen=True, slots=True)
class LimitResult:
    mode: str
    records: int
    stored: int
    bytes: int
    seconds: float
    cpu_seconds: float

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "records": self.records,
            "stored": self.stored,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 4),
            "cpuSeconds": round(self.cpu_seconds, 4),
            "recordsPerSecond": round(self.records_per_second, 1),
            "mbPerSecond": round(self.bytes / self.seconds / 1e6, 2) if self.seconds else 0.0,
        }


@contextmanager
def tuned_gc() -> Iterator[None]:
    """The GC settings `headwater serve` and `headwater worker` use (cli._tune_gc)."""
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def parse(body: bytes) -> list[ValidRecord]:
    """Envelope + payloads decoded, canonical hash of each payload; no checks."""
    records = []
    for index, record in enumerate(_decode_body(body).records):
        payload = bytes(record.payload)
        records.append(
            ValidRecord(
                index=index,
                key=RecordKey(record.entityType, record.recordId),
                source_updated_at=to_micros(datetime.fromisoformat(record.sourceUpdatedAt)),
                payload=payload,
                content_hash=content_hash(canonicalize(payload), record.deleted),
                deleted=record.deleted,
            )
        )
    return records


def _store_new(store: Store, org_id: str, source_id: str, records: list[ValidRecord]) -> int:
    versions = [PlannedVersion(new_id(), r, Outcome.CREATED, None) for r in records]
    heads = {
        v.record.key: Head(
            v.version_id, v.record.content_hash, v.record.source_updated_at, v.record.deleted
        )
        for v in versions
    }
    with store.write() as tx:
        tx.insert_versions(org_id, source_id, new_id(), versions, now_micros())
        tx.upsert_heads(org_id, source_id, heads)
    return len(versions)


#: PostgreSQL: one index probe per key whatever the table statistics say (a plain
#: `record_id = ANY(...)` on un-analyzed tables is planned as a scan of every head of the
#: source and entity type)
_PG_HEADS = (
    "SELECT k.e, k.r, h.version_id, h.content_hash, h.source_updated_at, h.deleted "
    "FROM unnest(%b::text[], %b::text[]) AS k(e, r) CROSS JOIN LATERAL ("
    "SELECT version_id, content_hash, source_updated_at, deleted FROM record_heads "
    "WHERE source_id = %s AND entity_type = k.e AND record_id = k.r LIMIT 1) AS h"
)


def _load_heads(
    store: Store, tx: WriteTx, source_id: str, keys: set[RecordKey]
) -> dict[RecordKey, Head]:
    """The least lookup: SQLite's `load_heads` (an IN list on the primary key) as is;
    on PostgreSQL the per-key probe above."""
    if store.backend != "postgresql":
        return tx.load_heads(source_id, keys)
    ordered = list(keys)
    rows = tx._execute(  # type: ignore[attr-defined]
        _PG_HEADS,
        ([k.entity_type for k in ordered], [k.record_id for k in ordered], source_id),
    ).fetchall()
    return {
        RecordKey(e, r): Head(str(version), bytes(digest), updated, deleted)
        for e, r, version, digest, updated, deleted in rows
    }


def _store_changed(store: Store, org_id: str, source_id: str, records: list[ValidRecord]) -> int:
    with store.write() as tx:
        heads = _load_heads(store, tx, source_id, {r.key for r in records})
        versions: list[PlannedVersion] = []
        changed: dict[RecordKey, Head] = {}
        for record in sorted(records, key=lambda r: (r.source_updated_at, r.index)):
            head = heads.get(record.key)
            if head is not None and (
                head.content_hash == record.content_hash
                or record.source_updated_at <= head.source_updated_at
            ):
                continue
            outcome = Outcome.CREATED if head is None else Outcome.SUPERSEDED
            version = PlannedVersion(
                new_id(), record, outcome, head.version_id if head is not None else None
            )
            versions.append(version)
            heads[record.key] = changed[record.key] = Head(
                version.version_id, record.content_hash, record.source_updated_at, record.deleted
            )
        if versions:
            tx.insert_versions(org_id, source_id, new_id(), versions, now_micros())
            tx.upsert_heads(org_id, source_id, changed)
    return len(versions)


def run(store: Store, org_id: str, source_id: str, bodies: list[bytes], mode: str) -> LimitResult:
    """Time the limit pipeline over `bodies`; `mode` is "first" (blind) or a replay."""
    write = _store_new if mode == "first" else _store_changed
    records = stored = 0
    with tuned_gc():
        cpu = time.process_time()
        started = time.perf_counter()
        for body in bodies:
            parsed = parse(body)
            records += len(parsed)
            stored += write(store, org_id, source_id, parsed)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
    return LimitResult(mode, records, stored, sum(map(len, bodies)), seconds, cpu)


def preload(
    store: Store, org_id: str, source_id: str, bodies: Iterable[bytes], progress: Any = None
) -> LimitResult:
    """Store every record of `bodies` (all new) with one `done` batch row per body."""
    records = 0
    size = 0
    with tuned_gc():
        cpu = time.process_time()
        started = time.perf_counter()
        for body in bodies:
            parsed = parse(body)
            size += len(body)
            records += len(parsed)
            batch_id, now = new_id(), now_micros()
            versions = [PlannedVersion(new_id(), r, Outcome.CREATED, None) for r in parsed]
            heads = {
                v.record.key: Head(
                    v.version_id, v.record.content_hash, v.record.source_updated_at, False
                )
                for v in versions
            }
            results = [
                RecordResult(
                    v.record.index,
                    v.record.key.entity_type,
                    v.record.key.record_id,
                    Outcome.CREATED,
                    v.version_id,
                )
                for v in versions
            ]
            counts = dict.fromkeys(Outcome, 0)
            counts[Outcome.CREATED] = len(versions)
            batch = Batch(
                id=batch_id,
                org_id=org_id,
                source_id=source_id,
                status=BatchStatus.DONE,
                counts=counts,
                rejected=0,
                records_created=len(versions),
                events_created=0,
                attempts=1,
                error_code=None,
                error_message=None,
                created_at=now,
                started_at=now,
                completed_at=now,
            )
            with store.write() as tx:
                tx.insert_versions(org_id, source_id, batch_id, versions, now)
                tx.upsert_heads(org_id, source_id, heads)
                tx.insert_batch(batch, results)
            if progress is not None:
                progress(records)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
    return LimitResult("preload", records, records, size, seconds, cpu)
