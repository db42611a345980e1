"""The SDK's export download, against a fake transport: retries before the body starts, a
transfer cut halfway (no file left behind), progress by newline count, query encoding."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from headwater.client import ConnectionFailed, HeadwaterClient, HeadwaterError

BODY = b'{"events":[{"id":"1"}\n,{"id":"2"}\n,{"id":"3"}\n],"objects":[{"id":"o"}\n]}\n'


class _Cut(httpx.SyncByteStream):
    """Sends part of the body, then the connection breaks."""

    def __iter__(self) -> Iterator[bytes]:
        yield BODY[:20]
        raise httpx.ReadError("connection reset")


def _client(handler: httpx.MockTransport, sleeps: list[float]) -> HeadwaterClient:
    return HeadwaterClient(
        "sk_live_test", "http://headwater.test", transport=handler, sleep=sleeps.append
    )


def _ok() -> httpx.Response:
    return httpx.Response(200, headers={"X-Export-Events": "3"}, content=BODY)


def test_progress_counts_the_first_newlines_and_the_query_is_encoded(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _ok()

    progress: list[tuple[int, int, int]] = []
    with _client(httpx.MockTransport(handler), []) as client:
        result = client.export.ocel(
            tmp_path / "log.json",
            source_id="s",
            entity_type="deal",
            time_from=datetime(2026, 6, 1, tzinfo=UTC),
            include_deleted=True,
            on_progress=lambda *p: progress.append(p),
        )
    assert (tmp_path / "log.json").read_bytes() == BODY
    assert (result.events, result.bytes, result.kind) == (3, len(BODY), "ocel")
    assert progress[0] == (0, 3, 0) and progress[-1] == (3, 3, len(BODY))
    query = dict(seen[0].url.params)
    assert seen[0].url.path == "/v1/export/ocel"
    assert query == {"sourceId": "s", "entityType": "deal", "from": "2026-06-01T00:00:00Z",
                     "includeDeleted": "true"}  # fmt: skip


def test_a_503_before_the_body_is_retried(tmp_path: Path) -> None:
    answers = [httpx.Response(503, json={"success": False, "error": {
        "code": "UNAVAILABLE", "message": "later"}, "meta": {"requestId": "x"}}), _ok()]  # fmt: skip
    sleeps: list[float] = []
    with _client(httpx.MockTransport(lambda r: answers.pop(0)), sleeps) as client:
        result = client.export.xes(tmp_path / "log.xes")
    assert result.events == 3 and len(sleeps) == 1


def test_a_transfer_cut_halfway_raises_and_leaves_no_file(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"X-Export-Events": "3"}, stream=_Cut())

    target = tmp_path / "log.json"
    with _client(httpx.MockTransport(handler), []) as client:
        with pytest.raises(ConnectionFailed):
            client.export.ocel(target)
        buffer = io.BytesIO()
        with pytest.raises(HeadwaterError):
            client.export.xes(buffer)
    assert not target.exists() and not (tmp_path / "log.json.part").exists()
    assert buffer.getvalue() == BODY[:20]  # a file object is the caller's: left as it is


def test_an_unknown_kind_is_refused() -> None:
    from headwater.client._export import export_call

    with pytest.raises(ValueError, match="ocel"):
        export_call("csv", None, None, None, None, None)  # type: ignore[arg-type]
