"""Spec §5: Idempotency-Key on POST (and PATCH/DELETE)."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from starlette.testclient import TestClient

import headwater.ingest
from headwater import errors
from headwater.api.app import create_app
from headwater.config import Settings
from headwater.core.idempotency import LEASE_MICROS, StoredKey, request_hash
from headwater.ids import now_micros
from headwater.store import Store, open_store
from tests.api.helpers import (
    MISSING_UUID,
    assert_page,
    assert_success,
    org_id_of,
    post_raw,
    record,
    source_counts,
)
from tests.conftest import MakeKey, assert_error, bearer, ingest_body

KEY = "6f1c0de0-1f2a-4c3b-9d4e-5a6b7c8d9e0f"


def _body(source_id: str, records: list[dict[str, Any]] | None = None) -> bytes:
    return json.dumps(ingest_body(source_id, records)).encode()


def _post(client: TestClient, token: str, body: bytes, key: str | None = KEY) -> Any:
    headers = {} if key is None else {"Idempotency-Key": key}
    return post_raw(client, token, body, headers)


def _batch_total(client: TestClient, token: str) -> int:
    response = client.get("/v1/ingest", headers=bearer(token))
    return int(response.json()["meta"]["pagination"]["total"])


def test_same_key_and_body_replays_the_original_response(
    client: TestClient, token: str, source_id: str
) -> None:
    body = _body(source_id)
    first = _post(client, token, body)
    data = assert_success(first, 202)
    assert "idempotent-replayed" not in first.headers

    second = _post(client, token, body)
    assert second.status_code == 202
    assert second.content == first.content  # byte for byte, same batchId, same requestId
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["x-request-id"] == second.json()["meta"]["requestId"]
    assert second.json()["data"]["batchId"] == data["batchId"]
    assert (data["accepted"], data["deduplicated"]) == (2, 0)  # the original counts, not 0/2
    for _ in range(3):  # as often as asked
        again = _post(client, token, body)
        assert again.content == first.content
        assert again.headers["idempotent-replayed"] == "true"
    assert _batch_total(client, token) == 1
    assert source_counts(client, token, source_id)["batches"] == 1


def test_without_a_key_or_with_another_key_every_request_runs(
    client: TestClient, token: str, source_id: str
) -> None:
    body = _body(source_id)
    first = assert_success(_post(client, token, body, key=None), 202)
    second = assert_success(_post(client, token, body, key=None), 202)
    assert first["batchId"] != second["batchId"]
    assert (second["accepted"], second["deduplicated"]) == (0, 2)  # content dedup still works
    # different keys are different requests
    third = assert_success(_post(client, token, body, key="key-one"), 202)
    fourth = assert_success(_post(client, token, body, key="key-two"), 202)
    assert len({first["batchId"], second["batchId"], third["batchId"], fourth["batchId"]}) == 4
    assert _batch_total(client, token) == 4


def test_same_key_with_a_different_body_is_422(
    client: TestClient, token: str, source_id: str
) -> None:
    original = _post(client, token, _body(source_id))
    assert_success(original, 202)
    other = _body(source_id, [record("another")])
    assert_error(_post(client, token, other), 422, "IDEMPOTENCY_KEY_REUSED")
    # even a whitespace difference is a different body
    spaced = _body(source_id) + b" "
    assert_error(_post(client, token, spaced), 422, "IDEMPOTENCY_KEY_REUSED")
    assert _batch_total(client, token) == 1
    assert source_counts(client, token, source_id)["records"] == 2
    # the original can still be replayed
    assert _post(client, token, _body(source_id)).content == original.content


def test_key_in_use_is_409(client: TestClient, token: str, source_id: str, store: Store) -> None:
    body = _body(source_id)
    now = now_micros()
    running = StoredKey(
        request_hash("POST", "/v1/ingest", body), None, None, now + 3600 * 1_000_000, now
    )
    with store.write() as tx:
        tx.put_idempotency(org_id_of(store, token), "POST /v1/ingest", KEY, running)
    assert_error(_post(client, token, body), 409, "IDEMPOTENCY_KEY_IN_USE")
    assert _batch_total(client, token) == 0
    # another body with that key: it was used with a different request
    assert_error(_post(client, token, _body(source_id, [record()])), 422, "IDEMPOTENCY_KEY_REUSED")
    # another key is free
    assert assert_success(_post(client, token, body, key="another-key"), 202)["accepted"] == 2

    # a claim whose request died is taken over once its lease has run out
    expired = StoredKey(
        request_hash("POST", "/v1/ingest", body), None, None, now - 1, now - LEASE_MICROS - 1
    )
    with store.write() as tx:
        tx.put_idempotency(org_id_of(store, token), "POST /v1/ingest", "abandoned", expired)
    data = assert_success(_post(client, token, body, key="abandoned"), 202)
    assert (data["accepted"], data["deduplicated"]) == (0, 2)
    assert _batch_total(client, token) == 2


def _claim(store: Store, token: str, body: bytes, key: str, owner: str | None) -> None:
    """A running claim for POST /v1/ingest, as a request in flight leaves it."""
    now = now_micros()
    running = StoredKey(
        request_hash("POST", "/v1/ingest", body), None, None, now + LEASE_MICROS, now, owner
    )
    with store.write() as tx:
        tx.put_idempotency(org_id_of(store, token), "POST /v1/ingest", key, running)


def test_a_claim_ends_with_the_instance_that_holds_it(
    client: TestClient, token: str, source_id: str, store: Store, database_url: str
) -> None:
    body = _body(source_id)
    # held by this server, well inside its lease: truly running, so 409
    _claim(store, token, body, "mine", store.claimant())
    assert_error(_post(client, token, body, key="mine"), 409, "IDEMPOTENCY_KEY_IN_USE")
    # held by an instance that no longer runs: taken over at once, lease or not
    _claim(store, token, body, "orphan", "01234567-89ab-7def-8123-456789abcdef")
    retried = _post(client, token, body, key="orphan")
    assert "idempotent-replayed" not in retried.headers
    assert assert_success(retried, 202)["accepted"] == 2
    assert _post(client, token, body, key="orphan").headers["idempotent-replayed"] == "true"
    # a store that was closed (its process ended) leaves claims that die with it
    gone = open_store(database_url)
    owner = gone.claimant()
    gone.close()
    _claim(store, token, body, "closed", owner)
    assert_success(_post(client, token, body, key="closed"), 202)


def test_a_claim_of_another_live_instance_is_in_use_on_postgres(
    client: TestClient, token: str, source_id: str, store: Store, database_url: str, backend: str
) -> None:
    """PostgreSQL serves many API processes: another one's running claim stays 409."""
    if backend != "postgres":
        pytest.skip("one API process serves a SQLite file")
    body = _body(source_id)
    other = open_store(database_url)
    try:
        _claim(store, token, body, "elsewhere", other.claimant())
        assert_error(_post(client, token, body, key="elsewhere"), 409, "IDEMPOTENCY_KEY_IN_USE")
    finally:
        other.close()  # that process ends: its claim ends with it
    assert_success(_post(client, token, body, key="elsewhere"), 202)


def test_concurrent_requests_with_one_key_run_once(
    client: TestClient, token: str, source_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply = headwater.ingest.apply

    def slow_apply(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.2)  # keep the first request in flight while the others arrive
        return apply(*args, **kwargs)

    def race(key: str, body: bytes) -> list[Any]:
        start = threading.Barrier(6)

        def send(_: int) -> Any:
            start.wait()
            return _post(client, token, body, key=key)

        with ThreadPoolExecutor(6) as pool:
            responses = list(pool.map(send, range(6)))
        assert {r.status_code for r in responses} <= {202, 409}, [r.text for r in responses]
        originals = [
            r for r in responses if r.status_code == 202 and "idempotent-replayed" not in r.headers
        ]
        assert len(originals) == 1
        for response in responses:
            if response.status_code == 409:
                assert_error(response, 409, "IDEMPOTENCY_KEY_IN_USE")
            else:
                assert response.content == originals[0].content
        # once finished, the key replays
        assert _post(client, token, body, key=key).content == originals[0].content
        return responses

    race("as-fast-as-it-goes", _body(source_id))
    assert _batch_total(client, token) == 1
    with monkeypatch.context() as patch:
        patch.setattr(headwater.ingest, "apply", slow_apply)
        responses = race("slow", _body(source_id, [record("slow")]))
    assert 409 in {r.status_code for r in responses}  # the sleep makes the overlap certain
    assert _batch_total(client, token) == 2
    assert source_counts(client, token, source_id)["versions"] == 3


def test_keys_are_scoped_to_the_organisation(
    client: TestClient, token: str, source_id: str, make_key: MakeKey
) -> None:
    other_org = make_key(org="globex")
    other_source = assert_success(
        client.post("/v1/sources", json={"name": "G"}, headers=bearer(other_org)), 201
    )["id"]
    mine = assert_success(_post(client, token, _body(source_id)), 202)
    theirs = assert_success(_post(client, other_org, _body(other_source)), 202)
    assert mine["batchId"] != theirs["batchId"]
    assert theirs["sourceId"] == other_source
    assert _batch_total(client, token) == _batch_total(client, other_org) == 1
    # even the very same body from the other organisation is not a replay of ours
    assert_success(_post(client, token, _body(source_id), key="shared"), 202)
    response = _post(client, other_org, _body(source_id), key="shared")
    assert_error(response, 404, "NOT_FOUND")
    assert "idempotent-replayed" not in response.headers
    assert source_id not in response.text


def test_keys_are_scoped_to_the_endpoint_and_shared_in_the_organisation(
    client: TestClient, token: str, source_id: str, make_key: MakeKey
) -> None:
    created = client.post(
        "/v1/sources",
        json={"name": "Keyed"},
        headers={**bearer(token), "Idempotency-Key": KEY},
    )
    assert_success(created, 201)
    first = _post(client, token, _body(source_id))
    assert "idempotent-replayed" not in first.headers
    assert assert_success(first, 202)["accepted"] == 2
    # another key (API key) of the same organisation gets the replay
    colleague = make_key(org="acme", label="second")
    second = _post(client, colleague, _body(source_id))
    assert second.content == first.content
    assert second.headers["idempotent-replayed"] == "true"


def test_invalid_keys_are_400(client: TestClient, token: str, source_id: str) -> None:
    body = _body(source_id)
    for key in ["x" * 256, "", "tab\there", "new\x7fline"]:
        response = post_raw(client, token, body, {"Idempotency-Key": key})
        error = assert_error(response, 400, "VALIDATION_ERROR")
        assert any("Idempotency-Key" in d["field"] for d in error["details"])
    response = client.post(
        "/v1/ingest",
        content=body,
        headers=[
            ("Authorization", f"Bearer {token}"),
            ("Content-Type", "application/json"),
            ("Idempotency-Key", "caf\u00e9".encode()),  # type: ignore[list-item]
        ],
    )
    assert_error(response, 400, "VALIDATION_ERROR")
    assert _batch_total(client, token) == 0
    # the boundaries are accepted
    for key in ["k" * 255, "a", "~!@#$%^&*()_+ {}|:<>?", "with space"]:
        response = _post(client, token, _body(source_id, [record(f"r-{len(key)}-{key[:3]}")]), key)
        assert_success(response, 202)


def test_a_4xx_with_a_key_is_replayed_identically(
    client: TestClient, token: str, source_id: str
) -> None:
    body = _body(MISSING_UUID)
    first = _post(client, token, body)
    assert_error(first, 404, "NOT_FOUND")
    second = _post(client, token, body)
    assert second.status_code == 404
    assert second.content == first.content
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["x-request-id"] == first.headers["x-request-id"]
    # a 400 too
    body = b'{"records": []}'
    first = _post(client, token, body, key="bad-body")
    assert_error(first, 400, "VALIDATION_ERROR")
    second = _post(client, token, body, key="bad-body")
    assert (second.status_code, second.content) == (400, first.content)
    assert second.headers["idempotent-replayed"] == "true"
    assert source_counts(client, token, source_id)["versions"] == 0


def test_a_refusal_for_a_passing_condition_is_not_remembered(
    client: TestClient, token: str, source_id: str
) -> None:
    """A paused source refuses with 409; once resumed, the same key and body run."""
    client.patch(f"/v1/sources/{source_id}", json={"status": "paused"}, headers=bearer(token))
    first = _post(client, token, _body(source_id), key="paused")
    assert_error(first, 409, "SOURCE_NOT_ACTIVE")
    again = _post(client, token, _body(source_id), key="paused")  # still paused: refused again
    assert_error(again, 409, "SOURCE_NOT_ACTIVE")
    assert "idempotent-replayed" not in again.headers
    assert again.content != first.content  # a fresh answer, not the stored one
    client.patch(f"/v1/sources/{source_id}", json={"status": "active"}, headers=bearer(token))
    second = _post(client, token, _body(source_id), key="paused")
    assert "idempotent-replayed" not in second.headers
    assert assert_success(second, 202)["accepted"] == 2
    assert source_counts(client, token, source_id)["versions"] == 2
    # from now on the key is taken by the request that ran
    third = _post(client, token, _body(source_id), key="paused")
    assert (third.status_code, third.content) == (202, second.content)
    assert third.headers["idempotent-replayed"] == "true"


def test_a_rate_limited_request_is_not_remembered(
    client: TestClient, token: str, source_id: str, store: Store, database_url: str
) -> None:
    """429 is refused before the key is claimed; the same key runs once the limit allows."""
    settings = Settings(
        database_url=database_url, embedded_worker=False, rate_limit=0.001, rate_burst=1.0
    )
    with TestClient(create_app(settings, store=store), raise_server_exceptions=False) as limited:
        assert limited.get("/v1/sources", headers=bearer(token)).status_code == 200
        refused = post_raw(limited, token, _body(source_id), {"Idempotency-Key": "limited"})
        assert_error(refused, 429, "RATE_LIMITED")
    # the same store served without a limit: the key was never taken
    second = _post(client, token, _body(source_id), key="limited")
    assert "idempotent-replayed" not in second.headers
    assert assert_success(second, 202)["accepted"] == 2


def test_unavailable_is_not_remembered(
    client: TestClient, token: str, source_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise errors.Unavailable()

    with monkeypatch.context() as patch:
        patch.setattr(headwater.ingest, "apply", unreachable)
        assert_error(_post(client, token, _body(source_id)), 503, "UNAVAILABLE")
    retried = _post(client, token, _body(source_id))
    assert "idempotent-replayed" not in retried.headers
    assert assert_success(retried, 202)["accepted"] == 2


def test_a_5xx_is_not_remembered(
    client: TestClient, token: str, source_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    with monkeypatch.context() as patch:
        patch.setattr(headwater.ingest, "apply", broken)
        assert_error(_post(client, token, _body(source_id)), 500, "INTERNAL_ERROR")
    retried = _post(client, token, _body(source_id))
    assert "idempotent-replayed" not in retried.headers
    assert assert_success(retried, 202)["accepted"] == 2
    assert _batch_total(client, token) == 1


def test_auth_errors_are_not_remembered(client: TestClient, token: str, source_id: str) -> None:
    """Without a valid key there is no organisation to scope the key to."""
    body = _body(source_id)
    response = post_raw(client, "sk_live_" + "0" * 40, body, {"Idempotency-Key": "auth"})
    assert_error(response, 401, "INVALID_API_KEY")
    data = assert_success(_post(client, token, body, key="auth"), 202)
    assert data["accepted"] == 2


def test_works_on_source_and_key_creation(client: TestClient, token: str) -> None:
    headers = {**bearer(token), "Idempotency-Key": KEY}
    first = client.post("/v1/sources", json={"name": "Once"}, headers=headers)
    created = assert_success(first, 201)
    second = client.post("/v1/sources", json={"name": "Once"}, headers=headers)
    assert second.status_code == 201
    assert second.content == first.content
    assert second.headers["idempotent-replayed"] == "true"
    items = assert_page(client.get("/v1/sources", headers=bearer(token)), total=1)
    assert items[0]["id"] == created["id"]
    other = client.post("/v1/sources", json={"name": "Twice"}, headers=headers)
    assert_error(other, 422, "IDEMPOTENCY_KEY_REUSED")
    assert_page(client.get("/v1/sources", headers=bearer(token)), total=1)

    # and on key creation (the same key value, another endpoint)
    body = {"label": "once", "scopes": ["read"]}
    first = client.post("/v1/keys", json=body, headers=headers)
    assert_success(first, 201)
    second = client.post("/v1/keys", json=body, headers=headers)
    assert second.content == first.content
    assert_page(client.get("/v1/keys", headers=bearer(token)), total=2)


def test_works_on_patch(client: TestClient, token: str, source_id: str) -> None:
    headers = {**bearer(token), "Idempotency-Key": KEY}
    first = client.patch(f"/v1/sources/{source_id}", json={"name": "A"}, headers=headers)
    assert_success(first)
    client.patch(f"/v1/sources/{source_id}", json={"name": "B"}, headers=bearer(token))
    second = client.patch(f"/v1/sources/{source_id}", json={"name": "A"}, headers=headers)
    assert second.content == first.content
    assert second.headers["idempotent-replayed"] == "true"
    current = assert_success(client.get(f"/v1/sources/{source_id}", headers=bearer(token)))
    assert current["name"] == "B"  # the replay did no work
