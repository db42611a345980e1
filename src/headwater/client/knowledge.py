"""Rules and knowledge in the SDK (spec §10): `client.rules` and `client.knowledge`.

    page = client.rules.list(review_status="inferred")
    rule = client.rules.get(page.items[0].id)
    trail = client.rules.provenance(rule.id)        # run -> events -> raw records -> sources
    client.rules.review(rule.id, status="confirmed")
    answer = client.knowledge.query("who closes deals", explain=True)
    memory = client.knowledge.memory("Deals in negotiation need an NDA")

The calls are described once (`Call`) and sent by the sync or the async client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import msgspec

from headwater.client._core import (
    Call,
    _envelope,
    data_decoder,
    json_body,
    page_decoder,
    segment,
)
from headwater.client.errors import HeadwaterError
from headwater.client.models import Model, Page

T = TypeVar("T")
UNSET: Any = msgspec.UNSET


class Evidence(Model, kw_only=True):
    cases: int
    support: int
    counter_examples: int
    example_event_ids: list[str] = msgspec.field(default_factory=list)
    counter_example_event_ids: list[str] = msgspec.field(default_factory=list)


class RuleSummary(Model, kw_only=True):
    id: str
    description: str
    process_id: str | None = None
    applies_at_step: str | None = None
    confidence: float
    frequency: int
    review_status: str
    created_at: str
    type: str | None = None  #: Headwater extension


class Rule(RuleSummary, kw_only=True):
    condition: dict[str, Any] = msgspec.field(default_factory=dict)
    evidence: Evidence | None = None
    inference_log_id: str | None = None
    library_id: str | None = None
    updated_at: str | None = None


class ProvenanceRule(Model, kw_only=True):
    id: str
    description: str
    process_id: str | None = None


class TokenCount(Model, kw_only=True):
    input: int = 0
    output: int = 0
    total: int = 0


class InferenceLog(Model, kw_only=True):
    id: str
    model: str
    prompt_hash: str | None = None
    token_count: TokenCount = msgspec.field(default_factory=TokenCount)
    latency_ms: int | None = None
    created_at: str | None = None


class SourceEvent(Model, kw_only=True):
    id: str
    action: str
    entity_type: str
    timestamp: str
    entity_id: str | None = None
    source_id: str | None = None
    record_version_id: str | None = None
    role: str | None = None


class RawRecord(Model, kw_only=True):
    id: str
    connector_type: str
    ingested_at: str
    source_id: str | None = None
    entity_type: str | None = None
    record_id: str | None = None
    batch_id: str | None = None


class SourceRef(Model, kw_only=True):
    id: str
    name: str
    type: str


class TaughtBy(Model, kw_only=True):
    key_id: str
    label: str
    prefix: str


class RuleProvenance(Model, kw_only=True):
    """The four hops: rule -> inference log (the run) -> source events -> raw records."""

    rule: ProvenanceRule
    inference_log: InferenceLog
    source_events: list[SourceEvent] = msgspec.field(default_factory=list)
    raw_records: list[RawRecord] = msgspec.field(default_factory=list)
    sources: list[SourceRef] = msgspec.field(default_factory=list)
    source_events_total: int | None = None
    taught_by: TaughtBy | None = None


class QueryResult(Model, kw_only=True):
    rule_id: str
    description: str
    process_id: str | None = None
    process_name: str | None = None
    step: str | None = None
    confidence: float
    score: float


class KnowledgeAnswer(Model, kw_only=True):
    results: list[QueryResult]
    explain: dict[str, Any] | None = None
    total: int | None = None  #: from meta
    strategy: str | None = None  #: from meta


class DiscoverAck(Model, kw_only=True):
    library_id: str
    status: str
    created_at: str


class MemoryAck(Model, kw_only=True):
    memory_id: str
    status: str
    text: str
    created_at: str


class Memory(MemoryAck, kw_only=True):
    summary: str | None = None
    assertions_created: int = 0
    assertions_superseded: int = 0
    rule_id: str | None = None
    process_id: str | None = None
    step: str | None = None


class _QueryMeta(msgspec.Struct):
    total: int | None = None
    strategy: str | None = None


class _QueryEnvelope(msgspec.Struct):
    meta: _QueryMeta = msgspec.field(default_factory=_QueryMeta)


def _answer(response: httpx.Response) -> KnowledgeAnswer:
    envelope = _envelope(response)
    try:
        answer = msgspec.json.decode(envelope.data, type=KnowledgeAnswer)
        meta = msgspec.json.decode(response.content, type=_QueryEnvelope).meta
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise HeadwaterError(
            response.status_code, "INVALID_RESPONSE", f"unexpected query answer: {exc}",
            envelope.meta.request_id,
        ) from None  # fmt: skip
    answer.total, answer.strategy = meta.total, meta.strategy
    return answer


# calls
def list_rules(review_status: str | None, library_id: str | None, process_id: str | None,
               search: str | None, limit: int, offset: int) -> Call[Page[RuleSummary]]:  # fmt: skip
    params = {"reviewStatus": review_status, "libraryId": library_id, "processId": process_id,
              "search": search, "limit": limit, "offset": offset}  # fmt: skip
    return Call("GET", "/v1/rules", page_decoder(RuleSummary), params=params)


def get_rule(rule_id: str, library_id: str | None) -> Call[Rule]:
    return Call("GET", f"/v1/rules/{segment(rule_id)}", data_decoder(Rule),
                params={"libraryId": library_id})  # fmt: skip


def rule_provenance(rule_id: str) -> Call[RuleProvenance]:
    return Call("GET", f"/v1/rules/{segment(rule_id)}/provenance", data_decoder(RuleProvenance))


def review_rule(rule_id: str, status: str | None, description: str | None,
                idempotency_key: str | None) -> Call[Rule]:  # fmt: skip
    body = {"reviewStatus": UNSET if status is None else status,
            "description": UNSET if description is None else description}  # fmt: skip
    return Call("PATCH", f"/v1/rules/{segment(rule_id)}", data_decoder(Rule),
                body=json_body(body), idempotency_key=idempotency_key)  # fmt: skip


def query(q: str, strategy: str | None, top_k: int | None, library_id: str | None,
          explain: bool) -> Call[KnowledgeAnswer]:  # fmt: skip
    params = {"q": q, "strategy": strategy, "topK": top_k, "libraryId": library_id,
              "include": "explain" if explain else None}  # fmt: skip
    return Call("GET", "/v1/knowledge/query", _answer, params=params)


def discover(parameters: dict[str, Any], idempotency_key: str | None) -> Call[DiscoverAck]:
    return Call("POST", "/v1/knowledge/discover", data_decoder(DiscoverAck),
                body=json_body(parameters), idempotency_key=idempotency_key)  # fmt: skip


def create_memory(text: str, library_id: str | None,
                  idempotency_key: str | None) -> Call[MemoryAck]:  # fmt: skip
    body = {"text": text, "libraryId": UNSET if library_id is None else library_id}
    return Call("POST", "/v1/knowledge/memory", data_decoder(MemoryAck),
                body=json_body(body), idempotency_key=idempotency_key)  # fmt: skip


def get_memory(memory_id: str) -> Call[Memory]:
    return Call("GET", f"/v1/knowledge/memory/{segment(memory_id)}", data_decoder(Memory))


def _parameters(min_support: int | None, min_confidence: float | None,
                top_variants: int | None) -> dict[str, Any]:  # fmt: skip
    given = {"minSupport": min_support, "minConfidence": min_confidence,
             "topVariants": top_variants}  # fmt: skip
    return {k: v for k, v in given.items() if v is not None}


# resources: the same methods, blocking or awaitable
Sender = Callable[[Call[Any]], Any]


class Rules:
    """`client.rules`: list, get, provenance, review (blocking)."""

    def __init__(self, send: Sender) -> None:
        self._send = send

    def list(self, *, review_status: str | None = None, library_id: str | None = None,
             process_id: str | None = None, search: str | None = None, limit: int = 20,
             offset: int = 0) -> Page[RuleSummary]:  # fmt: skip
        call = list_rules(review_status, library_id, process_id, search, limit, offset)
        result: Page[RuleSummary] = self._send(call)
        return result

    def get(self, rule_id: str, *, library_id: str | None = None) -> Rule:
        result: Rule = self._send(get_rule(rule_id, library_id))
        return result

    def provenance(self, rule_id: str) -> RuleProvenance:
        result: RuleProvenance = self._send(rule_provenance(rule_id))
        return result

    def review(self, rule_id: str, *, status: str | None = None, description: str | None = None,
               idempotency_key: str | None = None) -> Rule:  # fmt: skip
        """`status`: confirmed, rejected, inferred (withdraws the review); a `description`
        makes the rule `modified`. Needs an admin key."""
        result: Rule = self._send(review_rule(rule_id, status, description, idempotency_key))
        return result


class Knowledge:
    """`client.knowledge`: query, discover, memory, get_memory (blocking)."""

    def __init__(self, send: Sender) -> None:
        self._send = send

    def query(self, q: str, *, strategy: str | None = None, top_k: int | None = None,
              library_id: str | None = None, explain: bool = False) -> KnowledgeAnswer:  # fmt: skip
        result: KnowledgeAnswer = self._send(query(q, strategy, top_k, library_id, explain))
        return result

    def discover(self, *, min_support: int | None = None, min_confidence: float | None = None,
                 top_variants: int | None = None,
                 idempotency_key: str | None = None) -> DiscoverAck:  # fmt: skip
        """Start a discovery run; follow it with GET /v1/knowledge/libraries/{libraryId}."""
        body = _parameters(min_support, min_confidence, top_variants)
        result: DiscoverAck = self._send(discover(body, idempotency_key))
        return result

    def memory(self, text: str, *, library_id: str | None = None,
               idempotency_key: str | None = None) -> MemoryAck:  # fmt: skip
        result: MemoryAck = self._send(create_memory(text, library_id, idempotency_key))
        return result

    def get_memory(self, memory_id: str) -> Memory:
        result: Memory = self._send(get_memory(memory_id))
        return result


AsyncSender = Callable[[Call[Any]], Awaitable[Any]]


class AsyncRules:
    """`client.rules` of the async client."""

    def __init__(self, send: AsyncSender) -> None:
        self._send = send

    async def list(self, *, review_status: str | None = None, library_id: str | None = None,
                   process_id: str | None = None, search: str | None = None, limit: int = 20,
                   offset: int = 0) -> Page[RuleSummary]:  # fmt: skip
        call = list_rules(review_status, library_id, process_id, search, limit, offset)
        result: Page[RuleSummary] = await self._send(call)
        return result

    async def get(self, rule_id: str, *, library_id: str | None = None) -> Rule:
        result: Rule = await self._send(get_rule(rule_id, library_id))
        return result

    async def provenance(self, rule_id: str) -> RuleProvenance:
        result: RuleProvenance = await self._send(rule_provenance(rule_id))
        return result

    async def review(self, rule_id: str, *, status: str | None = None,
                     description: str | None = None,
                     idempotency_key: str | None = None) -> Rule:  # fmt: skip
        result: Rule = await self._send(review_rule(rule_id, status, description, idempotency_key))
        return result


class AsyncKnowledge:
    """`client.knowledge` of the async client."""

    def __init__(self, send: AsyncSender) -> None:
        self._send = send

    async def query(self, q: str, *, strategy: str | None = None, top_k: int | None = None,
                    library_id: str | None = None, explain: bool = False) -> KnowledgeAnswer:  # fmt: skip
        result: KnowledgeAnswer = await self._send(query(q, strategy, top_k, library_id, explain))
        return result

    async def discover(self, *, min_support: int | None = None,
                       min_confidence: float | None = None, top_variants: int | None = None,
                       idempotency_key: str | None = None) -> DiscoverAck:  # fmt: skip
        body = _parameters(min_support, min_confidence, top_variants)
        result: DiscoverAck = await self._send(discover(body, idempotency_key))
        return result

    async def memory(self, text: str, *, library_id: str | None = None,
                     idempotency_key: str | None = None) -> MemoryAck:  # fmt: skip
        result: MemoryAck = await self._send(create_memory(text, library_id, idempotency_key))
        return result

    async def get_memory(self, memory_id: str) -> Memory:
        result: Memory = await self._send(get_memory(memory_id))
        return result
