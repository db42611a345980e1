"""Spec §2: organisations are isolated. With a key of organisation B, every id of
organisation A answers exactly like an id that does not exist (404 NOT_FOUND)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from headwater.store import Store
from tests.api.helpers import (
    MISSING_UUID,
    assert_page,
    assert_success,
    batch_records,
    create_source,
    ingest,
    ingest_ok,
    org_id_of,
    record,
    source_counts,
)
from tests.conftest import SEED_PAYLOADS, MakeKey, assert_error, bearer


@pytest.fixture
def org_a(client: TestClient, token: str, source_id: str) -> dict[str, Any]:
    """Organisation A ("acme", the default key) with a source, a batch and a second key."""
    batch = ingest_ok(client, token, source_id, SEED_PAYLOADS)
    key = assert_success(
        client.post(
            "/v1/keys", json={"label": "a-reader", "scopes": ["read"]}, headers=bearer(token)
        ),
        201,
    )
    return {
        "token": token,
        "source": source_id,
        "batch": batch["batchId"],
        "key": key["id"],
        "key_token": key["token"],
    }


@pytest.fixture
def token_b(make_key: MakeKey) -> str:
    return make_key(org="globex", scopes="ingest,read,admin", label="b-admin")


def _requests(ids: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """Every endpoint that takes an id of A: (method, path, json body)."""
    return [
        ("GET", f"/v1/sources/{ids['source']}", None),
        ("PATCH", f"/v1/sources/{ids['source']}", {"name": "stolen"}),
        ("PATCH", f"/v1/sources/{ids['source']}", {"status": "archived"}),
        ("POST", "/v1/ingest", {"sourceId": ids["source"], "records": [record("intruder")]}),
        ("GET", f"/v1/ingest/{ids['batch']}", None),
        ("GET", f"/v1/ingest/{ids['batch']}/records", None),
        ("DELETE", f"/v1/keys/{ids['key']}", None),
    ]


def _normalized(response: Any) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error"]["code"], body["error"]["message"]


def test_every_id_of_another_organisation_is_404(
    client: TestClient, org_a: dict[str, Any], token_b: str
) -> None:
    missing = {"source": MISSING_UUID, "batch": MISSING_UUID, "key": MISSING_UUID}
    for (method, path, body), (_, missing_path, _) in zip(
        _requests(org_a), _requests(missing), strict=True
    ):
        response = client.request(method, path, json=body, headers=bearer(token_b))
        assert_error(response, 404, "NOT_FOUND")
        # indistinguishable from an id that does not exist
        absent = client.request(method, missing_path, json=body, headers=bearer(token_b))
        assert _normalized(response) == _normalized(absent), (method, path)
        assert org_a["source"] not in response.text


def test_nothing_of_a_changed_after_b_tried(
    client: TestClient, org_a: dict[str, Any], token_b: str, store: Store
) -> None:
    token_a = org_a["token"]
    before = assert_success(client.get(f"/v1/sources/{org_a['source']}", headers=bearer(token_a)))
    for method, path, body in _requests(org_a):
        client.request(method, path, json=body, headers=bearer(token_b))
    after = assert_success(client.get(f"/v1/sources/{org_a['source']}", headers=bearer(token_a)))
    assert after == before
    assert after["status"] == "active"
    # A's second key still works: B's DELETE did not revoke it
    assert_success(client.get("/v1/sources", headers=bearer(org_a["key_token"])))
    assert source_counts(client, token_a, org_a["source"])["records"] == 2
    results = batch_records(client, token_a, org_a["batch"])
    assert [r["recordId"] for r in results] == ["deal-4471", "deal-4472"]
    # stored versions are scoped by organisation too
    version_id = results[0]["versionId"]
    assert store.get_version(org_id_of(store, token_a), version_id) is not None
    assert store.get_version(org_id_of(store, token_b), version_id) is None


def test_lists_show_only_the_callers_organisation(
    client: TestClient, org_a: dict[str, Any], token_b: str
) -> None:
    assert assert_page(client.get("/v1/sources", headers=bearer(token_b)), total=0) == []
    assert assert_page(client.get("/v1/ingest", headers=bearer(token_b)), total=0) == []
    keys = assert_page(client.get("/v1/keys", headers=bearer(token_b)), total=1)
    assert [k["label"] for k in keys] == ["b-admin"]
    # filtering by A's source shows nothing either
    response = client.get(
        "/v1/ingest", params={"sourceId": org_a["source"]}, headers=bearer(token_b)
    )
    assert assert_page(response, total=0) == []


def test_b_sees_its_own_data_and_a_does_not(
    client: TestClient, org_a: dict[str, Any], token_b: str
) -> None:
    source_b = create_source(client, token_b, "B's CRM")
    batch_b = ingest_ok(client, token_b, source_b, SEED_PAYLOADS)
    assert (batch_b["accepted"], batch_b["deduplicated"]) == (2, 0)  # same records, other org
    items = assert_page(client.get("/v1/sources", headers=bearer(token_b)), total=1)
    assert [s["id"] for s in items] == [source_b]

    token_a = org_a["token"]
    assert_error(client.get(f"/v1/sources/{source_b}", headers=bearer(token_a)), 404, "NOT_FOUND")
    assert_error(
        client.get(f"/v1/ingest/{batch_b['batchId']}", headers=bearer(token_a)), 404, "NOT_FOUND"
    )
    assert_error(ingest(client, token_a, source_b, [record()]), 404, "NOT_FOUND")
    items = assert_page(client.get("/v1/sources", headers=bearer(token_a)), total=1)
    assert [s["id"] for s in items] == [org_a["source"]]


def test_org_name_in_the_body_or_headers_is_ignored(
    client: TestClient, org_a: dict[str, Any], token_b: str, make_key: MakeKey
) -> None:
    """The organisation always comes from the key."""
    headers = {**bearer(token_b), "X-Org-Id": "acme", "X-Organisation": "acme"}
    response = client.get(f"/v1/sources/{org_a['source']}", headers=headers)
    assert_error(response, 404, "NOT_FOUND")
    response = client.post(
        "/v1/ingest",
        json={"sourceId": org_a["source"], "orgId": "acme", "records": [record()]},
        headers=headers,
    )
    assert_error(response, 404, "NOT_FOUND")
    # while another key of A's organisation sees it
    colleague = make_key(org="acme", scopes="read", label="colleague")
    assert_success(client.get(f"/v1/sources/{org_a['source']}", headers=bearer(colleague)))
