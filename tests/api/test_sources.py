"""Spec §3: create, list, get with counts, patch; a paused or archived source refuses ingest."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.api.helpers import (
    MISSING_UUID,
    assert_page,
    assert_success,
    detail_fields,
    details_mention,
    ingest,
    ingest_ok,
    is_rfc3339_z,
    is_uuid,
    record,
    source_counts,
)
from tests.conftest import SEED_PAYLOADS, assert_error, bearer


def _post(client: TestClient, token: str, body: Any) -> Any:
    return client.post("/v1/sources", json=body, headers=bearer(token))


def _patch(client: TestClient, token: str, source_id: str, body: Any) -> Any:
    return client.patch(f"/v1/sources/{source_id}", json=body, headers=bearer(token))


# -- create -----------------------------------------------------------------------


def test_create_returns_201_with_the_documented_shape(client: TestClient, token: str) -> None:
    data = assert_success(_post(client, token, {"name": "HubSpot export"}), 201)
    assert set(data) >= {"id", "type", "name", "status", "createdAt", "entityTypes", "description"}
    assert is_uuid(data["id"])
    assert data["type"] == "custom_api"
    assert data["name"] == "HubSpot export"
    assert data["status"] == "active"
    assert data["entityTypes"] == []
    assert data["description"] is None
    assert is_rfc3339_z(data["createdAt"])


def test_create_echoes_optional_fields(client: TestClient, token: str) -> None:
    body = {"name": "CRM", "entityTypes": ["deal", "contact"], "description": "Nightly export"}
    data = assert_success(_post(client, token, body), 201)
    assert data["entityTypes"] == ["deal", "contact"]
    assert data["description"] == "Nightly export"
    fetched = assert_success(client.get(f"/v1/sources/{data['id']}", headers=bearer(token)))
    for field in ("id", "type", "name", "status", "entityTypes", "description", "createdAt"):
        assert fetched[field] == data[field], field
    # the same name again is a new source with its own id
    again = assert_success(_post(client, token, body), 201)
    assert again["id"] != data["id"]

    # boundary lengths are accepted
    data = assert_success(_post(client, token, {"name": "n" * 200, "description": "d" * 2000}), 201)
    assert len(data["name"]) == 200
    assert len(data["description"]) == 2000
    # limits count characters, not bytes
    data = assert_success(_post(client, token, {"name": "é" * 200}), 201)
    assert data["name"] == "é" * 200
    # kept as sent
    data = assert_success(_post(client, token, {"name": "  Ünïcode ✓ 名前 "}), 201)
    assert data["name"] == "  Ünïcode ✓ 名前 "


CREATE_ERRORS: list[tuple[Any, str]] = [
    ({}, "name"),
    ({"name": None}, "name"),
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "\t\n"}, "name"),
    ({"name": "n" * 201}, "name"),
    ({"name": 42}, "name"),
    ({"name": ["CRM"]}, "name"),
    ({"name": "ok", "description": "d" * 2001}, "description"),
    ({"name": "ok", "description": 5}, "description"),
    ({"name": "ok", "entityTypes": "deal"}, "entityTypes"),
    ({"name": "ok", "entityTypes": ["bad type"]}, "entityTypes"),
    ({"name": "ok", "entityTypes": [""]}, "entityTypes"),
    ({"name": "ok", "entityTypes": [1]}, "entityTypes"),
    ({"name": "ok", "nmae": "typo"}, "nmae"),
    ({"name": "ok", "status": "paused"}, "status"),
    ({"name": "ok", "id": MISSING_UUID}, "id"),
    ({"name": "ok", "mappings": "x"}, "mappings"),
]


def test_create_validation_errors_are_400_naming_the_field(client: TestClient, token: str) -> None:
    for body, field in CREATE_ERRORS:
        error = assert_error(_post(client, token, body), 400, "VALIDATION_ERROR")
        assert details_mention(error, field), (body, error)
    for raw in [b"[]", b'"CRM"', b"null", b"{", b""]:
        response = client.post(
            "/v1/sources",
            content=raw,
            headers={**bearer(token), "Content-Type": "application/json"},
        )
        detail_fields(assert_error(response, 400, "VALIDATION_ERROR"))
    assert_page(client.get("/v1/sources", headers=bearer(token)), total=0)


# -- list and get -----------------------------------------------------------------


def test_list_paginates_with_meta(client: TestClient, token: str) -> None:
    created = [assert_success(_post(client, token, {"name": f"S{i}"}), 201)["id"] for i in range(5)]
    everything = assert_page(client.get("/v1/sources", headers=bearer(token)), total=5)
    assert sorted(s["id"] for s in everything) == sorted(created)
    pages = [
        assert_page(
            client.get("/v1/sources", params={"limit": 2, "offset": o}, headers=bearer(token)),
            total=5,
            limit=2,
            offset=o,
        )
        for o in (0, 2, 4)
    ]
    assert [len(p) for p in pages] == [2, 2, 1]
    paged = [s["id"] for p in pages for s in p]
    assert paged == [s["id"] for s in everything]  # stable order, no overlap
    beyond = client.get("/v1/sources", params={"offset": 5}, headers=bearer(token))
    assert assert_page(beyond, total=5, offset=5) == []


def test_get_has_counts(client: TestClient, token: str, source_id: str) -> None:
    data = assert_success(client.get(f"/v1/sources/{source_id}", headers=bearer(token)))
    assert data["id"] == source_id
    assert data["counts"]["records"] == 0
    assert data["counts"]["versions"] == 0
    assert data["counts"]["batches"] == 0
    assert data["lastIngestedAt"] is None

    ingest_ok(client, token, source_id, SEED_PAYLOADS)
    assert source_counts(client, token, source_id) | {"events": 0} == {
        "records": 2,
        "versions": 2,
        "batches": 1,
        "events": 0,
    }

    ingest_ok(client, token, source_id, SEED_PAYLOADS)  # all unchanged
    counts = source_counts(client, token, source_id)
    assert (counts["records"], counts["versions"], counts["batches"]) == (2, 2, 2)

    changed = [dict(SEED_PAYLOADS[0], payload={**SEED_PAYLOADS[0]["payload"], "amount": 1})]
    ingest_ok(client, token, source_id, changed)
    counts = source_counts(client, token, source_id)
    assert (counts["records"], counts["versions"], counts["batches"]) == (2, 3, 3)
    data = assert_success(client.get(f"/v1/sources/{source_id}", headers=bearer(token)))
    assert is_rfc3339_z(data["lastIngestedAt"])

    # counts are per source
    other = assert_success(_post(client, token, {"name": "Other"}), 201)["id"]
    counts = source_counts(client, token, other)
    assert (counts["records"], counts["versions"], counts["batches"]) == (0, 0, 0)


def test_unknown_source_is_404(client: TestClient, token: str) -> None:
    for source_id in [MISSING_UUID, "not-a-uuid", "1", MISSING_UUID.replace("-", "")]:
        assert_error(
            client.get(f"/v1/sources/{source_id}", headers=bearer(token)), 404, "NOT_FOUND"
        )
        response = _patch(client, token, source_id, {"name": "x"})
        assert_error(response, 404, "NOT_FOUND")


def test_ingest_into_unknown_source_is_404(client: TestClient, token: str) -> None:
    assert_error(ingest(client, token, MISSING_UUID, [record()]), 404, "NOT_FOUND")
    assert_page(client.get("/v1/ingest", headers=bearer(token)), total=0)


def test_uppercase_source_id_in_the_path_finds_the_source(
    client: TestClient, token: str, source_id: str
) -> None:
    data = assert_success(client.get(f"/v1/sources/{source_id.upper()}", headers=bearer(token)))
    assert data["id"] == source_id


# -- patch ------------------------------------------------------------------------


def test_patch_name_and_description(client: TestClient, token: str, source_id: str) -> None:
    data = assert_success(_patch(client, token, source_id, {"name": "Renamed"}))
    assert data["name"] == "Renamed"
    assert data["id"] == source_id
    assert data["status"] == "active"
    data = assert_success(_patch(client, token, source_id, {"description": "About"}))
    assert (data["name"], data["description"]) == ("Renamed", "About")
    fetched = assert_success(client.get(f"/v1/sources/{source_id}", headers=bearer(token)))
    assert (fetched["name"], fetched["description"]) == ("Renamed", "About")
    data = assert_success(_patch(client, token, source_id, {"description": None}))
    assert data["description"] is None
    data = assert_success(_patch(client, token, source_id, {"entityTypes": ["deal", "note"]}))
    assert data["entityTypes"] == ["deal", "note"]
    assert data["name"] == "Renamed"

    # an empty patch changes nothing
    before = assert_success(client.get(f"/v1/sources/{source_id}", headers=bearer(token)))
    after = assert_success(_patch(client, token, source_id, {}))
    for field in ("name", "status", "entityTypes", "description", "createdAt"):
        assert after[field] == before[field]


PATCH_ERRORS: list[tuple[Any, str]] = [
    ({"name": ""}, "name"),
    ({"name": "  "}, "name"),
    ({"name": None}, "name"),
    ({"name": "n" * 201}, "name"),
    ({"status": "deleted"}, "status"),
    ({"status": "ACTIVE"}, "status"),
    ({"status": None}, "status"),
    ({"description": "d" * 2001}, "description"),
    ({"type": "webhook"}, "type"),
    ({"id": MISSING_UUID}, "id"),
]


def test_patch_validation_errors_are_400(client: TestClient, token: str, source_id: str) -> None:
    before = assert_success(client.get(f"/v1/sources/{source_id}", headers=bearer(token)))
    for body, field in PATCH_ERRORS:
        error = assert_error(_patch(client, token, source_id, body), 400, "VALIDATION_ERROR")
        assert details_mention(error, field), (body, error)
    after = assert_success(client.get(f"/v1/sources/{source_id}", headers=bearer(token)))
    assert (after["name"], after["status"]) == (before["name"], before["status"])


def test_inactive_source_refuses_ingest_and_stores_nothing(
    client: TestClient, token: str, source_id: str
) -> None:
    for status in ["paused", "archived"]:
        data = assert_success(_patch(client, token, source_id, {"status": status}))
        assert data["status"] == status
        fetched = assert_success(client.get(f"/v1/sources/{source_id}", headers=bearer(token)))
        assert fetched["status"] == status

        response = ingest(client, token, source_id, SEED_PAYLOADS)
        error = assert_error(response, 409, "SOURCE_NOT_ACTIVE")
        assert status in error["message"]
        counts = source_counts(client, token, source_id)
        assert (counts["records"], counts["versions"], counts["batches"]) == (0, 0, 0)
        assert_page(client.get("/v1/ingest", headers=bearer(token)), total=0)

    assert_success(_patch(client, token, source_id, {"status": "active"}))
    data = ingest_ok(client, token, source_id, SEED_PAYLOADS)
    assert (data["accepted"], data["deduplicated"]) == (2, 0)

    # pausing after ingest keeps the data and refuses more
    assert_success(_patch(client, token, source_id, {"status": "paused"}))
    changed = [record("deal-4471", {"amount": 1})]
    assert_error(ingest(client, token, source_id, changed), 409, "SOURCE_NOT_ACTIVE")
    counts = source_counts(client, token, source_id)
    assert (counts["records"], counts["versions"], counts["batches"]) == (2, 2, 1)
    # reads still work; an archived source is still listed (never hard-deleted)
    assert_page(client.get("/v1/ingest", params={"sourceId": source_id}, headers=bearer(token)), 1)
    assert_success(_patch(client, token, source_id, {"status": "archived"}))
    items = assert_page(client.get("/v1/sources", headers=bearer(token)), total=1)
    assert items[0]["status"] == "archived"
