"""Sign in with an API key, sign out."""

from __future__ import annotations

import secrets

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from headwater import errors
from headwater.api import inputs
from headwater.console import render, session
from headwater.console.app import view

LOGIN_MAX_AGE = 3600


async def sign_in_form(request: Request) -> Response:
    token = request.cookies.get(session.LOGIN_COOKIE) or secrets.token_urlsafe(32)
    response = render.page(request, "sign_in.html", login_csrf=token, error=None)
    session.set_cookie(request, response, session.LOGIN_COOKIE, token, LOGIN_MAX_AGE)
    return response


async def sign_in(request: Request) -> Response:
    fields = await session.form(request)
    session.check_csrf(request.cookies.get(session.LOGIN_COOKIE, ""), fields.get("csrf"))
    store = inputs.store_of(request)
    try:
        key = await run_in_threadpool(session.check_key, store, fields.get("token", ""))
    except (errors.InvalidApiKey, errors.KeyRevoked) as exc:
        return render.page(
            request,
            "sign_in.html",
            http_status=exc.status,
            login_csrf=fields["csrf"],
            error=exc.message,
        )
    session_id = await run_in_threadpool(session.start, store, key)
    response = RedirectResponse(f"{render.PREFIX}/", status_code=303)
    session.set_cookie(
        request, response, session.COOKIE, session_id, session.LIFETIME_MICROS // 1_000_000
    )
    session.clear_cookie(request, response, session.LOGIN_COOKIE)
    return response


@view(None)
async def sign_out(request: Request, viewer: session.Viewer) -> Response:
    await run_in_threadpool(session.end, inputs.store_of(request), request)
    response = RedirectResponse(f"{render.PREFIX}/sign-in", status_code=303)
    session.clear_cookie(request, response, session.COOKIE)
    return response


routes = [
    Route("/sign-in", sign_in_form, methods=["GET"]),
    Route("/sign-in", sign_in, methods=["POST"]),
    Route("/sign-out", sign_out, methods=["POST"]),
]
