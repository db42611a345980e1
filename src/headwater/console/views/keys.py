"""API keys (admin): list, create (the token shown once), revoke."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from headwater import errors, keys
from headwater.api import inputs
from headwater.console import render
from headwater.console.app import view
from headwater.console.session import Viewer
from headwater.console.views.common import path_id, query_offset, redirect
from headwater.core.models import ApiKey, Scope
from headwater.ids import now_micros

PAGE = 100


async def _page(request: Request, viewer: Viewer, status: int = 200, **context: Any) -> Response:
    offset = query_offset(request)
    store = inputs.store_of(request)
    page = await run_in_threadpool(store.list_api_keys, viewer.org_id, PAGE, offset)
    context.setdefault("created", None)
    context.setdefault("token", None)
    context.setdefault("error", None)
    notice = "Key revoked." if request.query_params.get("done") == "revoked" else None
    return render.page(
        request, "keys.html", http_status=status, keys=page.items, total=page.total, offset=offset,
        page=PAGE, scopes=[s.value for s in Scope], notice=notice, **context,
    )  # fmt: skip


@view(Scope.ADMIN)
async def list_keys(request: Request, viewer: Viewer) -> Response:
    return await _page(request, viewer)


@view(Scope.ADMIN)
async def create_key(request: Request, viewer: Viewer) -> Response:
    """The response to this POST is the only place the token ever appears."""
    form = request.state.form
    label = form.get("label", "").strip()
    chosen = [s.value for s in Scope if form.get(f"scope_{s.value}") == "on"]
    if not label or len(label) > 200 or not chosen:
        return await _page(
            request,
            viewer,
            status=400,
            error="A key needs a label (1 to 200 characters) and a scope.",
        )

    def write() -> tuple[ApiKey, str]:
        with inputs.store_of(request).write() as tx:
            return keys.issue(tx, viewer.org_id, label, chosen)

    created, token = await run_in_threadpool(write)
    return await _page(request, viewer, status=201, created=created, token=token)


@view(Scope.ADMIN)
async def revoke_key(request: Request, viewer: Viewer) -> Response:
    key_id = path_id(request, "key_id")

    def write() -> None:
        with inputs.store_of(request).write() as tx:
            if tx.revoke_api_key(viewer.org_id, key_id, now_micros()) is None:
                raise errors.NotFound()

    await run_in_threadpool(write)
    return redirect("/keys?done=revoked")


routes = [
    Route("/keys", list_keys, methods=["GET"]),
    Route("/keys", create_key, methods=["POST"]),
    Route("/keys/{key_id}/revoke", revoke_key, methods=["POST"]),
]
