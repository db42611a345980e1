"""`AsyncHeadwaterClient`: the asyncio client, method for method like `HeadwaterClient`."""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
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
    Chunker,
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
from headwater.client.knowledge import AsyncKnowledge, AsyncRules
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
from headwater.client.sync import USER_AGENT

T = TypeVar("T")
StrList = list[str]
EventList = list[Event]


class AsyncHeadwaterClient:
    """The asyncio twin of `HeadwaterClient` (same resources, same retries, awaitable).

    >>> async with AsyncHeadwaterClient("sk_live_…") as client:
    ...     result = await client.ingest_all(source_id, records)
    ...     async for event in client.events.feed():
    ...         ...
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: dict[str, str] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
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
        self._http = httpx.AsyncClient(
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
        self.sources = AsyncSources(self)
        self.batches = AsyncBatches(self)
        self.events = AsyncEvents(self)
        self.records = AsyncRecords(self)
        self.actors = AsyncActors(self)
        self.keys = AsyncKeys(self)
        self.export = AsyncExport(self)
        self.rules = AsyncRules(self.call)
        self.knowledge = AsyncKnowledge(self.call)

    async def call(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            attempt += 1
            response: httpx.Response | None = None
            failure: Exception | None = None
            try:
                response = await self._http.request(
                    call.method,
                    call.path,
                    params=call.params,
                    content=call.body,
                    headers=call.headers(),
                )
            except RETRYABLE_TRANSPORT as exc:
                failure = exc
            except httpx.TransportError as exc:
                raise self._sender.outcome(None, exc) from exc
            if response is not None and response.is_success:
                return call.decode(response)
            error = self._sender.outcome(response, failure)
            delay = self._sender.next_delay(attempt, error)
            if delay is None:
                raise error
            await self._sleep(delay)

    @property
    def retries(self) -> int:
        return self._sender.retries

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncHeadwaterClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def health(self) -> Health:
        return await self.call(calls.health("/healthz"))

    async def ready(self) -> Health:
        return await self.call(calls.health("/readyz"))

    async def ingest(
        self, source_id: str, records: Iterable[Any], *, idempotency_key: str | None = None
    ) -> BatchAck:
        return await self.call(calls.ingest(source_id, records, idempotency_key))

    async def ingest_all(
        self,
        source_id: str,
        records: Iterable[Any] | AsyncIterable[Any],
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
        """Like `HeadwaterClient.ingest_all` (same concurrency, ordering and failure rules,
        with tasks instead of threads); `records` may also be an async iterable."""
        tally = Tally(collect_rejected)
        retries_before = self.retries
        window: Window[asyncio.Task[Sent]] = Window(concurrency)
        fetch = [outcomes]

        async def push(chunk: Chunk) -> None:
            while window.must_wait(chunk):
                await self._settle_oldest(window, tally, on_batch)
            task = asyncio.ensure_future(self._send_chunk(chunk, fetch)) if chunk.items else None
            window.add(chunk, task)

        try:
            if isinstance(records, AsyncIterable):
                async for chunk in _achunks(source_id, records, max_records, max_bytes):
                    await push(chunk)
            else:
                for chunk in chunk_records(source_id, records, max_records, max_bytes):
                    await push(chunk)
            while window.entries:
                await self._settle_oldest(window, tally, on_batch)
        except BaseException as exc:
            await _drain(window, tally, cancel=not isinstance(exc, Exception))
            if isinstance(exc, HeadwaterError):
                exc.partial = tally.result
            raise
        if not fetch[0]:
            tally.result.outcomes_known = False
        if wait:
            await self._wait_all(tally, Deadline(wait_timeout), poll)
        tally.result.retries = self.retries - retries_before
        return tally.result

    async def _send_chunk(self, chunk: Chunk, fetch: list[bool]) -> Sent:
        ack = await self.call(calls.ingest_body(chunk.body, str(uuid.uuid4())))
        asked = fetch[0] and bool(ack.accepted)
        if not asked:
            return Sent(ack, None, fetch[0])
        try:
            batch = await self.call(calls.get_batch(ack.batch_id))
        except HeadwaterError as exc:
            if exc.status != 403:  # a key without `read`: no outcomes, carry on
                raise
            fetch[0] = False
            return Sent(ack, None, True, forbidden=True)
        return Sent(ack, batch, True)

    @staticmethod
    async def _settle_oldest(
        window: Window[asyncio.Task[Sent]],
        tally: Tally,
        on_batch: Callable[[BatchReport], None] | None,
    ) -> None:
        chunk, task = window.oldest()
        tally.client_rejected(chunk)
        settle(tally, chunk, await task if task is not None else None, on_batch)

    async def _wait_all(self, tally: Tally, deadline: Deadline, poll: float) -> None:
        pending = tally.pending
        round_ = 0
        while pending:
            batch = await self.call(calls.get_batch(pending[0]))
            if batch.finished:
                tally.finished(batch)
                pending.pop(0)
                round_ = 0
                continue
            if deadline.passed():
                tally.result.pending = list(pending)
                return
            await self._sleep(poll_interval(round_, poll))
            round_ += 1
        tally.result.waited = True


async def _drain(window: Window[asyncio.Task[Sent]], tally: Tally, cancel: bool) -> None:
    """As the sync client's `_drain`; on cancellation the requests in flight are
    cancelled too (their Idempotency-Keys make sending them again safe)."""
    tasks = [task for _, task in window.entries if task is not None]
    if cancel:
        for task in tasks:
            task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    while window.entries:
        chunk, pending = window.oldest()
        tally.client_rejected(chunk)
        if pending is None or pending.cancelled() or pending.exception() is not None:
            continue
        settle(tally, chunk, pending.result(), None)


async def _achunks(
    source_id: str, records: AsyncIterable[Any], max_records: int, max_bytes: int
) -> AsyncIterator[Chunk]:
    chunker = Chunker(source_id, max_records, max_bytes)
    async for record in records:
        chunk = chunker.add(record)
        if chunk is not None:
            yield chunk
    last = chunker.finish()
    if last is not None:
        yield last


class _AsyncResource:
    def __init__(self, client: AsyncHeadwaterClient) -> None:
        self._client = client

    async def _pages(
        self, fetch: Callable[[int, int], Awaitable[Page[T]]], page_size: int
    ) -> AsyncIterator[T]:
        offset = 0
        while True:
            page = await fetch(page_size, offset)
            for item in page.items:
                yield item
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return


class AsyncSources(_AsyncResource):
    async def create(
        self,
        name: str,
        *,
        entity_types: StrList | None = None,
        description: str | None = None,
        mappings: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Source:
        return await self._client.call(
            calls.create_source(name, entity_types, description, mappings, idempotency_key)
        )

    async def list(self, *, limit: int = 20, offset: int = 0) -> Page[Source]:
        return await self._client.call(calls.list_sources(limit, offset))

    def iter(self, *, page_size: int = 100) -> AsyncIterator[Source]:
        return self._pages(lambda n, o: self.list(limit=n, offset=o), page_size)

    async def get(self, source_id: str) -> Source:
        return await self._client.call(calls.get_source(source_id))

    async def update(
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
        fields = calls.source_patch(name, description, entity_types, mappings, status)
        return await self._client.call(calls.update_source(source_id, fields, idempotency_key))

    async def renormalize(self, source_id: str, *, idempotency_key: str | None = None) -> Batch:
        return await self._client.call(calls.renormalize(source_id, idempotency_key))


class AsyncBatches(_AsyncResource):
    async def create(
        self, source_id: str, records: Iterable[Any], *, idempotency_key: str | None = None
    ) -> BatchAck:
        return await self._client.ingest(source_id, records, idempotency_key=idempotency_key)

    async def get(self, batch_id: str) -> Batch:
        return await self._client.call(calls.get_batch(batch_id))

    async def list(
        self,
        *,
        source_id: str | None = None,
        status: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> Page[Batch]:
        return await self._client.call(calls.list_batches(source_id, status, limit, offset))

    async def records(
        self, batch_id: str, *, limit: int = 100, offset: int = 0
    ) -> Page[RecordOutcome]:
        return await self._client.call(calls.batch_records(batch_id, limit, offset))

    async def wait(
        self, batch_id: str, *, timeout: float | None = None, poll: float = 0.1
    ) -> Batch:
        deadline = Deadline(timeout)
        round_ = 0
        while True:
            batch = await self.get(batch_id)
            if batch.finished:
                return batch
            if deadline.passed():
                raise TimeoutError(f"batch {batch_id} is still {batch.status}")
            await self._client._sleep(poll_interval(round_, poll))
            round_ += 1


class AsyncEventFeed:
    """`async for event in feed`: the cursor feed, like `EventFeed`."""

    def __init__(
        self,
        client: AsyncHeadwaterClient,
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

    async def __aiter__(self) -> AsyncIterator[Event]:
        while self._remaining is None or self._remaining > 0:
            size = min(self._page_size, self._remaining or self._page_size)
            page = await self._client.call(calls.event_feed(self._filters, self.cursor, size))
            for event in page.items:
                yield event
            self.cursor = page.next_cursor
            if self._remaining is not None:
                self._remaining -= len(page.items)
            if not page.has_more:
                if not self._follow:
                    return
                await self._client._sleep(self._poll)


class AsyncEvents(_AsyncResource):
    async def list(
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
        filters = calls.event_filters(source_id, entity_type, entity_id, action, actor_id,
                                      time_from, time_to, include_deleted)  # fmt: skip
        return await self._client.call(calls.list_events(filters, limit, offset))

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
    ) -> AsyncEventFeed:
        filters = calls.event_filters(source_id, entity_type, entity_id, action, actor_id,
                                      None, None, include_deleted)  # fmt: skip
        return AsyncEventFeed(
            self._client, filters, after, follow, poll_interval, page_size, max_events
        )

    async def get(self, event_id: str) -> Event:
        return await self._client.call(calls.get_event(event_id))


class AsyncRecords(_AsyncResource):
    async def list(
        self, source_id: str, *, entity_type: str | None = None, limit: int = 20, offset: int = 0
    ) -> Page[Head]:
        return await self._client.call(calls.list_heads(source_id, entity_type, limit, offset))

    def iter(
        self, source_id: str, *, entity_type: str | None = None, page_size: int = 100
    ) -> AsyncIterator[Head]:
        return self._pages(
            lambda n, o: self.list(source_id, entity_type=entity_type, limit=n, offset=o),
            page_size,
        )

    async def get(
        self, source_id: str, entity_type: str, record_id: str, *, limit: int = 20, offset: int = 0
    ) -> RecordHistory:
        call = calls.get_record(source_id, entity_type, record_id, limit, offset)
        return await self._client.call(call)

    async def payload(self, version_id: str) -> bytes:
        return await self._client.call(calls.version_payload(version_id))

    async def timeline(
        self, source_id: str, entity_type: str, record_id: str, *, limit: int = 20, offset: int = 0
    ) -> EventList:
        call = calls.timeline(source_id, entity_type, record_id, limit, offset)
        return await self._client.call(call)


class AsyncActors(_AsyncResource):
    async def list(self, *, limit: int = 20, offset: int = 0) -> Page[Actor]:
        return await self._client.call(calls.list_actors(limit, offset))

    def iter(self, *, page_size: int = 100) -> AsyncIterator[Actor]:
        return self._pages(lambda n, o: self.list(limit=n, offset=o), page_size)

    async def get(self, actor_id: str) -> Actor:
        return await self._client.call(calls.get_actor(actor_id))


class AsyncKeys(_AsyncResource):
    async def create(
        self, label: str, scopes: StrList, *, idempotency_key: str | None = None
    ) -> ApiKey:
        return await self._client.call(calls.create_key(label, scopes, idempotency_key))

    async def list(self, *, limit: int = 20, offset: int = 0) -> Page[ApiKey]:
        return await self._client.call(calls.list_keys(limit, offset))

    async def revoke(self, key_id: str, *, idempotency_key: str | None = None) -> ApiKey:
        return await self._client.call(calls.revoke_key(key_id, idempotency_key))


class AsyncExport(_AsyncResource):
    """The events as an event log, streamed to a file (see `HeadwaterClient.export`).

    File writes are plain blocking writes of each received chunk (a file object must be
    binary and synchronous); the network side is asynchronous."""

    async def ocel(
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
        return await self._download("ocel", destination, source_id, entity_type, time_from,
                                    time_to, include_deleted, on_progress)  # fmt: skip

    async def xes(
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
        return await self._download("xes", destination, source_id, entity_type, time_from,
                                    time_to, include_deleted, on_progress)  # fmt: skip

    async def _download(
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
        client = self._client
        call = _export_call(kind, source_id, entity_type, time_from, time_to, include_deleted)
        sink = Sink(kind, destination, on_progress)
        attempt = 0
        while True:
            attempt += 1
            failure: Exception | None = None
            error: HeadwaterError | None = None
            try:
                async with client._http.stream("GET", call.path, params=call.params) as response:
                    if response.is_success:
                        sink.start(_event_total(response.headers))
                        try:
                            async for chunk in response.aiter_bytes():
                                sink.write(chunk)
                        except httpx.TransportError as exc:
                            sink.abandon()
                            raise client._sender.outcome(None, exc) from exc
                        except BaseException:
                            sink.abandon()
                            raise
                        return sink.finish()
                    await response.aread()
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
            await client._sleep(delay)
