"""Spec §6.5: POST /v1/sources/{id}/renormalize rebuilds a source's events, repeatably."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

import headwater.normalize
from headwater.ids import now_micros
from headwater.store import Store
from headwater.worker import Worker
from tests.conftest import SEED_PAYLOADS, assert_error, bearer
from tests.normalize.helpers import (
    MISSING_UUID,
    actions,
    all_events,
    batch,
    create_source,
    follow_feed,
    get,
    ingest,
    ok,
    rec,
)

T1, T2, T3 = (f"2026-06-1{d}T10:00:00Z" for d in range(1, 4))


@pytest.fixture(autouse=True, params=[1, 1000], ids=["step-1-record", "one-step"])
def step_records(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Every test runs with the source rebuilt one record per transaction, and in one go:
    the result must not depend on the step."""
    monkeypatch.setattr(headwater.normalize, "RENORMALIZE_RECORDS", request.param)
    return int(request.param)


def _fill(client: TestClient, token: str, source: str, normalize_all: Callable[[], int]) -> None:
    """Creations, changes, a tombstone, a stale version and a merged placeholder."""
    ingest(client, token, source, SEED_PAYLOADS)
    ingest(
        client,
        token,
        source,
        [
            rec("deal-9", {"name": "Nine", "amount": 1, "createdBy": "Jane Smith"}, T1),
            rec("c-1", {"name": "Contact", "status": "lead"}, T1, "contact"),
        ],
    )
    normalize_all()
    ingest(
        client,
        token,
        source,
        [
            rec(
                "deal-9",
                {
                    "name": "Nine",
                    "amount": 2,
                    "updatedBy": {"name": "Jane Smith", "email": "jane@acme.com"},
                },
                T3,
            ),
            rec("c-1", {"name": "Contact", "status": "customer"}, T2, "contact"),
            rec("deal-4472", None, T3, deleted=True),
        ],
    )
    ingest(client, token, source, [rec("deal-9", {"name": "Nine", "amount": 5}, T2)])  # stale
    normalize_all()


def _snapshot(client: TestClient, token: str, source: str) -> list[tuple[Any, ...]]:
    """Every event of the source, with what must not move: id, createdAt, feed position."""
    feed, _ = follow_feed(client, token, sourceId=source, includeDeleted="true")
    return [
        (
            position,
            e["id"],
            e["createdAt"],
            e["action"],
            e["deleted"],
            e["actor"]["id"] if e["actor"] else None,
            repr(e["changes"]),
        )
        for position, e in enumerate(feed)
    ]


def _renormalize(client: TestClient, token: str, source: str) -> dict[str, Any]:
    response = client.post(f"/v1/sources/{source}/renormalize", headers=bearer(token))
    data = ok(response, 202)
    assert data["status"] == "queued"
    assert data["sourceId"] == source
    return dict(data)


def test_renormalizing_with_the_same_mapping_changes_nothing(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    _fill(client, token, source_id, normalize_all)
    before = _snapshot(client, token, source_id)
    assert len(before) == 10
    feed_end = follow_feed(client, token)[1]

    job = _renormalize(client, token, source_id)
    assert batch(client, token, job["batchId"])["kind"] == "renormalize"
    assert normalize_all() == 1
    done = batch(client, token, job["batchId"])
    assert done["status"] == "done"
    assert done["kind"] == "renormalize"
    assert done["eventsCreated"] == len(before)
    assert done["progress"]["done"] == done["progress"]["total"] == 8  # stored versions
    assert done["completedAt"] is not None

    assert _snapshot(client, token, source_id) == before
    assert follow_feed(client, token, feed_end)[0] == []  # nothing new in the feed

    # twice in a row: still nothing
    _renormalize(client, token, source_id)
    _renormalize(client, token, source_id)
    assert normalize_all() == 2
    assert _snapshot(client, token, source_id) == before
    assert len(get(client, token, "/v1/actors")) == 3


def test_renormalizing_after_a_mapping_change_rebuilds_that_types_events(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    _fill(client, token, source_id, normalize_all)
    before = {e["id"]: e for e in all_events(client, token, includeDeleted="true")}
    contact_ids = {i for i, e in before.items() if e["entity"]["type"] == "contact"}
    feed_end = follow_feed(client, token)[1]

    mappings = {"deal": {"statusFields": ["amount"], "actions": {"created": "deal_opened"}}}
    response = client.patch(
        f"/v1/sources/{source_id}", json={"mappings": mappings}, headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    assert {e["id"] for e in all_events(client, token, includeDeleted="true")} == set(before)

    _renormalize(client, token, source_id)
    normalize_all()
    after = {e["id"]: e for e in all_events(client, token, includeDeleted="true")}
    deals = [e for e in after.values() if e["entity"]["type"] == "deal"]
    assert actions(deals) == [
        "deal_amount_changed",  # deal-9: amount is status-like now, not a deal_updated
        "deal_deleted",
        "deal_opened",
        "deal_opened",
        "deal_opened",
        "deal_owner_assigned",
        "deal_owner_assigned",
        "deal_stage_changed",
    ]
    amount = next(e for e in deals if e["action"] == "deal_amount_changed")
    assert amount["changes"] == [{"field": "amount", "from": 1, "to": 2}]
    assert amount["actor"]["email"] == "jane@acme.com"
    # deal-4472 was deleted after its creation: its rebuilt events are still soft-deleted
    assert {e["deleted"] for e in deals if e["entity"]["id"] == "deal-4472"} == {True, False}
    assert [e["deleted"] for e in deals if e["action"] == "deal_deleted"] == [False]

    # the old deal events are gone, the contact's are untouched
    for event_id, event in before.items():
        response = client.get(f"/v1/events/{event_id}", headers=bearer(token))
        if event_id in contact_ids:
            assert ok(response) == {**event, "provenance": ok(response)["provenance"]}
        else:
            assert_error(response, 404, "NOT_FOUND")
    assert contact_ids <= set(after)
    # a follower at the end of the feed sees exactly the new events
    assert {e["id"] for e in follow_feed(client, token, feed_end, includeDeleted="true")[0]} == (
        set(after) - set(before)
    )
    # and running it again changes nothing more
    snapshot = _snapshot(client, token, source_id)
    _renormalize(client, token, source_id)
    normalize_all()
    assert _snapshot(client, token, source_id) == snapshot


def test_renormalizing_one_source_leaves_the_others_alone(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    other = create_source(client, token, "other")
    _fill(client, token, source_id, normalize_all)
    _fill(client, token, other, normalize_all)
    before = _snapshot(client, token, other)
    response = client.patch(
        f"/v1/sources/{source_id}",
        json={"mappings": {"deal": {"actions": {"created": "deal_opened"}}}},
        headers=bearer(token),
    )
    assert response.status_code == 200
    _renormalize(client, token, source_id)
    normalize_all()
    assert _snapshot(client, token, other) == before
    assert "deal_opened" in actions(all_events(client, token, sourceId=source_id))


def test_renormalize_retries_a_batch_in_error(
    client: TestClient,
    token: str,
    source_id: str,
    store: Store,
    normalize_all: Callable[[], int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("mapping exploded")

    with monkeypatch.context() as patch:
        patch.setattr(headwater.normalize, "events_for", broken)
        ack = ingest(client, token, source_id, SEED_PAYLOADS)
        assert Worker(store, max_attempts=1).run_once()
    failed = batch(client, token, ack["batchId"])
    assert failed["status"] == "error"
    assert failed["error"]["code"] == "NORMALIZATION_FAILED"
    assert all_events(client, token) == []

    job = _renormalize(client, token, source_id)
    assert batch(client, token, ack["batchId"])["status"] == "queued"  # requeued at once
    assert normalize_all() == 2
    retried = batch(client, token, ack["batchId"])
    assert retried["status"] == "done"
    assert retried["error"] is None
    assert (retried["recordsCreated"], retried["eventsCreated"]) == (2, 5)
    assert batch(client, token, job["batchId"])["status"] == "done"
    events = all_events(client, token)
    assert len(events) == 5
    assert len({e["id"] for e in events}) == 5
    assert len(follow_feed(client, token)[0]) == 5


def test_renormalize_needs_an_existing_source_and_the_ingest_scope(
    client: TestClient,
    token: str,
    source_id: str,
    make_key: Callable[..., str],
) -> None:
    for bad in (MISSING_UUID, "not-a-uuid"):
        response = client.post(f"/v1/sources/{bad}/renormalize", headers=bearer(token))
        assert_error(response, 404, "NOT_FOUND")
    stranger = make_key("globex")
    response = client.post(f"/v1/sources/{source_id}/renormalize", headers=bearer(stranger))
    assert_error(response, 404, "NOT_FOUND")
    reader = make_key("acme", "read")
    response = client.post(f"/v1/sources/{source_id}/renormalize", headers=bearer(reader))
    assert_error(response, 403, "INSUFFICIENT_SCOPE")
    ingester = make_key("acme", "ingest")
    response = client.post(f"/v1/sources/{source_id}/renormalize", headers=bearer(ingester))
    assert response.status_code == 202, response.text
    # the job reads like a batch
    job = batch(client, token, response.json()["data"]["batchId"])
    assert (job["kind"], job["status"], job["sourceId"]) == ("renormalize", "queued", source_id)


def test_renormalize_body_is_optional_but_json_when_sent(
    client: TestClient, token: str, source_id: str
) -> None:
    path = f"/v1/sources/{source_id}/renormalize"
    for content_type, body in [
        ("text/plain", b"go"),
        ("application/x-www-form-urlencoded", b"a=1"),
    ]:
        response = client.post(
            path, content=body, headers={**bearer(token), "Content-Type": content_type}
        )
        assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    response = client.post(path, content=b"go", headers=bearer(token))  # no type at all
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    for bad in [b"go", b"[]", b" ", b"1"]:
        response = client.post(
            path, content=bad, headers={**bearer(token), "Content-Type": "application/json"}
        )
        assert_error(response, 400, "VALIDATION_ERROR")
    assert client.post(path, headers=bearer(token)).status_code == 202  # no body
    assert client.post(path, json={}, headers=bearer(token)).status_code == 202
    empty_json = {**bearer(token), "Content-Type": "application/json"}
    assert client.post(path, content=b"", headers=empty_json).status_code == 202


def test_renormalize_honours_idempotency_keys(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    headers = {**bearer(token), "Idempotency-Key": "renorm-1"}
    first = client.post(f"/v1/sources/{source_id}/renormalize", headers=headers)
    again = client.post(f"/v1/sources/{source_id}/renormalize", headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json()["data"]["batchId"] == first.json()["data"]["batchId"]
    assert normalize_all() == 1


def test_a_long_renormalize_renews_its_lease_and_stops_when_it_is_lost(
    client: TestClient,
    token: str,
    source_id: str,
    store: Store,
    normalize_all: Callable[[], int],
    monkeypatch: pytest.MonkeyPatch,
    step_records: int,
) -> None:
    _fill(client, token, source_id, normalize_all)
    job = _renormalize(client, token, source_id)
    now = now_micros()
    with store.write() as tx:
        claimed = tx.claim_batch("worker-a", now, now + 1)  # a lease about to run out
    assert claimed is not None and claimed.id == job["batchId"]

    steps: list[int | None] = []
    real_versions_between = store.versions_between

    def versions_between(*args: Any) -> Any:
        """Before the second step, another worker takes the batch over."""
        lease = store._query(  # type: ignore[attr-defined]
            "SELECT lease_until FROM batches WHERE id = %s", (claimed.id,)
        )[0][0]
        steps.append(lease)
        if len(steps) == 2:
            with store.write() as tx:
                tx._execute(  # type: ignore[attr-defined]
                    "UPDATE batches SET worker_id = 'worker-b' WHERE id = %s", (claimed.id,)
                )
        return real_versions_between(*args)

    monkeypatch.setattr(store, "versions_between", versions_between)
    if step_records == 1:
        with pytest.raises(headwater.normalize.LeaseLost):
            headwater.normalize.renormalize_source(store, claimed, "worker-a", 60_000_000)
        assert steps[0] == now + 1 and steps[1] > now + 50_000_000  # the first step renewed it
        progress = batch(client, token, claimed.id)["progress"]
        assert 0 < progress["done"] < progress["total"] == 8  # the first step is kept
    else:
        headwater.normalize.renormalize_source(store, claimed, "worker-a", 60_000_000)
        assert batch(client, token, claimed.id)["status"] == "done"  # one step: never lost
