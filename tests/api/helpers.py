"""Small helpers shared by the HTTP tests (fixtures live in tests/conftest.py)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.testclient import TestClient

from headwater.core import apikeys
from headwater.core.models import Head, RecordKey
from headwater.store import Store
from tests.conftest import bearer

RFC3339_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")
TOKEN = re.compile(r"sk_live_[0-9a-f]{40}")
MISSING_UUID = "00000000-0000-4000-8000-000000000000"


def is_uuid(value: object) -> bool:
    """A UUID in its canonical lower-case text form."""
    if not isinstance(value, str):
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def is_rfc3339_z(value: object) -> bool:
    return isinstance(value, str) and RFC3339_Z.fullmatch(value) is not None


def assert_success(response: Any, status: int = 200) -> Any:
    """The documented success envelope; returns `data`."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True
    assert set(body) == {"success", "data", "meta"}
    assert is_uuid(body["meta"]["requestId"])
    assert response.headers["x-request-id"] == body["meta"]["requestId"]
    return body["data"]


def assert_page(response: Any, total: int, limit: int = 20, offset: int = 0) -> list[Any]:
    """A paginated list; returns its items."""
    items = assert_success(response)
    assert isinstance(items, list)
    assert response.json()["meta"]["pagination"] == {
        "total": total,
        "limit": limit,
        "offset": offset,
    }
    return items


def detail_fields(error: dict[str, Any]) -> list[str]:
    """`details` must be a non-empty list of {field, message}; returns the fields."""
    details = error.get("details")
    assert isinstance(details, list), error
    assert details, error
    for item in details:
        assert set(item) == {"field", "message"}, item
        assert isinstance(item["field"], str)
        assert item["field"]
        assert isinstance(item["message"], str)
        assert item["message"]
    return [item["field"] for item in details]


def details_mention(error: dict[str, Any], word: str) -> bool:
    """True when some detail names `word` in its field or its message."""
    detail_fields(error)
    return any(word in item["field"] or word in item["message"] for item in error["details"])


def record(
    record_id: str = "deal-1",
    payload: dict[str, Any] | None = None,
    updated_at: str = "2026-06-10T14:03:00Z",
    entity_type: str = "deal",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "recordId": record_id,
        "entityType": entity_type,
        "sourceUpdatedAt": updated_at,
        "payload": {"name": "Deal"} if payload is None else payload,
        **extra,
    }


def ingest(
    client: TestClient,
    token: str,
    source_id: str,
    records: list[dict[str, Any]],
    headers: dict[str, str] | None = None,
) -> Any:
    return client.post(
        "/v1/ingest",
        json={"sourceId": source_id, "records": records},
        headers={**bearer(token), **(headers or {})},
    )


def ingest_ok(client: TestClient, token: str, source_id: str, records: list[dict[str, Any]]) -> Any:
    """Ingest and return the 202's `data`."""
    return assert_success(ingest(client, token, source_id, records), 202)


def post_raw(
    client: TestClient, token: str, body: bytes | str, headers: dict[str, str] | None = None
) -> Any:
    """POST /v1/ingest with a hand-written body, sent exactly as given."""
    content = body.encode() if isinstance(body, str) else body
    return client.post(
        "/v1/ingest",
        content=content,
        headers={**bearer(token), "Content-Type": "application/json", **(headers or {})},
    )


def create_source(client: TestClient, token: str, name: str = "CRM", **fields: Any) -> str:
    response = client.post("/v1/sources", json={"name": name, **fields}, headers=bearer(token))
    return str(assert_success(response, 201)["id"])


def org_id_of(store: Store, token: str) -> str:
    key = store.find_api_key(apikeys.token_hash(token))
    assert key is not None
    return key.org_id


def heads(store: Store, source_id: str, *keys: tuple[str, str]) -> dict[RecordKey, Head]:
    """The current heads of (entityType, recordId) pairs, read inside a write transaction."""
    with store.write() as tx:
        return tx.load_heads(source_id, [RecordKey(t, r) for t, r in keys])


def batch_records(client: TestClient, token: str, batch_id: str, **params: Any) -> list[Any]:
    response = client.get(f"/v1/ingest/{batch_id}/records", params=params, headers=bearer(token))
    items = assert_success(response)
    assert isinstance(items, list)
    return items


def source_counts(client: TestClient, token: str, source_id: str) -> dict[str, int]:
    data = assert_success(client.get(f"/v1/sources/{source_id}", headers=bearer(token)))
    return dict(data["counts"])
