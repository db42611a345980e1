"""`HeadwaterClient`: the blocking client."""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

from headwater.client import _calls as calls
from headwater.client._core import (
    DEFAULT_BASE_URL,
    DEFAULT_CONCURRENCY,
    DEFAULT_TIMEOUT,
    MAX_RECORDS_PER_REQUEST,
    MAX_REQUEST_BYTES,
    RETRYABLE_TRANSPORT,
    Call,
    Chunk,
    Deadline,
    RetryPolicy,
    Sender,
    Sent,
    Tally,
    Window,
    check_api_key,
    chunk_records,
    normalize_base_url,
    poll_interval,
    settle,
)
from headwater.client._export import Destination, ExportResult, Kind, ProgressCallback, Sink
from headwater.client._export import event_total as _event_total
from headwater.client._export import export_call as _export_call
from headwater.client.errors import HeadwaterError
from headwater.client.knowledge import Knowledge, Rules
from headwater.client.models import (
    Actor,
    ApiKey,
    Batch,
    BatchAck,
    BatchReport,
    Event,
    Head,
    Health,
    IngestResult,
    Page,
    RecordHistory,
    RecordOutcome,
    Source,
)

T = TypeVar("T")
StrList = list[str]
EventList = list[Event]
USER_AGENT = "headwater-python"


class HeadwaterClient:
    """A client for the Headwater v1 API.

    >>> client = HeadwaterClient("sk_live_…", base_url="http://127.0.0.1:8000")
    >>> source = client.sources.create("CRM")
    >>> result = client.ingest_all(source.id, records)   # any iterable, any size

    `api_key` and `base_url` default to `HEADWATER_API_KEY` and `HEADWATER_URL`. Every
    error answer raises `HeadwaterError`; network errors, 429 and 5xx are retried with
    jittered backoff (`retry=RetryPolicy(...)`, `max_retries=0` turns retries off), each
    mutating request keeping its Idempotency-Key across attempts. `transport` replaces
    the network (e.g. `httpx.MockTransport`); `sleep` replaces `time.sleep`.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        headers: dict[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        key = check_api_key(os.environ.get("HEADWATER_API_KEY") if api_key is None else api_key)
        self.base_url = normalize_base_url(
            base_url or os.environ.get("HEADWATER_URL") or DEFAULT_BASE_URL
        )
        policy = retry or RetryPolicy()
        if max_retries is not None:
            policy = RetryPolicy(max_retries + 1, policy.backoff, policy.max_backoff,
                                 policy.max_retry_after)  # fmt: skip
        self._sender = Sender(policy, rng)
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={
                "Authorization": f"Bearer {key}",
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
                **(headers or {}),
            },
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
            transport=transport,
        )
        self.sources = Sources(self)
        self.batches = Batches(self)
        self.events = Events(self)
        self.records = Records(self)
        self.actors = Actors(self)
        self.keys = Keys(self)
        self.export = Export(self)
        self.rules = Rules(self.call)
        self.knowledge = Knowledge(self.call)

    # plumbing
    def call(self, call: Call[T]) -> T:
        """Send one call, retrying what is retryable; raise `HeadwaterError` otherwise."""
        attempt = 0
        while True:
            attempt += 1
            response: httpx.Response | None = None
            failure: Exception | None = None
            try:
                response = self._http.request(
                    call.method,
                    call.path,
                    params=call.params,
                    content=call.body,
                    headers=call.headers(),
                )
            except RETRYABLE_TRANSPORT as exc:
                failure = exc
            except httpx.TransportError as exc:  # not worth retrying (bad URL, proxy, …)
                raise self._sender.outcome(None, exc) from exc
            if response is not None and response.is_success:
                return call.decode(response)
            error = self._sender.outcome(response, failure)
            delay = self._sender.next_delay(attempt, error)
            if delay is None:
                raise error
            self._sleep(delay)

    @property
    def retries(self) -> int:
        """Requests re-sent so far (after a network error, 429, 5xx or 409 in-use)."""
        return self._sender.retries

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HeadwaterClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # operations
    def health(self) -> Health:
        return self.call(calls.health("/healthz"))

    def ready(self) -> Health:
        return self.call(calls.health("/readyz"))

    # ingest
    def ingest(
        self, source_id: str, records: Iterable[Any], *, idempotency_key: str | None = None
    ) -> BatchAck:
        """One `POST /v1/ingest` (at most 500 records, 10 MiB): the 202 answer."""
        return self.call(calls.ingest(source_id, records, idempotency_key))

    def ingest_all(
        self,
        source_id: str,
        records: Iterable[Any],
        *,
        wait: bool = False,
        wait_timeout: float | None = None,
        poll: float = 0.1,
        outcomes: bool = True,
        max_records: int = MAX_RECORDS_PER_REQUEST,
        max_bytes: int = MAX_REQUEST_BYTES,
        on_batch: Callable[[BatchReport], None] | None = None,
        collect_rejected: bool = True,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> IngestResult:
        """Load any number of records, `max_records`/`max_bytes` per request, in bounded memory.

        `records` is any iterable (a generator is read lazily, a few requests ahead) of
        `Record`, wire-form dicts (`recordId`, `entityType`, `sourceUpdatedAt`, `payload`,
        optional `deleted`), or bytes holding one record's JSON text. Each request has its
        own Idempotency-Key, kept across retries. With `outcomes` (default) each batch's
        created/superseded/unchanged/stale counts are read back (`GET /v1/ingest/{id}`,
        skipped when nothing was accepted). With `wait`, returns once every batch is
        `done` or `error` (failed ones in `failed_batches`; unfinished ones in `pending`
        if `wait_timeout` passed). `on_batch` is called after each request.

        Up to `concurrency` requests (default 4) are in flight at once, each on its own
        thread; memory holds at most that many requests plus the one being filled.
        Ordering: a request holding a record (entityType, recordId) that an earlier
        request still in flight also holds is not sent until that one is answered, so
        the server sees the versions of one record in input order, exactly as with
        `concurrency=1`. Requests are settled in input order: `on_batch` calls and the
        totals follow the input, whatever order the answers arrive in. When a request
        fails for good, no further request is sent; those already in flight are waited
        for and counted in the error's `partial` (they were stored), but `on_batch` is
        called only for the requests before the failed one.
        """
        tally = Tally(collect_rejected)
        retries_before = self.retries
        window: Window[Future[Sent]] = Window(concurrency)
        fetch = [outcomes]  # turned off by the first 403 on a batch read
        with ThreadPoolExecutor(concurrency, thread_name_prefix="headwater-ingest") as pool:
            try:
                for chunk in chunk_records(source_id, records, max_records, max_bytes):
                    while window.must_wait(chunk):
                        self._settle_oldest(window, tally, on_batch)
                    pending = pool.submit(self._send_chunk, chunk, fetch) if chunk.items else None
                    window.add(chunk, pending)
                while window.entries:
                    self._settle_oldest(window, tally, on_batch)
            except BaseException as exc:
                pool.shutdown(wait=False, cancel_futures=True)
                _drain(window, tally)
                if isinstance(exc, HeadwaterError):
                    exc.partial = tally.result
                raise
        if not fetch[0]:
            tally.result.outcomes_known = False
        if wait:
            self._wait_all(tally, Deadline(wait_timeout), poll)
        tally.result.retries = self.retries - retries_before
        return tally.result

    def _send_chunk(self, chunk: Chunk, fetch: list[bool]) -> Sent:
        ack = self.call(calls.ingest_body(chunk.body, str(uuid.uuid4())))
        asked = fetch[0] and bool(ack.accepted)
        if not asked:
            return Sent(ack, None, fetch[0])
        try:
            return Sent(ack, self.call(calls.get_batch(ack.batch_id)), True)
        except HeadwaterError as exc:
            if exc.status != 403:  # a key without `read`: no outcomes, carry on
                raise
            fetch[0] = False
            return Sent(ack, None, True, forbidden=True)

    @staticmethod
    def _settle_oldest(
        window: Window[Future[Sent]],
        tally: Tally,
        on_batch: Callable[[BatchReport], None] | None,
    ) -> None:
        chunk, pending = window.oldest()
        tally.client_rejected(chunk)
        settle(tally, chunk, pending.result() if pending is not None else None, on_batch)

    def _wait_all(self, tally: Tally, deadline: Deadline, poll: float) -> None:
        pending = tally.pending
        round_ = 0
        while pending:
            batch = self.call(calls.get_batch(pending[0]))
            if batch.finished:
                tally.finished(batch)
                pending.pop(0)
                round_ = 0
                continue
            if deadline.passed():
                tally.result.pending = list(pending)
                return
            self._sleep(poll_interval(round_, poll))
            round_ += 1
        tally.result.waited = True


def _drain(window: Window[Future[Sent]], tally: Tally) -> None:
    """After a failure: count the requests that were in flight and got stored (no
    `on_batch`: a request before them failed); the ones not started are cancelled."""
    while window.entries:
        chunk, pending = window.oldest()
        tally.client_rejected(chunk)
        if pending is None or pending.cancelled():
            continue
        try:
            sent = pending.result()
        except Exception:  # its own failure: the first one is the one raised
            continue
        settle(tally, chunk, sent, None)


class _Resource:
    def __init__(self, client: HeadwaterClient) -> None:
        self._client = client

    def _pages(self, fetch: Callable[[int, int], Page[T]], page_size: int) -> Iterator[T]:
        offset = 0
        while True:
            page = fetch(page_size, offset)
            yield from page.items
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return


class Sources(_Resource):
    def create(
        self,
        name: str,
        *,
        entity_types: StrList | None = None,
        description: str | None = None,
        mappings: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Source:
        return self._client.call(
            calls.create_source(name, entity_types, description, mappings, idempotency_key)
        )

    def list(self, *, limit: int = 20, offset: int = 0) -> Page[Source]:
        return self._client.call(calls.list_sources(limit, offset))

    def iter(self, *, page_size: int = 100) -> Iterator[Source]:
        """Every source, page after page."""
        return self._pages(lambda n, o: self.list(limit=n, offset=o), page_size)

    def get(self, source_id: str) -> Source:
        """The source with its counts (records, versions, events, batches)."""
        return self._client.call(calls.get_source(source_id))

    def update(
        self,
        source_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        entity_types: StrList | None = None,
        mappings: dict[str, Any] | None = None,
        status: str | None = None,
        idempotency_key: str | None = None,
    ) -> Source:
        """Change the given fields (None = leave as is); `status`: active, paused, archived."""
        fields = calls.source_patch(name, description, entity_types, mappings, status)
        return self._client.call(calls.update_source(source_id, fields, idempotency_key))

    def renormalize(self, source_id: str, *, idempotency_key: str | None = None) -> Batch:
        """Rebuild the source's events from its stored versions; follow it like a batch."""
        return self._client.call(calls.renormalize(source_id, idempotency_key))


class Batches(_Resource):
    def create(
        self, source_id: str, records: Iterable[Any], *, idempotency_key: str | None = None
    ) -> BatchAck:
        return self._client.ingest(source_id, records, idempotency_key=idempotency_key)

    def get(self, batch_id: str) -> Batch:
        return self._client.call(calls.get_batch(batch_id))

    def list(
        self,
        *,
        source_id: str | None = None,
        status: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> Page[Batch]:
        return self._client.call(calls.list_batches(source_id, status, limit, offset))

    def records(self, batch_id: str, *, limit: int = 100, offset: int = 0) -> Page[RecordOutcome]:
        """Each record's outcome in the batch, with its versionId."""
        return self._client.call(calls.batch_records(batch_id, limit, offset))

    def wait(self, batch_id: str, *, timeout: float | None = None, poll: float = 0.1) -> Batch:
        """Poll until the batch is `done` or `error`; `TimeoutError` after `timeout` seconds."""
        deadline = Deadline(timeout)
        round_ = 0
        while True:
            batch = self.get(batch_id)
            if batch.finished:
                return batch
            if deadline.passed():
                raise TimeoutError(f"batch {batch_id} is still {batch.status}")
            self._client._sleep(poll_interval(round_, poll))
            round_ += 1


class EventFeed:
    """Follows `GET /v1/events?after=`: every event once, in commit order.

    `cursor` is where to resume without missing an event (save it, pass it as `after`
    later). It moves past a page once the whole page was yielded, so a consumer that
    stops mid-page and resumes sees the rest of that page again: at-least-once.
    With `follow`, waits `poll_interval` seconds whenever it reached the end, forever.
    """

    def __init__(
        self,
        client: HeadwaterClient,
        filters: dict[str, Any],
        after: str,
        follow: bool,
        poll_interval: float,
        page_size: int,
        max_events: int | None = None,
    ) -> None:
        self._client = client
        self._remaining = max_events
        self._filters = filters
        self.cursor = after
        self._follow = follow
        self._poll = poll_interval
        self._page_size = page_size

    def __iter__(self) -> Iterator[Event]:
        while self._remaining is None or self._remaining > 0:
            size = min(self._page_size, self._remaining or self._page_size)
            page = self._client.call(calls.event_feed(self._filters, self.cursor, size))
            yield from page.items
            self.cursor = page.next_cursor
            if self._remaining is not None:
                self._remaining -= len(page.items)
            if not page.has_more:
                if not self._follow:
                    return
                self._client._sleep(self._poll)


class Events(_Resource):
    def list(
        self,
        *,
        limit: int = 20,
        offset: int = 0,
        source_id: str | None = None,
        entity_type: str | None = None,
        entity_id: str | None = None,
        action: str | None = None,
        actor_id: str | None = None,
        time_from: calls.Time | None = None,
        time_to: calls.Time | None = None,
        include_deleted: bool | None = None,
    ) -> Page[Event]:
        """Events by (timestamp, id) with filters; `time_from`/`time_to` are `from`/`to`."""
        filters = calls.event_filters(source_id, entity_type, entity_id, action, actor_id,
                                      time_from, time_to, include_deleted)  # fmt: skip
        return self._client.call(calls.list_events(filters, limit, offset))

    def feed(
        self,
        *,
        after: str = "",
        follow: bool = False,
        poll_interval: float = 1.0,
        page_size: int = 100,
        source_id: str | None = None,
        entity_type: str | None = None,
        entity_id: str | None = None,
        action: str | None = None,
        actor_id: str | None = None,
        include_deleted: bool | None = None,
        max_events: int | None = None,
    ) -> EventFeed:
        """An iterator over the event feed from `after` (empty: the beginning).

        `max_events` stops after that many (the last page is fetched no larger, so
        `cursor` then resumes exactly after the last event yielded).
        """
        filters = calls.event_filters(source_id, entity_type, entity_id, action, actor_id,
                                      None, None, include_deleted)  # fmt: skip
        return EventFeed(self._client, filters, after, follow, poll_interval, page_size, max_events)

    def get(self, event_id: str) -> Event:
        """One event with its `provenance` (the raw version it came from)."""
        return self._client.call(calls.get_event(event_id))


class Records(_Resource):
    def list(
        self, source_id: str, *, entity_type: str | None = None, limit: int = 20, offset: int = 0
    ) -> Page[Head]:
        """The heads (current versions) of a source's records."""
        return self._client.call(calls.list_heads(source_id, entity_type, limit, offset))

    def iter(
        self, source_id: str, *, entity_type: str | None = None, page_size: int = 100
    ) -> Iterator[Head]:
        return self._pages(
            lambda n, o: self.list(source_id, entity_type=entity_type, limit=n, offset=o),
            page_size,
        )

    def get(
        self, source_id: str, entity_type: str, record_id: str, *, limit: int = 20, offset: int = 0
    ) -> RecordHistory:
        """A record's head and a page of its version chain, oldest first (any recordId; it
        is URL-encoded here)."""
        return self._client.call(calls.get_record(source_id, entity_type, record_id, limit, offset))

    def payload(self, version_id: str) -> bytes:
        """The payload of one version, byte for byte as it was sent."""
        return self._client.call(calls.version_payload(version_id))

    def timeline(
        self, source_id: str, entity_type: str, record_id: str, *, limit: int = 20, offset: int = 0
    ) -> EventList:
        """A page of the entity's events in time order, each with `state_before` and
        `state_after`."""
        return self._client.call(calls.timeline(source_id, entity_type, record_id, limit, offset))


class Actors(_Resource):
    def list(self, *, limit: int = 20, offset: int = 0) -> Page[Actor]:
        return self._client.call(calls.list_actors(limit, offset))

    def iter(self, *, page_size: int = 100) -> Iterator[Actor]:
        return self._pages(lambda n, o: self.list(limit=n, offset=o), page_size)

    def get(self, actor_id: str) -> Actor:
        """An actor with its aliases; a merged-away id answers with the canonical actor."""
        return self._client.call(calls.get_actor(actor_id))


class Keys(_Resource):
    def create(self, label: str, scopes: StrList, *, idempotency_key: str | None = None) -> ApiKey:
        """A new key; its `token` is in this answer only."""
        return self._client.call(calls.create_key(label, scopes, idempotency_key))

    def list(self, *, limit: int = 20, offset: int = 0) -> Page[ApiKey]:
        return self._client.call(calls.list_keys(limit, offset))

    def revoke(self, key_id: str, *, idempotency_key: str | None = None) -> ApiKey:
        return self._client.call(calls.revoke_key(key_id, idempotency_key))


class Export(_Resource):
    """The events as a process-mining event log, streamed to a file (spec §9.1)."""

    def ocel(
        self,
        destination: Destination,
        *,
        source_id: str | None = None,
        entity_type: str | None = None,
        time_from: calls.Time | None = None,
        time_to: calls.Time | None = None,
        include_deleted: bool | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> ExportResult:
        """Write an OCEL 2.0 JSON log (`pm4py.read_ocel2_json` reads it) to a path or a
        binary file; `on_progress(events, total, bytes)` is called as it arrives."""
        return self._download("ocel", destination, source_id, entity_type, time_from,
                              time_to, include_deleted, on_progress)  # fmt: skip

    def xes(
        self,
        destination: Destination,
        *,
        source_id: str | None = None,
        entity_type: str | None = None,
        time_from: calls.Time | None = None,
        time_to: calls.Time | None = None,
        include_deleted: bool | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> ExportResult:
        """Write an IEEE 1849 XES log, one trace per entity (`pm4py.read_xes` reads it)."""
        return self._download("xes", destination, source_id, entity_type, time_from,
                              time_to, include_deleted, on_progress)  # fmt: skip

    def _download(
        self,
        kind: Kind,
        destination: Destination,
        source_id: str | None,
        entity_type: str | None,
        time_from: calls.Time | None,
        time_to: calls.Time | None,
        include_deleted: bool | None,
        on_progress: ProgressCallback | None,
    ) -> ExportResult:
        """Retries what fails before the body starts (429, 5xx, network); a transfer that
        breaks halfway raises `ConnectionFailed` (the partial `.part` file is removed)."""
        client = self._client
        call = _export_call(kind, source_id, entity_type, time_from, time_to, include_deleted)
        sink = Sink(kind, destination, on_progress)
        attempt = 0
        while True:
            attempt += 1
            failure: Exception | None = None
            error: HeadwaterError | None = None
            try:
                with client._http.stream("GET", call.path, params=call.params) as response:
                    if response.is_success:
                        sink.start(_event_total(response.headers))
                        try:
                            for chunk in response.iter_bytes():
                                sink.write(chunk)
                        except httpx.TransportError as exc:
                            sink.abandon()
                            raise client._sender.outcome(None, exc) from exc
                        except BaseException:
                            sink.abandon()
                            raise
                        return sink.finish()
                    response.read()
                    error = client._sender.outcome(response, None)
            except RETRYABLE_TRANSPORT as exc:
                failure = exc
            except httpx.TransportError as exc:
                raise client._sender.outcome(None, exc) from exc
            if error is None:
                error = client._sender.outcome(None, failure)
            delay = client._sender.next_delay(attempt, error)
            if delay is None:
                raise error
            client._sleep(delay)


__all__ = ["EventFeed", "HeadwaterClient", "HeadwaterError"]
