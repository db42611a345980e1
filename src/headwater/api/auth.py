"""Bearer API keys: who is calling, for which organisation, with which scopes (spec §2)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from headwater import errors
from headwater.core import apikeys
from headwater.core.models import ApiKey, Scope
from headwater.ids import now_micros
from headwater.store.base import Store

#: `lastUsedAt` is refreshed at most this often per key, to keep reads free of writes
TOUCH_INTERVAL_MICROS = 60 * 1_000_000


@dataclass(frozen=True, slots=True)
class Principal:
    key: ApiKey

    @property
    def org_id(self) -> str:
        return self.key.org_id


async def authenticate(request: Request, store: Store, scope: Scope) -> Principal:
    """The caller's key, or the documented 401/403. Looked up fresh on every request, so
    a revocation takes effect on the very next one."""
    headers = request.headers.getlist("authorization")
    if len(headers) > 1:  # which one counts would be a guess: refuse, whatever they hold
        raise errors.InvalidApiKey("Send exactly one Authorization header.")
    header = headers[0] if headers else ""
    if not header:
        raise errors.MissingAuthHeader()
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise errors.MissingAuthHeader()
    token = token.strip()  # an empty token is a Bearer token that is no key: 401 INVALID_API_KEY
    if not apikeys.well_formed(token):
        raise errors.InvalidApiKey()
    key = await run_in_threadpool(store.find_api_key, apikeys.token_hash(token))
    if key is None:
        raise errors.InvalidApiKey()
    if key.revoked_at is not None:
        raise errors.KeyRevoked()
    request.state.principal = Principal(key)
    if scope not in key.scopes:
        raise errors.InsufficientScope(f"This endpoint needs the '{scope.value}' scope.")
    now = now_micros()
    settings = request.app.state.settings
    if settings.rate_limit > 0:
        wait = await run_in_threadpool(
            store.take_token, key.id, now, settings.rate_limit, settings.rate_burst
        )
        if wait is not None:
            raise errors.RateLimited(
                wait, f"Rate limit of {settings.rate_limit:g} requests/s exceeded."
            )
    if key.last_used_at is None or now - key.last_used_at > TOUCH_INTERVAL_MICROS:
        await run_in_threadpool(store.touch_api_key, key.id, now)
    principal: Principal = request.state.principal
    return principal
