"""Plain values of the domain: what comes in, what is stored, what is decided.

Everything here is immutable data with no behaviour that touches I/O, so the pure
modules of `headwater.core` and both storage backends can share it. The values made
once per record on the ingest path are frozen `msgspec.Struct`s (`gc=False`: they never
form cycles): built and hashed in C, ~10x cheaper than frozen dataclasses (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import msgspec


class Outcome(enum.StrEnum):
    """What ingesting one valid record did (spec §4.3)."""

    #: first version of the record; becomes the head
    CREATED = "created"
    #: content differs from the head and is not older: becomes the new head
    SUPERSEDED = "superseded"
    #: content equals the head's, or this exact version is already stored: nothing stored
    UNCHANGED = "unchanged"
    #: content differs but is older than the head: stored for provenance, never the head
    STALE = "stale"


#: outcomes that store a new record version
STORED_OUTCOMES = frozenset({Outcome.CREATED, Outcome.SUPERSEDED, Outcome.STALE})


class BatchStatus(enum.StrEnum):
    QUEUED = "queued"  #: waiting for a normalizer
    PROCESSING = "processing"  #: claimed by a normalizer (queued -> processing)
    DONE = "done"  #: events written (processing -> done); also a batch with nothing accepted
    ERROR = "error"  #: gave up after the last attempt (processing -> error)


class BatchKind(enum.StrEnum):
    """What a batch asks the normalizer to do."""

    INGEST = "ingest"  #: normalize the versions one ingest request stored
    RENORMALIZE = "renormalize"  #: rebuild every event of a source (spec §6.5)


class SourceStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class AliasKind(enum.StrEnum):
    """What an actor alias records: an address or a (display) name it was seen under."""

    EMAIL = "email"
    NAME = "name"


class Scope(enum.StrEnum):
    INGEST = "ingest"  #: create sources, ingest, re-normalize
    READ = "read"  #: every other GET
    ADMIN = "admin"  #: manage keys


class RecordKey(msgspec.Struct, frozen=True, gc=False):
    """A record's identity inside one source (spec §4.3)."""

    entity_type: str
    record_id: str


class ValidRecord(msgspec.Struct, frozen=True, gc=False):
    """A record that passed the per-record checks, ready for the outcome decision."""

    index: int
    key: RecordKey
    source_updated_at: int  #: microseconds since the Unix epoch, UTC
    payload: bytes  #: the verbatim JSON text of `payload` as it appeared in the request
    content_hash: bytes  #: SHA-256 of the canonical form of {payload, deleted}
    deleted: bool
    #: `canonical.raw_fingerprint` of the payload bytes as sent (empty: not computed)
    raw_fingerprint: bytes = b""


class Rejection(msgspec.Struct, frozen=True, gc=False):
    """A record refused by the per-record checks; the rest of the request proceeds."""

    index: int
    #: as sent: a string, any other JSON value verbatim (msgspec.Raw), or None when absent
    record_id: str | msgspec.Raw | None
    code: str
    message: str
    entity_type: str | None = None  #: as sent, when it was a string


class Head(msgspec.Struct, frozen=True, gc=False):
    """The current version of a record, as far as dedup and ordering need it."""

    version_id: str
    content_hash: bytes
    source_updated_at: int
    deleted: bool
    #: the raw fingerprint of payload bytes proven to have `content_hash` (empty: none
    #: known): a re-send of those very bytes skips canonicalization (docs/decisions.md)
    raw_fingerprint: bytes = b""


class PlannedVersion(msgspec.Struct, frozen=True, gc=False):
    """A record version the ingest transaction must insert."""

    version_id: str
    record: ValidRecord
    outcome: Outcome
    #: the head this version superseded (for diffing), or None for created and stale
    previous_version_id: str | None


class RecordResult(msgspec.Struct, frozen=True, gc=False):
    """One line of a batch's receipt: what happened to the record at `index`."""

    index: int
    entity_type: str | None
    record_id: str | msgspec.Raw | None  #: a rejection's is as sent (see Rejection)
    outcome: Outcome | None  #: None when rejected
    version_id: str | None
    code: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Organisation:
    id: str
    name: str
    created_at: int


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key: only the SHA-256 of its token and a short display prefix are kept."""

    id: str
    org_id: str
    label: str
    prefix: str
    scopes: frozenset[Scope]
    created_at: int
    last_used_at: int | None
    revoked_at: int | None


@dataclass(frozen=True, slots=True)
class Source:
    id: str
    org_id: str
    type: str
    name: str
    status: SourceStatus
    entity_types: tuple[str, ...]
    description: str | None
    mappings: dict[str, Any] | None
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class SourceCounts:
    records: int
    versions: int
    batches: int
    events: int
    last_ingested_at: int | None


@dataclass(frozen=True, slots=True)
class Batch:
    """One ingest request's receipt and its place in the normalization queue."""

    id: str
    org_id: str
    source_id: str
    status: BatchStatus
    counts: dict[Outcome, int]
    rejected: int
    records_created: int | None
    events_created: int | None
    attempts: int
    error_code: str | None
    error_message: str | None
    created_at: int
    started_at: int | None
    completed_at: int | None
    kind: BatchKind = BatchKind.INGEST
    progress_done: int | None = None
    progress_total: int | None = None

    @property
    def accepted(self) -> int:
        return sum(self.counts[o] for o in STORED_OUTCOMES)

    @property
    def deduplicated(self) -> int:
        return self.counts[Outcome.UNCHANGED]


class RecordVersion(msgspec.Struct, frozen=True, gc=False):
    """One stored version of a record, with its verbatim payload bytes.

    A `msgspec.Struct` rather than a frozen dataclass, like `EventRow`: the normalizer
    builds one per row read, and a Struct is ~5x cheaper to construct. `gc=False`: it holds
    only scalars and a `RecordKey`, so it can never be part of a reference cycle.
    """

    id: str
    org_id: str
    source_id: str
    key: RecordKey
    content_hash: bytes
    source_updated_at: int
    deleted: bool
    outcome: Outcome
    previous_version_id: str | None
    batch_id: str
    batch_index: int
    ingested_at: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class ClaimedBatch:
    """A batch a normalizer holds the lease on."""

    id: str
    org_id: str
    source_id: str
    kind: BatchKind
    attempts: int


class EventRow(msgspec.Struct, frozen=True, gc=False):
    """An event as stored; `seq` orders the organisation's feed (a Struct: see RecordVersion)."""

    id: str
    org_id: str
    source_id: str
    batch_id: str
    record_version_id: str
    action: str
    actor_id: str | None
    key: RecordKey
    entity_name: str | None
    timestamp: int
    changes: bytes  #: JSON array of {field, from, to}
    deleted: bool
    created_at: int
    seq: int = 0


@dataclass(frozen=True, slots=True)
class ActorView:
    id: str
    email: str | None
    name: str | None
    placeholder: bool


@dataclass(frozen=True, slots=True)
class StoredEvent:
    row: EventRow
    actor: ActorView | None


@dataclass(frozen=True, slots=True)
class HeadRow:
    key: RecordKey
    version_id: str
    content_hash: bytes
    source_updated_at: int
    deleted: bool


@dataclass(frozen=True, slots=True)
class EventFilter:
    source_id: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    action: str | None = None
    actor_id: str | None = None
    time_from: int | None = None  #: inclusive, on `timestamp`
    time_to: int | None = None  #: exclusive
    include_deleted: bool = False
