"""Spec §2: bearer keys, every auth error, scopes, revocation, hashed storage."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from headwater.core import apikeys
from headwater.store import Store
from tests.api.helpers import MISSING_UUID, assert_success, ingest, record
from tests.conftest import MakeKey, assert_error, bearer, ingest_body

# every endpoint that needs a key: (method, path template); {source}, {batch}, {key} are filled in
PROTECTED = [
    ("GET", "/v1/sources"),
    ("POST", "/v1/sources"),
    ("GET", "/v1/sources/{source}"),
    ("PATCH", "/v1/sources/{source}"),
    ("POST", "/v1/ingest"),
    ("GET", "/v1/ingest"),
    ("GET", "/v1/ingest/{batch}"),
    ("GET", "/v1/ingest/{batch}/records"),
    ("GET", "/v1/keys"),
    ("POST", "/v1/keys"),
    ("DELETE", "/v1/keys/{key}"),
]


def _call(
    client: TestClient,
    method: str,
    path: str,
    headers: dict[str, str],
    ids: dict[str, str] | None = None,
) -> object:
    ids = ids or {"source": MISSING_UUID, "batch": MISSING_UUID, "key": MISSING_UUID}
    url = path.format(**ids)
    body: object = None
    if method == "POST" and path == "/v1/ingest":
        body = ingest_body(ids["source"], [record()])
    elif method == "POST" and path == "/v1/sources":
        body = {"name": "New"}
    elif method == "POST" and path == "/v1/keys":
        body = {"label": "k", "scopes": ["read"]}
    elif method == "PATCH":
        body = {"name": "Renamed"}
    return client.request(method, url, json=body, headers=headers)


# -- 401 --------------------------------------------------------------------------


def test_no_authorization_header_is_401_everywhere(client: TestClient) -> None:
    for method, path in PROTECTED:
        assert_error(_call(client, method, path, {}), 401, "MISSING_AUTH_HEADER")


def test_non_bearer_scheme_is_missing_auth_header(client: TestClient, token: str) -> None:
    for header in [
        "Basic dXNlcjpwYXNz",
        "Token sk_live_" + "a" * 40,
        "sk_live_" + "a" * 40,
        "Digest x=1",
        " ",
        f"Token {token}",  # a valid token under another scheme is still refused
        f"Basic {token}",
        token,
    ]:
        response = client.get("/v1/sources", headers={"Authorization": header})
        assert_error(response, 401, "MISSING_AUTH_HEADER")
    for header in ["Bearer", "Bearer ", "Bearer    ", "bearer\t"]:
        # the Bearer scheme with an empty token: a token that is no key
        response = client.get("/v1/sources", headers={"Authorization": header})
        assert_error(response, 401, "INVALID_API_KEY")
        assert response.headers["www-authenticate"].endswith('error="invalid_token"')
    # the scheme is case-insensitive (RFC 9110 §11.1)
    for scheme in ["bearer", "BEARER", "Bearer"]:
        response = client.get("/v1/sources", headers={"Authorization": f"{scheme} {token}"})
        assert_success(response)


def test_unknown_or_malformed_token_is_invalid_api_key(client: TestClient, token: str) -> None:
    for bad_token in [
        "sk_live_" + "0" * 40,  # well-formed, unknown
        "sk_live_" + "a" * 39,  # too short
        "sk_live_" + "a" * 41,  # too long
        "sk_live_" + "A" * 40,  # upper-case hex
        "sk_test_" + "a" * 40,  # other prefix
        "sk_live_" + "g" * 40,  # not hex
        token.upper(),
        token + "0",
        "hello",
        "' OR 1=1 --",
        "x" * 5000,
    ]:
        response = client.get("/v1/sources", headers=bearer(bad_token))
        assert_error(response, 401, "INVALID_API_KEY")
    forged = token[:-1] + ("0" if token[-1] != "0" else "1")  # one character changed
    assert_error(client.get("/v1/sources", headers=bearer(forged)), 401, "INVALID_API_KEY")
    assert_success(client.get("/v1/sources", headers=bearer(token)))


def test_every_401_names_the_bearer_scheme(client: TestClient) -> None:
    """RFC 9110 §11.6.1: a 401 carries WWW-Authenticate (RFC 6750 for Bearer)."""
    missing = client.get("/v1/sources")
    assert_error(missing, 401, "MISSING_AUTH_HEADER")
    assert missing.headers["www-authenticate"] == 'Bearer realm="headwater"'
    invalid = client.post("/v1/ingest", json={}, headers=bearer("sk_live_" + "0" * 40))
    assert_error(invalid, 401, "INVALID_API_KEY")
    assert invalid.headers["www-authenticate"] == 'Bearer realm="headwater", error="invalid_token"'
    ok = client.get("/healthz")
    assert "www-authenticate" not in ok.headers


def test_two_authorization_headers_are_refused(
    client: TestClient, token: str, make_key: MakeKey
) -> None:
    """Which of two credentials counts would be a guess: 401 even when both are valid."""
    other = make_key(org="other")
    for pair in [(token, other), (token, token), (token, "sk_live_" + "0" * 40)]:
        headers = [("Authorization", f"Bearer {t}") for t in pair]
        response = client.get("/v1/sources", headers=headers)
        assert_error(response, 401, "INVALID_API_KEY")
        assert "Authorization" in response.json()["error"]["message"]
    response = client.post(
        "/v1/sources", json={"name": "x"}, headers=[("Authorization", f"Bearer {token}")] * 2
    )
    assert_error(response, 401, "INVALID_API_KEY")
    assert_success(client.get("/v1/sources", headers=bearer(token)))  # one header: fine


# -- revocation -------------------------------------------------------------------


def _create_key(client: TestClient, admin: str, scopes: list[str]) -> dict[str, str]:
    response = client.post(
        "/v1/keys", json={"label": "temp", "scopes": scopes}, headers=bearer(admin)
    )
    return dict(assert_success(response, 201))


def test_revoked_key_is_refused_on_the_very_next_request(
    client: TestClient, token: str, source_id: str
) -> None:
    created = _create_key(client, token, ["ingest", "read"])
    other = created["token"]
    assert_success(client.get("/v1/sources", headers=bearer(other)))
    assert_success(client.delete(f"/v1/keys/{created['id']}", headers=bearer(token)))
    assert_error(client.get("/v1/sources", headers=bearer(other)), 403, "KEY_REVOKED")
    response = client.post("/v1/ingest", json=ingest_body(source_id), headers=bearer(other))
    assert_error(response, 403, "KEY_REVOKED")
    # the revoking key is unaffected
    assert_success(client.get("/v1/sources", headers=bearer(token)))


def test_revoked_without_the_scope_says_revoked_and_a_key_can_revoke_itself(
    client: TestClient, token: str, source_id: str, store: Store
) -> None:
    created = _create_key(client, token, ["read"])
    assert_success(client.delete(f"/v1/keys/{created['id']}", headers=bearer(token)))
    response = client.post(
        "/v1/ingest", json=ingest_body(source_id), headers=bearer(created["token"])
    )
    assert_error(response, 403, "KEY_REVOKED")

    key = store.find_api_key(apikeys.token_hash(token))
    assert key is not None
    assert_success(client.delete(f"/v1/keys/{key.id}", headers=bearer(token)))
    assert_error(client.get("/v1/keys", headers=bearer(token)), 403, "KEY_REVOKED")


# -- scopes -----------------------------------------------------------------------


@pytest.fixture
def ids(client: TestClient, token: str, source_id: str) -> dict[str, str]:
    """Real ids of the default organisation, so that a 403 is not a disguised 404."""
    batch = assert_success(
        client.post("/v1/ingest", json=ingest_body(source_id), headers=bearer(token)), 202
    )
    key = _create_key(client, token, ["read"])
    return {"source": source_id, "batch": batch["batchId"], "key": key["id"]}


NEEDS = {
    ("GET", "/v1/sources"): "read",
    ("POST", "/v1/sources"): "ingest",
    ("GET", "/v1/sources/{source}"): "read",
    ("PATCH", "/v1/sources/{source}"): "ingest",
    ("POST", "/v1/ingest"): "ingest",
    ("GET", "/v1/ingest"): "read",
    ("GET", "/v1/ingest/{batch}"): "read",
    ("GET", "/v1/ingest/{batch}/records"): "read",
    ("GET", "/v1/keys"): "admin",
    ("POST", "/v1/keys"): "admin",
    ("DELETE", "/v1/keys/{key}"): "admin",
}


def test_each_endpoint_needs_exactly_its_scope(
    client: TestClient, make_key: MakeKey, ids: dict[str, str]
) -> None:
    assert set(NEEDS) == set(PROTECTED)
    for scope in ["read", "ingest", "admin"]:
        single = make_key(scopes=scope, label=f"only-{scope}")
        for (method, path), needed in NEEDS.items():
            response: Any = _call(client, method, path, bearer(single), ids)
            if needed == scope:
                assert response.status_code in {200, 201, 202}, (scope, method, path, response.text)
            else:
                error = assert_error(response, 403, "INSUFFICIENT_SCOPE")
                assert needed in error["message"], (scope, method, path)


def test_read_only_key_cannot_ingest_and_nothing_is_stored(
    client: TestClient, make_key: MakeKey, token: str, source_id: str
) -> None:
    read_only = make_key(scopes="read", label="ro")
    assert_error(ingest(client, read_only, source_id, [record()]), 403, "INSUFFICIENT_SCOPE")
    response = client.get("/v1/ingest", headers=bearer(token))
    assert response.json()["meta"]["pagination"]["total"] == 0


def test_auth_and_scope_are_checked_before_the_body(client: TestClient, make_key: MakeKey) -> None:
    """Nothing about validation leaks to a caller that may not use the endpoint."""
    response = client.post("/v1/ingest", content=b"garbage", headers={"Content-Type": "text/plain"})
    assert_error(response, 401, "MISSING_AUTH_HEADER")
    read_only = make_key(scopes="read", label="ro")
    response = client.post("/v1/ingest", content=b"not json", headers=bearer(read_only))
    assert_error(response, 403, "INSUFFICIENT_SCOPE")


def test_scopes_do_not_imply_each_other(
    client: TestClient, make_key: MakeKey, source_id: str
) -> None:
    admin = make_key(scopes="admin", label="admin-only")
    assert_error(client.get("/v1/sources", headers=bearer(admin)), 403, "INSUFFICIENT_SCOPE")
    assert_error(ingest(client, admin, source_id, [record()]), 403, "INSUFFICIENT_SCOPE")
    assert_success(client.get("/v1/keys", headers=bearer(admin)))
    # ingest + read together still cannot manage keys, nor escalate
    worker = make_key(scopes="ingest,read", label="worker")
    assert_error(client.get("/v1/keys", headers=bearer(worker)), 403, "INSUFFICIENT_SCOPE")
    response = client.post(
        "/v1/keys", json={"label": "escalate", "scopes": ["admin"]}, headers=bearer(worker)
    )
    assert_error(response, 403, "INSUFFICIENT_SCOPE")


# -- storage of tokens ------------------------------------------------------------


def test_tokens_are_stored_only_as_sha256_and_a_short_prefix(
    client: TestClient, token: str, store: Store, backend: str, database_url: str
) -> None:
    created = _create_key(client, token, ["read"])
    for secret in (token, created["token"]):
        key = store.find_api_key(apikeys.token_hash(secret))
        assert key is not None
        assert apikeys.token_hash(secret) == hashlib.sha256(secret.encode()).digest()
        assert secret.startswith(key.prefix)
        assert len(key.prefix) <= len("sk_live_") + 8  # far too little to use
        assert secret not in repr(key)
        assert secret[len("sk_live_") :] not in repr(key)
    listed = client.get("/v1/keys", headers=bearer(token)).text
    assert token not in listed
    assert created["token"] not in listed
    if backend == "sqlite":
        path = Path(database_url.removeprefix("sqlite:///"))
        stored = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*") if p.is_file())
        # we are looking at the right bytes: the hash is there ...
        assert hashlib.sha256(created["token"].encode()).digest() in stored
        # ... and neither token, nor its random part, in any encoding
        for secret in (token, created["token"]):
            random_part = secret[len("sk_live_") :]
            assert secret.encode() not in stored
            assert random_part.encode() not in stored
            assert bytes.fromhex(random_part) not in stored
            assert random_part[:20].encode() not in stored


def test_last_used_at_is_recorded(client: TestClient, token: str, store: Store) -> None:
    created = _create_key(client, token, ["read"])
    key = store.find_api_key(apikeys.token_hash(created["token"]))
    assert key is not None
    assert key.last_used_at is None
    assert_success(client.get("/v1/sources", headers=bearer(created["token"])))
    listed = assert_success(client.get("/v1/keys", headers=bearer(token)))
    mine = next(k for k in listed if k["id"] == created["id"])
    assert mine["lastUsedAt"] is not None
