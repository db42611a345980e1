"""Spec §2 (extension): POST/GET/DELETE /v1/keys, admin only, tokens shown once."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from headwater.core import apikeys
from headwater.store import Store
from tests.api.helpers import (
    MISSING_UUID,
    TOKEN,
    assert_page,
    assert_success,
    detail_fields,
    details_mention,
    is_rfc3339_z,
    is_uuid,
    org_id_of,
)
from tests.conftest import assert_error, bearer


def _create(client: TestClient, token: str, body: dict[str, Any]) -> Any:
    return client.post("/v1/keys", json=body, headers=bearer(token))


def test_create_returns_201_with_the_token_once(
    client: TestClient, token: str, store: Store
) -> None:
    response = _create(client, token, {"label": "CI pipeline", "scopes": ["read", "ingest"]})
    data = assert_success(response, 201)
    assert set(data) >= {"id", "label", "prefix", "scopes", "createdAt", "token"}
    assert is_uuid(data["id"])
    assert data["label"] == "CI pipeline"
    assert sorted(data["scopes"]) == ["ingest", "read"]
    assert TOKEN.fullmatch(data["token"]), data["token"]
    assert data["token"].startswith(data["prefix"])
    assert data["prefix"].startswith("sk_live_")
    assert len(data["prefix"]) < len(data["token"]) // 2
    assert is_rfc3339_z(data["createdAt"])
    assert data.get("revokedAt") is None
    # the key belongs to the creator's organisation
    assert org_id_of(store, data["token"]) == org_id_of(store, token)


def test_a_response_showing_a_token_is_never_cached(client: TestClient, token: str) -> None:
    headers = {**bearer(token), "Idempotency-Key": "no-store"}
    body = {"label": "cached?", "scopes": ["read"]}
    first = client.post("/v1/keys", json=body, headers=headers)
    assert TOKEN.fullmatch(assert_success(first, 201)["token"])
    assert first.headers["cache-control"] == "no-store"
    replay = client.post("/v1/keys", json=body, headers=headers)  # shows the token again
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["cache-control"] == "no-store"


def test_created_keys_are_unique_and_work_with_exactly_their_scopes(
    client: TestClient, token: str, store: Store
) -> None:
    created = [
        assert_success(_create(client, token, {"label": f"k{i}", "scopes": ["read"]}), 201)
        for i in range(5)
    ]
    assert len({c["token"] for c in created}) == 5
    assert len({c["id"] for c in created}) == 5
    data = created[0]
    stored = store.find_api_key(apikeys.token_hash(data["token"]))
    assert stored is not None
    assert (stored.id, stored.prefix) == (data["id"], data["prefix"])
    assert_success(client.get("/v1/sources", headers=bearer(data["token"])))
    response = client.post("/v1/sources", json={"name": "x"}, headers=bearer(data["token"]))
    assert_error(response, 403, "INSUFFICIENT_SCOPE")


def test_list_never_shows_tokens(client: TestClient, token: str) -> None:
    created = assert_success(_create(client, token, {"label": "a", "scopes": ["admin"]}), 201)
    response = client.get("/v1/keys", headers=bearer(token))
    items = assert_page(response, total=2)
    assert created["token"] not in response.text
    assert token not in response.text
    for item in items:
        assert "token" not in item
        assert set(item) >= {
            "id",
            "label",
            "prefix",
            "scopes",
            "createdAt",
            "lastUsedAt",
            "revokedAt",
        }
    listed = next(i for i in items if i["id"] == created["id"])
    assert listed["prefix"] == created["prefix"]
    assert listed["scopes"] == created["scopes"]
    assert listed["createdAt"] == created["createdAt"]


def test_list_paginates(client: TestClient, token: str) -> None:
    for i in range(4):
        assert_success(_create(client, token, {"label": f"k{i}", "scopes": ["read"]}), 201)
    first = assert_page(client.get("/v1/keys?limit=2", headers=bearer(token)), 5, 2, 0)
    second = assert_page(client.get("/v1/keys?limit=2&offset=2", headers=bearer(token)), 5, 2, 2)
    last = assert_page(client.get("/v1/keys?limit=2&offset=4", headers=bearer(token)), 5, 2, 4)
    ids = [k["id"] for k in first + second + last]
    assert len(ids) == len(set(ids)) == 5
    assert assert_page(client.get("/v1/keys?offset=10", headers=bearer(token)), 5, 20, 10) == []


def test_delete_revokes_and_sets_revoked_at(client: TestClient, token: str) -> None:
    created = assert_success(_create(client, token, {"label": "old", "scopes": ["read"]}), 201)
    response = client.delete(f"/v1/keys/{created['id']}", headers=bearer(token))
    revoked = assert_success(response)
    assert revoked["id"] == created["id"]
    assert is_rfc3339_z(revoked["revokedAt"])
    assert "token" not in revoked
    items = assert_success(client.get("/v1/keys", headers=bearer(token)))
    listed = next(i for i in items if i["id"] == created["id"])
    assert listed["revokedAt"] == revoked["revokedAt"]
    assert_error(client.get("/v1/sources", headers=bearer(created["token"])), 403, "KEY_REVOKED")
    # revoking twice keeps the first revocation time
    again = assert_success(client.delete(f"/v1/keys/{created['id']}", headers=bearer(token)))
    assert again["revokedAt"] == revoked["revokedAt"]
    # unknown ids
    for key_id in [MISSING_UUID, "not-a-uuid", "1"]:
        assert_error(client.delete(f"/v1/keys/{key_id}", headers=bearer(token)), 404, "NOT_FOUND")


BAD_BODIES: list[tuple[Any, str]] = [
    ({"scopes": ["read"]}, "label"),
    ({"label": "", "scopes": ["read"]}, "label"),
    ({"label": "x" * 201, "scopes": ["read"]}, "label"),
    ({"label": 7, "scopes": ["read"]}, "label"),
    ({"label": "x"}, "scopes"),
    ({"label": "x", "scopes": []}, "scopes"),
    ({"label": "x", "scopes": ["write"]}, "scopes"),
    ({"label": "x", "scopes": ["read", "superuser"]}, "scopes"),
    ({"label": "x", "scopes": "read"}, "scopes"),
    ({"label": "x", "scopes": [None]}, "scopes"),
    ({"label": "x", "scopes": ["read"], "token": "sk_live_" + "a" * 40}, "token"),
    ({"label": "x", "scopes": ["read"], "orgId": MISSING_UUID}, "orgId"),
]


def test_create_validation_errors_are_400_with_details(
    client: TestClient, token: str, store: Store
) -> None:
    for body, field in BAD_BODIES:
        error = assert_error(_create(client, token, body), 400, "VALIDATION_ERROR")
        assert details_mention(error, field), (body, error)
    for raw in [b"[]", b"{", b""]:
        response = client.post(
            "/v1/keys",
            content=raw,
            headers={**bearer(token), "Content-Type": "application/json"},
        )
        detail_fields(assert_error(response, 400, "VALIDATION_ERROR"))
    # nothing was created: only the fixture's key exists
    assert_page(client.get("/v1/keys", headers=bearer(token)), total=1)
    # `token` is not an input: an attacker-chosen token never becomes a key
    chosen = "sk_live_" + "a" * 40  # sent as `token` in BAD_BODIES
    assert_error(client.get("/v1/sources", headers=bearer(chosen)), 401, "INVALID_API_KEY")
