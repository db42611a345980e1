"""Rules (spec §10.2), their provenance, the knowledge query and memories (§10.3).

Rules are read from the organisation's active library (or the one `libraryId` names),
together with its memories; a review (`PATCH`) is stored per rule id, so it applies to
every library that has the rule and to those later runs write.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Literal, TypeVar

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from headwater import errors
from headwater.api import envelope, inputs
from headwater.api import rules_wire as w
from headwater.api.auth import Principal, authenticate
from headwater.api.idempotency import write_endpoint
from headwater.api.routes.knowledge import library_of
from headwater.core import search
from headwater.core.knowledge import ALGORITHM, process_name
from headwater.core.models import Scope
from headwater.core.process import Process
from headwater.core.rules import (
    MEMORY_LIBRARY,
    REVIEW_STATUSES,
    Evidence,
    RuleDetail,
    RuleFilter,
    StoredRule,
)
from headwater.core.timestamps import format_micros
from headwater.core.validation import parse_uuid
from headwater.ids import new_id, now_micros
from headwater.store.base import Store, WriteTx

MAX_PATCH_BODY = 64 * 1024
MAX_DESCRIPTION = 2_000
MAX_QUERY = 500
MAX_SEARCH = 200
DEFAULT_TOP_K, MAX_TOP_K = 10, 50

_UNKNOWN_FIELD = re.compile(r"Object contains unknown field `(.*)`")
T = TypeVar("T")
_process_detail = msgspec.json.Decoder(Process).decode
_canonical = msgspec.json.Encoder(order="sorted").encode


def _invalid(name: str, message: str) -> errors.ValidationFailed:
    return errors.ValidationFailed(
        f"Query parameter {name} is invalid.", [{"field": name, "message": message}]
    )


def _text_param(request: Request, name: str, limit: int) -> str | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not raw.strip() or len(raw) > limit:
        raise _invalid(name, f"must be 1 to {limit} characters, not blank")
    return raw


def _choice(request: Request, name: str, choices: tuple[str, ...]) -> str | None:
    raw = request.query_params.get(name)
    if raw is not None and raw not in choices:
        raise _invalid(name, f"must be one of {', '.join(choices)}")
    return raw


async def list_rules(request: Request) -> Response:
    store = inputs.store_of(request)
    principal = await authenticate(request, store, Scope.READ)
    limit, offset = inputs.page(request)
    status = _choice(request, "reviewStatus", REVIEW_STATUSES)
    process_id = _text_param(request, "processId", MAX_SEARCH)
    text = _text_param(request, "search", MAX_SEARCH)

    def load() -> tuple[list[w.RuleSummary], int]:
        library_id = library_of(request, principal.org_id)
        filters = RuleFilter(library_id, status, process_id, text)
        page = store.list_rules(principal.org_id, filters, limit, offset)
        return [w.rule_summary(r) for r in page], page.total

    items, total = await run_in_threadpool(load)
    return envelope.success(
        items, inputs.request_id(request), pagination=inputs.pagination(total, limit, offset)
    )


def _load_rule(store: Store, request: Request, org_id: str) -> StoredRule:
    rule_id = inputs.path_id(request, "rule_id", "Rule")
    found = store.get_rule(org_id, rule_id, library_of(request, org_id))
    if found is None:
        raise errors.NotFound("Rule not found.")
    return found


async def get_rule(request: Request) -> Response:
    store = inputs.store_of(request)
    principal = await authenticate(request, store, Scope.READ)
    found = await run_in_threadpool(_load_rule, store, request, principal.org_id)
    return envelope.success(w.rule(found), inputs.request_id(request))


def _fits(text: str) -> bool:
    """Text people write: not blank, bounded, and no NUL (no database stores one)."""
    return bool(text.strip()) and len(text) <= MAX_DESCRIPTION and "\x00" not in text


def _decode(body: bytes, kind: type[T]) -> T:
    """`inputs.decode`, naming an unknown field in `details`."""
    try:
        return inputs.decode(body, kind)
    except errors.ValidationFailed as exc:
        unknown = _UNKNOWN_FIELD.fullmatch(str(exc.details[0]["message"]))
        if unknown:
            exc.details[0]["field"] = unknown.group(1)
        raise


def _patch_of(body: bytes) -> tuple[str, str | None]:
    patch = _decode(body, w.RulePatch)
    status = patch.reviewStatus if patch.reviewStatus is not msgspec.UNSET else None
    description = patch.description if patch.description is not msgspec.UNSET else None
    if description is not None:
        if not _fits(description):
            raise errors.ValidationFailed(
                "Request body is invalid.",
                [{"field": "description",
                  "message": f"must be 1 to {MAX_DESCRIPTION} characters, not blank"}],
            )  # fmt: skip
        if status not in (None, "modified"):
            raise errors.ValidationFailed(
                "Request body is invalid.",
                [{"field": "reviewStatus", "message": "a new description makes it modified"}],
            )
        return "modified", description
    if status is None:
        raise errors.ValidationFailed(
            "Request body is invalid.",
            [{"field": "body", "message": "send reviewStatus or description"}],
        )
    if status == "modified":
        raise errors.ValidationFailed(
            "Request body is invalid.",
            [{"field": "description", "message": "modified needs the new description"}],
        )
    return status, None


async def patch_rule(request: Request) -> Response:
    rule_id = inputs.path_id(request, "rule_id", "Rule")

    def prepare(principal: Principal, body: bytes) -> Callable[[WriteTx], w.RuleOut]:
        status, description = _patch_of(body)

        def inside(tx: WriteTx) -> w.RuleOut:
            org_id = principal.org_id
            found = tx.get_rule(org_id, rule_id, None)
            if found is None:
                raise errors.NotFound("Rule not found.")
            if status == "inferred" and found.kind == "human":
                raise errors.ValidationFailed(
                    "Request body is invalid.",
                    [{"field": "reviewStatus", "message": "a memory is not inferred"}],
                )
            tx.review_rule(org_id, rule_id, status, description, principal.key.id, now_micros())
            updated = tx.get_rule(org_id, rule_id, found.library_id)
            assert updated is not None
            return w.rule(updated)

        return inside

    return await write_endpoint(request, Scope.ADMIN, 200, prepare, body_limit=MAX_PATCH_BODY)


def _provenance(store: Store, request: Request, org_id: str) -> w.ProvenanceOut:
    found = _load_rule(store, request, org_id)
    assert found.detail is not None
    condition, evidence = found.detail.condition, found.detail.evidence
    head = w.ProvenanceRule(id=found.id, description=found.description, process_id=found.process_id)
    if found.kind == "human":
        return w.ProvenanceOut(
            rule=head,
            inference_log=w.InferenceLog(
                id=found.id,
                model="human",
                prompt_hash=hashlib.sha256(str(condition["text"]).encode()).hexdigest(),
                token_count=w.TokenCount(input=0, output=1, total=1),
                latency_ms=0,
                created_at=format_micros(found.created_at),
            ),
            source_events=[],
            raw_records=[],
            sources=[],
            source_events_total=0,
            taught_by=w.TaughtBy(
                key_id=str(condition["keyId"]),
                label=str(condition["keyLabel"]),
                prefix=str(condition["keyPrefix"]),
            ),
        )
    library = store.get_library(org_id, found.library_id)
    assert library is not None
    events_read, rules = library.events_read or 0, library.rules or 0
    latency = 0
    if library.started_at is not None and library.completed_at is not None:
        latency = (library.completed_at - library.started_at) // 1000
    log = w.InferenceLog(
        id=library.id,
        model=ALGORITHM,
        prompt_hash=hashlib.sha256(_canonical(library.parameters)).hexdigest(),
        token_count=w.TokenCount(input=events_read, output=rules, total=events_read + rules),
        latency_ms=latency,
        created_at=format_micros(library.completed_at or library.created_at),
    )
    events: list[w.SourceEvent] = []
    roles = [(i, "example") for i in evidence.example_event_ids] + [
        (i, "counterExample") for i in evidence.counter_example_event_ids
    ]
    for event_id, role in roles:
        stored = store.get_event(org_id, event_id)
        if stored is None:
            continue  # renormalized away since the run; the rule's counts still stand
        row = stored.row
        events.append(
            w.SourceEvent(
                id=row.id,
                action=row.action,
                entity_type=row.key.entity_type,
                timestamp=format_micros(row.timestamp),
                entity_id=row.key.record_id,
                source_id=row.source_id,
                record_version_id=row.record_version_id,
                role=role,  # type: ignore[arg-type]
            )
        )
    versions = store.get_versions(org_id, [e.record_version_id for e in events])
    raw = [
        w.RawRecord(
            id=v.id,
            connector_type="custom_api",
            ingested_at=format_micros(v.ingested_at),
            source_id=v.source_id,
            entity_type=v.key.entity_type,
            record_id=v.key.record_id,
            batch_id=v.batch_id,
        )
        for v in (versions[i] for i in dict.fromkeys(e.record_version_id for e in events))
    ]
    sources = []
    for source_id in dict.fromkeys(r.source_id for r in raw):
        source = store.get_source(org_id, source_id)
        if source is not None:
            sources.append(w.SourceOutRef(id=source.id, name=source.name, type=source.type))
    return w.ProvenanceOut(
        rule=head,
        inference_log=log,
        source_events=events,
        raw_records=raw,
        sources=sources,
        source_events_total=evidence.support + evidence.counter_examples,
        taught_by=None,
    )


async def rule_provenance(request: Request) -> Response:
    store = inputs.store_of(request)
    principal = await authenticate(request, store, Scope.READ)
    found = await run_in_threadpool(_provenance, store, request, principal.org_id)
    return envelope.success(found, inputs.request_id(request))


#: process and step names per (store, organisation, library): a finished library never
#: changes, so a query reads them once instead of once per process
_NAMES: OrderedDict[tuple[int, str, str], list[search.ProcessNames]] = OrderedDict()
NAMES_CACHED = 256


def _process_names(store: Store, org_id: str, library_id: str | None) -> list[search.ProcessNames]:
    if library_id is None:
        return []
    key = (id(store), org_id, library_id)
    cached = _NAMES.get(key)
    if cached is None:
        cached = _read_names(store, org_id, library_id)
        if cached:  # a run writes its processes when it completes: none yet, ask again
            _NAMES[key] = cached
            while len(_NAMES) > NAMES_CACHED:
                _NAMES.popitem(last=False)
    return cached


def _read_names(store: Store, org_id: str, library_id: str) -> list[search.ProcessNames]:
    found = []
    offset = 0
    while True:
        page = store.list_processes(org_id, library_id, "", 100, offset)
        for p in page:
            detail = store.get_process(org_id, library_id, "", p.process_id)
            steps = tuple(s.name for s in _process_detail(detail.detail).steps) if detail else ()
            found.append(
                search.ProcessNames(p.process_id, p.entity_type, process_name(p.entity_type), steps)
            )
        offset += len(page.items)
        if len(page.items) < 100:
            return found


async def knowledge_query(request: Request) -> Response:
    store = inputs.store_of(request)
    principal = await authenticate(request, store, Scope.READ)
    query = _text_param(request, "q", MAX_QUERY)
    if query is None:
        raise _invalid("q", "is required")
    strategy = _choice(request, "strategy", search.STRATEGIES) or "auto"
    top_k = _top_k(request)
    include = request.query_params.get("include")
    if include is not None and not set(include.split(",")) <= {"explain"}:
        raise _invalid("include", "must be explain")
    used = "hybrid" if strategy == "auto" else strategy
    org_id = principal.org_id

    def load() -> tuple[w.QueryOut, int]:
        library_id = library_of(request, org_id)
        names = _process_names(store, org_id, library_id)
        by_id = {p.process_id: p for p in names}
        terms = search.terms(query)
        text: list[tuple[str, float, float, StoredRule]] = []
        text_total = 0
        mode: Literal["all", "any"] = "all"
        build = search.fts5_query if store.backend == "sqlite" else search.tsquery
        if used == "hybrid" and terms:
            hits, text_total = store.search_rules(org_id, library_id, build(terms, True), 2 * top_k)
            if len(hits) < top_k and len(terms) > 1:  # too few with every word: any word
                mode = "any"
                hits, text_total = store.search_rules(
                    org_id, library_id, build(terms, False), 2 * top_k
                )
            text = [(r.id, r.confidence, search.text_score(rank), r) for r, rank in hits]
        matches = search.structured_matches(query, names)
        structured: list[tuple[str, float, float, StoredRule]] = []
        structured_total = 0
        for match in matches:
            bonus = search.STEP_BONUS if match.steps else search.PROCESS_BONUS
            found, count = store.rules_at_steps(
                org_id, library_id, match.process_id, match.steps, 2 * top_k
            )
            structured_total += count
            structured += [(r.id, r.confidence, bonus, r) for r in found]
        ranked, merged = search.rank(text, structured, top_k)
        overlap = len({t[0] for t in text} & {s[0] for s in structured})
        results = []
        for item in ranked:
            r = item.item
            p = by_id.get(r.process_id) if r.process_id else None
            results.append(
                w.QueryResult(
                    rule_id=r.id,
                    description=r.description,
                    process_id=r.process_id,
                    process_name=p.name if p else None,
                    step=r.applies_at_step,
                    confidence=r.confidence,
                    score=item.score,
                )
            )
        out = w.QueryOut(results=results)
        if include is not None:
            out.explain = w.Explain(
                strategy=used,
                terms=terms,
                text_match=mode,
                index="sqlite-fts5" if store.backend == "sqlite" else "postgresql-tsvector",
                text_candidates=text_total,
                structured_candidates=structured_total,
                process_matches=[m.process_id for m in matches],
                step_matches=[
                    w.StepMatch(process_id=m.process_id, step=s) for m in matches for s in m.steps
                ],
                merged=merged,
                returned=len(results),
                vector_candidates=0,
                reranker_used=False,
                reranked=0,
            )
        return out, text_total + structured_total - overlap

    out, total = await run_in_threadpool(load)
    meta = {"requestId": inputs.request_id(request), "total": total, "strategy": used}
    return envelope.success_with_meta(out, meta)


def _top_k(request: Request) -> int:
    raw = request.query_params.get("topK")
    if raw is None:
        return DEFAULT_TOP_K
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 3) or not 1 <= int(raw) <= MAX_TOP_K:
        raise _invalid("topK", f"must be an integer from 1 to {MAX_TOP_K}")
    return int(raw)


async def create_memory(request: Request) -> Response:
    store = inputs.store_of(request)

    def prepare(principal: Principal, body: bytes) -> Callable[[WriteTx], w.MemoryAck]:
        memory = _decode(body, w.MemoryIn)
        text = memory.text.strip()
        if not _fits(memory.text):
            raise errors.ValidationFailed(
                "Request body is invalid.",
                [{"field": "text", "message": f"must be 1 to {MAX_DESCRIPTION} characters"}],
            )
        library_id = None
        if memory.libraryId is not None:
            library_id = parse_uuid(memory.libraryId)
            if library_id is None:
                raise errors.ValidationFailed(
                    "Request body is invalid.",
                    [{"field": "libraryId", "message": "must be a UUID"}],
                )
            if store.get_library(principal.org_id, library_id) is None:
                raise errors.NotFound("Library not found.")
        else:
            library_id = store.active_library_id(principal.org_id)
        matches = search.structured_matches(
            text, _process_names(store, principal.org_id, library_id)
        )
        match = matches[0] if matches else None
        now = now_micros()
        key = principal.key
        rule = StoredRule(
            library_id=MEMORY_LIBRARY,
            id=new_id(),
            org_id=principal.org_id,
            kind="human",
            type="memory",
            process_id=match.process_id if match else None,
            applies_at_step=match.steps[0] if match and match.steps else None,
            description=text,
            confidence=1.0,
            frequency=0,
            review_status="confirmed",
            created_at=now,
            updated_at=now,
            detail=RuleDetail(
                condition={
                    "kind": "human", "type": "memory", "text": text, "libraryId": library_id,
                    "keyId": key.id, "keyLabel": key.label, "keyPrefix": key.prefix,
                },
                evidence=Evidence(0, 0, 0, (), ()),
            ),
        )  # fmt: skip

        def inside(tx: WriteTx) -> w.MemoryAck:
            tx.insert_memory(rule)
            return w.MemoryAck(
                memory_id=rule.id, status="done", text=text, created_at=format_micros(now)
            )

        return inside

    return await write_endpoint(request, Scope.INGEST, 202, prepare, body_limit=MAX_PATCH_BODY)


async def get_memory(request: Request) -> Response:
    store = inputs.store_of(request)
    principal = await authenticate(request, store, Scope.READ)
    memory_id = inputs.path_id(request, "memory_id", "Memory")
    found = await run_in_threadpool(store.get_rule, principal.org_id, memory_id, None)
    if found is None or found.kind != "human":
        raise errors.NotFound("Memory not found.")
    return envelope.success(w.memory(found), inputs.request_id(request))


routes = [
    Route("/v1/rules", list_rules, methods=["GET"]),
    Route("/v1/rules/{rule_id}", get_rule, methods=["GET"]),
    Route("/v1/rules/{rule_id}", patch_rule, methods=["PATCH"]),
    Route("/v1/rules/{rule_id}/provenance", rule_provenance, methods=["GET"]),
    Route("/v1/knowledge/query", knowledge_query, methods=["GET"]),
    Route("/v1/knowledge/memory", create_memory, methods=["POST"]),
    Route("/v1/knowledge/memory/{memory_id}", get_memory, methods=["GET"]),
]
