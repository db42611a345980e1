"""`target-headwater`: a Singer target that loads any Singer tap's output into a source.

    tap-postgres --config tap.json --catalog catalog.json \\
        | target-headwater --config target.json > state.json

Config (JSON): `base_url`, `api_key`, `source_id` (`HEADWATER_URL` / `HEADWATER_API_KEY`
fill in the first two when absent); optional `entity_types` (`{stream: entityType}`),
`wait` (wait until the batches are normalized before the last STATE), `max_retries`,
`concurrency` (requests in flight at once, default 4; versions of one record still go
in the tap's order, and STATE waits for every record before it, whatever the order the
answers arrive in).

Mapping (spec §4, Singer spec):
- RECORD's `stream` -> `entityType` (or `entity_types[stream]`); characters an entity
  type cannot hold become `_`.
- SCHEMA's `key_properties` -> `recordId`: their values joined with `:` (strings as they
  are, other values as JSON). A stream without key properties gets the SHA-256 of the
  record's canonical JSON, so each distinct row is its own record.
- the replication key (SCHEMA's first `bookmark_properties`) -> `sourceUpdatedAt` when
  the record has a date-time there; else the message's `time_extracted`; else now.
  Naive timestamps are taken as UTC, as the Singer spec says they are.
- the record itself -> `payload`, byte for byte as the tap wrote it; a non-null
  `_sdc_deleted_at` (log-based replication) marks a tombstone (`deleted: true`).
- STATE: written to stdout once every record before it is acknowledged by Headwater,
  the last one of a run always at the end. After a record was rejected, no further
  state is emitted (the bookmark must not move past lost data) and the exit code is 1.

Records go through `HeadwaterClient.ingest_all`: requests of up to 500 records / 10 MiB,
retries with the same Idempotency-Key, bounded memory. Exit codes: 0 ok, 1 records
rejected, 2 bad input or configuration, or Headwater unreachable.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

import msgspec

from headwater.client import BatchReport, HeadwaterClient, HeadwaterError

_ENTITY_INVALID = re.compile(r"[^A-Za-z0-9_.\-]")
_encode = msgspec.json.encode


class TargetError(Exception):
    """Bad input or configuration: exit code 2."""


class Message(msgspec.Struct):
    type: str
    stream: str | None = None
    record: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)  #: empty: absent
    schema: dict[str, Any] | None = None
    key_properties: list[str] | None = None
    bookmark_properties: list[str] | None = None
    time_extracted: str | None = None
    value: Any = None


_message = msgspec.json.Decoder(Message)
_record = msgspec.json.Decoder(dict[str, Any])


@dataclass
class Stream:
    entity_type: str
    key_properties: list[str]
    replication_key: str | None


@dataclass
class Config:
    base_url: str | None
    api_key: str | None
    source_id: str
    entity_types: dict[str, str] = field(default_factory=dict)
    wait: bool = False
    max_retries: int | None = None
    concurrency: int = 4

    @classmethod
    def load(cls, path: str) -> Config:
        try:
            with open(path, encoding="utf-8") as handle:
                raw = json.load(handle)
        except (OSError, ValueError) as exc:
            raise TargetError(f"cannot read config {path}: {exc}") from None
        if not isinstance(raw, dict) or not isinstance(raw.get("source_id"), str):
            raise TargetError("config needs source_id (the Headwater source to load into)")
        entity_types = raw.get("entity_types") or {}
        if not isinstance(entity_types, dict):
            raise TargetError("config entity_types must map stream names to entity types")
        retries = raw.get("max_retries")
        if retries is not None and (not isinstance(retries, int) or retries < 0):
            raise TargetError("config max_retries must be a whole number >= 0")
        concurrency = raw.get("concurrency", 4)
        if (
            not isinstance(concurrency, int)
            or isinstance(concurrency, bool)
            or not (1 <= concurrency <= 64)
        ):
            raise TargetError("config concurrency must be a whole number 1-64")
        return cls(
            base_url=raw.get("base_url") or os.environ.get("HEADWATER_URL"),
            api_key=raw.get("api_key") or os.environ.get("HEADWATER_API_KEY"),
            source_id=raw["source_id"],
            entity_types={str(k): str(v) for k, v in entity_types.items()},
            wait=bool(raw.get("wait", False)),
            max_retries=retries,
            concurrency=concurrency,
        )


def entity_type_for(stream: str, overrides: dict[str, str]) -> str:
    if stream in overrides:
        return overrides[stream]
    return _ENTITY_INVALID.sub("_", stream)[:100] or "_"


def utc_rfc3339(value: Any) -> str | None:
    """A Singer date-time as RFC 3339 UTC with `Z`, or None if it is not one."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _key_text(value: Any) -> str:
    return value if isinstance(value, str) else _encode(value).decode()


class Target:
    """Reads Singer messages, sends records through `ingest_all`, emits acknowledged state."""

    def __init__(self, client: HeadwaterClient, config: Config, out: IO[str], log: IO[str]) -> None:
        self.client = client
        self.config = config
        self.out = out
        self.log = log
        self.streams: dict[str, Stream] = {}
        self.produced = 0  #: records handed to ingest_all
        self.acknowledged = 0  #: records before this index are acknowledged
        self.states: list[tuple[int, Any]] = []  #: (records before it, state), oldest first
        self.emitted: Any = None
        self.has_emitted = False
        self.rejected = 0
        self.keyless_warned: set[str] = set()

    def run(self, lines: Iterable[str]) -> int:
        result = self.client.ingest_all(
            self.config.source_id,
            self._records(lines),
            wait=self.config.wait,
            on_batch=self._on_batch,
            collect_rejected=False,
            concurrency=self.config.concurrency,
        )
        self.acknowledged = self.produced
        self._emit_due()
        self._say(
            f"loaded {result.records} records into source {self.config.source_id}: "
            f"created {result.created}, superseded {result.superseded}, "
            f"unchanged {result.unchanged}, stale {result.stale}, "
            f"rejected {result.rejected_count} ({result.requests} requests)"
        )
        if result.failed_batches:
            self._say(f"{len(result.failed_batches)} batches failed to normalize")
        return 1 if self.rejected or result.failed_batches else 0

    def _records(self, lines: Iterable[str]) -> Iterator[bytes]:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                message = _message.decode(line)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise TargetError(f"line {number}: not a Singer message: {exc}") from None
            kind = message.type.upper()
            if kind == "RECORD":
                yield self._record_text(message, number)
                self.produced += 1
            elif kind == "SCHEMA":
                self._schema(message, number)
            elif kind == "STATE":
                self.states.append((self.produced, message.value))
                self._emit_due()
            elif kind == "BATCH":  # records in files elsewhere: refuse rather than drop them
                raise TargetError(
                    f"line {number}: BATCH messages are not supported; run the tap without "
                    "batch mode"
                )
            # ACTIVATE_VERSION and others carry nothing Headwater needs

    def _schema(self, message: Message, number: int) -> None:
        if not message.stream:
            raise TargetError(f"line {number}: SCHEMA without a stream")
        bookmarks = message.bookmark_properties or []
        self.streams[message.stream] = Stream(
            entity_type_for(message.stream, self.config.entity_types),
            list(message.key_properties or []),
            bookmarks[0] if bookmarks else None,
        )

    def _record_text(self, message: Message, number: int) -> bytes:
        stream = self.streams.get(message.stream or "")
        if stream is None:
            raise TargetError(
                f"line {number}: RECORD for stream {message.stream!r} before its SCHEMA"
            )
        raw = bytes(message.record)
        if not raw:
            raise TargetError(f"line {number}: RECORD without a record")
        try:
            record = _record.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise TargetError(f"line {number}: the record is not a JSON object: {exc}") from None
        if stream.key_properties:
            record_id = ":".join(_key_text(record.get(k, "")) for k in stream.key_properties)
        else:
            if message.stream not in self.keyless_warned:
                self.keyless_warned.add(message.stream or "")
                self._say(
                    f"stream {message.stream!r} has no key_properties: each distinct row "
                    "becomes its own record (recordId = SHA-256 of its content)"
                )
            canonical = _encode(record, order="sorted")
            record_id = hashlib.sha256(canonical).hexdigest()
        updated_at = (
            (utc_rfc3339(record.get(stream.replication_key)) if stream.replication_key else None)
            or utc_rfc3339(message.time_extracted)
            or datetime.now(UTC).isoformat().replace("+00:00", "Z")
        )
        deleted = record.get("_sdc_deleted_at") not in (None, "")
        return (
            b'{"recordId":'
            + _encode(record_id)
            + b',"entityType":'
            + _encode(stream.entity_type)
            + b',"sourceUpdatedAt":'
            + _encode(updated_at)
            + (b',"deleted":true' if deleted else b"")
            + b',"payload":'
            + raw
            + b"}"
        )

    def _on_batch(self, report: BatchReport) -> None:
        for refused in report.rejected:
            self.rejected += 1
            self._say(f"rejected record {refused.record_id!r} ({refused.code}): {refused.message}")
        self.acknowledged = max(self.acknowledged, report.end)
        self._emit_due()

    def _emit_due(self) -> None:
        """Write the newest state whose records are all acknowledged (none after a rejection)."""
        due = None
        while self.states and self.states[0][0] <= self.acknowledged:
            due = self.states.pop(0)
        if due is None or self.rejected:
            return
        value = due[1]
        if self.has_emitted and value == self.emitted:
            return
        self.out.write(json.dumps(value) + "\n")
        self.out.flush()
        self.emitted, self.has_emitted = value, True

    def _say(self, text: str) -> None:
        self.log.write(f"target-headwater: {text}\n")
        self.log.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="target-headwater",
        description="Singer target: load a tap's records into a Headwater source.",
    )
    parser.add_argument("-c", "--config", required=True, help="JSON config file")
    args = parser.parse_args(argv)
    try:
        config = Config.load(args.config)
        try:
            client = HeadwaterClient(
                config.api_key, config.base_url, max_retries=config.max_retries
            )
        except ValueError as exc:
            raise TargetError(str(exc)) from None
        with client:
            if isinstance(sys.stdin, io.TextIOWrapper):
                sys.stdin.reconfigure(encoding="utf-8")
            return Target(client, config, sys.stdout, sys.stderr).run(sys.stdin)
    except TargetError as exc:
        sys.stderr.write(f"target-headwater: error: {exc}\n")
        return 2
    except HeadwaterError as exc:
        sys.stderr.write(f"target-headwater: error: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
