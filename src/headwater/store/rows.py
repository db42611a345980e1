"""Row <-> value mapping shared by both backends (columns are selected in this order)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from headwater.core.models import (
    STORED_OUTCOMES,
    ApiKey,
    Batch,
    BatchStatus,
    Outcome,
    RecordKey,
    RecordResult,
    RecordVersion,
    Scope,
    Source,
    SourceStatus,
)

API_KEY_COLUMNS = "id, org_id, label, prefix, scopes, created_at, last_used_at, revoked_at"
SOURCE_COLUMNS = (
    "id, org_id, type, name, status, entity_types, description, mappings, created_at, updated_at"
)
BATCH_COLUMNS = (
    "id, org_id, source_id, status, created, superseded, unchanged, stale, rejected, "
    "records_created, events_created, attempts, error_code, error_message, "
    "created_at, started_at, completed_at, kind, progress_done, progress_total"
)
VERSION_COLUMNS = (
    "id, org_id, source_id, entity_type, record_id, content_hash, source_updated_at, deleted, "
    "outcome, previous_version_id, batch_id, batch_index, ingested_at, payload"
)

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
#: stored text -> Outcome, without the Enum constructor's cost (one per version read)
_OUTCOMES = {o.value: o for o in Outcome}
#: a receipt line; the record id is kept raw: a rejected record's id is echoed as sent,
#: which may be any JSON value (even a number no float can hold, like 1e400)
_Line = tuple[int, str | None, msgspec.Raw, str | None, str | None, str | None, str | None]
_decode_receipt = msgspec.json.Decoder(list[_Line]).decode
_STORED = frozenset(o.value for o in STORED_OUTCOMES)


def api_key(row: Sequence[Any]) -> ApiKey:
    return ApiKey(
        id=str(row[0]),
        org_id=str(row[1]),
        label=row[2],
        prefix=row[3],
        scopes=frozenset(Scope(s) for s in row[4].split(",")),
        created_at=row[5],
        last_used_at=row[6],
        revoked_at=row[7],
    )


def scopes_text(scopes: frozenset[Scope]) -> str:
    return ",".join(sorted(scopes))


def source(row: Sequence[Any]) -> Source:
    return Source(
        id=str(row[0]),
        org_id=str(row[1]),
        type=row[2],
        name=row[3],
        status=SourceStatus(row[4]),
        entity_types=tuple(_decode(row[5])),
        description=row[6],
        mappings=_decode(row[7]) if row[7] is not None else None,
        created_at=row[8],
        updated_at=row[9],
    )


def source_params(s: Source) -> tuple[Any, ...]:
    return (
        s.id,
        s.org_id,
        s.type,
        s.name,
        s.status.value,
        _encode(list(s.entity_types)).decode(),
        s.description,
        _encode(s.mappings).decode() if s.mappings is not None else None,
        s.created_at,
        s.updated_at,
    )


def batch(row: Sequence[Any]) -> Batch:
    return Batch(
        id=str(row[0]),
        org_id=str(row[1]),
        source_id=str(row[2]),
        status=BatchStatus(row[3]),
        counts={
            Outcome.CREATED: row[4],
            Outcome.SUPERSEDED: row[5],
            Outcome.UNCHANGED: row[6],
            Outcome.STALE: row[7],
        },
        rejected=row[8],
        records_created=row[9],
        events_created=row[10],
        attempts=row[11],
        error_code=row[12],
        error_message=row[13],
        created_at=row[14],
        started_at=row[15],
        completed_at=row[16],
        kind=row[17],
        progress_done=row[18],
        progress_total=row[19],
    )


def version(row: Sequence[Any]) -> RecordVersion:
    return RecordVersion(
        id=str(row[0]),
        org_id=str(row[1]),
        source_id=str(row[2]),
        key=RecordKey(row[3], row[4]),
        content_hash=bytes(row[5]),
        source_updated_at=row[6],
        deleted=bool(row[7]),
        outcome=_OUTCOMES[row[8]],
        previous_version_id=str(row[9]) if row[9] is not None else None,
        batch_id=str(row[10]),
        batch_index=row[11],
        ingested_at=row[12],
        payload=bytes(row[13]),
    )


def encode_results(results: Sequence[RecordResult]) -> bytes:
    """A batch's receipt, compact: one array per record of the request."""
    return _encode(
        [
            [r.index, r.entity_type, r.record_id, r.outcome, r.version_id, r.code, r.message]
            for r in results
        ]
    )


def decode_results(blob: bytes, rejected_only: bool = False) -> list[RecordResult]:
    """The receipt's lines; `rejected_only` skips building the accepted ones (batch lists
    only show rejections, and a receipt holds up to 500 lines)."""
    return [
        RecordResult(i, et, _record_id(rid), Outcome(o) if o else None, vid, code, msg)
        for i, et, rid, o, vid, code, msg in _decode_receipt(blob)
        if code is not None or not rejected_only
    ]


def _record_id(raw: msgspec.Raw) -> str | msgspec.Raw | None:
    """A receipt's record id: a string, null, or (a rejection's) any JSON value verbatim."""
    text = bytes(raw)
    if text.startswith(b'"'):
        value: str = _decode(text)
        return value
    return None if text == b"null" else raw


def stored_version_ids(blob: bytes) -> list[str]:
    """The ids of the versions a receipt says were stored, in receipt order: what
    normalization reads (without building every line's RecordResult)."""
    return [vid for _, _, _, o, vid, _, _ in _decode_receipt(blob) if o in _STORED and vid]
