"""Spec §6.1: a failing batch is retried with backoff, then ends `error`; nothing is lost."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

import headwater.core.retry
import headwater.normalize
import headwater.worker
from headwater.ids import now_micros
from headwater.observability import Metrics
from headwater.store import Store
from headwater.worker import Worker
from tests.conftest import SEED_PAYLOADS, bearer
from tests.normalize.helpers import (
    all_events,
    batch,
    follow_feed,
    get,
    ingest,
    org_id_of,
    rec,
    version_ids,
)

SECOND = 1_000_000


class Clock:
    """The worker's clock, moved forward by the test."""

    def __init__(self) -> None:
        self.offset = 0

    def __call__(self) -> int:
        return now_micros() + self.offset


def test_a_failing_batch_is_retried_with_backoff_then_ends_in_error(
    client: TestClient,
    token: str,
    source_id: str,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []

    def broken(version: Any, *args: Any) -> Any:
        calls.append(version.version_id)
        raise RuntimeError("boom")

    clock = Clock()
    monkeypatch.setattr(headwater.normalize, "events_for", broken)
    monkeypatch.setattr(headwater.worker, "now_micros", clock)
    ack = ingest(client, token, source_id, SEED_PAYLOADS)
    metrics = Metrics()
    worker = Worker(store, worker_id="w", max_attempts=3, metrics=metrics)
    org_id = org_id_of(store, token)

    assert worker.run_once()  # attempt 1 fails
    state = batch(client, token, ack["batchId"])
    assert (state["status"], state["attempts"]) == ("queued", 1)
    assert (state["recordsCreated"], state["eventsCreated"]) == (None, None)
    stored = store.get_batch(org_id, ack["batchId"])
    assert stored is not None
    assert stored.error_code == "NORMALIZATION_FAILED"
    assert stored.error_message is not None
    assert "boom" in stored.error_message
    # not due again at once: the retry waits (1 s after the first failure)
    assert not worker.run_once()
    clock.offset = SECOND // 2
    assert not worker.run_once()
    clock.offset = SECOND + SECOND // 5
    assert worker.run_once()  # attempt 2 fails: the next wait is longer (2 s)
    assert batch(client, token, ack["batchId"])["attempts"] == 2
    clock.offset += SECOND + SECOND // 2
    assert not worker.run_once()
    clock.offset += SECOND
    assert worker.run_once()  # attempt 3, the last one
    # /metrics counts two retries and one failure
    assert metrics.registry.get_sample_value("headwater_worker_retries_total") == 2
    assert metrics.registry.get_sample_value("headwater_worker_failures_total") == 1

    failed = batch(client, token, ack["batchId"])
    assert failed["status"] == "error"
    assert failed["attempts"] == 3
    assert failed["error"]["code"] == "NORMALIZATION_FAILED"
    assert "boom" in failed["error"]["message"]
    assert "Traceback" not in failed["error"]["message"]
    assert failed["completedAt"] is not None
    assert (failed["recordsCreated"], failed["eventsCreated"]) == (None, None)
    clock.offset += 3600 * SECOND
    assert not worker.run_once()  # an `error` batch is never claimed again by itself
    assert len(calls) == 3

    listed = get(client, token, "/v1/ingest", sourceId=source_id, status="error")
    assert [b["batchId"] for b in listed] == [ack["batchId"]]
    # the raw records stay stored, and no event was written
    assert all_events(client, token, includeDeleted="true") == []
    heads = get(client, token, f"/v1/sources/{source_id}/records")
    assert sorted(h["recordId"] for h in heads) == ["deal-4471", "deal-4472"]
    for version_id in version_ids(client, token, ack["batchId"]):
        raw = client.get(f"/v1/records/versions/{version_id}/payload", headers=bearer(token))
        assert raw.status_code == 200
        assert raw.json()["name"] in {"Acme Corp renewal", "Northwind expansion"}


def test_an_error_batch_does_not_block_the_next_ones(
    client: TestClient,
    token: str,
    source_id: str,
    store: Store,
    normalize_all: Callable[[], int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(headwater.normalize, "events_for", lambda *args: 1 / 0)
        failed = ingest(client, token, source_id, SEED_PAYLOADS)
        assert Worker(store, max_attempts=1).run_once()
    assert batch(client, token, failed["batchId"])["error"]["code"] == "NORMALIZATION_FAILED"
    later = ingest(client, token, source_id, [rec("deal-1", {"name": "x"}, "2026-06-11T00:00:00Z")])
    assert normalize_all() == 1
    assert batch(client, token, later["batchId"])["status"] == "done"
    assert batch(client, token, failed["batchId"])["status"] == "error"
    assert [e["entity"]["id"] for e in all_events(client, token)] == ["deal-1"]


def test_a_failure_while_writing_leaves_nothing_behind(
    client: TestClient,
    token: str,
    source_id: str,
    store: Store,
    normalize_all: Callable[[], int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Events written before the failure are rolled back: the retry adds no duplicates."""
    real = headwater.normalize._write_events
    failures: list[int] = []

    def write_then_fail(*args: Any) -> None:
        real(*args)
        if not failures:
            failures.append(1)
            raise RuntimeError("disk on fire")

    monkeypatch.setattr(headwater.normalize, "_write_events", write_then_fail)
    monkeypatch.setattr(headwater.core.retry, "retry_delay", lambda attempt: 0)
    ack = ingest(client, token, source_id, SEED_PAYLOADS)
    worker = Worker(store, worker_id="w")
    assert worker.run_once()
    assert batch(client, token, ack["batchId"])["status"] == "queued"
    assert all_events(client, token) == []  # rolled back
    assert get(client, token, "/v1/actors") == []
    assert worker.run_once()
    done = batch(client, token, ack["batchId"])
    assert (done["status"], done["attempts"], done["eventsCreated"]) == ("done", 2, 5)
    events = all_events(client, token)
    assert len(events) == len({e["id"] for e in events}) == 5
    assert len(follow_feed(client, token)[0]) == 5
    assert len(get(client, token, "/v1/actors")) == 2
