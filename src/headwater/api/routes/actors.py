"""Canonical actors with their aliases (spec §6.5, §7)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from headwater import errors
from headwater.api import envelope, inputs, schemas, wire
from headwater.api.auth import authenticate
from headwater.core.models import Scope


async def list_actors(request: Request) -> Response:
    store = inputs.store_of(request)
    principal = await authenticate(request, store, Scope.READ)
    limit, offset = inputs.page(request)

    def load() -> tuple[list[schemas.ActorWithAliases], int]:
        page = store.list_actors(principal.org_id, limit, offset)
        aliases = store.actor_aliases(principal.org_id, [a.id for a in page])
        return [wire.actor_with_aliases(a, aliases[a.id]) for a in page], page.total

    items, total = await run_in_threadpool(load)
    return envelope.success(
        items, inputs.request_id(request), pagination=inputs.pagination(total, limit, offset)
    )


async def get_actor(request: Request) -> Response:
    """An actor id that was merged answers with the canonical actor it was merged into."""
    store = inputs.store_of(request)
    principal = await authenticate(request, store, Scope.READ)
    actor_id = inputs.path_id(request, "actor_id", "Actor")

    def load() -> schemas.ActorWithAliases:
        actor = store.get_actor(principal.org_id, actor_id)
        if actor is None:
            raise errors.NotFound("Actor not found.")
        return wire.actor_with_aliases(
            actor, store.actor_aliases(principal.org_id, [actor.id])[actor.id]
        )

    return envelope.success(await run_in_threadpool(load), inputs.request_id(request))


routes = [
    Route("/v1/actors", list_actors, methods=["GET"]),
    Route("/v1/actors/{actor_id}", get_actor, methods=["GET"]),
]
