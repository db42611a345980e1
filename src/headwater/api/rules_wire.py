"""Wire types of rules, provenance, knowledge query and memories (spec §10.2, §10.3), and
their builders from stored values. Field names follow Seyn's rules API; fields beyond it
are extensions (marked below) and never change a documented field."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from headwater.api.schemas import Wire
from headwater.core.rules import MEMORY_LIBRARY, StoredRule
from headwater.core.timestamps import format_micros

ReviewStatus = Literal["inferred", "confirmed", "rejected", "modified"]


class RuleSummary(Wire):
    id: str
    description: str
    process_id: str | None
    applies_at_step: str | None
    confidence: float
    frequency: int
    review_status: ReviewStatus
    created_at: str
    type: str  #: (extension) precedence, transition, duration, actor, or memory


class EvidenceOut(Wire):
    cases: int
    support: int
    counter_examples: int
    example_event_ids: list[str]
    counter_example_event_ids: list[str]


class RuleOut(RuleSummary):
    condition: dict[str, Any]
    evidence: EvidenceOut
    inference_log_id: str
    library_id: str | None  #: None for a memory: it belongs to every library
    updated_at: str


class ProvenanceRule(Wire):
    id: str
    description: str
    process_id: str | None


class TokenCount(Wire):
    input: int
    output: int
    total: int


class InferenceLog(Wire):
    id: str
    model: str
    prompt_hash: str
    token_count: TokenCount
    latency_ms: int
    created_at: str


class SourceEvent(Wire):
    id: str
    action: str
    entity_type: str
    timestamp: str
    entity_id: str  #: (extension)
    source_id: str  #: (extension)
    record_version_id: str  #: (extension) the raw record below
    role: Literal["example", "counterExample"]  #: (extension)


class RawRecord(Wire):
    id: str  #: a record version: GET /v1/records/versions/{id}/payload serves its bytes
    connector_type: Literal["custom_api"]
    ingested_at: str
    source_id: str  #: (extension)
    entity_type: str  #: (extension)
    record_id: str  #: (extension)
    batch_id: str  #: (extension)


class SourceOutRef(Wire):
    id: str
    name: str
    type: str


class TaughtBy(Wire):
    key_id: str
    label: str
    prefix: str


class ProvenanceOut(Wire):
    rule: ProvenanceRule
    inference_log: InferenceLog
    source_events: list[SourceEvent]
    raw_records: list[RawRecord]
    sources: list[SourceOutRef]  #: (extension) the fourth hop: where the records came from
    source_events_total: int  #: (extension) examples + counter-examples (events listed: bounded)
    taught_by: TaughtBy | None  #: (extension) the key that taught a memory


class QueryResult(Wire):
    rule_id: str
    description: str
    process_id: str | None
    process_name: str | None
    step: str | None
    confidence: float
    score: float


class StepMatch(Wire):
    process_id: str
    step: str


class Explain(Wire):
    """What the query did, counted (docs/rules.md)."""

    strategy: str
    terms: list[str]
    text_match: Literal["all", "any"]  #: rules with every term, or (too few) with any
    index: str
    text_candidates: int
    structured_candidates: int
    process_matches: list[str]
    step_matches: list[StepMatch]
    merged: int
    returned: int
    vector_candidates: int
    reranker_used: bool
    reranked: int


class QueryOut(Wire):
    results: list[QueryResult]
    explain: Explain | msgspec.UnsetType = msgspec.UNSET


class MemoryIn(msgspec.Struct, forbid_unknown_fields=True):
    text: str
    libraryId: str | None = None


class MemoryAck(Wire):
    memory_id: str
    status: Literal["done"]
    text: str
    created_at: str


class MemoryOut(MemoryAck):
    summary: str
    assertions_created: int
    assertions_superseded: int
    rule_id: str  #: (extension) the human-asserted rule that stores it
    process_id: str | None  #: (extension)
    step: str | None  #: (extension)


class RulePatch(msgspec.Struct, forbid_unknown_fields=True):
    reviewStatus: ReviewStatus | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType = msgspec.UNSET


def _summary_fields(r: StoredRule) -> dict[str, Any]:
    return {
        "id": r.id,
        "description": r.description,
        "process_id": r.process_id,
        "applies_at_step": r.applies_at_step,
        "confidence": r.confidence,
        "frequency": r.frequency,
        "review_status": r.review_status,
        "created_at": format_micros(r.created_at),
        "type": r.type,
    }


def rule_summary(r: StoredRule) -> RuleSummary:
    return RuleSummary(**_summary_fields(r))


def rule(r: StoredRule) -> RuleOut:
    assert r.detail is not None
    e = r.detail.evidence
    memory = r.library_id == MEMORY_LIBRARY
    return RuleOut(
        **_summary_fields(r),
        condition=r.detail.condition,
        evidence=EvidenceOut(
            cases=e.cases,
            support=e.support,
            counter_examples=e.counter_examples,
            example_event_ids=list(e.example_event_ids),
            counter_example_event_ids=list(e.counter_example_event_ids),
        ),
        inference_log_id=r.id if memory else r.library_id,
        library_id=None if memory else r.library_id,
        updated_at=format_micros(r.updated_at),
    )


def memory_summary(r: StoredRule) -> str:
    where = (
        f"attached to process {r.process_id}"
        + (f" at step {r.applies_at_step}" if r.applies_at_step else "")
        if r.process_id
        else "attached to no process (its text names none)"
    )
    return (
        f"Stored verbatim as one human-asserted rule ({r.review_status}), {where}. "
        "No language model read it: nothing was extracted, inferred or superseded; "
        "full-text search finds it by its words."
    )


def memory(r: StoredRule) -> MemoryOut:
    assert r.detail is not None
    return MemoryOut(
        memory_id=r.id,
        status="done",
        text=str(r.detail.condition["text"]),
        created_at=format_micros(r.created_at),
        summary=memory_summary(r),
        assertions_created=1,
        assertions_superseded=0,
        rule_id=r.id,
        process_id=r.process_id,
        step=r.applies_at_step,
    )
