"""Plain values of the domain: what comes in, what is stored, what is decided.

Everything here is immutable data with no behaviour that touches I/O, so the pure
modules of `headwater.core` and both storage backends can share it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


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


class SourceStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class Scope(enum.StrEnum):
    INGEST = "ingest"  #: create sources, ingest, re-normalize
    READ = "read"  #: every other GET
    ADMIN = "admin"  #: manage keys


@dataclass(frozen=True, slots=True)
class RecordKey:
    """A record's identity inside one source (spec §4.3)."""

    entity_type: str
    record_id: str


@dataclass(frozen=True, slots=True)
class ValidRecord:
    """A record that passed the per-record checks, ready for the outcome decision."""

    index: int
    key: RecordKey
    source_updated_at: int  #: microseconds since the Unix epoch, UTC
    payload: bytes  #: the verbatim JSON text of `payload` as it appeared in the request
    content_hash: bytes  #: SHA-256 of the canonical form of {payload, deleted}
    deleted: bool


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record refused by the per-record checks; the rest of the request proceeds."""

    index: int
    record_id: str | None
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Head:
    """The current version of a record, as far as dedup and ordering need it."""

    version_id: str
    content_hash: bytes
    source_updated_at: int
    deleted: bool


@dataclass(frozen=True, slots=True)
class PlannedVersion:
    """A record version the ingest transaction must insert."""

    version_id: str
    record: ValidRecord
    outcome: Outcome
    #: the head this version superseded (for diffing), or None for created and stale
    previous_version_id: str | None


@dataclass(frozen=True, slots=True)
class RecordResult:
    """One line of a batch's receipt: what happened to the record at `index`."""

    index: int
    entity_type: str | None
    record_id: str | None
    outcome: Outcome | None  #: None when rejected
    version_id: str | None
    code: str | None = None
    message: str | None = None
