"""Bulk import of files for `headwater ingest`: JSON Lines, a JSON array, or CSV.

Each input item becomes one record. An object with a `payload` key is taken as a record
in wire form (spec §4) and sent byte for byte, so payloads stay verbatim. Any other
object, and every CSV row, is a *flat row*: the `recordId`, `entityType` and
`sourceUpdatedAt` columns (names configurable) become those fields and every other
column goes into the payload, in file order. CSV values are strings, as in the file.

JSON Lines and CSV are streamed (memory stays bounded whatever the file size); a JSON
array is read whole. Records the server (or this reader) refuses are written to a
JSON Lines file of wire-form records, each with a `_rejected` note
(`{code, message, line}`) that this reader ignores, so the file can be fixed and
imported again as it is.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

import msgspec

from headwater.client import (
    DEFAULT_CONCURRENCY,
    BatchReport,
    HeadwaterClient,
    HeadwaterError,
    IngestResult,
    RejectedRecord,
)

Format = Literal["jsonl", "json", "csv"]
NOTE = "_rejected"  #: the key a rejected-records file adds to each record; ignored on input
RAW = "_raw"  #: a line that was not JSON, kept as text in the rejected file

MAX_CELL = 16 * 1024 * 1024  #: csv's default (128 KiB) is smaller than a payload may be
_encode = msgspec.json.encode
_raw_object = msgspec.json.Decoder(dict[str, msgspec.Raw])
_any = msgspec.json.Decoder()


class ImportUsageError(ValueError):
    """The file cannot be read as asked (missing column, unknown format): exit code 2."""


@dataclass(frozen=True)
class Columns:
    """Where a flat row's record fields are, or constants for all rows."""

    record_id: str = "recordId"
    entity_type: str = "entityType"
    updated_at: str = "sourceUpdatedAt"
    entity_type_value: str | None = None  #: used when the row has no entity-type column
    updated_at_value: str | None = None  #: used when the row has no timestamp (default: now)
    delimiter: str = ","


@dataclass
class Item:
    """One input item: a record to send (JSON bytes) or a reason it cannot be sent."""

    line: int
    end: int  #: byte offset just after the item, for progress
    record: bytes | None = None
    code: str = ""
    message: str = ""
    original: Any = None  #: what to write to the rejected file when `record` is None


def detect_format(path: Path) -> Format:
    """By extension (.jsonl/.ndjson, .json, .csv/.tsv), else by the first character."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return "csv"
    with path.open("rb") as handle:
        start = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if start.startswith(b"["):
        return "json"
    if start.startswith(b"{"):
        return "jsonl"  # a .json file holding one object per line, or a single object
    if suffix == ".json":
        raise ImportUsageError(f"{path}: a .json file must hold an array or JSON lines")
    return "csv"


class RowMapper:
    """Turns an input object into one record's JSON text, keeping payload values verbatim."""

    def __init__(self, columns: Columns, now: str) -> None:
        self.columns = columns
        self.default_updated_at = columns.updated_at_value or now

    def from_json(self, text: bytes) -> bytes | tuple[str, str]:
        """A record's JSON text, or (code, message) when the item cannot be a record."""
        try:
            fields = _raw_object.decode(text)
        except msgspec.ValidationError:
            return "INVALID_RECORD", "not a JSON object"
        except msgspec.DecodeError as exc:
            return "INVALID_JSON", f"not valid JSON: {exc}"
        if RAW in fields:
            return "INVALID_JSON", "this line was not valid JSON; replace it with the fixed record"
        if "payload" in fields:
            return self._wire(text, fields)
        return self._flat({k: v for k, v in fields.items() if k != NOTE}, raw=True)

    def _wire(self, text: bytes, fields: dict[str, msgspec.Raw]) -> bytes:
        """A wire-form record: sent as it is unless a field must be filled in or dropped."""
        changed = NOTE in fields
        fields.pop(NOTE, None)
        if "entityType" not in fields and self.columns.entity_type_value is not None:
            fields["entityType"] = msgspec.Raw(_encode(self.columns.entity_type_value))
            changed = True
        if "sourceUpdatedAt" not in fields:
            fields["sourceUpdatedAt"] = msgspec.Raw(_encode(self.default_updated_at))
            changed = True
        return _encode(fields) if changed else text.strip()

    def from_row(self, row: dict[Any, Any]) -> bytes | tuple[str, str]:
        if None in row:
            return "INVALID_ROW", f"the row has {len(row[None])} more cells than the header"
        return self._flat(row, raw=False)

    def _flat(self, row: dict[str, Any], raw: bool) -> bytes | tuple[str, str]:
        c = self.columns
        payload = dict(row)
        record_id = _text(payload.pop(c.record_id, None), raw)
        if record_id is None:
            return "INVALID_RECORD_ID", f"no {c.record_id!r} value"
        entity_type = _text(payload.pop(c.entity_type, None), raw) or c.entity_type_value
        if entity_type is None:
            return "INVALID_ENTITY_TYPE", f"no {c.entity_type!r} value and no --entity-type"
        updated_at = _text(payload.pop(c.updated_at, None), raw) or self.default_updated_at
        return (
            b'{"recordId":'
            + _encode(record_id)
            + b',"entityType":'
            + _encode(entity_type)
            + b',"sourceUpdatedAt":'
            + _encode(updated_at)
            + b',"payload":'
            + _encode(payload)
            + b"}"
        )


def _text(value: Any, raw: bool) -> str | None:
    """A record field from a cell or a JSON value: strings as they are, numbers as written."""
    if value is None:
        return None
    if raw:
        decoded = _any.decode(value)
        if decoded is None:
            return None
        return decoded if isinstance(decoded, str) else bytes(value).decode().strip()
    return str(value)


def read_items(path: Path, fmt: Format, mapper: RowMapper) -> Iterator[Item]:
    if fmt == "jsonl":
        return _read_jsonl(path, mapper)
    if fmt == "json":
        return _read_json_array(path, mapper)
    return _read_csv(path, mapper)


def _item(line: int, end: int, made: bytes | tuple[str, str], original: Any) -> Item:
    if isinstance(made, bytes):
        return Item(line, end, made)
    return Item(line, end, None, made[0], made[1], original)


def _original(text: bytes) -> Any:
    try:
        return _any.decode(text)
    except msgspec.DecodeError:
        return {RAW: text.decode("utf-8", "replace").rstrip("\r\n")}


def _read_jsonl(path: Path, mapper: RowMapper) -> Iterator[Item]:
    offset = 0
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            offset += len(line)
            text = line.strip()
            if number == 1:
                text = text.removeprefix(b"\xef\xbb\xbf")
            if not text:
                continue
            made = mapper.from_json(text)
            yield _item(number, offset, made, None if isinstance(made, bytes) else _original(text))


def _read_json_array(path: Path, mapper: RowMapper) -> Iterator[Item]:
    data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
    try:
        elements = msgspec.json.decode(data, type=list[msgspec.Raw])
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ImportUsageError(f"{path}: not a JSON array: {exc}") from None
    size, count = len(data), max(len(elements), 1)
    for number, element in enumerate(elements, 1):
        text = bytes(element)
        made = mapper.from_json(text)
        original = None if isinstance(made, bytes) else _original(text)
        yield _item(number, size * number // count, made, original)


class _CountingLines:
    """Text lines of a binary file, counting bytes, for csv.reader."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.offset = 0
        self.line = 0

    def __iter__(self) -> Iterator[str]:
        for raw in self.handle:
            self.offset += len(raw)
            self.line += 1
            text = raw.decode("utf-8")
            yield text.removeprefix("\ufeff") if self.line == 1 else text


def _read_csv(path: Path, mapper: RowMapper) -> Iterator[Item]:
    columns = mapper.columns
    delimiter = "\t" if path.suffix.lower() == ".tsv" and columns.delimiter == "," else None
    csv.field_size_limit(MAX_CELL)
    with path.open("rb") as handle:
        lines = _CountingLines(handle)
        reader = csv.DictReader(lines, delimiter=delimiter or columns.delimiter)
        try:
            header = reader.fieldnames
        except UnicodeDecodeError as exc:
            raise ImportUsageError(f"{path}: not UTF-8 text: {exc}") from None
        if not header:
            return
        if columns.record_id not in header:
            raise ImportUsageError(
                f"{path}: no column {columns.record_id!r} for recordId "
                f"(columns: {', '.join(header)}); name it with --record-id-column"
            )
        if columns.entity_type not in header and columns.entity_type_value is None:
            raise ImportUsageError(
                f"{path}: no column {columns.entity_type!r} for entityType; name it with "
                "--entity-type-column or give one type for every row with --entity-type"
            )
        try:
            for row in reader:
                made = mapper.from_row(row)
                original = {("_extra" if k is None else k): v for k, v in row.items()}
                yield _item(lines.line, lines.offset, made, original)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ImportUsageError(f"{path}, line {lines.line}: {exc}") from None


@dataclass
class FileReport:
    path: Path
    result: IngestResult
    read_rejected: int = 0  #: items this reader could not turn into records
    rejected_path: Path | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return self.read_rejected + self.result.rejected_count

    @property
    def records(self) -> int:
        return self.read_rejected + self.result.records


class RejectedWriter:
    """Writes refused records as JSON Lines; the file always reflects the last run.

    It is written beside as `<name>.tmp` and moved into place on `close`, so the file
    being imported may be the previous run's rejected file; with nothing refused, a
    previous run's file is removed.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".tmp")
        self.handle: IO[bytes] | None = None
        self.count = 0

    def write(self, record: Any, code: str, message: str, line: int | None) -> None:
        if self.handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.handle = self.partial.open("wb")
        note = {"code": code, "message": message, "line": line}
        if isinstance(record, dict):
            out = {**{k: v for k, v in record.items() if k != NOTE}, NOTE: note}
        else:
            out = {RAW: record, NOTE: note}
        self.handle.write(_encode(out) + b"\n")
        self.count += 1

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.partial.replace(self.path)
        else:
            self.path.unlink(missing_ok=True)


def default_rejected_path(path: Path) -> Path:
    """`deals.csv` -> `deals.rejected.jsonl`, beside it."""
    stem = path.name
    for suffix in (".jsonl", ".ndjson", ".json", ".csv", ".tsv"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return path.with_name(f"{stem.removesuffix('.rejected')}.rejected.jsonl")


def import_file(
    client: HeadwaterClient,
    source_id: str,
    path: Path,
    fmt: Format,
    columns: Columns,
    rejected: RejectedWriter,
    progress: Callable[[int, int], None] | None = None,
    wait: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> FileReport:
    """Send one file through `ingest_all` (`concurrency` requests in flight; reports come
    in input order); `progress(bytes_done, records_done)` per request."""
    started = time.monotonic()
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    mapper = RowMapper(columns, now)
    report = FileReport(path, IngestResult(), rejected_path=rejected.path)
    #: input position -> (line, byte offset), for the records not yet acknowledged
    positions: dict[int, tuple[int, int]] = {}
    done = [0, 0]  # bytes, records

    def records() -> Iterator[bytes]:
        index = 0
        for item in read_items(path, fmt, mapper):
            if item.record is None:
                report.read_rejected += 1
                rejected.write(item.original, item.code, item.message, item.line)
                continue
            positions[index] = (item.line, item.end)
            index += 1
            yield item.record

    def on_batch(batch: BatchReport) -> None:
        for refused in batch.rejected:
            _write_refused(rejected, refused, positions.get(refused.index))
        last = positions.get(batch.end - 1)
        for index in [i for i in positions if i < batch.end]:
            del positions[index]
        if last is not None:
            done[0] = last[1]
        done[1] = batch.end
        if progress is not None:
            progress(done[0], done[1] + report.read_rejected)

    try:
        report.result = client.ingest_all(
            source_id,
            records(),
            wait=wait,
            on_batch=on_batch,
            collect_rejected=False,
            concurrency=concurrency,
        )
    except HeadwaterError as exc:
        if isinstance(exc.partial, IngestResult):
            exc.partial.records += report.read_rejected
        raise
    report.seconds = time.monotonic() - started
    return report


def _write_refused(
    writer: RejectedWriter, refused: RejectedRecord, position: tuple[int, int] | None
) -> None:
    writer.write(refused.record, refused.code, refused.message, position[0] if position else None)
