"""Idempotency-Key rules (spec §5): what a request with a key must do, decided purely."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

#: keys are kept at least this long (spec: at least 24 hours)
RETENTION_MICROS = 24 * 3600 * 1_000_000
#: a claim whose owner lives but whose request never finished (or that names no owner) may
#: be taken over after this long; a claim whose owner died is taken over at once
LEASE_MICROS = 60 * 1_000_000


class Decision(enum.Enum):
    CLAIM = "claim"  #: run the request and remember its response
    REPLAY = "replay"  #: answer with the stored response, do no work
    IN_USE = "in_use"  #: 409: the first request with this key is still running
    MISMATCH = "mismatch"  #: 422: the key was used with a different request


@dataclass(frozen=True, slots=True)
class StoredKey:
    request_hash: bytes
    response_status: int | None  #: None while the first request runs
    response_body: bytes | None
    locked_until: int
    created_at: int
    #: the server instance running the first request (None once it has answered)
    owner: str | None = None


def valid_key(key: str) -> bool:
    """1-255 printable ASCII characters."""
    return 1 <= len(key) <= 255 and all(" " <= ch <= "~" for ch in key)


def request_hash(method: str, path: str, body: bytes) -> bytes:
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    digest.update(body)
    return digest.digest()


def decide(
    existing: StoredKey | None, request: bytes, now: int, owner_alive: bool = True
) -> Decision:
    """`owner_alive`: whether the instance that holds a running claim still runs; a claim
    ends with its process, so a retry after a crash runs at once."""
    if existing is None or existing.created_at + RETENTION_MICROS <= now:
        return Decision.CLAIM
    if existing.request_hash != request:
        return Decision.MISMATCH
    if existing.response_status is None:
        if existing.owner is not None and not owner_alive:
            return Decision.CLAIM
        return Decision.IN_USE if existing.locked_until > now else Decision.CLAIM
    return Decision.REPLAY
