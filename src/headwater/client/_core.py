"""What the sync and async clients share, with no I/O: requests, decoding, retries, batching.

Each endpoint is described once as a `Call` (method, path, query, body, idempotency key,
and how to decode the answer); `HeadwaterClient` and `AsyncHeadwaterClient` only send
calls and sleep between attempts, so the two cannot drift apart.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
import msgspec

from headwater.client.errors import ConnectionFailed, HeadwaterError
from headwater.client.models import (
    Batch,
    BatchAck,
    BatchReport,
    IngestResult,
    Outcomes,
    Page,
    Record,
    RejectedItem,
    RejectedRecord,
)

T = TypeVar("T")

#: spec §4.1: at most 500 records and 10 MiB per request
MAX_RECORDS_PER_REQUEST = 500
MAX_REQUEST_BYTES = 10 * 1024 * 1024
#: `ingest_all`'s requests in flight at once: what the benchmark's four senders get from
#: one server process (docs/PERFORMANCE.md); more only queue on the server
DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 64
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
_MUTATING = frozenset({"POST", "PATCH", "PUT", "DELETE"})
#: transport failures where the request may or may not have reached the server: the
#: same Idempotency-Key makes a retry safe either way
RETRYABLE_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def check_api_key(api_key: str | None) -> str:
    if api_key is None or not isinstance(api_key, str) or not api_key.strip():
        raise ValueError(
            "an API key is required: pass api_key=... or set HEADWATER_API_KEY "
            "(create one with `headwater keys create`)"
        )
    if api_key != api_key.strip() or not api_key.isascii() or not api_key.isprintable():
        raise ValueError("the API key contains whitespace or non-printable characters")
    return api_key


def normalize_base_url(base_url: str) -> str:
    """`http://host:8000`, `http://host:8000/` and `http://host:8000/v1` all mean the same."""
    url = base_url.strip().rstrip("/")
    if url.endswith("/v1"):
        url = url[: -len("/v1")]
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
    return url


def segment(value: str) -> str:
    """One path segment, every reserved character escaped (a recordId may hold `/`)."""
    return quote(value, safe="")


# ---------------------------------------------------------------------------- retries


@dataclass(frozen=True)
class RetryPolicy:
    """Jittered exponential backoff; `Retry-After` from the server wins when it is sent.

    Retried: network errors and timeouts, 429, every 5xx, and 409
    `IDEMPOTENCY_KEY_IN_USE` (the first attempt is still running on the server). Every
    POST/PATCH/DELETE carries an Idempotency-Key that stays the same across attempts, so a
    retry never does the work twice.
    """

    max_attempts: int = 8
    backoff: float = 0.25  #: the first delay's ceiling, doubled per attempt
    max_backoff: float = 20.0
    max_retry_after: float = 300.0  #: never sleep longer than this for one Retry-After

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to sleep before attempt `attempt + 1` (`attempt` >= 1 failed already)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after) + rng.uniform(0, self.backoff)
        ceiling = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return rng.uniform(ceiling / 2, ceiling)


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds: a number, or an HTTP date (RFC 9110 §10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


# ---------------------------------------------------------------------------- decoding


class _Meta(msgspec.Struct, rename="camel"):
    request_id: str | None = None


class _Pagination(msgspec.Struct):
    total: int
    limit: int
    offset: int


class _PageMeta(msgspec.Struct, rename="camel"):
    request_id: str | None = None
    pagination: _Pagination | None = None
    next_cursor: str | None = None
    has_more: bool | None = None


class _Envelope(msgspec.Struct):
    data: msgspec.Raw
    meta: _PageMeta = msgspec.field(default_factory=_PageMeta)
    success: bool = True


class _ErrorBody(msgspec.Struct):
    code: str = "UNKNOWN_ERROR"
    message: str = ""
    details: Any = None


class _ErrorEnvelope(msgspec.Struct):
    error: _ErrorBody
    meta: _Meta = msgspec.field(default_factory=_Meta)


_envelope_decoder = msgspec.json.Decoder(_Envelope)
_error_decoder = msgspec.json.Decoder(_ErrorEnvelope)
_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


def _decoder(kind: Any) -> msgspec.json.Decoder[Any]:
    found = _decoders.get(kind)
    if found is None:
        found = _decoders[kind] = msgspec.json.Decoder(kind)
    return found


def error_from_response(response: httpx.Response) -> HeadwaterError:
    """The envelope's code/message/requestId; something sensible for a non-envelope body."""
    header_id = response.headers.get("x-request-id")
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    try:
        body = _error_decoder.decode(response.content)
    except (msgspec.DecodeError, msgspec.ValidationError):
        text = response.text.strip()[:300] if response.content else ""
        return HeadwaterError(
            response.status_code,
            f"HTTP_{response.status_code}",
            text or response.reason_phrase or "error without a body",
            header_id,
            retry_after=retry_after,
        )
    return HeadwaterError(
        response.status_code,
        body.error.code,
        body.error.message,
        body.meta.request_id or header_id,
        body.error.details,
        retry_after,
    )


def _envelope(response: httpx.Response) -> _Envelope:
    try:
        return _envelope_decoder.decode(response.content)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise HeadwaterError(
            response.status_code,
            "INVALID_RESPONSE",
            f"the server's answer is not a Headwater envelope: {exc}",
            response.headers.get("x-request-id"),
        ) from None


def _data(response: httpx.Response, envelope: _Envelope, kind: Any) -> Any:
    try:
        return _decoder(kind).decode(envelope.data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise HeadwaterError(
            response.status_code,
            "INVALID_RESPONSE",
            f"unexpected data in the server's answer: {exc}",
            envelope.meta.request_id,
        ) from None


def data_decoder(kind: type[T]) -> Callable[[httpx.Response], T]:
    def decode(response: httpx.Response) -> T:
        result: T = _data(response, _envelope(response), kind)
        return result

    return decode


def page_decoder(kind: type[T]) -> Callable[[httpx.Response], Page[T]]:
    def decode(response: httpx.Response) -> Page[T]:
        envelope = _envelope(response)
        items: list[T] = _data(response, envelope, list[kind])  # type: ignore[valid-type]
        pagination = envelope.meta.pagination or _Pagination(len(items), len(items), 0)
        return Page(items, pagination.total, pagination.limit, pagination.offset)

    return decode


@dataclass(frozen=True)
class FeedPage(Generic[T]):
    items: list[T]
    next_cursor: str
    has_more: bool


def feed_decoder(kind: type[T]) -> Callable[[httpx.Response], FeedPage[T]]:
    def decode(response: httpx.Response) -> FeedPage[T]:
        envelope = _envelope(response)
        items: list[T] = _data(response, envelope, list[kind])  # type: ignore[valid-type]
        cursor = envelope.meta.next_cursor
        if cursor is None:
            raise HeadwaterError(
                response.status_code,
                "INVALID_RESPONSE",
                "the event feed answered without meta.nextCursor",
                envelope.meta.request_id,
            )
        has_more = envelope.meta.has_more
        return FeedPage(items, cursor, bool(items) if has_more is None else has_more)

    return decode


def bytes_decoder(response: httpx.Response) -> bytes:
    return response.content


# ---------------------------------------------------------------------------- calls


@dataclass
class Call(Generic[T]):
    """One HTTP exchange: what to send and how to read the successful answer."""

    method: str
    path: str
    decode: Callable[[httpx.Response], T]
    params: dict[str, Any] | None = None
    body: bytes | None = None
    idempotency_key: str | None = None

    def __post_init__(self) -> None:
        if self.method in _MUTATING and self.idempotency_key is None:
            self.idempotency_key = str(uuid.uuid4())
        if self.params:
            self.params = {k: _query_value(v) for k, v in self.params.items() if v is not None}

    def headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.idempotency_key is not None:
            headers["Idempotency-Key"] = self.idempotency_key
        if self.body is not None:
            headers["Content-Type"] = "application/json"
        return headers


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return rfc3339(value)
    return str(value)


_encode = msgspec.json.Encoder().encode


def json_body(fields: Mapping[str, Any]) -> bytes:
    return _encode({k: v for k, v in fields.items() if v is not msgspec.UNSET})


def rfc3339(moment: datetime) -> str:
    """An aware datetime as RFC 3339 UTC with `Z`; a naive one is refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} has no time zone; Headwater needs an aware datetime")
    text = moment.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


class Sender:
    """The retry loop's bookkeeping, shared by the sync and async send loops."""

    def __init__(self, retry: RetryPolicy, rng: random.Random | None = None) -> None:
        self.retry = retry
        self.rng = rng or random.Random()
        self.retries = 0  #: attempts beyond the first, over this client's lifetime
        self._lock = threading.Lock()  # `ingest_all` retries from several threads

    def outcome(self, response: httpx.Response | None, exc: Exception | None) -> HeadwaterError:
        if response is not None:
            return error_from_response(response)
        assert exc is not None
        return ConnectionFailed(f"{type(exc).__name__}: {exc or 'connection failed'}", exc)

    def next_delay(self, attempt: int, error: HeadwaterError) -> float | None:
        """Seconds to wait before trying again, or None to give up and raise `error`."""
        if not error.retryable or attempt >= self.retry.max_attempts:
            return None
        with self._lock:
            self.retries += 1
            return self.retry.delay(attempt, error.retry_after, self.rng)


# ---------------------------------------------------------------------------- ingest_all


_record_encoder = msgspec.json.Encoder()


def encode_record(record: Any) -> bytes:
    """One record's JSON text: a `Record`, a wire-form mapping, or bytes sent as they are."""
    if isinstance(record, bytes | bytearray | memoryview):
        return bytes(record)
    if isinstance(record, Record):
        if isinstance(record.source_updated_at, datetime):
            record = msgspec.structs.replace(
                record, source_updated_at=rfc3339(record.source_updated_at)
            )
        return _record_encoder.encode(record)
    if isinstance(record, Mapping):
        moment = record.get("sourceUpdatedAt")
        if isinstance(moment, datetime) and moment.tzinfo is not None:
            record = {**record, "sourceUpdatedAt": rfc3339(moment)}
        return _record_encoder.encode(record)
    raise TypeError(
        f"a record must be a headwater.client.Record, a mapping or JSON bytes, "
        f"not {type(record).__name__}"
    )


def decode_record(text: bytes) -> Any:
    """The wire form of a record (for reporting it back); raw text if it is not JSON."""
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return text.decode("utf-8", "replace")


@dataclass
class Chunk:
    """One request's worth of records, already encoded, and where each came from."""

    body: bytes
    indices: list[int]  #: position in the input of each record of the request
    items: list[bytes]
    client_rejected: list[RejectedRecord] = field(default_factory=list)
    #: (entityType, recordId) of each record that names both as strings
    keys: set[tuple[str, str]] = field(default_factory=set)

    @property
    def start(self) -> int:
        return self.indices[0] if self.indices else -1

    @property
    def end(self) -> int:
        return self.indices[-1] + 1 if self.indices else -1


class Chunker:
    """Packs records into request bodies of at most `max_records` and `max_bytes` bytes.

    Push-style, so that sync and async loops share it: `add` returns a full chunk when
    the record does not fit in the current one; `finish` returns the last one. Holds
    one request's records at a time. A record too large for any request is reported as
    rejected (`RECORD_TOO_LARGE`) in the next chunk's `client_rejected`; the last chunk
    may hold only such rejections (and no items).
    """

    def __init__(
        self,
        source_id: str,
        max_records: int = MAX_RECORDS_PER_REQUEST,
        max_bytes: int = MAX_REQUEST_BYTES,
    ) -> None:
        if not 1 <= max_records <= MAX_RECORDS_PER_REQUEST:
            raise ValueError(f"max_records must be 1-{MAX_RECORDS_PER_REQUEST}")
        self._head = b'{"sourceId":' + _encode(source_id) + b',"records":['
        self._overhead = len(self._head) + len(b"]}")
        if max_bytes <= self._overhead + 2:
            raise ValueError("max_bytes is too small for a request")
        self.max_records = max_records
        self.max_bytes = max_bytes
        self._index = 0
        self._reset()

    def _reset(self) -> None:
        self._items: list[bytes] = []
        self._indices: list[int] = []
        self._rejected: list[RejectedRecord] = []
        self._keys: set[tuple[str, str]] = set()
        self._size = self._overhead

    def _flush(self) -> Chunk:
        chunk = Chunk(
            self._head + b",".join(self._items) + b"]}",
            self._indices,
            self._items,
            self._rejected,
            self._keys,
        )
        self._reset()
        return chunk

    def add(self, record: Any) -> Chunk | None:
        index = self._index
        self._index += 1
        text = encode_record(record)
        if self._overhead + len(text) > self.max_bytes:
            self._rejected.append(
                RejectedRecord(
                    index,
                    _record_id_of(record),
                    "RECORD_TOO_LARGE",
                    f"the record is {len(text)} bytes as JSON; one request holds at most "
                    f"{self.max_bytes} bytes, so it was not sent",
                    decode_record(text),
                )
            )
            return None
        full: Chunk | None = None
        cost = len(text) + (1 if self._items else 0)
        if self._items and (
            len(self._items) >= self.max_records or self._size + cost > self.max_bytes
        ):
            full = self._flush()
            cost = len(text)
        self._items.append(text)
        self._indices.append(index)
        key = record_key(record, text)
        if key is not None:
            self._keys.add(key)
        self._size += cost
        return full

    def finish(self) -> Chunk | None:
        return self._flush() if self._items or self._rejected else None


def chunk_records(
    source_id: str,
    records: Iterable[Any],
    max_records: int = MAX_RECORDS_PER_REQUEST,
    max_bytes: int = MAX_REQUEST_BYTES,
) -> Iterator[Chunk]:
    """`Chunker` over an iterable, lazily."""
    chunker = Chunker(source_id, max_records, max_bytes)
    for record in records:
        chunk = chunker.add(record)
        if chunk is not None:
            yield chunk
    last = chunker.finish()
    if last is not None:
        yield last


class _KeyFields(msgspec.Struct):
    entityType: Any = None
    recordId: Any = None


_key_decoder = msgspec.json.Decoder(_KeyFields)


def record_key(record: Any, text: bytes) -> tuple[str, str] | None:
    """The record's (entityType, recordId) when both are strings; bytes are decoded for
    them (other fields skipped). None for a record the server will reject anyway."""
    if isinstance(record, Record):
        return record.entity_type, record.record_id
    if isinstance(record, Mapping):
        entity_type, record_id = record.get("entityType"), record.get("recordId")
    else:
        try:
            fields = _key_decoder.decode(text)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        entity_type, record_id = fields.entityType, fields.recordId
    if isinstance(entity_type, str) and isinstance(record_id, str):
        return entity_type, record_id
    return None


def check_concurrency(concurrency: int) -> int:
    if (
        not isinstance(concurrency, int)
        or isinstance(concurrency, bool)
        or not 1 <= concurrency <= MAX_CONCURRENCY
    ):
        raise ValueError(f"concurrency must be a whole number 1-{MAX_CONCURRENCY}")
    return concurrency


@dataclass(frozen=True)
class Sent:
    """What one request of `ingest_all` brought back: the 202 answer and, when outcomes
    were asked for, the batch (`forbidden`: the key may not read batches)."""

    ack: BatchAck
    batch: Batch | None
    asked: bool
    forbidden: bool = False


class Window(Generic[T]):
    """The requests of `ingest_all` in flight, oldest first, each with its records' keys.

    A new request waits (its caller settles the oldest first) while `concurrency`
    requests are in flight, or while an earlier one in flight holds one of its records:
    versions of one record therefore reach the server in input order, as they would one
    request at a time, and requests are settled (totals, `on_batch`) in input order.
    """

    def __init__(self, concurrency: int) -> None:
        self.concurrency = check_concurrency(concurrency)
        self.entries: list[tuple[Chunk, T | None]] = []

    def must_wait(self, chunk: Chunk) -> bool:
        if not self.entries:
            return False
        if len(self.entries) >= self.concurrency:
            return True
        return any(not chunk.keys.isdisjoint(c.keys) for c, _ in self.entries)

    def add(self, chunk: Chunk, pending: T | None) -> None:
        self.entries.append((chunk, pending))

    def oldest(self) -> tuple[Chunk, T | None]:
        return self.entries.pop(0)


def settle(
    tally: Tally,
    chunk: Chunk,
    sent: Sent | None,
    on_batch: Callable[[BatchReport], None] | None,
) -> None:
    """Add one request's answer to the totals and report it (in input order)."""
    if sent is None:  # only records refused before sending
        if on_batch is not None and chunk.client_rejected:
            on_batch(client_only_report(chunk))
        return
    if sent.forbidden:
        tally.result.outcomes_known = False
    found = tally.outcomes(sent.ack, sent.batch) if sent.asked and not sent.forbidden else None
    rejected = tally.acknowledged(chunk, sent.ack)
    if on_batch is not None:
        on_batch(report(chunk, sent.ack, found, rejected))


def _record_id_of(record: Any) -> str | None:
    if isinstance(record, Record):
        return record.record_id
    if isinstance(record, Mapping):
        value = record.get("recordId")
        return value if isinstance(value, str) else None
    return None


class Tally:
    """Adds up what `ingest_all` learns, request by request."""

    def __init__(self, collect_rejected: bool) -> None:
        self.result = IngestResult()
        self.collect_rejected = collect_rejected
        self.pending: list[str] = []  #: batches not yet seen `done`/`error`

    def client_rejected(self, chunk: Chunk) -> None:
        self._reject(chunk.client_rejected)
        self.result.records += len(chunk.client_rejected)

    def acknowledged(self, chunk: Chunk, ack: BatchAck) -> list[RejectedRecord]:
        result = self.result
        result.records += len(chunk.items)
        result.requests += 1
        result.accepted += ack.accepted
        result.deduplicated += ack.deduplicated
        result.batch_ids.append(ack.batch_id)
        if ack.status not in ("done", "error"):
            self.pending.append(ack.batch_id)
        rejected = [self._from_server(chunk, item) for item in ack.rejected]
        self._reject(rejected)
        return [*chunk.client_rejected, *rejected]

    def outcomes(self, ack: BatchAck, batch: Batch | None) -> Outcomes | None:
        """Add one batch's outcomes; without a GET (nothing accepted) they follow from the ack."""
        if batch is None:
            if ack.accepted:
                self.result.outcomes_known = False
                return None
            found = Outcomes(unchanged=ack.deduplicated)
        elif batch.outcomes is None:
            self.result.outcomes_known = False
            return None
        else:
            found = batch.outcomes
        self.result.created += found.created
        self.result.superseded += found.superseded
        self.result.unchanged += found.unchanged
        self.result.stale += found.stale
        return found

    def finished(self, batch: Batch) -> None:
        self.result.events_created += batch.events_created or 0
        if batch.status == "error":
            self.result.failed_batches.append(batch)

    def _from_server(self, chunk: Chunk, item: RejectedItem) -> RejectedRecord:
        inside = 0 <= item.index < len(chunk.items)
        return RejectedRecord(
            chunk.indices[item.index] if inside else -1,
            item.record_id,
            item.code,
            item.message,
            decode_record(chunk.items[item.index]) if inside else None,
        )

    def _reject(self, rejected: list[RejectedRecord]) -> None:
        self.result.rejected_count += len(rejected)
        if self.collect_rejected:
            self.result.rejected.extend(rejected)


def report(
    chunk: Chunk, ack: BatchAck, outcomes: Outcomes | None, rejected: list[RejectedRecord]
) -> BatchReport:
    start = min([chunk.start, *(r.index for r in chunk.client_rejected)])
    return BatchReport(start, chunk.end, ack, outcomes, rejected)


def client_only_report(chunk: Chunk) -> BatchReport:
    indices = [r.index for r in chunk.client_rejected]
    return BatchReport(min(indices), max(indices) + 1, None, None, chunk.client_rejected)


class Deadline:
    def __init__(self, timeout: float | None) -> None:
        self.at = None if timeout is None else time.monotonic() + timeout

    def passed(self) -> bool:
        return self.at is not None and time.monotonic() >= self.at


def poll_interval(round_: int, base: float) -> float:
    """How long to wait before polling a batch again: `base`, growing to 2 s."""
    return min(base * 1.5**round_, max(base, 2.0))
