"""Reading what a request sends: bounded bodies, media types, query and path values."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from starlette.requests import Request

from headwater import errors
from headwater.core import canonical, jsonbody
from headwater.core.validation import parse_uuid
from headwater.store.base import Store

T = TypeVar("T")

DEFAULT_LIMIT, MAX_LIMIT = 20, 100


def request_id(request: Request) -> str:
    return str(request.scope["state"]["request_id"])


def require_json(request: Request) -> None:
    """415 unless the body is declared `application/json` (parameters allowed), in UTF-8:
    a `charset` parameter other than UTF-8 is refused rather than misread."""
    media_type, *parameters = request.headers.get("content-type", "").split(";")
    if media_type.strip().lower() != "application/json":
        raise errors.UnsupportedMediaType()
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() != "utf-8":
            raise errors.UnsupportedMediaType(
                f"Charset {value.strip()!r} is not supported; send UTF-8."
            )


def refuse_content_encoding(request: Request) -> None:
    """415 for a compressed body: the server decodes no Content-Encoding (a decompression
    step would be one more limit to enforce), and reading gzip as JSON would be a
    misleading 400."""
    for value in request.headers.getlist("content-encoding"):
        for coding in value.split(","):
            if coding.strip().lower() not in ("", "identity"):
                raise errors.UnsupportedMediaType(
                    f"Content-Encoding {coding.strip()!r} is not supported; send the body"
                    " uncompressed."
                )


def require_optional_json(request: Request, body: bytes) -> None:
    """For endpoints whose body is optional: an empty body is no body, whatever its declared
    type; a body sent must be `application/json` (415) holding an object (400)."""
    if body:
        require_json(request)
        decode(body, dict[str, Any])


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, never buffering more than `limit` bytes whatever the headers say."""
    refuse_content_encoding(request)
    declared = request.headers.get("content-length")
    if declared is not None:
        if not _is_number(declared.strip()):
            raise errors.ValidationFailed("Content-Length is not a number.")
        if int(declared) > limit:
            raise errors.PayloadTooLarge()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise errors.PayloadTooLarge()
    return bytes(body)


def decode(body: bytes, type_: type[T], choices: dict[str, str] | None = None) -> T:
    """Decode a JSON body into a msgspec type; 400 with `details` when it does not fit.

    The body must be UTF-8 throughout and repeat no key in any object (these bodies are
    small, so the duplicate check decodes them twice). `choices` names the allowed values
    of enum fields for the error message.
    """
    try:
        if not jsonbody.is_utf8(body):
            raise UnicodeDecodeError("utf-8", body, 0, len(body), "invalid")
        untyped = _json(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise _not_json(body, exc) from None
    except msgspec.ValidationError:  # a number out of range: the typed decode names it
        untyped = None
    if untyped is not None:
        try:
            duplicated = canonical.has_duplicate_keys(body, _encode(untyped))
        except RecursionError:
            duplicated = False  # the typed decode below refuses what nests that deep
        if duplicated:
            raise duplicate_key_error(jsonbody.duplicate_key(body) or jsonbody.BODY)
    try:
        return msgspec.json.decode(body, type=type_)
    except msgspec.ValidationError as exc:
        field, message = jsonbody.validation_detail(exc, choices)
        raise errors.ValidationFailed(
            "Request body is invalid.", [{"field": field, "message": message}]
        ) from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise _not_json(body, exc) from None


_json = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


def _not_json(body: bytes, exc: Exception) -> errors.ValidationFailed:
    message = jsonbody.decode_error_message(body, exc)
    return errors.ValidationFailed(
        "Request body is not valid JSON.", [{"field": jsonbody.BODY, "message": message}]
    )


def duplicate_key_error(field: str) -> errors.ValidationFailed:
    return errors.ValidationFailed(
        "Request body repeats a key.",
        [{"field": field, "message": "appears more than once in its object"}],
    )


def page(request: Request) -> tuple[int, int]:
    """`limit` (1-100, default 20) and `offset` (>= 0, default 0)."""
    limit = _int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _int_param(request, "offset", 0, 0, 2**62)
    return limit, offset


def pagination(total: int, limit: int, offset: int) -> dict[str, int]:
    return {"total": total, "limit": limit, "offset": offset}


def path_id(request: Request, name: str, what: str) -> str:
    """A UUID path parameter; anything else cannot exist, so it is a 404."""
    value = parse_uuid(request.path_params[name])
    if value is None:
        raise errors.NotFound(f"{what} not found.")
    return value


def query_uuid(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    value = parse_uuid(raw)
    if value is None:
        raise errors.ValidationFailed(
            f"Query parameter {name} is invalid.", [{"field": name, "message": "must be a UUID"}]
        )
    return value


def query_enum(request: Request, name: str, choices: Any) -> Any:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return choices(raw)
    except ValueError:
        allowed = ", ".join(c.value for c in choices)
        raise errors.ValidationFailed(
            f"Query parameter {name} is invalid.",
            [{"field": name, "message": f"must be one of {allowed}"}],
        ) from None


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not _is_number(raw) or not low <= int(raw) <= high:
        raise errors.ValidationFailed(
            f"Query parameter {name} is invalid.",
            [{"field": name, "message": f"must be an integer from {low} to {high}"}],
        )
    return int(raw)


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 19


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store
