"""Spec §7: record heads, version chains, verbatim payloads, timelines, actors; access rules."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import quote

from starlette.testclient import TestClient

from tests.conftest import SEED_PAYLOADS, assert_error, bearer
from tests.normalize.helpers import (
    MISSING_UUID,
    all_events,
    get,
    ingest,
    ok,
    rec,
    version_ids,
)

T1, T2, T3, T4 = (f"2026-06-1{d}T10:00:00Z" for d in range(1, 5))
# Starlette's TestClient percent-decodes the path twice, so an id like "x%2Fy" cannot be
# tested through it (a real server decodes once); "100% sure" survives double decoding.
ODD_IDS = ["a/b c?d#e&f=g", "ünï €😀", "100% sure", "trailing/", "/leading", "plain"]


def _record_path(source_id: str, entity_type: str, record_id: str) -> str:
    return f"/v1/sources/{source_id}/records/{entity_type}/{quote(record_id, safe='')}"


def _timeline_path(source_id: str, entity_type: str, record_id: str) -> str:
    return f"/v1/entities/{source_id}/{entity_type}/{quote(record_id, safe='')}/timeline"


def test_record_heads_are_listed_with_filter_and_pagination(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    ingest(client, token, source_id, SEED_PAYLOADS)
    ack = ingest(
        client,
        token,
        source_id,
        [
            rec("c-1", {"name": "C"}, T1, "contact"),
            rec("deal-4471", {"name": "changed"}, T2),
            rec("deal-4472", None, T2, deleted=True),
        ],
    )
    _, new_head, tombstone = version_ids(client, token, ack["batchId"])
    response = client.get(f"/v1/sources/{source_id}/records", headers=bearer(token))
    heads = ok(response)
    assert response.json()["meta"]["pagination"] == {"total": 3, "limit": 20, "offset": 0}
    by_id = {(h["entityType"], h["recordId"]): h for h in heads}
    assert set(by_id) == {("contact", "c-1"), ("deal", "deal-4471"), ("deal", "deal-4472")}
    assert by_id[("deal", "deal-4471")]["versionId"] == new_head
    assert by_id[("deal", "deal-4471")]["sourceUpdatedAt"] == T2
    assert by_id[("deal", "deal-4472")]["versionId"] == tombstone
    assert by_id[("deal", "deal-4472")]["deleted"] is True
    assert by_id[("deal", "deal-4471")]["deleted"] is False
    for head in heads:
        assert len(head["contentHash"]) == 64
        int(head["contentHash"], 16)

    deals = get(client, token, f"/v1/sources/{source_id}/records", entityType="deal")
    assert [h["recordId"] for h in deals] == ["deal-4471", "deal-4472"]
    response = client.get(
        f"/v1/sources/{source_id}/records", params={"limit": 2, "offset": 2}, headers=bearer(token)
    )
    assert response.json()["meta"]["pagination"] == {"total": 3, "limit": 2, "offset": 2}
    assert ok(response) == heads[2:]
    assert get(client, token, f"/v1/sources/{source_id}/records", entityType="nope") == []


def test_a_record_with_any_id_has_its_head_and_version_chain(
    client: TestClient,
    token: str,
    source_id: str,
    normalize_all: Callable[[], int],
) -> None:
    for record_id in ODD_IDS:
        _check_chain(client, token, source_id, normalize_all, record_id)


def _check_chain(
    client: TestClient,
    token: str,
    source_id: str,
    normalize_all: Callable[[], int],
    record_id: str,
) -> None:
    versions = [
        rec(record_id, {"name": "v1", "stage": "a"}, T1),
        rec(record_id, {"name": "v2", "stage": "b"}, T3),
        rec(record_id, {"name": "late", "stage": "z"}, T2),  # stale
        rec(record_id, {"stage": "b", "name": "v2"}, T4),  # unchanged: nothing stored
    ]
    ids = []
    for version in versions:
        ids += version_ids(client, token, ingest(client, token, source_id, [version])["batchId"])
    first, second, stale, _ = ids
    normalize_all()

    record = get(client, token, _record_path(source_id, "deal", record_id))
    assert (record["sourceId"], record["entityType"], record["recordId"]) == (
        source_id,
        "deal",
        record_id,
    )
    assert record["head"]["versionId"] == second
    chain = record["versions"]
    assert [v["id"] for v in chain] == [first, stale, second]  # by source time
    assert [v["outcome"] for v in chain] == ["created", "stale", "superseded"]
    assert [v["sourceUpdatedAt"] for v in chain] == [T1, T2, T3]
    assert chain[2]["previousVersionId"] == first
    assert len({v["contentHash"] for v in chain}) == 3
    assert record["head"]["contentHash"] == chain[2]["contentHash"]
    for version in chain:
        raw = client.get(f"/v1/records/versions/{version['id']}/payload", headers=bearer(token))
        assert raw.headers["x-content-hash"] == version["contentHash"]

    timeline = get(client, token, _timeline_path(source_id, "deal", record_id))
    assert [e["action"] for e in timeline] == ["deal_created", "deal_stage_changed", "deal_updated"]
    assert {e["entity"]["id"] for e in timeline} == {record_id}


def test_the_timeline_has_the_state_before_and_after_each_event(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    record_id = "deal/7 ü?#"
    v1 = '{"name":"Seven",  "stage":"lead", "owner":"ann@acme.com"}'
    v2 = '{"name":"Seven", "stage":"won", "owner":"bob@acme.com", "amount": 1.0}'
    v3 = '{"deletedBy": "ann@acme.com"}'
    for payload, at, extra in ((v1, T1, ""), (v2, T2, ""), (v3, T3, ', "deleted": true')):
        body = (
            f'{{"sourceId": "{source_id}", "records": [{{"recordId": {json.dumps(record_id)}, '
            f'"entityType": "deal", "sourceUpdatedAt": "{at}", "payload": {payload}{extra}}}]}}'
        )
        response = client.post(
            "/v1/ingest",
            content=body.encode(),
            headers={**bearer(token), "Content-Type": "application/json"},
        )
        assert response.status_code == 202, response.text
    normalize_all()
    # another record with events in between, which must not show
    ingest(client, token, source_id, [rec("deal/7", {"name": "other"}, T2)])
    normalize_all()

    timeline = get(client, token, _timeline_path(source_id, "deal", record_id))
    assert sorted((e["timestamp"], e["action"]) for e in timeline) == [
        (T1, "deal_created"),
        (T1, "deal_owner_assigned"),
        (T2, "deal_owner_assigned"),
        (T2, "deal_stage_changed"),
        (T2, "deal_updated"),
        (T3, "deal_deleted"),
    ]
    assert [e["timestamp"] for e in timeline] == [T1, T1, T2, T2, T2, T3]
    states = {
        T1: (None, json.loads(v1)),
        T2: (json.loads(v1), json.loads(v2)),
        T3: (json.loads(v2), json.loads(v3)),
    }
    for event in timeline:
        before, after = states[event["timestamp"]]
        assert event["stateBefore"] == before, event["action"]
        assert event["stateAfter"] == after, event["action"]
    # the deleted history stays on the timeline, flagged
    assert [e["deleted"] for e in timeline] == [True] * 5 + [False]
    listed = {e["id"] for e in all_events(client, token, includeDeleted="true", entityId=record_id)}
    assert {e["id"] for e in timeline} == listed


def test_actors_list_and_get(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    ingest(client, token, source_id, SEED_PAYLOADS)
    ingest(client, token, source_id, [rec("d-1", {"createdBy": "Jane Smith"}, T1)])
    normalize_all()
    response = client.get("/v1/actors", params={"limit": 2}, headers=bearer(token))
    assert response.json()["meta"]["pagination"] == {"total": 3, "limit": 2, "offset": 0}
    actors = ok(response) + get(client, token, "/v1/actors", limit=2, offset=2)
    assert len({a["id"] for a in actors}) == 3
    by_key = {a["email"] or a["name"]: a for a in actors}
    jane = by_key["jane.smith@acme.com"]
    assert set(jane) >= {"id", "email", "name", "placeholder", "aliases"}
    assert {"kind": "email", "value": "jane.smith@acme.com"} in jane["aliases"]
    assert by_key["Jane Smith"]["placeholder"] is True
    for actor in actors:
        assert get(client, token, f"/v1/actors/{actor['id']}") == actor


def test_another_organisations_ids_and_unknown_ids_are_not_found(
    client: TestClient,
    token: str,
    source_id: str,
    normalize_all: Callable[[], int],
    make_key: Callable[..., str],
) -> None:
    ack = ingest(client, token, source_id, SEED_PAYLOADS)
    normalize_all()
    version_id = version_ids(client, token, ack["batchId"])[0]
    event_id = all_events(client, token)[0]["id"]
    actor_id = get(client, token, "/v1/actors")[0]["id"]
    mine = [
        f"/v1/sources/{source_id}/records",
        _record_path(source_id, "deal", "deal-4471"),
        f"/v1/records/versions/{version_id}/payload",
        _timeline_path(source_id, "deal", "deal-4471"),
        f"/v1/actors/{actor_id}",
        f"/v1/events/{event_id}",
    ]
    for path in mine:
        assert client.get(path, headers=bearer(token)).status_code == 200, path

    stranger = make_key("globex")
    for path in mine:
        assert_error(client.get(path, headers=bearer(stranger)), 404, "NOT_FOUND")
    assert get(client, stranger, "/v1/actors") == []

    unknown = [
        f"/v1/sources/{MISSING_UUID}/records",
        "/v1/sources/not-a-uuid/records",
        _record_path(source_id, "deal", "deal-0"),
        _record_path(source_id, "contact", "deal-4471"),
        _record_path(MISSING_UUID, "deal", "deal-4471"),
        f"/v1/records/versions/{MISSING_UUID}/payload",
        "/v1/records/versions/nope/payload",
        _timeline_path(source_id, "deal", "deal-0"),
        _timeline_path(MISSING_UUID, "deal", "deal-4471"),
        f"/v1/actors/{MISSING_UUID}",
        "/v1/actors/nope",
        f"/v1/events/{MISSING_UUID}",
        "/v1/events/nope",
    ]
    for path in unknown:
        assert_error(client.get(path, headers=bearer(token)), 404, "NOT_FOUND")


def test_the_read_endpoints_need_the_read_scope(
    client: TestClient,
    token: str,
    source_id: str,
    normalize_all: Callable[[], int],
    make_key: Callable[..., str],
) -> None:
    ack = ingest(client, token, source_id, SEED_PAYLOADS)
    normalize_all()
    version_id = version_ids(client, token, ack["batchId"])[0]
    event_id = all_events(client, token)[0]["id"]
    actor_id = get(client, token, "/v1/actors")[0]["id"]
    ingest_only = make_key("acme", "ingest")
    for path in (
        "/v1/events",
        "/v1/events?after=",
        f"/v1/events/{event_id}",
        f"/v1/sources/{source_id}/records",
        _record_path(source_id, "deal", "deal-4471"),
        f"/v1/records/versions/{version_id}/payload",
        _timeline_path(source_id, "deal", "deal-4471"),
        "/v1/actors",
        f"/v1/actors/{actor_id}",
    ):
        assert_error(client.get(path, headers=bearer(ingest_only)), 403, "INSUFFICIENT_SCOPE")
        assert_error(client.get(path), 401, "MISSING_AUTH_HEADER")
