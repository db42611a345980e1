"""The wire types: what every endpoint returns, as msgspec Structs.

Responses are built from these types (`wire.py`) and the OpenAPI document's schemas are
generated from the same types (`openapi.py`), so the document cannot drift from what
the server sends. Attribute names are snake_case; the wire is camelCase.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

#: one word per thing: the ingest answer's `deduplicated` is the batch's `unchanged` outcome
DEDUPLICATED = (
    "Records of this request that were already stored with the same content: their outcome is "
    "`unchanged` (in the batch's `outcomes` and `/records`); nothing new was stored for them."
)
UNCHANGED = (
    "Records already stored with the same content, so nothing new was stored; the ingest "
    "answer counts them as `deduplicated`."
)


class Wire(msgspec.Struct, rename="camel", kw_only=True):
    pass


class Rejected(Wire):
    index: int
    #: as sent: a string, or any other JSON value verbatim; null when absent
    record_id: str | msgspec.Raw | None
    code: str
    message: str
    entity_type: str | None = None  #: (extension) as sent, when a string


class Outcomes(Wire):
    created: int
    superseded: int
    unchanged: Annotated[int, msgspec.Meta(description=UNCHANGED)]
    stale: int


class Progress(Wire):
    done: int | None
    total: int | None


class ErrorInfo(Wire):
    code: str | None
    message: str | None


class BatchAck(Wire):
    """The 202 of POST /v1/ingest (spec §4.4)."""

    batch_id: str
    source_id: str
    status: Literal["queued", "processing", "done", "error"]
    accepted: int
    deduplicated: Annotated[int, msgspec.Meta(description=DEDUPLICATED)]
    rejected: list[Rejected]
    created_at: str


class BatchOut(BatchAck):
    """GET /v1/ingest/{batchId} (spec §6.1, with the extensions)."""

    records_created: int | None
    events_created: int | None
    started_at: str | None
    completed_at: str | None
    attempts: int
    kind: Literal["ingest", "renormalize"]
    progress: Progress | None
    outcomes: Outcomes
    error: ErrorInfo | None


class RecordOutcome(Wire):
    index: int
    record_id: str | msgspec.Raw | None
    entity_type: str | None
    outcome: Annotated[
        Literal["created", "superseded", "unchanged", "stale", "rejected"],
        msgspec.Meta(
            description="`unchanged`: already stored with the same content (counted as "
            "`deduplicated` in the ingest answer)."
        ),
    ]
    version_id: str | None
    code: str | None
    message: str | None


class SourceCountsOut(Wire):
    records: int
    versions: int
    events: int
    batches: int


class SourceOut(Wire):
    id: str
    type: str
    name: str
    status: Literal["active", "paused", "archived"]
    entity_types: list[str]
    description: str | None
    mappings: dict[str, Any] | None
    created_at: str
    updated_at: str
    counts: SourceCountsOut | msgspec.UnsetType = msgspec.UNSET
    last_ingested_at: str | msgspec.UnsetType | None = msgspec.UNSET


class KeyOut(Wire):
    id: str
    label: str
    prefix: str
    scopes: list[Literal["admin", "ingest", "read"]]
    created_at: str
    last_used_at: str | None
    revoked_at: str | None
    token: str | msgspec.UnsetType = msgspec.UNSET


class ActorOut(Wire):
    id: str
    email: str | None
    name: str | None
    placeholder: bool


class Alias(Wire):
    kind: Literal["email", "name"]
    value: str


class ActorWithAliases(ActorOut):
    aliases: list[Alias]


class EntityRef(Wire):
    type: str
    id: str
    name: str | None


class Change(Wire):
    field: str
    before: Any = msgspec.field(name="from")
    after: Any = msgspec.field(name="to")


class Provenance(Wire):
    id: str
    source_id: str
    entity_type: str
    record_id: str
    connector_type: Literal["custom_api"]
    ingested_at: str
    batch_id: str


class EventOut(Wire):
    id: str
    action: str
    actor: ActorOut | None
    entity: EntityRef
    timestamp: str
    changes: list[Change]
    source_id: str
    batch_id: str
    record_version_id: str
    deleted: bool
    created_at: str


class EventWithProvenance(EventOut):
    provenance: list[Provenance]


class TimelineItem(EventOut):
    state_before: dict[str, Any] | None
    state_after: dict[str, Any] | None


class HeadOut(Wire):
    entity_type: str
    record_id: str
    version_id: str
    content_hash: str
    source_updated_at: str
    deleted: bool


class VersionOut(Wire):
    id: str
    outcome: Literal["created", "superseded", "stale"]
    content_hash: str
    source_updated_at: str
    deleted: bool
    previous_version_id: str | None
    batch_id: str
    ingested_at: str


class RecordOut(Wire):
    source_id: str
    entity_type: str
    record_id: str
    head: HeadOut
    versions: list[VersionOut]


class Health(Wire):
    status: str
    schema: str | msgspec.UnsetType = msgspec.UNSET


class DiscoverAck(Wire):
    """The 202 of POST /v1/knowledge/discover (spec §10.1)."""

    library_id: str
    status: Literal["queued", "processing", "done", "error"]
    created_at: str


class LibraryParameters(Wire):
    min_support: int
    min_confidence: float
    top_variants: int


class LibraryOut(Wire):
    """A discovery run and the library version it writes (spec §10.1)."""

    id: str
    status: Literal["queued", "processing", "done", "error"]
    active: bool
    processes: int | None
    rules: int | None
    events_read: int | None
    started_at: str | None
    completed_at: str | None
    parameters: LibraryParameters
    created_at: str
    origin: Literal["request", "schedule"]
    attempts: int
    error: ErrorInfo | None


class ProcessSummary(Wire):
    """One entity type's process (spec §9.2); `sourceId` is set when narrowed to one source."""

    id: str
    name: str
    entity_type: str
    step_field: str | None
    cases: int
    events: int
    library_id: str
    updated_at: str
    source_id: str | None


class StepOut(Wire):
    name: str
    cases: int
    median_seconds_in_step: float | None


class StepCountOut(Wire):
    step: str
    cases: int


class TransitionOut(Wire):
    source: str = msgspec.field(name="from")
    target: str = msgspec.field(name="to")
    cases: int
    count: int
    median_seconds: float
    p90_seconds: float = msgspec.field(name="p90Seconds")


class VariantOut(Wire):
    steps: list[str]
    cases: int


class ProcessOut(ProcessSummary):
    steps: list[StepOut]
    starts: list[StepCountOut]
    ends: list[StepCountOut]
    transitions: list[TransitionOut]
    variants: list[VariantOut]
