"""Templates (Jinja2, autoescaped: every value a page shows is escaped, payloads
included) and the small formatting filters they use."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from headwater.core.timestamps import format_micros

PREFIX = "/console"

env = jinja2.Environment(
    loader=jinja2.PackageLoader("headwater.console", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def time(micros: int | None) -> str:
    return format_micros(micros) if micros is not None else "—"


def duration(micros: int | None) -> str:
    if micros is None:
        return "—"
    seconds = micros / 1_000_000
    if seconds < 1:
        return f"{micros / 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def number(value: int | None) -> str:
    return f"{value:,}" if value is not None else "—"


def pretty_json(payload: bytes) -> str:
    """Long JSON formatted for reading (the raw bytes are one click away)."""
    try:
        return json.dumps(json.loads(payload), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return payload.decode("utf-8", errors="replace")


def short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def changes(raw: bytes) -> str:
    """An event's `changes` as `field: from → to` (JSON values), for a table cell."""
    try:
        items = json.loads(raw)
    except ValueError:
        return ""
    return "; ".join(
        f"{c.get('field')}: {json.dumps(c.get('from'), ensure_ascii=False)} → "
        f"{json.dumps(c.get('to'), ensure_ascii=False)}"
        for c in items
        if isinstance(c, dict)
    )


def record_url(source_id: str, entity_type: str, record_id: str) -> str:
    """A record's page. Its key travels in the query string: a recordId may hold any
    character, and a path segment such as `..` would be rewritten by the browser."""
    query = urlencode({"sourceId": source_id, "entityType": entity_type, "recordId": record_id})
    return f"{PREFIX}/record?{query}"


env.filters.update(changes=changes, time=time, duration=duration, number=number, short=short)
env.globals.update(prefix=PREFIX, record_url=record_url)


def page(request: Request, template: str, http_status: int = 200, **context: Any) -> HTMLResponse:
    viewer = getattr(request.state, "viewer", None)
    body = env.get_template(template).render(
        viewer=viewer, path=request.url.path, query=request.query_params, **context
    )
    return HTMLResponse(body, status_code=http_status)
