"""`ingest_all` with several requests in flight: the bound, input-order settling, the
hold on a record still in flight, retries under each request's own key, failures with
requests in flight, bounded read-ahead over a generator; the same for the async client."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from headwater.client import AsyncHeadwaterClient, BatchReport, HeadwaterClient, HeadwaterError
from tests.client.conftest import deal

pytestmark = pytest.mark.xdist_group("client")

SOURCE = "0191f3c4-0000-7000-8000-000000000001"


def _ok(data: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json={"success": True, "data": data, "meta": {"requestId": "r"}})


def _error(status: int, code: str) -> httpx.Response:
    body = {"success": False, "error": {"code": code, "message": code.lower()}, "meta": {}}
    return httpx.Response(status, json=body)


class Server:
    """A thread-safe fake of POST /v1/ingest and GET /v1/ingest/{id}.

    Batch ids name the first record of the request (`b-deal-0`), so answers can be
    matched to requests whatever order they arrive in. `hook(first_record_id, attempt)`
    runs before each POST is answered and may return a response to send instead.
    """

    def __init__(self, hook: Any = None) -> None:
        self.lock = threading.Lock()
        self.hook = hook
        self.in_flight = 0
        self.max_in_flight = 0
        self.log: list[tuple[str, str]] = []  #: ("start" | "end", first record id)
        self.keys: dict[str, list[str]] = {}  #: first record id -> keys of its attempts
        self.bodies: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            with self.lock:
                return _ok(self.batches[request.url.path.rsplit("/", 1)[1]])
        records = json.loads(request.content)["records"]
        first = records[0]["recordId"]
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.log.append(("start", first))
            attempts = self.keys.setdefault(first, [])
            attempts.append(request.headers["idempotency-key"])
            attempt = len(attempts)
        try:
            replaced = self.hook(first, attempt) if self.hook is not None else None
            if replaced is not None:
                return replaced
            batch = {"batchId": f"b-{first}", "sourceId": SOURCE, "status": "queued",
                     "accepted": len(records), "deduplicated": 0, "rejected": [],
                     "createdAt": "2026-06-12T16:24:11Z"}  # fmt: skip
            with self.lock:
                self.bodies[first] = request.content
                self.batches[batch["batchId"]] = {
                    **batch,
                    "outcomes": {"created": len(records), "superseded": 0, "unchanged": 0,
                                 "stale": 0},
                }  # fmt: skip
            return _ok(batch, 202)
        finally:
            with self.lock:
                self.in_flight -= 1
                self.log.append(("end", first))


def _client(server: Server) -> HeadwaterClient:
    return HeadwaterClient(
        "sk_live_test", "http://headwater.test", transport=httpx.MockTransport(server),
        sleep=lambda _: None,
    )  # fmt: skip


def _wait_until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)


def test_at_most_concurrency_requests_are_in_flight_and_settled_in_input_order() -> None:
    def hold(server: Server) -> Any:
        def hook(first: str, attempt: int) -> None:
            # keep each request open until the window is full (or a while has passed),
            # so the bound is reached and tested, not just respected by luck
            _wait_until(lambda: server.in_flight >= 3, timeout=1.0)
            time.sleep(0.01)

        return hook

    server = Server()
    server.hook = hold(server)
    reports: list[BatchReport] = []
    result = _client(server).ingest_all(
        SOURCE, (deal(i) for i in range(100)), max_records=10, concurrency=3,
        on_batch=reports.append,
    )  # fmt: skip
    assert server.max_in_flight == 3
    assert [(r.start, r.end) for r in reports] == [(i, i + 10) for i in range(0, 100, 10)]
    assert result.batch_ids == [f"b-deal-{i}" for i in range(0, 100, 10)]
    assert (result.records, result.created, result.requests) == (100, 100, 10)
    assert len({k for keys in server.keys.values() for k in keys}) == 10


def test_a_request_waits_while_an_earlier_one_in_flight_holds_one_of_its_records() -> None:
    """deal-1 is in request 0 and again (a later version) in request 2: request 2 is sent
    only after request 0 was answered; request 1 shares nothing and does not wait."""
    release = threading.Event()

    def hook(first: str, attempt: int) -> None:
        if first == "deal-0":
            release.wait(5.0)

    server = Server(hook)
    records = [deal(0), deal(1), deal(2), deal(3), deal(1, stage="won", at="2026-06-11T00:00:00Z"),
               deal(5)]  # fmt: skip

    def run() -> Any:
        return _client(server).ingest_all(SOURCE, records, max_records=2, concurrency=4)

    done: list[Any] = []
    thread = threading.Thread(target=lambda: done.append(run()))
    thread.start()
    _wait_until(lambda: ("start", "deal-2") in server.log)
    time.sleep(0.1)  # room for request 2 to be sent, were it not held back
    assert ("start", "deal-2") in server.log  # request 1 went out beside request 0
    assert ("start", "deal-1") not in server.log  # request 2 (deal-1 again) waits
    release.set()
    thread.join(10)
    log = server.log
    assert log.index(("end", "deal-0")) < log.index(("start", "deal-1"))
    assert done[0].created == 6
    second = json.loads(server.bodies["deal-1"])["records"]
    assert second[0]["payload"]["stage"] == "won"


def test_every_request_keeps_its_own_key_across_retries_when_several_are_in_flight() -> None:
    def hook(first: str, attempt: int) -> httpx.Response | None:
        return _error(503, "UNAVAILABLE") if attempt == 1 else None

    server = Server(hook)
    client = _client(server)
    result = client.ingest_all(SOURCE, (deal(i) for i in range(50)), max_records=10)
    assert result.created == 50 and result.retries == 5
    assert sorted(server.keys) == sorted(f"deal-{i}" for i in range(0, 50, 10))
    for attempts in server.keys.values():
        assert len(attempts) == 2 and attempts[0] == attempts[1]
    assert len({a[0] for a in server.keys.values()}) == 5


def test_a_final_error_stops_sending_and_counts_what_was_in_flight() -> None:
    """Request 1 fails for good while requests 2 and 3 are in flight (3 went out when 0 was
    settled): those are stored and counted in `partial`; `on_batch` hears only of
    request 0; request 4 is never sent."""
    started = {"deal-20": threading.Event(), "deal-30": threading.Event()}

    def hook(first: str, attempt: int) -> httpx.Response | None:
        if first in started:
            started[first].set()
        if first == "deal-10":
            for event in started.values():  # fail only once requests 2 and 3 are on their way
                event.wait(5.0)
            return _error(404, "NOT_FOUND")
        return None

    server = Server(hook)
    reports: list[BatchReport] = []
    with pytest.raises(HeadwaterError) as failed:
        _client(server).ingest_all(
            SOURCE, (deal(i) for i in range(50)), max_records=10, concurrency=3,
            on_batch=reports.append,
        )  # fmt: skip
    assert failed.value.code == "NOT_FOUND"
    partial = failed.value.partial
    assert partial is not None
    assert partial.batch_ids == ["b-deal-0", "b-deal-20", "b-deal-30"]
    assert (partial.records, partial.created) == (30, 30)
    assert [(r.start, r.end) for r in reports] == [(0, 10)]
    assert "deal-40" not in server.keys


def test_a_generator_is_read_at_most_concurrency_requests_ahead() -> None:
    pulled = [0]
    seen_at_first_answer: list[int] = []

    def records() -> Iterator[dict[str, Any]]:
        for i in range(1000):
            pulled[0] += 1
            yield deal(i)

    def hook(first: str, attempt: int) -> None:
        if first == "deal-0":
            time.sleep(0.3)  # the main thread fills the window meanwhile, then waits
            seen_at_first_answer.append(pulled[0])

    result = _client(Server(hook)).ingest_all(SOURCE, records(), max_records=10, concurrency=4)
    assert result.created == 1000
    # 4 requests in flight plus the one being filled, plus the record that overflowed it
    assert seen_at_first_answer[0] <= 5 * 10 + 1


@pytest.mark.parametrize("value", [0, -1, 65, True, 2.0])
def test_concurrency_must_be_a_sensible_whole_number(value: Any) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        _client(Server()).ingest_all(SOURCE, [deal(1)], concurrency=value)


def test_the_async_client_bounds_holds_and_settles_in_order_the_same_way() -> None:
    state = {"in_flight": 0, "max": 0}
    order: list[tuple[str, str]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            batch_id = request.url.path.rsplit("/", 1)[1]
            return _ok({"batchId": batch_id, "sourceId": SOURCE, "status": "queued",
                        "accepted": 2, "deduplicated": 0, "rejected": [],
                        "createdAt": "2026-06-12T16:24:11Z",
                        "outcomes": {"created": 2, "superseded": 0, "unchanged": 0,
                                     "stale": 0}})  # fmt: skip
        records = json.loads(request.content)["records"]
        first = records[0]["recordId"]
        state["in_flight"] += 1
        state["max"] = max(state["max"], state["in_flight"])
        order.append(("start", first))
        await asyncio.sleep(0.05 if first == "deal-0" else 0.01)
        order.append(("end", first))
        state["in_flight"] -= 1
        return _ok({"batchId": f"b-{first}", "sourceId": SOURCE, "status": "queued",
                    "accepted": len(records), "deduplicated": 0, "rejected": [],
                    "createdAt": "2026-06-12T16:24:11Z"}, 202)  # fmt: skip

    records = [deal(i) for i in range(12)]
    records[5] = deal(0, stage="won", at="2026-06-11T00:00:00Z")  # request 2 repeats deal-0

    async def run() -> Any:
        async with AsyncHeadwaterClient(
            "sk_live_test", "http://headwater.test", transport=httpx.MockTransport(handler)
        ) as client:
            reports: list[BatchReport] = []
            result = await client.ingest_all(
                SOURCE, records, max_records=2, concurrency=3, on_batch=reports.append
            )
            return result, reports

    result, reports = asyncio.run(run())
    assert 2 <= state["max"] <= 3
    assert [(r.start, r.end) for r in reports] == [(i, i + 2) for i in range(0, 12, 2)]
    assert result.batch_ids == [f"b-deal-{i}" for i in range(0, 12, 2)]
    assert order.index(("start", "deal-2")) < order.index(("end", "deal-0"))  # in parallel
    assert order.index(("end", "deal-0")) < order.index(("start", "deal-4"))  # held back
