"""Every error Headwater reports, each with its wire code and HTTP status (spec §1).

HeadwaterError
├── ValidationFailed      400 VALIDATION_ERROR
├── MissingAuthHeader     401 MISSING_AUTH_HEADER
├── InvalidApiKey         401 INVALID_API_KEY
├── KeyRevoked            403 KEY_REVOKED
├── InsufficientScope     403 INSUFFICIENT_SCOPE
├── NotFound              404 NOT_FOUND
├── MethodNotAllowed      405 METHOD_NOT_ALLOWED
├── SourceNotActive       409 SOURCE_NOT_ACTIVE
├── IdempotencyKeyInUse   409 IDEMPOTENCY_KEY_IN_USE
├── PayloadTooLarge       413 PAYLOAD_TOO_LARGE
├── UnsupportedMediaType  415 UNSUPPORTED_MEDIA_TYPE
├── IdempotencyKeyReused  422 IDEMPOTENCY_KEY_REUSED
├── RateLimited           429 RATE_LIMITED
├── InternalError         500 INTERNAL_ERROR
└── Unavailable           503 UNAVAILABLE   (storage unreachable or busy; safe to retry)

Only `headwater.api.errors` turns these into HTTP responses; stores raise
`Unavailable` for driver errors that a retry can cure.
"""

from __future__ import annotations

from typing import Any, ClassVar


class HeadwaterError(Exception):
    code: ClassVar[str] = "INTERNAL_ERROR"
    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "An unexpected error occurred."

    def __init__(self, message: str | None = None, details: Any = None) -> None:
        self.message = message or self.default_message
        self.details = details
        super().__init__(self.message)


class ValidationFailed(HeadwaterError):
    code, status, default_message = "VALIDATION_ERROR", 400, "The request is invalid."


class MissingAuthHeader(HeadwaterError):
    code, status = "MISSING_AUTH_HEADER", 401
    default_message = "Send an API key as 'Authorization: Bearer sk_live_…'."


class InvalidApiKey(HeadwaterError):
    code, status, default_message = "INVALID_API_KEY", 401, "The API key is not valid."


class KeyRevoked(HeadwaterError):
    code, status, default_message = "KEY_REVOKED", 403, "The API key has been revoked."


class InsufficientScope(HeadwaterError):
    code, status = "INSUFFICIENT_SCOPE", 403
    default_message = "The API key lacks the scope this endpoint needs."


class NotFound(HeadwaterError):
    code, status, default_message = "NOT_FOUND", 404, "Not found."


class MethodNotAllowed(HeadwaterError):
    code, status, default_message = "METHOD_NOT_ALLOWED", 405, "Method not allowed."


class SourceNotActive(HeadwaterError):
    code, status, default_message = "SOURCE_NOT_ACTIVE", 409, "The source is not active."


class IdempotencyKeyInUse(HeadwaterError):
    code, status = "IDEMPOTENCY_KEY_IN_USE", 409
    default_message = "A request with this Idempotency-Key is still being processed."


class PayloadTooLarge(HeadwaterError):
    code, status = "PAYLOAD_TOO_LARGE", 413
    default_message = "The request body exceeds 10 MiB (10485760 bytes)."


class UnsupportedMediaType(HeadwaterError):
    code, status = "UNSUPPORTED_MEDIA_TYPE", 415
    default_message = "Send the body as 'Content-Type: application/json'."


class IdempotencyKeyReused(HeadwaterError):
    code, status = "IDEMPOTENCY_KEY_REUSED", 422
    default_message = "This Idempotency-Key was already used with a different request body."


class RateLimited(HeadwaterError):
    code, status, default_message = "RATE_LIMITED", 429, "Too many requests."

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InternalError(HeadwaterError):
    pass


class Unavailable(HeadwaterError):
    code, status = "UNAVAILABLE", 503
    default_message = "Storage is unavailable; the request is safe to retry."
