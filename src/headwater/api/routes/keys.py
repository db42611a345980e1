"""Key management over HTTP (spec §2, extension), scope `admin`. Keys are immutable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from headwater import errors, keys
from headwater.api import envelope, inputs, schemas, wire
from headwater.api.auth import Principal, authenticate
from headwater.api.idempotency import write_endpoint
from headwater.core.models import Scope
from headwater.ids import now_micros
from headwater.store.base import WriteTx

MAX_KEY_BODY = 64 * 1024


class CreateKey(msgspec.Struct, forbid_unknown_fields=True):
    label: Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern="^[^\x00]*$")]
    scopes: Annotated[list[Scope], msgspec.Meta(min_length=1)]


async def create_key(request: Request) -> Response:
    def prepare(principal: Principal, body: bytes) -> Callable[[WriteTx], schemas.KeyOut]:
        fields = inputs.decode(body, CreateKey, {"scopes": ", ".join(s.value for s in Scope)})

        def inside(tx: WriteTx) -> schemas.KeyOut:
            key, token = keys.issue(tx, principal.org_id, fields.label, fields.scopes)
            return wire.api_key(key, token)

        return inside

    response = await write_endpoint(request, Scope.ADMIN, 201, prepare, body_limit=MAX_KEY_BODY)
    # the body shows a token (a replay shows it again): no cache may keep it
    response.headers["Cache-Control"] = "no-store"
    return response


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
    key_id = inputs.path_id(request, "key_id", "API key")

    def prepare(principal: Principal, body: bytes) -> Callable[[WriteTx], schemas.KeyOut]:
        def inside(tx: WriteTx) -> schemas.KeyOut:
            key = tx.revoke_api_key(principal.org_id, key_id, now_micros())
            if key is None:
                raise errors.NotFound("API key not found.")
            return wire.api_key(key)

        return inside

    return await write_endpoint(
        request, Scope.ADMIN, 200, prepare, body_limit=MAX_KEY_BODY, json_body=False
    )


routes = [
    Route("/v1/keys", create_key, methods=["POST"]),
    Route("/v1/keys", list_keys, methods=["GET"]),
    Route("/v1/keys/{key_id}", revoke_key, methods=["DELETE"]),
]
