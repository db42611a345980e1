"""Helpers for the normalization tests (fixtures live in tests/conftest.py).

Kept here, not shared with tests/api/, so that the two suites can change independently.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from starlette.testclient import TestClient

from headwater.core import apikeys
from headwater.store import Store
from tests.conftest import bearer

MISSING_UUID = "00000000-0000-4000-8000-000000000000"


def ok(response: Any, status: int = 200) -> Any:
    """The success envelope; returns `data`."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True, body
    assert response.headers["x-request-id"] == body["meta"]["requestId"]
    return body["data"]


def get(client: TestClient, token: str, path: str, **params: Any) -> Any:
    return ok(client.get(path, params=params, headers=bearer(token)))


def rec(
    record_id: str,
    payload: dict[str, Any] | None,
    at: str,
    entity_type: str = "deal",
    **extra: Any,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "recordId": record_id,
        "entityType": entity_type,
        "sourceUpdatedAt": at,
        **extra,
    }
    if payload is not None:
        record["payload"] = payload
    return record


def ingest(client: TestClient, token: str, source_id: str, records: list[dict[str, Any]]) -> Any:
    """POST /v1/ingest; returns the 202's data."""
    response = client.post(
        "/v1/ingest", json={"sourceId": source_id, "records": records}, headers=bearer(token)
    )
    return ok(response, 202)


def create_source(client: TestClient, token: str, name: str = "CRM", **fields: Any) -> str:
    response = client.post("/v1/sources", json={"name": name, **fields}, headers=bearer(token))
    return str(ok(response, 201)["id"])


def batch(client: TestClient, token: str, batch_id: str) -> dict[str, Any]:
    return dict(get(client, token, f"/v1/ingest/{batch_id}"))


def version_ids(client: TestClient, token: str, batch_id: str) -> list[str | None]:
    """The versionId of each record of a batch, in request order."""
    items = get(client, token, f"/v1/ingest/{batch_id}/records", limit=100)
    return [item["versionId"] for item in sorted(items, key=lambda i: i["index"])]


def all_events(client: TestClient, token: str, **params: Any) -> list[dict[str, Any]]:
    """Every event of the offset listing (all pages), in its order."""
    found: list[dict[str, Any]] = []
    offset = 0
    while True:
        response = client.get(
            "/v1/events", params={**params, "limit": 100, "offset": offset}, headers=bearer(token)
        )
        page = ok(response)
        total = response.json()["meta"]["pagination"]["total"]
        found += page
        offset += len(page)
        if not page or offset >= total:
            return found


def follow_feed(
    client: TestClient, token: str, cursor: str = "", limit: int = 100, **params: Any
) -> tuple[list[dict[str, Any]], str]:
    """Follow the cursor feed until it is drained; returns the events and the last cursor."""
    found: list[dict[str, Any]] = []
    while True:
        response = client.get(
            "/v1/events", params={**params, "after": cursor, "limit": limit}, headers=bearer(token)
        )
        page = ok(response)
        meta = response.json()["meta"]
        found += page
        cursor = meta["nextCursor"]
        if not meta["hasMore"]:
            return found, cursor


def by_action(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """{action: event} for a list with one event per action."""
    counts = Counter(e["action"] for e in events)
    assert all(n == 1 for n in counts.values()), counts
    return {e["action"]: e for e in events}


def actions(events: list[dict[str, Any]]) -> list[str]:
    return sorted(e["action"] for e in events)


def actor_email(event: dict[str, Any]) -> str | None:
    actor = event["actor"]
    return None if actor is None else actor["email"]


def org_id_of(store: Store, token: str) -> str:
    key = store.find_api_key(apikeys.token_hash(token))
    assert key is not None
    return key.org_id


def is_uuid(value: object) -> bool:
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value
    except ValueError:
        return False
