"""Every endpoint with every scope combination: 403 INSUFFICIENT_SCOPE exactly where the
spec says (§2: `ingest` writes, `read` every other GET, `admin` keys). The endpoint list
is the OpenAPI document's, so a new endpoint is covered by being documented."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from headwater.api.openapi import ENDPOINTS, Endpoint
from tests.conftest import assert_error, bearer

SCOPES = ("ingest", "read", "admin")
COMBINATIONS = [c for n in range(1, 4) for c in itertools.combinations(SCOPES, n)]
SECURED = [e for e in ENDPOINTS if e.scope is not None]


def url_for(endpoint: Endpoint) -> str:
    values = {"entityType": "deal", "recordId": "deal-1"}
    path = endpoint.path
    for part in path.split("/"):
        if part.startswith("{"):
            name = part[1:-1]
            path = path.replace(part, values.get(name, str(uuid.uuid4())))
    return path


def test_every_secured_endpoint_is_listed() -> None:
    assert len(SECURED) >= 19
    assert {e.scope for e in SECURED} == set(SCOPES)


@pytest.mark.parametrize("scopes", COMBINATIONS, ids=lambda c: "+".join(c))
def test_scope_matrix(
    client: TestClient, make_key: Callable[..., str], scopes: tuple[str, ...]
) -> None:
    token = make_key(scopes=",".join(scopes))
    for endpoint in SECURED:
        response = client.request(
            endpoint.method,
            url_for(endpoint),
            headers={**bearer(token), "Content-Type": "application/json"},
            content=b"{}" if endpoint.method in {"POST", "PATCH"} else None,
        )
        where = f"{endpoint.method} {endpoint.path} with {scopes}"
        if endpoint.scope in scopes:
            assert response.status_code != 403, where
        else:
            assert_error(response, 403, "INSUFFICIENT_SCOPE")
