"""Who is looking: console sessions, their cookie, CSRF tokens and scope checks.

Signing in checks the pasted key exactly as the API's bearer auth does (`core.apikeys`:
well-formed, known by its SHA-256, not revoked) and stores a session row keyed by the
SHA-256 of a random session id. The cookie holds that id only (HttpOnly, SameSite=Lax,
Secure over HTTPS, path /console); the token is never kept. Every request reads the
session joined to its key, so a revoked key's session stops working at once.

Each session has a random CSRF token; every form carries it and every POST must send it
back (compared in constant time). The sign-in form, before any session exists, uses a
double-submit cookie instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from headwater import errors
from headwater.api import inputs
from headwater.core import apikeys
from headwater.core.models import ApiKey, Scope
from headwater.ids import now_micros
from headwater.store.base import Store

COOKIE = "headwater_console"
LOGIN_COOKIE = "headwater_console_login"
PATH = "/console"
#: a session lasts a working day; signing in again makes a new one
LIFETIME_MICROS = 12 * 3600 * 1_000_000
#: forms are small; the largest is a source's mappings document (1 MiB, like the API)
MAX_FORM_BYTES = 1024 * 1024 + 64 * 1024


class CsrfRejected(errors.HeadwaterError):
    code = "CSRF_REJECTED"
    status = 403
    default_message = "This form has expired or did not come from this console. Reload and retry."


@dataclass(frozen=True, slots=True)
class Viewer:
    key: ApiKey
    csrf_token: str

    @property
    def org_id(self) -> str:
        return self.key.org_id

    def can(self, scope: Scope | str) -> bool:
        return Scope(scope) in self.key.scopes


def _hash(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode()).digest()


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


async def viewer(request: Request) -> Viewer | None:
    """The signed-in viewer, or None (no cookie, unknown, expired, or key revoked)."""
    session_id = request.cookies.get(COOKIE)
    if not session_id or len(session_id) > 100:
        return None
    store: Store = inputs.store_of(request)
    found = await run_in_threadpool(store.console_session, _hash(session_id))
    if found is None or found.expires_at <= now_micros() or found.key.revoked_at is not None:
        return None
    return Viewer(found.key, found.csrf_token)


def check_key(store: Store, token: str) -> ApiKey:
    """The API's key checks, for a pasted token: 401/403 errors as the API gives them."""
    token = token.strip()
    if not apikeys.well_formed(token):
        raise errors.InvalidApiKey()
    key = store.find_api_key(apikeys.token_hash(token))
    if key is None:
        raise errors.InvalidApiKey()
    if key.revoked_at is not None:
        raise errors.KeyRevoked()
    return key


def start(store: Store, key: ApiKey) -> str:
    """A new session for `key`; returns the session id for the cookie."""
    session_id = secrets.token_urlsafe(32)
    now = now_micros()
    with store.write() as tx:
        tx.delete_expired_console_sessions(now)
        tx.insert_console_session(
            _hash(session_id), key, secrets.token_urlsafe(32), now, now + LIFETIME_MICROS
        )
        tx.touch_api_key(key.id, now)
    return session_id


def end(store: Store, request: Request) -> None:
    session_id = request.cookies.get(COOKIE)
    if session_id:
        with store.write() as tx:
            tx.delete_console_session(_hash(session_id))


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PATH,
        httponly=True,
        samesite="lax",
        secure=secure(request),
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(name, path=PATH, httponly=True, samesite="lax", secure=secure(request))


async def form(request: Request) -> dict[str, str]:
    """An urlencoded form (the only kind the console's pages post), bounded in size."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise errors.UnsupportedMediaType("Console forms are sent urlencoded.")
    body = await inputs.read_body(request, MAX_FORM_BYTES)
    try:
        parsed = parse_qs(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=200
        )
    except (UnicodeDecodeError, ValueError):
        raise errors.ValidationFailed("The form could not be read.") from None
    values = {name: found[-1] for name, found in parsed.items()}
    if any("\x00" in v for v in values.values()):
        raise errors.ValidationFailed("The form contains a NUL character.")
    return values


def check_csrf(expected: str, sent: str | None) -> None:
    if not sent or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise CsrfRejected()
