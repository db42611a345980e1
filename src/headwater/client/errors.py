"""The one error type of the client."""

from __future__ import annotations

from typing import Any


class HeadwaterError(Exception):
    """An error answer from Headwater (the spec §1 envelope), or no answer at all.

    `status` is the HTTP status (None when no response arrived: see `ConnectionFailed`),
    `code` the envelope's `UPPER_SNAKE` code, `message` its message, `request_id` the
    `meta.requestId` (equal to the `X-Request-Id` header) to quote in a bug report,
    `details` the optional validation details, and `retry_after` the seconds the server
    asked to wait (429 / 503), if it said.
    """

    def __init__(
        self,
        status: int | None,
        code: str,
        message: str,
        request_id: str | None = None,
        details: Any = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.details = details
        self.retry_after = retry_after
        #: set by `ingest_all` when it stops on this error: what was done before it
        #: (an `IngestResult`; re-sending everything is safe, stored records are unchanged)
        self.partial: Any = None
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"HTTP {self.status} " if self.status is not None else ""
        request = f" (request {self.request_id})" if self.request_id else ""
        return f"{where}{self.code}: {self.message}{request}"

    def __repr__(self) -> str:
        return (
            f"HeadwaterError(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r}, request_id={self.request_id!r})"
        )

    @property
    def retryable(self) -> bool:
        """Whether sending the same request again (same Idempotency-Key) may succeed."""
        if self.status is None or self.status == 429 or self.status >= 500:
            return True
        return self.status == 409 and self.code == "IDEMPOTENCY_KEY_IN_USE"


class ConnectionFailed(HeadwaterError):
    """No HTTP answer: the server was unreachable or the connection broke (after retries)."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(None, "CONNECTION_ERROR", message)
        self.cause = cause
