"""Re-sent payload bytes and the heads' raw fingerprints, through POST /v1/ingest on both
backends: the head keeps the fingerprint of validated bytes; a re-send of those bytes is
unchanged; a re-send spelled differently is unchanged too and becomes the fingerprint;
refused payloads stay refused; `Store.known_payloads` reads what validation's fast path
would use (tests/core/test_fingerprint_path.py checks that path)."""

from __future__ import annotations

from starlette.testclient import TestClient

from headwater.core import canonical
from headwater.core.models import RecordKey
from headwater.store import Store
from tests.api.helpers import (
    assert_success,
    batch_records,
    heads,
    org_id_of,
    post_raw,
    source_counts,
)

KEY = RecordKey("deal", "d1")


def _body(source_id: str, payload: bytes, at: str = "2026-06-10T14:03:00Z") -> bytes:
    return (
        b'{"sourceId":"' + source_id.encode() + b'","records":[{"recordId":"d1",'
        b'"entityType":"deal","sourceUpdatedAt":"' + at.encode() + b'","payload":'
        + payload + b"}]}"
    )  # fmt: skip


def _send(client: TestClient, token: str, source_id: str, payload: bytes, **kw: str) -> list[str]:
    """The record's outcome, or the code it was rejected with."""
    data = assert_success(post_raw(client, token, _body(source_id, payload, **kw)), 202)
    if data["rejected"]:
        return [r["code"] for r in data["rejected"]]
    return [r["outcome"] for r in batch_records(client, token, data["batchId"], limit=10)]


def test_a_head_keeps_the_fingerprint_of_its_bytes_and_a_resend_is_unchanged(
    client: TestClient, token: str, source_id: str, store: Store
) -> None:
    payload = b'{"stage": "won", "amount": 10}'
    assert _send(client, token, source_id, payload) == ["created"]
    head = heads(store, source_id, ("deal", "d1"))[KEY]
    assert head.raw_fingerprint == canonical.raw_fingerprint(payload, False)
    org_id = org_id_of(store, token)
    assert store.known_payloads(org_id, source_id, [KEY]) == {
        KEY: (head.raw_fingerprint, head.content_hash)
    }
    assert store.known_payloads(org_id, source_id, [RecordKey("deal", "other")]) == {}
    assert store.known_payloads(org_id_of(store, token)[::-1], source_id, [KEY]) == {}

    assert _send(client, token, source_id, payload) == ["unchanged"]
    assert heads(store, source_id, ("deal", "d1"))[KEY] == head
    assert source_counts(client, token, source_id)["versions"] == 1


def test_the_same_content_spelled_differently_is_unchanged_and_becomes_the_fingerprint(
    client: TestClient, token: str, source_id: str, store: Store
) -> None:
    first, respelled = b'{"stage":"won","amount":10}', b'{ "amount": 10, "stage": "won" }'
    assert _send(client, token, source_id, first) == ["created"]
    before = heads(store, source_id, ("deal", "d1"))[KEY]
    assert _send(client, token, source_id, respelled) == ["unchanged"]
    after = heads(store, source_id, ("deal", "d1"))[KEY]
    # the head is the same version; only the fingerprint follows the latest bytes
    assert (after.version_id, after.content_hash, after.source_updated_at, after.deleted) == (
        before.version_id, before.content_hash, before.source_updated_at, before.deleted,
    )  # fmt: skip
    assert after.raw_fingerprint == canonical.raw_fingerprint(respelled, False)
    assert _send(client, token, source_id, first) == ["unchanged"]
    assert _send(client, token, source_id, respelled) == ["unchanged"]
    assert source_counts(client, token, source_id)["versions"] == 1


def test_changed_and_refused_payloads_next_to_a_known_head_are_judged_as_always(
    client: TestClient, token: str, source_id: str, store: Store
) -> None:
    payload = b'{"stage":"won"}'
    assert _send(client, token, source_id, payload) == ["created"]
    assert _send(client, token, source_id, b'{"stage":"lost"}', at="2026-06-11T00:00:00Z") == [
        "superseded"
    ]
    assert _send(client, token, source_id, payload) == ["unchanged"]  # an exact stored version
    assert _send(client, token, source_id, b'{"stage":"x"}', at="2026-06-09T00:00:00Z") == ["stale"]
    assert _send(client, token, source_id, b'{"stage":"won","stage":"won"}') == ["INVALID_PAYLOAD"]
    assert _send(client, token, source_id, b'{"n":1e400}') == ["INVALID_PAYLOAD"]
    assert _send(client, token, source_id, b"[1]") == ["INVALID_PAYLOAD"]
    head = heads(store, source_id, ("deal", "d1"))[KEY]
    assert head.raw_fingerprint == canonical.raw_fingerprint(b'{"stage":"lost"}', False)
    response = post_raw(client, token, _body(source_id, b'{"stage":"\xff"}'))
    assert response.status_code == 400
