"""Row <-> value mapping shared by both backends.

Each mapped query selects a `Columns` list declared here, and its mapper reads the row by
those names (`row[BATCH.kind]`): the select list and the mapper cannot drift apart, and
nobody counts commas.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from headwater.core.actors import Actor
from headwater.core.models import (
    STORED_OUTCOMES,
    ApiKey,
    Batch,
    BatchKind,
    BatchStatus,
    HeadRow,
    Outcome,
    RecordKey,
    RecordResult,
    RecordVersion,
    Scope,
    Source,
    SourceStatus,
)


class Columns:
    """The columns a query selects, declared once: `sql` is the select list, and each
    column is an attribute holding its position in a row (`row[VERSION.payload]`).
    A qualified column (`e.id`) is the attribute `e_id`."""

    def __init__(self, *names: str) -> None:
        self.names = names
        self.sql = ", ".join(names)
        for position, name in enumerate(names):
            setattr(self, name.replace(".", "_"), position)

    def __getattr__(self, name: str) -> int:
        """Reached only for a name not declared (and tells mypy the others are ints)."""
        raise AttributeError(f"no column {name!r} in {self.sql!r}")


API_KEY = Columns(
    "id", "org_id", "label", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"
)
SOURCE = Columns(
    "id", "org_id", "type", "name", "status", "entity_types", "description", "mappings",
    "created_at", "updated_at",
)  # fmt: skip
BATCH = Columns(
    "id", "org_id", "source_id", "status", "created", "superseded", "unchanged", "stale",
    "rejected", "records_created", "events_created", "attempts", "error_code", "error_message",
    "created_at", "started_at", "completed_at", "kind", "progress_done", "progress_total",
)  # fmt: skip
VERSION = Columns(
    "id", "org_id", "source_id", "entity_type", "record_id", "content_hash", "source_updated_at",
    "deleted", "outcome", "previous_version_id", "batch_id", "batch_index", "ingested_at",
    "payload",
)  # fmt: skip
#: a record's head, as `GET /records` shows it
HEAD = Columns(
    "entity_type", "record_id", "version_id", "content_hash", "source_updated_at", "deleted"
)
#: an actor as identity resolution needs it (`core.actors.Actor`)
ACTOR = Columns("id", "email", "name", "placeholder", "merged_into")

# the select lists under their former names
API_KEY_COLUMNS = API_KEY.sql
SOURCE_COLUMNS = SOURCE.sql
BATCH_COLUMNS = BATCH.sql
VERSION_COLUMNS = VERSION.sql

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
#: stored text -> Outcome, without the Enum constructor's cost (one per version read)
_OUTCOMES = {o.value: o for o in Outcome}
#: a receipt line; the record id is kept raw: a rejected record's id is echoed as sent,
#: which may be any JSON value (even a number no float can hold, like 1e400)
_Line = tuple[int, str | None, msgspec.Raw, str | None, str | None, str | None, str | None]
_decode_receipt = msgspec.json.Decoder(list[_Line]).decode
_STORED = frozenset(o.value for o in STORED_OUTCOMES)


def api_key(row: Sequence[Any], c: Columns = API_KEY) -> ApiKey:
    return ApiKey(
        id=str(row[c.id]),
        org_id=str(row[c.org_id]),
        label=row[c.label],
        prefix=row[c.prefix],
        scopes=frozenset(Scope(s) for s in row[c.scopes].split(",")),
        created_at=row[c.created_at],
        last_used_at=row[c.last_used_at],
        revoked_at=row[c.revoked_at],
    )


def scopes_text(scopes: frozenset[Scope]) -> str:
    return ",".join(sorted(scopes))


def source(row: Sequence[Any], c: Columns = SOURCE) -> Source:
    mappings = row[c.mappings]
    return Source(
        id=str(row[c.id]),
        org_id=str(row[c.org_id]),
        type=row[c.type],
        name=row[c.name],
        status=SourceStatus(row[c.status]),
        entity_types=tuple(_decode(row[c.entity_types])),
        description=row[c.description],
        mappings=_decode(mappings) if mappings is not None else None,
        created_at=row[c.created_at],
        updated_at=row[c.updated_at],
    )


def source_params(s: Source) -> dict[str, Any]:
    """The source's stored values, by column (`SOURCE.names`)."""
    return {
        "id": s.id,
        "org_id": s.org_id,
        "type": s.type,
        "name": s.name,
        "status": s.status.value,
        "entity_types": _encode(list(s.entity_types)).decode(),
        "description": s.description,
        "mappings": _encode(s.mappings).decode() if s.mappings is not None else None,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
    }


def batch(row: Sequence[Any], c: Columns = BATCH) -> Batch:
    return Batch(
        id=str(row[c.id]),
        org_id=str(row[c.org_id]),
        source_id=str(row[c.source_id]),
        status=BatchStatus(row[c.status]),
        counts={
            Outcome.CREATED: row[c.created],
            Outcome.SUPERSEDED: row[c.superseded],
            Outcome.UNCHANGED: row[c.unchanged],
            Outcome.STALE: row[c.stale],
        },
        rejected=row[c.rejected],
        records_created=row[c.records_created],
        events_created=row[c.events_created],
        attempts=row[c.attempts],
        error_code=row[c.error_code],
        error_message=row[c.error_message],
        created_at=row[c.created_at],
        started_at=row[c.started_at],
        completed_at=row[c.completed_at],
        kind=BatchKind(row[c.kind]),
        progress_done=row[c.progress_done],
        progress_total=row[c.progress_total],
    )


def version(row: Sequence[Any], c: Columns = VERSION) -> RecordVersion:
    """One per version the normalizer reads: `c` is bound as a default (a fast local)."""
    previous = row[c.previous_version_id]
    return RecordVersion(
        id=str(row[c.id]),
        org_id=str(row[c.org_id]),
        source_id=str(row[c.source_id]),
        key=RecordKey(row[c.entity_type], row[c.record_id]),
        content_hash=bytes(row[c.content_hash]),
        source_updated_at=row[c.source_updated_at],
        deleted=bool(row[c.deleted]),
        outcome=_OUTCOMES[row[c.outcome]],
        previous_version_id=str(previous) if previous is not None else None,
        batch_id=str(row[c.batch_id]),
        batch_index=row[c.batch_index],
        ingested_at=row[c.ingested_at],
        payload=bytes(row[c.payload]),
    )


def head_row(row: Sequence[Any], c: Columns = HEAD) -> HeadRow:
    return HeadRow(
        RecordKey(row[c.entity_type], row[c.record_id]),
        str(row[c.version_id]),
        bytes(row[c.content_hash]),
        row[c.source_updated_at],
        bool(row[c.deleted]),
    )


def actor(row: Sequence[Any], c: Columns = ACTOR) -> Actor:
    merged = row[c.merged_into]
    return Actor(
        str(row[c.id]),
        row[c.email],
        row[c.name],
        bool(row[c.placeholder]),
        str(merged) if merged is not None else None,
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
