"""`ingest_all`: request splitting, retries with the same key, outcomes and rejections;
100,000 records through a live server in bounded client memory."""

from __future__ import annotations

import asyncio
import itertools
import json
import tracemalloc
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from headwater.client import (
    MAX_REQUEST_BYTES,
    AsyncHeadwaterClient,
    HeadwaterClient,
    HeadwaterError,
    chunk_records,
)
from tests.client.conftest import Live, deal

# the tests of this folder share their servers (conftest.py): keep them on one xdist worker
pytestmark = pytest.mark.xdist_group("client")

SOURCE = "0191f3c4-0000-7000-8000-000000000001"


class FakeServer:
    """A MockTransport handler that answers POST /v1/ingest like Headwater does."""

    def __init__(self, failures: list[httpx.Response | Exception | None] | None = None) -> None:
        self.failures = failures or []
        self.bodies: list[bytes] = []
        self.keys: list[str] = []
        self.batches: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, dict[str, Any]] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            batch_id = request.url.path.rsplit("/", 1)[1]
            return _ok(self.batches[batch_id])
        key = request.headers["idempotency-key"]
        self.keys.append(key)
        failure = self.failures.pop(0) if self.failures else None
        if isinstance(failure, Exception):
            raise failure
        if failure is not None:
            return failure
        self.bodies.append(request.content)
        if key in self.by_key:
            return _ok(self.by_key[key], 202)
        records = json.loads(request.content)["records"]
        rejected = [
            {"index": i, "recordId": r.get("recordId"), "code": "INVALID_TIMESTAMP",
             "message": "bad timestamp"}
            for i, r in enumerate(records) if r["sourceUpdatedAt"] == "never"
        ]  # fmt: skip
        accepted = len(records) - len(rejected)
        batch = {"batchId": f"b{len(self.batches)}", "sourceId": SOURCE,
                 "status": "queued" if accepted else "done", "accepted": accepted,
                 "deduplicated": 0, "rejected": rejected, "createdAt": "2026-06-12T16:24:11Z"}  # fmt: skip
        self.batches[batch["batchId"]] = {
            **batch,
            "outcomes": {"created": accepted, "superseded": 0, "unchanged": 0, "stale": 0},
        }
        self.by_key[key] = batch
        return _ok(batch, 202)


def _ok(data: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json={"success": True, "data": data, "meta": {"requestId": "r"}})


def _error(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"success": False, "error": {"code": code, "message": code.lower()},
            "meta": {"requestId": "0191f3c4-0000-7000-8000-00000000beef"}}  # fmt: skip
    return httpx.Response(status, json=body, headers=headers)


def _client(server: FakeServer, sleeps: list[float] | None = None) -> HeadwaterClient:
    return HeadwaterClient(
        "sk_live_test",
        "http://headwater.test",
        transport=httpx.MockTransport(server),
        sleep=(sleeps if sleeps is not None else []).append,
    )


def test_requests_hold_at_most_500_records_each_with_its_own_key() -> None:
    server = FakeServer()
    result = _client(server).ingest_all(SOURCE, (deal(i) for i in range(1234)), concurrency=1)
    sizes = [len(json.loads(body)["records"]) for body in server.bodies]
    assert sizes == [500, 500, 234]
    assert len(set(server.keys)) == 3
    assert (result.records, result.created, result.requests) == (1234, 1234, 3)
    ids = [r["recordId"] for body in server.bodies for r in json.loads(body)["records"]]
    assert ids == [f"deal-{i}" for i in range(1234)]  # order kept across requests


def test_requests_stay_under_10_MiB_measured_on_the_encoded_body() -> None:
    server = FakeServer()
    big = "x" * 700_000  # ~0.7 MB of payload each: 14 fit in 10 MiB, not 15
    records = [{**deal(i), "payload": {"blob": big, "n": "é" * i}} for i in range(40)]
    result = _client(server).ingest_all(SOURCE, records, concurrency=1)
    assert result.created == 40
    assert len(server.bodies) == 3
    assert all(len(body) <= MAX_REQUEST_BYTES for body in server.bodies)
    assert len(server.bodies[0]) > MAX_REQUEST_BYTES - 800_000  # full, not timid
    assert [len(json.loads(b)["records"]) for b in server.bodies] == [14, 14, 12]


def test_chunks_never_exceed_the_byte_limit_at_the_boundary() -> None:
    limit = 2_000
    records = [{**deal(i), "payload": {"pad": "p" * (i % 97)}} for i in range(300)]
    chunks = list(chunk_records(SOURCE, records, max_bytes=limit))
    assert all(len(c.body) <= limit for c in chunks)
    assert sum(len(c.items) for c in chunks) == 300
    for chunk in chunks:  # each chunk is a valid body and could not take the next record
        assert json.loads(chunk.body)["sourceId"] == SOURCE
    for current, following in itertools.pairwise(chunks):
        assert len(current.body) + 1 + len(following.items[0]) > limit


def test_a_record_too_large_for_any_request_is_rejected_without_sending_it() -> None:
    server = FakeServer()
    huge = {**deal(1), "payload": {"blob": "x" * (MAX_REQUEST_BYTES + 1)}}
    result = _client(server).ingest_all(SOURCE, [deal(0), huge, deal(2)])
    assert result.created == 2
    assert [(r.index, r.record_id, r.code) for r in result.rejected] == [
        (1, "deal-1", "RECORD_TOO_LARGE")
    ]
    assert result.rejected[0].record["payload"]["blob"].startswith("xxx")
    assert [r["recordId"] for b in server.bodies for r in json.loads(b)["records"]] == [
        "deal-0",
        "deal-2",
    ]


def test_rejected_records_come_back_with_their_position_in_the_input() -> None:
    server = FakeServer()
    bad = {3, 700, 1150}
    records = (
        {**deal(i), "sourceUpdatedAt": "never"} if i in bad else deal(i) for i in range(1200)
    )
    result = _client(server).ingest_all(SOURCE, records)
    assert [(r.index, r.record_id, r.code) for r in result.rejected] == [
        (i, f"deal-{i}", "INVALID_TIMESTAMP") for i in sorted(bad)
    ]
    assert result.rejected[1].record == {**deal(700), "sourceUpdatedAt": "never"}
    assert (result.created, result.rejected_count, result.ok) == (1197, 3, False)


@pytest.mark.parametrize(
    "failure",
    [
        _error(429, "RATE_LIMITED", {"Retry-After": "7"}),
        _error(503, "UNAVAILABLE"),
        _error(500, "INTERNAL_ERROR"),
        _error(409, "IDEMPOTENCY_KEY_IN_USE"),
        httpx.Response(502, text="<html>bad gateway</html>"),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("server disconnected"),
        httpx.ConnectError("connection refused"),
    ],
)
def test_transient_failures_are_retried_with_the_same_key(
    failure: httpx.Response | Exception,
) -> None:
    server = FakeServer([failure])
    sleeps: list[float] = []
    result = _client(server, sleeps).ingest_all(SOURCE, [deal(1), deal(2)])
    assert result.created == 2
    assert len(server.keys) == 2 and server.keys[0] == server.keys[1]
    assert result.retries == 1 and len(sleeps) == 1
    if isinstance(failure, httpx.Response) and failure.status_code == 429:
        assert 7 <= sleeps[0] <= 7.25  # Retry-After, plus a little jitter
    else:
        assert 0 < sleeps[0] <= 0.25


def test_backoff_grows_with_jitter_and_gives_up_with_the_last_error() -> None:
    server = FakeServer([_error(503, "UNAVAILABLE") for _ in range(8)])
    sleeps: list[float] = []
    with pytest.raises(HeadwaterError) as failed:
        _client(server, sleeps).ingest_all(SOURCE, [deal(1)])
    assert (failed.value.status, failed.value.code) == (503, "UNAVAILABLE")
    assert failed.value.request_id == "0191f3c4-0000-7000-8000-00000000beef"
    assert len(server.keys) == 8 and len(set(server.keys)) == 1
    assert len(sleeps) == 7
    for attempt, slept in enumerate(sleeps, 1):
        ceiling = min(20.0, 0.25 * 2 ** (attempt - 1))
        assert ceiling / 2 <= slept <= ceiling


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "VALIDATION_ERROR"), (404, "NOT_FOUND"), (409, "SOURCE_NOT_ACTIVE"),
     (422, "IDEMPOTENCY_KEY_REUSED"), (401, "INVALID_API_KEY")],
)  # fmt: skip
def test_final_answers_are_not_retried(status: int, code: str) -> None:
    server = FakeServer([_error(status, code)])
    sleeps: list[float] = []
    with pytest.raises(HeadwaterError) as failed:
        _client(server, sleeps).ingest_all(SOURCE, [deal(1)])
    assert (failed.value.status, failed.value.code) == (status, code)
    assert len(server.keys) == 1 and sleeps == []


def test_a_final_error_midway_carries_what_was_done_before_it() -> None:
    server = FakeServer([None, _error(404, "NOT_FOUND")])
    with pytest.raises(HeadwaterError) as failed:
        _client(server).ingest_all(SOURCE, (deal(i) for i in range(1200)), concurrency=1)
    assert failed.value.partial is not None
    assert (failed.value.partial.records, failed.value.partial.created) == (500, 500)
    assert failed.value.partial.batch_ids == ["b0"]


def test_the_async_client_splits_and_retries_the_same_way() -> None:
    server = FakeServer([_error(429, "RATE_LIMITED", {"Retry-After": "1"})])
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def records() -> Any:
        for i in range(1001):
            yield deal(i)

    async def run() -> Any:
        async with AsyncHeadwaterClient(
            "sk_live_test", "http://headwater.test", transport=httpx.MockTransport(server),
            sleep=sleep,
        ) as client:  # fmt: skip
            return await client.ingest_all(SOURCE, records(), concurrency=1)

    result = asyncio.run(run())
    assert [len(json.loads(b)["records"]) for b in server.bodies] == [500, 500, 1]
    assert server.keys[0] == server.keys[1] and len(set(server.keys)) == 3
    assert (result.created, result.retries) == (1001, 1) and 1 <= sleeps[0] <= 1.25


def _generated(count: int) -> Iterator[dict[str, Any]]:
    for i in range(count):
        yield {
            "recordId": f"r-{i}",
            "entityType": "item" if i % 3 else "order",
            "sourceUpdatedAt": "2026-06-10T14:03:00Z",
            "payload": {"n": i, "tag": "t" * (i % 7)},
        }


@pytest.mark.backends("sqlite")
def test_100_000_records_stream_through_a_live_server_in_bounded_memory(
    live_loader: Live,
) -> None:
    count = 100_000
    with live_loader.client() as client:
        tracemalloc.start()
        try:
            result = client.ingest_all(live_loader.source_id, _generated(count))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # the records alone are ~20 MB as Python dicts and ~10 MB as JSON: a client that
    # held them all would be far above this
    assert peak < 8 * 1024 * 1024, f"client peak {peak / 1e6:.1f} MB"
    assert (result.records, result.created, result.rejected_count) == (count, count, 0)
    assert result.requests == len(result.batch_ids) == count // 500
    assert result.outcomes_known

    # the totals are the sum of what the server says about each batch
    server_totals = dict.fromkeys(("created", "superseded", "unchanged", "stale"), 0)
    with live_loader.http() as http:
        for batch_id in result.batch_ids:
            batch = http.get(f"/v1/ingest/{batch_id}").json()["data"]
            for outcome, n in batch["outcomes"].items():
                server_totals[outcome] += n
        listed = http.get("/v1/ingest", params={"sourceId": live_loader.source_id}).json()
        source = http.get(f"/v1/sources/{live_loader.source_id}").json()["data"]
    assert server_totals == {k: v for k, v in result.outcome_totals().items() if k != "rejected"}
    assert listed["meta"]["pagination"]["total"] == count // 500
    assert source["counts"]["records"] == count


@pytest.mark.backends("sqlite")
def test_outcomes_of_a_mixed_reload_and_waiting_for_done(live: Live) -> None:
    """Changed, unchanged, older and invalid records in one load; then wait for `done`."""
    with live.client() as client:
        first = client.ingest_all(live.source_id, (deal(i) for i in range(1200)), wait=True)
        assert (first.created, first.waited) == (1200, True)
        assert first.events_created == 1200

        def reload() -> Iterator[dict[str, Any]]:
            for i in range(1300):
                if i < 100:
                    yield deal(i, stage="won", at="2026-06-11T00:00:00Z")  # superseded
                elif i < 150:
                    yield deal(i, stage="lost", at="2026-01-01T00:00:00Z")  # stale
                elif i in (500, 1250):
                    yield {**deal(i), "entityType": "bad type!"}  # rejected
                else:
                    yield deal(i)  # unchanged below 1200, created above

        reports: list[Any] = []
        second = client.ingest_all(live.source_id, reload(), wait=True, on_batch=reports.append)
    assert second.outcome_totals() == {
        "created": 99, "superseded": 100, "unchanged": 1049, "stale": 50, "rejected": 2,
    }  # fmt: skip
    assert (second.accepted, second.deduplicated) == (249, 1049)
    assert [r.index for r in second.rejected] == [500, 1250]
    assert {r.code for r in second.rejected} == {"INVALID_ENTITY_TYPE"}
    assert second.waited and not second.failed_batches and second.ok is False
    assert second.events_created >= 100  # one stage change per superseded deal, at least
    assert [(r.start, r.end) for r in reports] == [(0, 500), (500, 1000), (1000, 1300)]
    assert sum(len(r.rejected) for r in reports) == 2
