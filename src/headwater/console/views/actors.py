"""Actors: list and search; one actor with its aliases, merges and events."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from headwater import errors
from headwater.api import inputs
from headwater.console import render
from headwater.console.app import view
from headwater.console.session import Viewer
from headwater.console.views.common import PAGE, path_id, query_text, query_uuid
from headwater.console.views.events import WINDOW
from headwater.core.models import EventFilter


@view()
async def list_actors(request: Request, viewer: Viewer) -> Response:
    store = inputs.store_of(request)
    search = query_text(request, "q", 200)
    after = query_uuid(request, "after")
    found = await run_in_threadpool(store.actors_after, viewer.org_id, search, after, PAGE + 1)
    return render.page(
        request, "actors.html", actors=found[:PAGE], search=search or "",
        next=found[PAGE - 1].id if len(found) > PAGE else None,
    )  # fmt: skip


@view()
async def show_actor(request: Request, viewer: Viewer) -> Response:
    store = inputs.store_of(request)
    actor_id = path_id(request, "actor_id")

    def load() -> dict[str, Any]:
        actor = store.get_actor(viewer.org_id, actor_id)
        if actor is None:
            raise errors.NotFound()
        return {
            "actor": actor,
            "aliases": store.actor_aliases(viewer.org_id, [actor.id])[actor.id],
            "merged": store.merged_actors(viewer.org_id, actor.id),
            "events": store.events_before(
                viewer.org_id, EventFilter(actor_id=actor.id), None, PAGE, WINDOW
            )[0],
        }

    return render.page(request, "actor.html", **await run_in_threadpool(load))


routes = [
    Route("/actors", list_actors, methods=["GET"]),
    Route("/actors/{actor_id}", show_actor, methods=["GET"]),
]
