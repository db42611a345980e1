"""Key management over HTTP (spec §2, extension), scope `admin`. Keys are immutable."""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from headwater import errors, keys
from headwater.api import envelope, idempotency, inputs, wire
from headwater.api.auth import authenticate
from headwater.core.models import Scope
from headwater.ids import now_micros

MAX_KEY_BODY = 64 * 1024


class CreateKey(msgspec.Struct, forbid_unknown_fields=True):
    label: Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern="^[^\x00]*$")]
    scopes: Annotated[list[Scope], msgspec.Meta(min_length=1)]


async def create_key(request: Request) -> Response:
    store = inputs.store_of(request)
    principal = await authenticate(request, store, Scope.ADMIN)
    inputs.require_json(request)
    body = await inputs.read_body(request, MAX_KEY_BODY)
    claim = await idempotency.begin(request, store, principal, body)
    if isinstance(claim, Response):
        return claim
    request_id = inputs.request_id(request)

    def work() -> bytes:
        fields = inputs.decode(body, CreateKey)
        with store.write() as tx:
            key, token = keys.issue(tx, principal.org_id, fields.label, fields.scopes)
            response = envelope.success_body(wire.api_key(key, token), request_id)
            idempotency.remember(tx, claim, 201, response)
        return response

    response_body = await idempotency.run(store, claim, request_id, work)
    return Response(response_body, status_code=201, media_type=envelope.JSON)


async def list_keys(request: Request) -> Response:
    store = inputs.store_of(request)
    principal = await authenticate(request, store, Scope.ADMIN)
    limit, offset = inputs.page(request)
    page = await run_in_threadpool(store.list_api_keys, principal.org_id, limit, offset)
    return envelope.success(
        [wire.api_key(k) for k in page],
        inputs.request_id(request),
        pagination=inputs.pagination(page.total, limit, offset),
    )


async def revoke_key(request: Request) -> Response:
    store = inputs.store_of(request)
    principal = await authenticate(request, store, Scope.ADMIN)
    key_id = inputs.path_id(request, "key_id", "API key")
    body = await inputs.read_body(request, MAX_KEY_BODY)
    claim = await idempotency.begin(request, store, principal, body)
    if isinstance(claim, Response):
        return claim
    request_id = inputs.request_id(request)

    def work() -> bytes:
        with store.write() as tx:
            key = tx.revoke_api_key(principal.org_id, key_id, now_micros())
            if key is None:
                raise errors.NotFound("API key not found.")
            response = envelope.success_body(wire.api_key(key), request_id)
            idempotency.remember(tx, claim, 200, response)
        return response

    response_body = await idempotency.run(store, claim, request_id, work)
    return Response(response_body, media_type=envelope.JSON)


routes = [
    Route("/v1/keys", create_key, methods=["POST"]),
    Route("/v1/keys", list_keys, methods=["GET"]),
    Route("/v1/keys/{key_id}", revoke_key, methods=["DELETE"]),
]
