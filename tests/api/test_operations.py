"""Operations (spec §8): probes, metrics after a known workload, rate limiting, access logs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from headwater.api.app import create_app
from headwater.config import Settings
from headwater.store import Store
from tests.conftest import SEED_PAYLOADS, assert_error, bearer, ingest_body


def _samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_probes(client: TestClient) -> None:
    assert client.get("/healthz").json()["data"]["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["data"]["status"] == "ready"


def test_metrics_match_a_known_workload(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    changed = [dict(SEED_PAYLOADS[0], sourceUpdatedAt="2026-06-11T00:00:00Z", payload={"a": 1})]
    bad = [{"recordId": "", "entityType": "deal", "sourceUpdatedAt": "x", "payload": {}}]
    for records in (SEED_PAYLOADS, SEED_PAYLOADS, changed, bad):
        response = client.post(
            "/v1/ingest", json=ingest_body(source_id, records), headers=bearer(token)
        )
        assert response.status_code == 202
    before = _samples(client)
    assert before[("headwater_records_total", (("outcome", "created"),))] == 2
    assert before[("headwater_records_total", (("outcome", "unchanged"),))] == 2
    assert before[("headwater_records_total", (("outcome", "superseded"),))] == 1
    route = ("method", "POST"), ("route", "/v1/ingest"), ("status", "202")
    assert before[("headwater_http_requests_total", route)] == 4
    assert before[("headwater_queue_depth", ())] == 2  # two batches accepted something
    assert before[("headwater_normalization_lag_seconds", ())] > 0
    assert before[("headwater_batches", (("status", "done"),))] == 2

    normalize_all()
    after = _samples(client)
    assert after[("headwater_queue_depth", ())] == 0
    assert after[("headwater_normalization_lag_seconds", ())] == 0
    assert after[("headwater_batches", (("status", "done"),))] == 4
    latency = (
        "headwater_http_request_duration_seconds_count",
        (("method", "POST"), ("route", "/v1/ingest")),
    )
    assert after[latency] == 4


def test_metrics_have_no_created_timestamps(client: TestClient, token: str, source_id: str) -> None:
    """`*_created` series are Unix timestamps that read like counts: none are exported."""
    response = client.post(
        "/v1/ingest", json=ingest_body(source_id, SEED_PAYLOADS), headers=bearer(token)
    )
    assert response.status_code == 202
    text = client.get("/metrics").text
    assert "headwater_records_total" in text  # counters with samples are there...
    assert "headwater_http_request_duration_seconds_count" in text
    assert "_created" not in text  # ...without their creation time


@pytest.fixture
def limited(store: Store, database_url: str) -> Iterator[TestClient]:
    settings = Settings(
        database_url=database_url, embedded_worker=False, rate_limit=1.0, rate_burst=3.0
    )
    with TestClient(
        create_app(settings, store=store), raise_server_exceptions=False
    ) as test_client:
        yield test_client


def test_rate_limit_answers_429_with_retry_after(
    limited: TestClient, make_key: Callable[..., str]
) -> None:
    first, second = make_key(org="a"), make_key(org="b")
    statuses = [limited.get("/v1/sources", headers=bearer(first)).status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200]
    assert 429 in statuses[3:]
    response = limited.get("/v1/sources", headers=bearer(first))
    assert_error(response, 429, "RATE_LIMITED")
    assert int(response.headers["retry-after"]) >= 1
    # the bucket is per key: another key is not limited
    assert limited.get("/v1/sources", headers=bearer(second)).status_code == 200


def test_access_log_line_has_no_token_or_payload(
    client: TestClient, token: str, source_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="headwater.access"):
        response = client.post("/v1/ingest", json=ingest_body(source_id), headers=bearer(token))
    assert response.status_code == 202
    lines = [r for r in caplog.records if r.name == "headwater.access"]
    assert len(lines) == 1
    fields = lines[0].fields  # type: ignore[attr-defined]
    assert fields["requestId"] == response.headers["x-request-id"]
    assert fields["route"] == "/v1/ingest"
    assert fields["status"] == 202
    assert fields["records"] == 2
    assert fields["keyPrefix"] == token[:12]
    assert fields["durationMs"] > 0
    text = caplog.text + repr(fields)
    assert token not in text
    assert "Acme Corp renewal" not in text
