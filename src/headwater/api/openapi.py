"""The OpenAPI 3.1 document, built from the same types the server encodes (`schemas.py`).

Each endpoint is declared once in `ENDPOINTS`: method, path, scope, request body type,
success status and data type, and the errors it can answer. Component schemas come
from msgspec, so a field added to a wire type appears in the document by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from headwater.api import rules_wire as rw
from headwater.api import schemas as s
from headwater.api.routes.keys import CreateKey
from headwater.core.knowledge import DiscoverParameters
from headwater.core.mapping import MappingSpec
from headwater.core.sources import CreateSource, PatchSource

REF = "#/components/schemas/{name}"


class RecordIn(msgspec.Struct):
    """One record of an ingest request (spec §4.2)."""

    recordId: str
    entityType: str
    sourceUpdatedAt: str
    payload: dict[str, Any]
    deleted: bool = False


class RenormalizeOptions(msgspec.Struct):
    """The optional body of a renormalize request: an object; no field is read yet."""


class IngestRequest(msgspec.Struct):
    sourceId: str
    records: list[RecordIn]


ERRORS = {
    400: "VALIDATION_ERROR",
    401: "MISSING_AUTH_HEADER or INVALID_API_KEY",
    403: "KEY_REVOKED or INSUFFICIENT_SCOPE",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "SOURCE_NOT_ACTIVE or IDEMPOTENCY_KEY_IN_USE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "IDEMPOTENCY_KEY_REUSED",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "UNAVAILABLE",
}
AUTH_ERRORS = (401, 403, 429)
SERVER_ERRORS = (500, 503)
#: every operation: a NUL in the URL or a repeated query parameter is a 400 (api/middleware.py)
URL_ERRORS = (400,)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    summary: str
    scope: str | None
    status: int
    data: Any  #: a wire type, list[...] of one, or None for a non-envelope body
    body: Any = None
    body_required: bool = True
    errors: tuple[int, ...] = ()
    query: tuple[tuple[str, dict[str, Any]], ...] = ()
    paginated: bool = False
    required_query: tuple[str, ...] = ()
    idempotent: bool = False
    tags: tuple[str, ...] = field(default=())
    #: for a non-envelope body (`data` None): its media type and what it is
    media: str = "application/json"
    body_description: str = "The payload exactly as it was sent."


UUID = {"type": "string", "format": "uuid"}
PAGE = (
    ("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}),
    ("offset", {"type": "integer", "minimum": 0, "default": 0}),
)
EVENT_FILTERS = (
    ("sourceId", UUID),
    ("entityType", {"type": "string"}),
    ("entityId", {"type": "string"}),
    ("action", {"type": "string"}),
    ("actorId", UUID),
    ("from", {"type": "string", "format": "date-time"}),
    ("to", {"type": "string", "format": "date-time"}),
    ("includeDeleted", {"type": "boolean", "default": False}),
    ("after", {"type": "string", "description": "Feed cursor (meta.nextCursor); empty = start."}),
)
EXPORT_FILTERS = (
    ("sourceId", UUID),
    ("entityType", {"type": "string"}),
    ("from", {"type": "string", "format": "date-time"}),
    ("to", {"type": "string", "format": "date-time"}),
    ("includeDeleted", {"type": "boolean", "default": False}),
)
EXPORT_BODY = "{log} (docs/EXPORTS.md), streamed; header `X-Export-Events` holds its event count."

PROCESS_FILTERS = (
    ("sourceId", UUID),
    ("libraryId", {**UUID, "description": "Default: the active library."}),
)

RULE_FILTERS = (
    ("reviewStatus", {"type": "string", "enum": ["inferred", "confirmed", "rejected", "modified"]}),
    ("libraryId", {**UUID, "description": "Default: the active library."}),
    ("processId", {"type": "string", "minLength": 1, "maxLength": 200}),
    ("search", {"type": "string", "minLength": 1, "maxLength": 200,
                "description": "Case-insensitive substring of the description."}),
)  # fmt: skip
QUERY_PARAMS = (
    ("q", {"type": "string", "minLength": 1, "maxLength": 500}),
    ("strategy", {"type": "string", "enum": ["auto", "structured", "hybrid", "graph"],
                  "default": "auto"}),
    ("topK", {"type": "integer", "minimum": 1, "maximum": 50, "default": 10}),
    ("libraryId", {**UUID, "description": "Default: the active library."}),
    ("include", {"type": "string", "enum": ["explain"]}),
)  # fmt: skip

ENDPOINTS = [
    Endpoint("POST", "/v1/sources", "Create a custom source", "ingest", 201, s.SourceOut,
             body=CreateSource, errors=(400, 413, 415, 422, 409), idempotent=True, tags=("sources",)),
    Endpoint("GET", "/v1/sources", "List sources", "read", 200, list[s.SourceOut],
             errors=(400,), query=PAGE, paginated=True, tags=("sources",)),
    Endpoint("GET", "/v1/sources/{sourceId}", "A source with its counts", "read", 200, s.SourceOut,
             errors=(404,), tags=("sources",)),
    Endpoint("PATCH", "/v1/sources/{sourceId}", "Change a source", "ingest", 200, s.SourceOut,
             body=PatchSource, errors=(400, 404, 409, 413, 415, 422), idempotent=True, tags=("sources",)),
    Endpoint("POST", "/v1/sources/{sourceId}/renormalize", "Rebuild a source's events", "ingest",
             202, s.BatchOut, body=RenormalizeOptions, body_required=False,
             errors=(400, 404, 409, 413, 415, 422), idempotent=True, tags=("sources",)),
    Endpoint("POST", "/v1/ingest", "Ingest records", "ingest", 202, s.BatchAck, body=IngestRequest,
             errors=(400, 404, 409, 413, 415, 422), idempotent=True, tags=("ingest",)),
    Endpoint("GET", "/v1/ingest", "List batches", "read", 200, list[s.BatchOut], errors=(400,),
             query=(("sourceId", UUID),
                    ("status", {"type": "string", "enum": ["queued", "processing", "done", "error"]}),
                    *PAGE),
             paginated=True, tags=("ingest",)),
    Endpoint("GET", "/v1/ingest/{batchId}", "Batch status", "read", 200, s.BatchOut, errors=(404,),
             tags=("ingest",)),
    Endpoint("GET", "/v1/ingest/{batchId}/records", "Each record's outcome", "read", 200,
             list[s.RecordOutcome], errors=(400, 404), query=PAGE, paginated=True, tags=("ingest",)),
    Endpoint("GET", "/v1/events", "Events (filters; offset pages or the `after` feed)", "read", 200,
             list[s.EventOut], errors=(400,), query=(*EVENT_FILTERS, *PAGE), paginated=True,
             tags=("events",)),
    Endpoint("GET", "/v1/events/{eventId}", "An event with its provenance", "read", 200,
             s.EventWithProvenance, errors=(404,), tags=("events",)),
    Endpoint("GET", "/v1/sources/{sourceId}/records", "Record heads", "read", 200, list[s.HeadOut],
             errors=(400, 404), query=(("entityType", {"type": "string"}), *PAGE), paginated=True,
             tags=("records",)),
    Endpoint("GET", "/v1/sources/{sourceId}/records/{entityType}/{recordId}",
             "A record's head and a page of its version chain (limit/offset page `versions`; "
             "meta.pagination counts the chain)", "read", 200, s.RecordOut, errors=(400, 404),
             query=PAGE, paginated=True, tags=("records",)),
    Endpoint("GET", "/v1/records/versions/{versionId}/payload", "The verbatim payload bytes", "read",
             200, None, errors=(404,), tags=("records",)),
    Endpoint("GET", "/v1/entities/{sourceId}/{entityType}/{recordId}/timeline",
             "An entity's events with the state before and after", "read", 200,
             list[s.TimelineItem], errors=(400, 404), query=PAGE, paginated=True,
             tags=("records",)),
    Endpoint("GET", "/v1/actors", "Canonical actors with aliases", "read", 200,
             list[s.ActorWithAliases], errors=(400,), query=PAGE, paginated=True, tags=("actors",)),
    Endpoint("GET", "/v1/actors/{actorId}", "One actor (merged ids answer with the canonical one)",
             "read", 200, s.ActorWithAliases, errors=(404,), tags=("actors",)),
    Endpoint("POST", "/v1/keys", "Create an API key (the token is shown once)", "admin", 201,
             s.KeyOut, body=CreateKey, errors=(400, 413, 415, 422, 409), idempotent=True,
             tags=("keys",)),
    Endpoint("GET", "/v1/keys", "List API keys", "admin", 200, list[s.KeyOut], errors=(400,),
             query=PAGE, paginated=True, tags=("keys",)),
    Endpoint("DELETE", "/v1/keys/{keyId}", "Revoke an API key", "admin", 200, s.KeyOut,
             errors=(400, 404, 409, 413, 422), idempotent=True, tags=("keys",)),
    Endpoint("GET", "/v1/export/ocel", "The events as an OCEL 2.0 JSON log (streamed)", "read",
             200, None, errors=(400, 404), query=EXPORT_FILTERS, tags=("export",),
             body_description=EXPORT_BODY.format(log="An OCEL 2.0 JSON event log")),
    Endpoint("GET", "/v1/export/xes", "The events as an IEEE 1849 XES log (streamed)", "read",
             200, None, errors=(400, 404), query=EXPORT_FILTERS, tags=("export",),
             media="application/xml",
             body_description=EXPORT_BODY.format(log="An XES log, one trace per entity")),
    Endpoint("POST", "/v1/knowledge/discover", "Start a discovery run (a new library version)",
             "ingest", 202, s.DiscoverAck, body=DiscoverParameters,
             errors=(400, 409, 413, 415, 422), idempotent=True, tags=("knowledge",)),
    Endpoint("GET", "/v1/knowledge/libraries", "Libraries (discovery runs), newest first", "read",
             200, list[s.LibraryOut], errors=(400,), query=PAGE, paginated=True,
             tags=("knowledge",)),
    Endpoint("GET", "/v1/knowledge/libraries/{libraryId}", "One library (discovery run)", "read",
             200, s.LibraryOut, errors=(404,), tags=("knowledge",)),
    Endpoint("GET", "/v1/processes", "Processes of the active library", "read", 200,
             list[s.ProcessSummary], errors=(400, 404), query=PROCESS_FILTERS + PAGE,
             paginated=True, tags=("processes",)),
    Endpoint("GET", "/v1/processes/{processId}", "One process: steps, transitions, variants",
             "read", 200, s.ProcessOut, errors=(400, 404), query=PROCESS_FILTERS,
             tags=("processes",)),
    Endpoint("GET", "/v1/rules", "Rules of the active library, with memories", "read", 200,
             list[rw.RuleSummary], errors=(400, 404), query=RULE_FILTERS + PAGE, paginated=True,
             tags=("rules",)),
    Endpoint("GET", "/v1/rules/{ruleId}", "One rule: condition and evidence", "read", 200,
             rw.RuleOut, errors=(400, 404), query=PROCESS_FILTERS[1:], tags=("rules",)),
    Endpoint("PATCH", "/v1/rules/{ruleId}", "Review a rule (carries over to later runs)", "admin",
             200, rw.RuleOut, body=rw.RulePatch, errors=(400, 404, 409, 413, 415, 422),
             idempotent=True, tags=("rules",)),
    Endpoint("GET", "/v1/rules/{ruleId}/provenance",
             "Rule -> run -> evidence events -> raw record versions -> sources", "read", 200,
             rw.ProvenanceOut, errors=(400, 404), query=PROCESS_FILTERS[1:], tags=("rules",)),
    Endpoint("GET", "/v1/knowledge/query", "Full-text and structured search over rules", "read",
             200, rw.QueryOut, errors=(400, 404), query=QUERY_PARAMS, required_query=("q",),
             tags=("knowledge",)),
    Endpoint("POST", "/v1/knowledge/memory", "Teach a memory (stored as a human-asserted rule)",
             "ingest", 202, rw.MemoryAck, body=rw.MemoryIn, errors=(400, 404, 409, 413, 415, 422),
             idempotent=True, tags=("knowledge",)),
    Endpoint("GET", "/v1/knowledge/memory/{memoryId}", "One memory", "read", 200, rw.MemoryOut,
             errors=(404,), tags=("knowledge",)),
    Endpoint("GET", "/healthz", "Liveness", None, 200, s.Health, tags=("operations",)),
    Endpoint("GET", "/readyz", "Readiness: storage reachable, schema current", None, 200, s.Health,
             tags=("operations",)),
]  # fmt: skip

UUID_PARAMS = {"sourceId", "batchId", "eventId", "versionId", "actorId", "keyId", "libraryId",
               "ruleId", "memoryId"}  # fmt: skip


def _types() -> list[Any]:
    found: list[Any] = [MappingSpec]
    for endpoint in ENDPOINTS:
        for kind in (endpoint.body, endpoint.data):
            inner = getattr(kind, "__args__", (kind,))[0] if kind is not None else None
            if inner is not None and inner not in found:
                found.append(inner)
    return found


def _ref(kind: Any) -> dict[str, Any]:
    args = getattr(kind, "__args__", None)
    if args:  # list[T]
        return {"type": "array", "items": _ref(args[0])}
    return {"$ref": REF.format(name=kind.__name__)}


def _envelope(data: dict[str, Any], paginated: bool) -> dict[str, Any]:
    meta = "PageMeta" if paginated else "Meta"
    return {
        "type": "object",
        "required": ["success", "data", "meta"],
        "properties": {
            "success": {"const": True},
            "data": data,
            "meta": {"$ref": REF.format(name=meta)},
        },
    }


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = []
    for name in _path_params(endpoint.path):
        schema = UUID if name in UUID_PARAMS else {"type": "string", "minLength": 1}
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    parameters += [
        {"name": n, "in": "query", "required": n in endpoint.required_query, "schema": sch}
        for n, sch in endpoint.query
    ]
    if endpoint.idempotent:
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 255,
                    "pattern": "^[ -~]+$",
                },
                "description": "Retries with the same key and body replay the first response.",
            }
        )
    if endpoint.data is None:
        schema = {"type": "object"} if endpoint.media == "application/json" else {"type": "string"}
        content = {endpoint.media: {"schema": schema}}
        description = endpoint.body_description
    else:
        content = {
            "application/json": {"schema": _envelope(_ref(endpoint.data), endpoint.paginated)}
        }
        description = "Success."
    responses: dict[str, Any] = {
        str(endpoint.status): {"description": description, "content": content}
    }
    codes = (
        set(endpoint.errors)
        | set(URL_ERRORS)
        | set(SERVER_ERRORS)
        | ({*AUTH_ERRORS} if endpoint.scope else set())
    )
    for code in sorted(codes):
        responses[str(code)] = {"$ref": f"#/components/responses/E{code}"}
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "operationId": f"{endpoint.method.lower()}_{_slug(endpoint.path)}",
        "tags": list(endpoint.tags),
        "parameters": parameters,
        "responses": responses,
    }
    if endpoint.scope:
        operation["description"] = f"Needs an API key with scope `{endpoint.scope}`."
        operation["security"] = [{"bearer": []}]
    else:
        operation["security"] = []
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": endpoint.body_required,
            "content": {"application/json": {"schema": _ref(endpoint.body)}},
        }
    return operation


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _slug(path: str) -> str:
    return "_".join(p.strip("{}") for p in path.strip("/").split("/"))


def document() -> dict[str, Any]:
    _, components = msgspec.json.schema_components(_types(), ref_template=REF)
    components["Meta"] = {
        "type": "object",
        "required": ["requestId"],
        "properties": {"requestId": UUID},
    }
    components["PageMeta"] = {
        "type": "object",
        "required": ["requestId"],
        "properties": {
            "requestId": UUID,
            "pagination": {
                "type": "object",
                "required": ["total", "limit", "offset"],
                "properties": {k: {"type": "integer"} for k in ("total", "limit", "offset")},
            },
            "nextCursor": {"type": "string"},
            "hasMore": {"type": "boolean"},
        },
    }
    components["Error"] = {
        "type": "object",
        "required": ["success", "error", "meta"],
        "properties": {
            "success": {"const": False},
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "pattern": "^[A-Z_]+$"},
                    "message": {"type": "string"},
                    "details": {},
                },
            },
            "meta": {"$ref": REF.format(name="Meta")},
        },
    }
    error_content = {"application/json": {"schema": {"$ref": REF.format(name="Error")}}}
    responses = {
        f"E{code}": {"description": codes, "content": error_content}
        for code, codes in ERRORS.items()
    }
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Headwater",
            "version": "1",
            "description": "Ingest records verbatim, deduplicate by content, keep version chains, "
            "normalize into events. Wire-compatible with the Seyn v1 ingestion API.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "responses": responses,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
