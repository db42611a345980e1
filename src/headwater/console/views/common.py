"""Small helpers the console's views share: ids from paths, query values, redirects."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse

from headwater import errors
from headwater.console import render
from headwater.core.validation import parse_uuid

#: rows per list page
PAGE = 50


def path_id(request: Request, name: str) -> str:
    """A UUID path value; anything else cannot exist, so it is the 404 page."""
    value = parse_uuid(request.path_params[name])
    if value is None:
        raise errors.NotFound()
    return value


def query_uuid(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    value = parse_uuid(raw)
    if value is None:
        raise errors.ValidationFailed(f"{name} must be a UUID.")
    return value


def query_text(request: Request, name: str, limit: int = 255) -> str | None:
    raw = request.query_params.get(name, "").strip()
    if "\x00" in raw or len(raw) > limit:
        raise errors.ValidationFailed(f"{name} is too long or holds a NUL character.")
    return raw or None


def redirect(path: str) -> RedirectResponse:
    """After a POST, back to a console page (a path, never built from the Host header)."""
    return RedirectResponse(f"{render.PREFIX}{path}", status_code=303)


def query_offset(request: Request) -> int:
    raw = request.query_params.get("offset", "0")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else 0
