"""What the sync and async export methods share, with no network I/O: the query, where the
bytes go, and the progress count (spec §9.1; the formats are docs/EXPORTS.md).

The body is written chunk by chunk as it arrives, never held whole. To a path it goes
through `<path>.part`, renamed once the log is complete, so a broken transfer never
leaves a truncated file under the name asked for.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from headwater.client._core import Call

Kind = Literal["ocel", "xes"]
#: where an export goes: a path, or a binary file object open for writing
Destination = str | os.PathLike[str] | IO[bytes]
#: on_progress(events_written, events_total, bytes_written)
ProgressCallback = Callable[[int, int, int], None]
EVENT_COUNT_HEADER = "x-export-events"


@dataclass(frozen=True, slots=True)
class ExportResult:
    kind: Kind
    events: int  #: the events in the log (the server's count, `X-Export-Events`)
    bytes: int
    path: Path | None  #: None when written to a file object


def export_call(
    kind: Kind,
    source_id: str | None,
    entity_type: str | None,
    time_from: Any,
    time_to: Any,
    include_deleted: bool | None,
) -> Call[None]:
    """The request (its query normalized like every other call's); the body is streamed."""
    if kind not in ("ocel", "xes"):
        raise ValueError(f"kind must be 'ocel' or 'xes', got {kind!r}")
    params = {
        "sourceId": source_id,
        "entityType": entity_type,
        "from": time_from,
        "to": time_to,
        "includeDeleted": include_deleted,
    }
    return Call("GET", f"/v1/export/{kind}", _no_decode, params=params)


def _no_decode(response: Any) -> None:
    return None


class Sink:
    """Receives the body's chunks: writes them, counts events, reports progress.

    The server ends each event with a newline and puts no other newline before the
    last event (docs/EXPORTS.md), so the first `total` newlines count the events.
    """

    def __init__(
        self, kind: Kind, destination: Destination, on_progress: ProgressCallback | None
    ) -> None:
        self.kind = kind
        self.on_progress = on_progress
        self.total = 0
        self.events = 0
        self.bytes = 0
        self._owned = False
        if isinstance(destination, (str, os.PathLike)):
            self.path: Path | None = Path(destination)
            self._part = self.path.with_name(self.path.name + ".part")
            self._given: IO[bytes] | None = None
        else:
            self.path = None
            self._part = Path()
            self._given = destination
        self._file: IO[bytes] | None = None

    def start(self, total: int) -> None:
        self.total = total
        self.events = self.bytes = 0
        if self._given is None:
            self._file = self._part.open("wb")
            self._owned = True
        else:
            self._file = self._given
        self._report()

    def write(self, chunk: bytes) -> None:
        assert self._file is not None, "start() first"
        self._file.write(chunk)
        self.bytes += len(chunk)
        if self.events < self.total:
            self.events = min(self.total, self.events + chunk.count(b"\n"))
        self._report()

    def _report(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.events, self.total, self.bytes)

    def finish(self) -> ExportResult:
        if self._owned and self._file is not None and self.path is not None:
            self._file.close()
            os.replace(self._part, self.path)
        return ExportResult(self.kind, self.total, self.bytes, self.path)

    def abandon(self) -> None:
        """After a failure: drop the partial file (a file object is left as it is)."""
        if self._owned and self._file is not None:
            self._file.close()
            self._owned = False
            self._part.unlink(missing_ok=True)


def event_total(headers: Any) -> int:
    try:
        return max(0, int(headers.get(EVENT_COUNT_HEADER, "0")))
    except ValueError:
        return 0


__all__ = ["Destination", "ExportResult", "Kind", "ProgressCallback", "Sink", "export_call"]
