"""What the client returns and sends: typed values with snake_case fields over the camelCase wire.

Decoding is forgiving in the direction that keeps old clients working against newer
servers: unknown fields are ignored, and the fields that are Headwater extensions to the
Seyn v1 API (spec: "extensions only add fields") have defaults, so the same client
decodes a plain Seyn response too. Statuses are plain strings for the same reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import msgspec

T = TypeVar("T")


class Model(msgspec.Struct, rename="camel", kw_only=True):
    """Base of every wire value; `msgspec.structs.asdict(x)` gives a plain dict."""


class RejectedItem(Model, kw_only=True):
    """A record the server refused (spec §4.2): `index` is its position in that request."""

    index: int
    #: as sent: a string, or (for a rejected record) any other JSON value, or None
    record_id: Any = None
    code: str
    message: str
    entity_type: str | None = None  #: as sent, when it was a string


class Outcomes(Model, kw_only=True):
    created: int = 0
    superseded: int = 0
    unchanged: int = 0
    stale: int = 0


class Progress(Model, kw_only=True):
    done: int | None = None
    total: int | None = None


class ErrorInfo(Model, kw_only=True):
    code: str | None = None
    message: str | None = None


class BatchAck(Model, kw_only=True):
    """The 202 answer of `POST /v1/ingest` (spec §4.4)."""

    batch_id: str
    source_id: str
    status: str
    accepted: int
    deduplicated: int
    rejected: list[RejectedItem] = msgspec.field(default_factory=list)
    created_at: str


class Batch(BatchAck, kw_only=True):
    """`GET /v1/ingest/{batchId}` (spec §6.1); `outcomes` is None on a server without it."""

    records_created: int | None = None
    events_created: int | None = None
    started_at: str | None = None
    completed_at: str | None = None
    attempts: int = 0
    kind: str = "ingest"
    progress: Progress | None = None
    outcomes: Outcomes | None = None
    error: ErrorInfo | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("done", "error")


class RecordOutcome(Model, kw_only=True):
    index: int
    record_id: Any = None  #: a rejected record's is as sent (any JSON value)
    entity_type: str | None = None
    outcome: str
    version_id: str | None = None
    code: str | None = None
    message: str | None = None


class SourceCounts(Model, kw_only=True):
    records: int = 0
    versions: int = 0
    events: int = 0
    batches: int = 0


class Source(Model, kw_only=True):
    id: str
    type: str = "custom_api"
    name: str
    status: str
    entity_types: list[str] = msgspec.field(default_factory=list)
    description: str | None = None
    mappings: dict[str, Any] | None = None
    created_at: str
    updated_at: str | None = None
    counts: SourceCounts | None = None  #: only from `sources.get`
    last_ingested_at: str | None = None


class ApiKey(Model, kw_only=True):
    id: str
    label: str
    prefix: str
    scopes: list[str]
    created_at: str
    last_used_at: str | None = None
    revoked_at: str | None = None
    token: str | None = None  #: only in the answer to `keys.create`, never again


class Alias(Model, kw_only=True):
    kind: str
    value: str


class ActorRef(Model, kw_only=True):
    """An event's actor, as events carry it (no aliases: `actors.get` has those)."""

    id: str
    email: str | None = None
    name: str | None = None
    placeholder: bool = False


class Actor(ActorRef, kw_only=True):
    """An actor as `/v1/actors` answers: with the emails and names it is known by."""

    aliases: list[Alias] = msgspec.field(default_factory=list)


class EntityRef(Model, kw_only=True):
    type: str
    id: str
    name: str | None = None


class Change(Model, kw_only=True):
    """One changed field; `before`/`after` are `from`/`to` on the wire (Python keywords)."""

    field: str
    before: Any = msgspec.field(default=None, name="from")
    after: Any = msgspec.field(default=None, name="to")


class Provenance(Model, kw_only=True):
    id: str
    source_id: str
    entity_type: str | None = None
    record_id: str
    connector_type: str = "custom_api"
    ingested_at: str
    batch_id: str


class Event(Model, kw_only=True):
    id: str
    action: str
    actor: ActorRef | None = None
    entity: EntityRef
    timestamp: str
    changes: list[Change] = msgspec.field(default_factory=list)
    source_id: str
    batch_id: str
    record_version_id: str
    deleted: bool = False
    created_at: str
    provenance: list[Provenance] = msgspec.field(default_factory=list)  #: `events.get` only
    state_before: dict[str, Any] | None = None  #: timeline items only
    state_after: dict[str, Any] | None = None  #: timeline items only


class Head(Model, kw_only=True):
    entity_type: str
    record_id: str
    version_id: str
    content_hash: str
    source_updated_at: str
    deleted: bool = False


class Version(Model, kw_only=True):
    id: str
    outcome: str
    content_hash: str
    source_updated_at: str
    deleted: bool = False
    previous_version_id: str | None = None
    batch_id: str
    ingested_at: str


class RecordHistory(Model, kw_only=True):
    """A stored record: its head and its version chain (`records.get`)."""

    source_id: str
    entity_type: str
    record_id: str
    head: Head
    versions: list[Version] = msgspec.field(default_factory=list)


class Health(Model, kw_only=True):
    status: str
    schema: str | None = None


class Record(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One record to ingest (spec §4). Plain dicts in wire form are accepted too.

    `source_updated_at` may be an aware `datetime` (sent as UTC) or an RFC 3339 string.
    """

    record_id: str = msgspec.field(name="recordId")
    entity_type: str = msgspec.field(name="entityType")
    source_updated_at: str | datetime = msgspec.field(name="sourceUpdatedAt")
    payload: dict[str, Any]
    deleted: bool = False


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of an offset-paginated list; iterating it iterates its items."""

    items: list[T]
    total: int
    limit: int
    offset: int

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.items) < self.total


@dataclass
class RejectedRecord:
    """A record that was not stored, with the reason and the record itself as it was sent.

    `index` is its 0-based position in the iterable given to `ingest_all`; `record` is the
    wire form (a dict), ready to be fixed and sent again.
    """

    index: int
    record_id: str | None
    code: str
    message: str
    record: Any


@dataclass
class IngestResult:
    """What `ingest_all` did: totals by outcome, the rejected records, the batches it made.

    `created`/`superseded`/`unchanged`/`stale` come from each batch's `outcomes`
    (`GET /v1/ingest/{id}`); `accepted`/`deduplicated` from the 202 answers. On a server
    without the outcomes extension `outcomes_known` is False and only those two are set.
    """

    records: int = 0
    accepted: int = 0
    deduplicated: int = 0
    created: int = 0
    superseded: int = 0
    unchanged: int = 0
    stale: int = 0
    rejected_count: int = 0
    rejected: list[RejectedRecord] = field(default_factory=list)
    batch_ids: list[str] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    outcomes_known: bool = True
    waited: bool = False
    failed_batches: list[Batch] = field(default_factory=list)  #: status `error` after waiting
    pending: list[str] = field(default_factory=list)  #: not yet done when the wait timed out
    events_created: int = 0  #: summed over the batches when waited for

    @property
    def ok(self) -> bool:
        return self.rejected_count == 0 and not self.failed_batches

    def outcome_totals(self) -> dict[str, int]:
        return {
            "created": self.created,
            "superseded": self.superseded,
            "unchanged": self.unchanged,
            "stale": self.stale,
            "rejected": self.rejected_count,
        }


@dataclass(frozen=True)
class BatchReport:
    """Passed to `ingest_all(on_batch=...)` after each request is acknowledged.

    Records `start` (inclusive) to `end` (exclusive) of the input were in this request;
    `ack` is None for records refused before sending (too large for any request).
    """

    start: int
    end: int
    ack: BatchAck | None
    outcomes: Outcomes | None
    rejected: list[RejectedRecord]
