"""The Idempotency-Key shell (spec §5) around a write endpoint.

`begin` claims the key (or answers with the remembered response, 409 or 422);
the endpoint then calls `remember` inside its own write transaction, so the response
is stored atomically with the work it describes. A 4xx that a retry would meet again
(400, 404, 422) is remembered too; a 5xx, or a refusal for a passing condition (a paused
source, a rate limit), releases the key so that a retry runs again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from headwater import errors
from headwater.api import envelope, inputs
from headwater.api.auth import Principal, authenticate
from headwater.core import idempotency
from headwater.core.idempotency import Decision, StoredKey
from headwater.core.models import Scope
from headwater.ids import now_micros
from headwater.store.base import Store, WriteTx

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Claim:
    org_id: str
    endpoint: str
    key: str
    request_hash: bytes


async def begin(
    request: Request, store: Store, principal: Principal, body: bytes
) -> Claim | Response | None:
    """None without a key; a Response to send as is for a replay; else the Claim."""
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not idempotency.valid_key(key):
        raise errors.ValidationFailed(
            "Idempotency-Key is invalid.",
            [{"field": "Idempotency-Key", "message": "must be 1-255 printable ASCII characters"}],
        )
    path = request.url.path
    claim = Claim(
        principal.org_id,
        f"{request.method} {path}",
        key,
        idempotency.request_hash(request.method, path, body),
    )

    def decide() -> tuple[Decision, StoredKey | None]:
        owner = store.claimant()
        now = now_micros()
        with store.write() as tx:
            existing = tx.get_idempotency(claim.org_id, claim.endpoint, claim.key)
            # a claim ends with the process that holds it: a retry after a crash runs at once
            alive = (
                existing is not None
                and existing.response_status is None
                and existing.owner is not None
                and tx.claimant_alive(existing.owner)
            )
            decision = idempotency.decide(existing, claim.request_hash, now, owner_alive=alive)
            if decision is Decision.CLAIM:
                lease = now + idempotency.LEASE_MICROS
                running = StoredKey(claim.request_hash, None, None, lease, now, owner)
                tx.put_idempotency(claim.org_id, claim.endpoint, claim.key, running)
        return decision, existing

    decision, existing = await run_in_threadpool(decide)
    if decision is Decision.MISMATCH:
        raise errors.IdempotencyKeyReused()
    if decision is Decision.IN_USE:
        raise errors.IdempotencyKeyInUse()
    if decision is Decision.REPLAY:
        assert existing is not None
        return _replay(existing)
    return claim


def remember(tx: WriteTx, claim: Claim | None, status: int, body: bytes) -> None:
    if claim is not None:
        now = now_micros()
        stored = StoredKey(claim.request_hash, status, body, now, now)
        tx.put_idempotency(claim.org_id, claim.endpoint, claim.key, stored)


async def run(store: Store, claim: Claim | None, request_id: str, work: Callable[[], T]) -> T:
    """Run `work` in a worker thread; on failure, remember a 4xx or release the key."""
    try:
        return await run_in_threadpool(work)
    except errors.HeadwaterError as error:
        if claim is not None:
            await run_in_threadpool(_settle, store, claim, error, request_id)
        raise
    except BaseException:
        if claim is not None:
            await run_in_threadpool(_release, store, claim)
        raise


#: refusals for a condition that passes: a retry with the same key must run again, not
#: replay the refusal (Stripe's rule: remember only what a retry would get anyway)
TRANSIENT: tuple[type[errors.HeadwaterError], ...] = (
    errors.SourceNotActive,
    errors.RateLimited,
    errors.IdempotencyKeyInUse,
)


def remembers(error: errors.HeadwaterError) -> bool:
    """Whether a request that failed with `error` is answered the same way on a retry."""
    return error.status < 500 and not isinstance(error, TRANSIENT)


def _settle(store: Store, claim: Claim, error: errors.HeadwaterError, request_id: str) -> None:
    if not remembers(error):
        _release(store, claim)
        return
    with store.write() as tx:
        remember(tx, claim, error.status, envelope.error_body(error, request_id))


def _release(store: Store, claim: Claim) -> None:
    with store.write() as tx:
        tx.delete_idempotency(claim.org_id, claim.endpoint, claim.key)


class _Meta(msgspec.Struct):
    requestId: str = ""


class _Body(msgspec.Struct):
    meta: _Meta = msgspec.field(default_factory=_Meta)


def _replay(stored: StoredKey) -> Response:
    body = stored.response_body or b""
    original_id = msgspec.json.decode(body, type=_Body).meta.requestId
    headers = {"Idempotent-Replayed": "true"}
    if original_id:
        headers["X-Request-Id"] = original_id
    return Response(
        body, status_code=stored.response_status or 200, media_type=envelope.JSON, headers=headers
    )


#: a write endpoint's work: called outside the transaction with the caller and the body
#: (decode and validate there), it returns what to run inside the write transaction
Prepare = Callable[[Principal, bytes], Callable[[WriteTx], Any]]


async def write_endpoint(
    request: Request,
    scope: Scope,
    status: int,
    prepare: Prepare,
    *,
    body_limit: int,
    json_body: bool = True,
    optional_json_body: bool = False,
) -> Response:
    """The shape every write endpoint shares: authenticate, read the bounded body, claim the
    Idempotency-Key, validate outside the transaction, then one transaction that does the
    work and remembers the response."""
    store = inputs.store_of(request)
    principal = await authenticate(request, store, scope)
    if json_body:
        inputs.require_json(request)
    body = await inputs.read_body(request, body_limit)
    if optional_json_body:
        inputs.require_optional_json(request, body)
    claim = await begin(request, store, principal, body)
    if isinstance(claim, Response):
        return claim
    request_id = inputs.request_id(request)

    def work() -> bytes:
        inside = prepare(principal, body)
        with store.write() as tx:
            response = envelope.success_body(inside(tx), request_id)
            remember(tx, claim, status, response)
        return response

    response_body = await run(store, claim, request_id, work)
    return Response(response_body, status_code=status, media_type=envelope.JSON)
