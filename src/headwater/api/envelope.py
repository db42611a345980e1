"""The response envelope (spec §1): success and error bodies, JSON-encoded once."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response

from headwater import errors

_encode = msgspec.json.Encoder().encode

JSON = "application/json"


def success_body(data: Any, request_id: str, pagination: dict[str, int] | None = None) -> bytes:
    meta: dict[str, Any] = {"requestId": request_id}
    if pagination is not None:
        meta["pagination"] = pagination
    return _encode({"success": True, "data": data, "meta": meta})


def error_body(error: errors.HeadwaterError, request_id: str) -> bytes:
    detail: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.details is not None:
        detail["details"] = error.details
    return _encode({"success": False, "error": detail, "meta": {"requestId": request_id}})


def success(
    data: Any,
    request_id: str,
    status: int = 200,
    pagination: dict[str, int] | None = None,
) -> Response:
    return Response(success_body(data, request_id, pagination), status_code=status, media_type=JSON)


def failure(error: errors.HeadwaterError, request_id: str) -> Response:
    headers = {}
    if isinstance(error, errors.RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    if error.status == 401:  # RFC 6750 §3: say which scheme to use, and why the token failed
        headers["WWW-Authenticate"] = (
            'Bearer realm="headwater", error="invalid_token"'
            if isinstance(error, errors.InvalidApiKey)
            else 'Bearer realm="headwater"'
        )
    return Response(
        error_body(error, request_id), status_code=error.status, media_type=JSON, headers=headers
    )


def success_with_meta(data: Any, meta: dict[str, Any], status: int = 200) -> Response:
    """A success envelope whose `meta` carries more than the request id (the event feed)."""
    return Response(
        _encode({"success": True, "data": data, "meta": meta}), status_code=status, media_type=JSON
    )
