"""The SDK against a real server: every resource, errors, retries after a dropped
connection (the batch is created once) and a real 429 with Retry-After."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import pytest

from headwater.client import (
    AsyncHeadwaterClient,
    ConnectionFailed,
    HeadwaterClient,
    HeadwaterError,
    Record,
    RetryPolicy,
)
from tests.client.conftest import Live, StartLive, deal
from tests.conftest import SEED_PAYLOADS

# the tests of this folder share their servers (conftest.py): keep them on one xdist worker
pytestmark = pytest.mark.xdist_group("client")


def test_every_resource_against_a_live_server(live: Live) -> None:
    with live.client() as client:
        assert client.health().status == "ok"
        assert client.ready().status == "ready"

        # keys: create (token shown once), list, revoke -> the revoked key is refused
        created = client.keys.create("reader", ["read"])
        assert created.token is not None and created.token.startswith("sk_live_")
        assert created.scopes == ["read"]
        listed = client.keys.list(limit=100)
        assert created.id in {k.id for k in listed}
        assert all(k.token is None for k in listed)
        reader = HeadwaterClient(created.token, live.base_url)
        assert reader.sources.get(live.source_id).id == live.source_id
        revoked = client.keys.revoke(created.id)
        assert revoked.revoked_at is not None
        with pytest.raises(HeadwaterError) as refused:
            reader.sources.get(live.source_id)
        assert (refused.value.status, refused.value.code) == (403, "KEY_REVOKED")
        reader.close()

        # sources: create, list, iterate, get with counts, patch
        source = client.sources.create(
            "CRM", entity_types=["deal"], description="the seed", idempotency_key="src-1"
        )
        again = client.sources.create(
            "CRM", entity_types=["deal"], description="the seed", idempotency_key="src-1"
        )
        assert again.id == source.id  # the same Idempotency-Key replays the first answer
        assert (source.status, source.entity_types, source.type) == (
            "active",
            ["deal"],
            "custom_api",
        )
        every = [s.id for s in client.sources.iter(page_size=2)]
        assert {live.source_id, source.id} <= set(every)
        assert len(every) == len(set(every))
        page = client.sources.list(limit=1)
        assert (len(page), page.total, page.has_more) == (1, len(every), True)
        renamed = client.sources.update(source.id, name="CRM (prod)")
        assert renamed.name == "CRM (prod)"
        assert client.sources.update(source.id, status="paused").status == "paused"
        with pytest.raises(HeadwaterError) as paused:
            client.ingest(source.id, SEED_PAYLOADS)
        assert (paused.value.status, paused.value.code) == (409, "SOURCE_NOT_ACTIVE")
        client.sources.update(source.id, status="active")

        # ingest: one request, replayed with the same key
        ack = client.ingest(source.id, SEED_PAYLOADS, idempotency_key="seed-1")
        assert (ack.accepted, ack.deduplicated, ack.rejected) == (2, 0, [])
        replay = client.batches.create(source.id, SEED_PAYLOADS, idempotency_key="seed-1")
        assert replay.batch_id == ack.batch_id
        with pytest.raises(HeadwaterError) as reused:
            client.ingest(source.id, SEED_PAYLOADS[:1], idempotency_key="seed-1")
        assert (reused.value.status, reused.value.code) == (422, "IDEMPOTENCY_KEY_REUSED")

        # batches: wait for the normalizer, outcomes, per-record results, list
        batch = client.batches.wait(ack.batch_id, timeout=30)
        assert batch.status == "done"
        assert batch.outcomes is not None and batch.outcomes.created == 2
        assert batch.events_created == 5  # spec §6.3: the seed gives 5 events
        results = client.batches.records(ack.batch_id)
        assert [r.outcome for r in results] == ["created", "created"]
        assert all(r.version_id for r in results)
        assert [b.batch_id for b in client.batches.list(source_id=source.id)] == [ack.batch_id]

        # records: heads, one record's chain, the verbatim payload, the timeline
        odd_id = "deal/4473 ü?#%"
        verbatim = b'{"name":  "Odd one",\n "stage": "new", "amount": 1.50}'
        text = (
            b'{"recordId": ' + json.dumps(odd_id).encode() + b', "entityType": "deal", '
            b'"sourceUpdatedAt": "2026-06-11T09:00:00+02:00", "payload": ' + verbatim + b"}"
        )
        odd = client.ingest(source.id, [text])
        assert odd.accepted == 1
        client.batches.wait(odd.batch_id, timeout=30)
        heads = client.records.list(source.id, entity_type="deal")
        assert heads.total == 3
        assert {h.record_id for h in client.records.iter(source.id, page_size=2)} == {
            "deal-4471", "deal-4472", odd_id,
        }  # fmt: skip
        history = client.records.get(source.id, "deal", odd_id)
        assert history.record_id == odd_id
        assert history.head.source_updated_at == "2026-06-11T07:00:00Z"
        assert [v.outcome for v in history.versions] == ["created"]
        assert client.records.payload(history.head.version_id) == verbatim
        timeline = client.records.timeline(source.id, "deal", "deal-4471")
        assert next(e.action for e in timeline) == "deal_created"
        assert timeline[0].state_after is not None

        # events: list with filters, the cursor feed, one event with provenance
        stage = client.events.list(source_id=source.id, action="deal_stage_changed")
        assert stage.total == 1
        event = stage.items[0]
        assert event.actor is not None and event.actor.email == "jane.smith@acme.com"
        assert event.entity.id == "deal-4471"
        assert [(c.field, c.after) for c in event.changes] == [("stage", "negotiation")]
        full = client.events.get(event.id)
        assert [p.record_id for p in full.provenance] == ["deal-4471"]
        assert full.provenance[0].batch_id == ack.batch_id
        feed = client.events.feed(source_id=source.id, page_size=2)
        fed = list(feed)
        assert len(fed) == client.events.list(source_id=source.id).total == 6
        assert len({e.id for e in fed}) == 6
        assert list(client.events.feed(source_id=source.id, after=feed.cursor)) == []
        first_two = client.events.feed(source_id=source.id, max_events=2)
        assert len(list(first_two)) == 2
        rest = list(client.events.feed(source_id=source.id, after=first_two.cursor))
        assert [e.id for e in rest] == [e.id for e in fed[2:]]
        window = client.events.list(
            source_id=source.id, time_from="2026-06-10T15:00:00Z", time_to="2026-06-10T16:00:00Z"
        )
        assert {e.entity.id for e in window} == {"deal-4472"}

        # actors
        actors = list(client.actors.iter())
        jane = next(a for a in actors if a.email == "jane.smith@acme.com")
        assert client.actors.get(jane.id).id == jane.id
        assert any(alias.value == "jane.smith@acme.com" for alias in jane.aliases)

        # renormalize reads like a batch
        job = client.sources.renormalize(source.id)
        assert client.batches.wait(job.batch_id, timeout=30).status == "done"
        assert client.sources.get(source.id).counts is not None
        assert client.retries == 0


def test_error_answers_carry_status_code_message_and_request_id(live: Live) -> None:
    seen: list[httpx.Response] = []

    def record(response: httpx.Response) -> None:
        seen.append(response)

    transport = _Hooked(httpx.HTTPTransport(), after=record)
    with live.client(transport=transport) as client:
        with pytest.raises(HeadwaterError) as missing:
            client.sources.get(str(uuid.uuid4()))
        error = missing.value
        assert (error.status, error.code) == (404, "NOT_FOUND")
        assert error.message
        assert error.request_id == seen[-1].headers["x-request-id"]
        assert "404 NOT_FOUND" in str(error) and error.request_id in str(error)

        with pytest.raises(HeadwaterError) as invalid:
            client.sources.create("   ")
        assert (invalid.value.status, invalid.value.code) == (400, "VALIDATION_ERROR")
        assert invalid.value.details == [{"field": "name", "message": "must not be blank"}]
        assert client.retries == 0  # 4xx answers are final

    with (
        HeadwaterClient("sk_live_" + "0" * 40, live.base_url) as wrong,
        pytest.raises(HeadwaterError) as unknown,
    ):
        wrong.sources.list()
    assert (unknown.value.status, unknown.value.code) == (401, "INVALID_API_KEY")

    with live.client() as admin:
        read_only = admin.keys.create("ro", ["read"]).token
    assert read_only is not None
    with (
        HeadwaterClient(read_only, live.base_url) as reader,
        pytest.raises(HeadwaterError) as scope,
    ):
        reader.ingest(live.source_id, SEED_PAYLOADS)
    assert (scope.value.status, scope.value.code) == (403, "INSUFFICIENT_SCOPE")


@pytest.mark.parametrize("key", ["", "   ", "\t\n", None])
def test_a_blank_key_is_refused_before_any_request(
    key: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HEADWATER_API_KEY", raising=False)
    calls: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: calls.append(request) or httpx.Response(200))
    with pytest.raises(ValueError, match="API key"):
        HeadwaterClient(key, "http://127.0.0.1:9", transport=transport)
    assert calls == []


def test_the_key_and_url_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"success": True, "data": {"status": "ok"}, "meta": {}})

    monkeypatch.setenv("HEADWATER_API_KEY", "sk_live_from_env")
    monkeypatch.setenv("HEADWATER_URL", "http://headwater.test:8000/v1/")
    client = HeadwaterClient(transport=httpx.MockTransport(answer))
    assert client.health().status == "ok"
    assert str(seen[0].url) == "http://headwater.test:8000/healthz"
    assert seen[0].headers["authorization"] == "Bearer sk_live_from_env"


class _Hooked(httpx.BaseTransport):
    """Wraps a real transport: `before` may raise instead of sending, `after` sees answers."""

    def __init__(self, inner: httpx.BaseTransport, before: Any = None, after: Any = None) -> None:
        self.inner = inner
        self.before = before
        self.after = after

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.before is not None:
            self.before(request)
        response = self.inner.handle_request(request)
        if self.after is not None:
            response.read()
            self.after(response)
        return response

    def close(self) -> None:
        self.inner.close()


@pytest.mark.backends("sqlite")
def test_a_dropped_connection_is_retried_with_the_same_key_and_the_batch_is_created_once(
    live_loader: Live,
) -> None:
    """The server commits the batch, then the connection breaks before the answer arrives."""
    keys: list[str] = []
    answers: list[httpx.Response] = []

    class DropFirstAnswer(_Hooked):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = self.inner.handle_request(request)
            response.read()
            if request.url.path == "/v1/ingest" and request.method == "POST":
                keys.append(request.headers["idempotency-key"])
                answers.append(response)
                if len(keys) == 1:
                    assert response.status_code == 202  # the server did the work...
                    raise httpx.ReadError("connection reset by peer", request=request)
            return response

    sleeps: list[float] = []
    client = live_loader.client(
        transport=DropFirstAnswer(httpx.HTTPTransport()), sleep=sleeps.append
    )
    with client:
        result = client.ingest_all(live_loader.source_id, [deal(i) for i in range(20)])

    assert len(keys) == 2 and keys[0] == keys[1]  # ...and the retry sent the same key
    assert answers[1].headers.get("idempotent-replayed") == "true"
    assert answers[1].json()["data"]["batchId"] == answers[0].json()["data"]["batchId"]
    assert len(sleeps) == 1 and 0 < sleeps[0] <= RetryPolicy().backoff
    assert (result.created, result.requests, result.retries) == (20, 1, 1)
    with live_loader.http() as http:
        batches = http.get("/v1/ingest", params={"sourceId": live_loader.source_id}).json()
        source = http.get(f"/v1/sources/{live_loader.source_id}").json()["data"]
    assert batches["meta"]["pagination"]["total"] == 1
    assert source["counts"] == {"records": 20, "versions": 20, "events": 0, "batches": 1}


@pytest.mark.backends("sqlite")
def test_a_real_429_is_retried_after_the_retry_after_it_names(start_live: StartLive) -> None:
    live = start_live("--no-worker", "--rate-limit", "1", "--rate-burst", "1")
    limited: list[httpx.Response] = []
    sleeps: list[float] = []

    def note(response: httpx.Response) -> None:
        if response.status_code == 429:
            limited.append(response)

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    transport = _Hooked(httpx.HTTPTransport(), after=note)
    with live.client(transport=transport, sleep=sleep) as client:
        started = time.monotonic()
        for _ in range(3):  # the burst allows one; the next ones wait for a token
            assert client.sources.get(live.source_id).id == live.source_id
        elapsed = time.monotonic() - started

    assert limited, "the server never answered 429"
    retry_after = float(limited[0].headers["retry-after"])
    assert retry_after >= 1
    assert limited[0].json()["error"]["code"] == "RATE_LIMITED"
    assert len(sleeps) == len(limited)
    assert all(s >= retry_after for s in sleeps)  # never sooner than the server asked
    assert elapsed >= retry_after * len(limited)
    assert client.retries == len(limited)


def test_connection_refused_becomes_a_connection_error_after_the_retries() -> None:
    sleeps: list[float] = []
    client = HeadwaterClient("sk_live_x", "http://127.0.0.1:9", max_retries=3, sleep=sleeps.append)
    with client, pytest.raises(ConnectionFailed) as failed:
        client.sources.list()
    assert failed.value.status is None
    assert failed.value.code == "CONNECTION_ERROR"
    assert isinstance(failed.value, HeadwaterError)
    assert len(sleeps) == 3
    assert sleeps == sorted(sleeps) or max(sleeps) <= RetryPolicy().backoff * 4  # backoff grows


@pytest.mark.backends("sqlite")
def test_records_may_be_typed_with_aware_datetimes(live_loader: Live) -> None:
    from datetime import datetime, timedelta, timezone

    at = datetime(2026, 6, 10, 16, 3, tzinfo=timezone(timedelta(hours=2)))
    with live_loader.client() as client:
        result = client.ingest_all(
            live_loader.source_id,
            [Record(record_id="r1", entity_type="deal", source_updated_at=at, payload={"a": 1})],
        )
        assert result.created == 1
        head = client.records.get(live_loader.source_id, "deal", "r1").head
    assert head.source_updated_at == "2026-06-10T14:03:00Z"


@pytest.mark.backends("sqlite")
def test_the_async_client_against_a_live_server(live: Live) -> None:
    async def scenario() -> dict[str, Any]:
        async with AsyncHeadwaterClient(live.token, live.base_url) as client:
            source = await client.sources.create("async CRM")

            async def records() -> Any:
                for i in range(1200):
                    yield deal(i)

            result = await client.ingest_all(source.id, records(), wait=True)
            again = await client.ingest_all(source.id, (deal(i) for i in range(1200)))
            feed = client.events.feed(source_id=source.id, page_size=100)
            events = [event async for event in feed]
            history = await client.records.get(source.id, "deal", "deal-7")
            sources = [s.id async for s in client.sources.iter(page_size=1)]
            try:
                await client.batches.get(str(uuid.uuid4()))
            except HeadwaterError as exc:
                missing = exc
            return {"result": result, "again": again, "events": events, "history": history,
                    "sources": sources, "missing": missing, "source": source}  # fmt: skip

    got = asyncio.run(scenario())
    assert (got["result"].created, got["result"].waited, got["result"].requests) == (1200, True, 3)
    assert got["again"].outcome_totals()["unchanged"] == 1200
    assert len(got["events"]) == 1200 and {e.action for e in got["events"]} == {"deal_created"}
    assert got["history"].versions[0].outcome == "created"
    assert got["source"].id in got["sources"]
    assert (got["missing"].status, got["missing"].code) == (404, "NOT_FOUND")
