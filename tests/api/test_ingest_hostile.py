"""Issue #2 item 10: hostile bodies get a clear 400 or a per-record rejection, never a 500
or a hang, and leave the server answering and the stored data untouched.

Every test uses the `stored` fixture: seed data goes in before the attack, and afterwards
the fixture checks that the server still answers and that the seed data is unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from headwater.store import Store
from tests.api.helpers import (
    assert_success,
    batch_records,
    detail_fields,
    ingest_ok,
    org_id_of,
    post_raw,
    source_counts,
)
from tests.conftest import SEED_PAYLOADS, assert_error

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("stored")]

RECORD_HEAD = (
    b'{"recordId": "hostile", "entityType": "deal", '
    b'"sourceUpdatedAt": "2026-06-10T14:03:00Z", "payload": '
)
GOOD_RECORD = (
    b'{"recordId": "fine", "entityType": "deal", '
    b'"sourceUpdatedAt": "2026-06-10T14:03:00Z", "payload": {"ok": true}}'
)


def _body(source_id: str, payload: bytes, with_good: bool = True) -> bytes:
    """An ingest body whose first record carries `payload` as raw bytes."""
    records = RECORD_HEAD + payload + b"}"
    if with_good:
        records += b", " + GOOD_RECORD
    return _envelope(source_id, records)


def _envelope(source_id: str, records: bytes) -> bytes:
    return b'{"sourceId": "' + source_id.encode() + b'", "records": [' + records + b"]}"


@pytest.fixture
def stored(client: TestClient, token: str, source_id: str, store: Store) -> Iterator[None]:
    """Seed data before the attack; afterwards the server answers and the data is intact."""
    first = ingest_ok(client, token, source_id, SEED_PAYLOADS)
    results = batch_records(client, token, first["batchId"])
    org_id = org_id_of(store, token)
    before = {r["versionId"]: store.get_version(org_id, r["versionId"]) for r in results}
    counts = source_counts(client, token, source_id)
    yield
    assert_success(client.get("/healthz"))
    again = ingest_ok(client, token, source_id, SEED_PAYLOADS)
    assert (again["accepted"], again["deduplicated"]) == (0, 2)
    for version_id, version in before.items():
        assert store.get_version(org_id, version_id) == version
    after = source_counts(client, token, source_id)
    assert after["records"] >= counts["records"]


def _is_400(response: Any, case: object) -> None:
    assert response.status_code == 400, (case, response.text)
    detail_fields(assert_error(response, 400, "VALIDATION_ERROR"))
    assert len(response.content) < 10_000, case  # the error does not echo the input back


def _rejected_or_400(response: Any, case: object, code: str = "INVALID_PAYLOAD") -> str:
    """Either the whole request is a 400, or the hostile record (index 0) is rejected
    with `code` while the good record proceeds. Returns which one happened."""
    assert response.status_code in {202, 400}, (case, response.text)
    if response.status_code == 400:
        _is_400(response, case)
        return "400"
    data = assert_success(response, 202)
    assert [r["index"] for r in data["rejected"]] == [0], (case, data)
    assert data["rejected"][0]["code"] == code, (case, data)
    assert data["rejected"][0]["message"]
    assert data["accepted"] + data["deduplicated"] == 1, case  # the good record went through
    return "rejected"


# -- nesting ----------------------------------------------------------------------


def test_deep_nesting_of_the_whole_body_is_400(
    client: TestClient, token: str, source_id: str
) -> None:
    prefix = b'{"sourceId": "' + source_id.encode() + b'", "records": '
    for body in [
        b"[" * 100_000,
        b'{"a":' * 100_000,
        prefix + b"[" * 100_000,
        prefix + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ]:
        _is_400(post_raw(client, token, body), body[:40])


def test_deeply_nested_payload_or_record_is_refused(
    client: TestClient, token: str, source_id: str, store: Store
) -> None:
    for payload in [
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"a":' * 100_000,  # never closed
    ]:
        _rejected_or_400(post_raw(client, token, _body(source_id, payload)), payload[:20])
    record = b"[" * 5000 + b"]" * 5000  # a record that is itself deeply nested
    response = post_raw(client, token, _envelope(source_id, record + b", " + GOOD_RECORD))
    if response.status_code == 400:
        _is_400(response, "record")
    else:
        data = assert_success(response, 202)
        assert [r["index"] for r in data["rejected"]] == [0]

    # moderate nesting is fine, and stored verbatim
    payload = b'{"a":' * 50 + b"1" + b"}" * 50
    data = assert_success(post_raw(client, token, _body(source_id, payload)), 202)
    assert data["rejected"] == []
    [first, _] = batch_records(client, token, data["batchId"])
    version = store.get_version(org_id_of(store, token), first["versionId"])
    assert version is not None
    assert version.payload == payload


# -- numbers and literals ---------------------------------------------------------


def test_number_out_of_double_range_in_payload_is_invalid_payload(
    client: TestClient, token: str, source_id: str
) -> None:
    for number in [b"1e400", b"-1e400", b"1E+999", b"2e308", b"[1e400]", b'{"x": 1e400}']:
        response = post_raw(client, token, _body(source_id, b'{"amount": ' + number + b"}"))
        data = assert_success(response, 202)
        [rejection] = data["rejected"]
        assert (rejection["index"], rejection["code"]) == (0, "INVALID_PAYLOAD"), number
        assert rejection["message"] == "payload has a number outside the range of a 64-bit float"
        assert data["accepted"] + data["deduplicated"] == 1


def test_integers_are_exact_up_to_4300_characters_and_longer_ones_are_refused_alone(
    client: TestClient, token: str, source_id: str, store: Store
) -> None:
    """docs/decisions.md, "Content hash": the stated limit, enforced per record."""
    org = org_id_of(store, token)
    for number in [b"9" * 4300, b"-" + b"9" * 4299, b"1" + b"0" * 4299]:
        payload = b'{"n": ' + number + b"}"
        data = assert_success(post_raw(client, token, _body(source_id, payload)), 202)
        assert data["rejected"] == [], number[:5]
        first = batch_records(client, token, data["batchId"])[0]
        version = store.get_version(org, first["versionId"])
        assert version is not None
        assert version.payload == payload  # verbatim
        assert json.loads(version.payload)["n"] == int(number)  # exact
    for number in [b"9" * 4301, b"-" + b"1" * 4300, b"1" * 10_000]:
        payload = b'{"n": ' + number + b"}"
        data = assert_success(post_raw(client, token, _body(source_id, payload)), 202)
        [rejection] = data["rejected"]
        assert (rejection["index"], rejection["code"]) == (0, "INVALID_PAYLOAD")
        assert rejection["message"] == "payload has an integer longer than 4300 characters"
        assert data["accepted"] + data["deduplicated"] == 1  # the other record proceeds


def test_huge_integer_in_payload_is_exact_content(
    client: TestClient, token: str, source_id: str, store: Store
) -> None:
    huge = b"1" + b"0" * 400
    data = assert_success(post_raw(client, token, _body(source_id, b'{"n": ' + huge + b"}")), 202)
    assert len(data["rejected"]) in {0, 1}
    if data["rejected"]:  # refusing it is acceptable; crashing or rounding is not
        assert data["rejected"][0]["code"] == "INVALID_PAYLOAD"
        return
    [first, _] = batch_records(client, token, data["batchId"])
    version = store.get_version(org_id_of(store, token), first["versionId"])
    assert version is not None
    assert version.payload == b'{"n": ' + huge + b"}"
    plus_one = b"1" + b"0" * 399 + b"1"
    other = assert_success(
        post_raw(client, token, _body(source_id, b'{"n": ' + plus_one + b"}", False)), 202
    )
    outcomes = [r["outcome"] for r in batch_records(client, token, other["batchId"])]
    assert outcomes == ["superseded"]


def test_nan_infinity_and_other_invalid_payload_text_are_refused(
    client: TestClient, token: str, source_id: str
) -> None:
    for literal in [
        b"NaN",
        b"Infinity",
        b"-Infinity",
        b"nan",
        b"inf",
        b"-NaN",
        b'"a\x01b"',  # a raw control character inside a string
        b"01",  # leading zero
        b"1.",
        b".5",
        b"+1",
        b"0x10",
        b"undefined",
        b"'single'",
    ]:
        _rejected_or_400(
            post_raw(client, token, _body(source_id, b'{"x": ' + literal + b"}")), literal
        )


# -- encodings --------------------------------------------------------------------

INVALID_UTF8 = [
    b"\xff",  # never valid
    b"\xc3\x28",  # bad continuation
    b"\xed\xa0\x80",  # an encoded surrogate
    b"\xf8\x88\x80\x80\x80",  # five-byte form
    b"caf\xe9",  # Latin-1
    b"\xc0\xaf",  # overlong "/"
    b"\xf4\x90\x80\x80",  # above U+10FFFF
    b"\xe2\x82",  # truncated sequence
]


def test_invalid_utf8_in_payload_is_refused(client: TestClient, token: str, source_id: str) -> None:
    for raw_string in INVALID_UTF8:
        for payload in (b'{"name": "' + raw_string + b'"}', b'{"' + raw_string + b'": 1}'):
            _rejected_or_400(post_raw(client, token, _body(source_id, payload)), payload)


LONE_SURROGATES = [
    b"\\ud800",
    b"\\udfff",
    b"\\ud83d",
    b"\\ude00\\ud83d",  # a pair in the wrong order
    b"\\ud800x",
    b"\\uDC00",
    b"\\ud83d\\u0041",  # high surrogate followed by a non-surrogate escape
]


def test_lone_surrogates_are_refused(client: TestClient, token: str, source_id: str) -> None:
    for escaped in LONE_SURROGATES:
        for payload in (b'{"name": "a' + escaped + b'b"}', b'{"a' + escaped + b'": 1}'):
            _rejected_or_400(post_raw(client, token, _body(source_id, payload)), payload)
        # in a record id
        record = (
            b'{"recordId": "x' + escaped + b'", "entityType": "deal", '
            b'"sourceUpdatedAt": "2026-06-10T14:03:00Z", "payload": {}}'
        )
        response = post_raw(client, token, _envelope(source_id, record + b", " + GOOD_RECORD))
        if response.status_code == 400:
            _is_400(response, escaped)
        else:
            data = assert_success(response, 202)
            assert [r["index"] for r in data["rejected"]] == [0], escaped


def test_legitimate_escapes_are_accepted(client: TestClient, token: str, source_id: str) -> None:
    for payload in [
        b'{"e": "\\ud83d\\ude00"}',  # a valid surrogate pair
        b'{"e": "\\uD83D\\uDE00"}',
        b'{"s": "a\\u0000b\\u001fc"}',  # escaped control characters
        b'{"s": "\\"\\\\\\/\\b\\f\\n\\r\\t"}',
        b'{"s": "\xf0\x9f\x98\x80 \xe2\x98\x83"}',  # raw UTF-8
    ]:
        data = assert_success(post_raw(client, token, _body(source_id, payload)), 202)
        assert data["rejected"] == [], payload


def test_hostile_envelopes_are_400(client: TestClient, token: str, source_id: str) -> None:
    seed = json.dumps({"sourceId": source_id, "records": SEED_PAYLOADS})
    for body in [
        b'{"sourceId": 1e400, "records": [{}]}',
        b'{"sourceId": NaN, "records": []}',
        b'{"sourceId": "\xff", "records": [{}]}',
        b'{"\xff": 1}',
        b"\xff\xfe{}",
        b'{"sourceId": "\\ud800", "records": [{}]}',
        seed.encode("utf-16"),
        seed.encode("utf-32"),
        b'{"sourceId": "' + b"a" * (9 * 1024 * 1024) + b'", "records": [{}]}',
        b"\x00" * 1000,
    ]:
        _is_400(post_raw(client, token, body), body[:30])
    # a UTF-8 byte order mark: accepted or refused, but cleanly
    response = post_raw(client, token, b"\xef\xbb\xbf" + seed.encode())
    assert response.status_code in {202, 400}, response.text
    if response.status_code == 400:
        _is_400(response, "bom")


def test_invalid_utf8_in_a_record_outside_the_payload(
    client: TestClient, token: str, source_id: str
) -> None:
    record = (
        b'{"recordId": "\xff", "entityType": "deal", '
        b'"sourceUpdatedAt": "2026-06-10T14:03:00Z", "payload": {}}'
    )
    response = post_raw(client, token, _envelope(source_id, record + b", " + GOOD_RECORD))
    if response.status_code == 400:
        _is_400(response, "recordId")
    else:
        data = assert_success(response, 202)
        assert [r["index"] for r in data["rejected"]] == [0]
        assert data["rejected"][0]["recordId"] is None  # never echo invalid text


# -- duplicate keys ---------------------------------------------------------------

DUPLICATE_KEYS = [
    b'{"a": 1, "a": 2}',
    b'{"a": 1, "a": 1}',
    b'{"a": 1, "b": {"c": 1, "c": 2}}',
    b'{"a": [{"x": 1, "x": 1}]}',
    b'{"a": 1, "\\u0061": 2}',  # the same key, spelled with an escape
    b'{"a:b": 1, "a\\u003ab": 2}',  # colon spelled as an escape
    b'{"k": ":", "k": ":"}',
    b'{"k": "\\u003a", "k": 1}',
    b'{"\\u00e9": 1, "\xc3\xa9": 2}',  # escaped and raw spelling of one key
]


def test_duplicate_keys_in_payload_are_invalid_payload(
    client: TestClient, token: str, source_id: str
) -> None:
    for payload in DUPLICATE_KEYS:
        data = assert_success(post_raw(client, token, _body(source_id, payload)), 202)
        assert [(r["index"], r["code"], r["recordId"]) for r in data["rejected"]] == [
            (0, "INVALID_PAYLOAD", "hostile")
        ], payload
        assert data["accepted"] + data["deduplicated"] == 1


def test_similar_but_distinct_keys_are_accepted(
    client: TestClient, token: str, source_id: str
) -> None:
    for payload in [
        b'{"a": ":", "b": "::"}',
        b'{"a:b": 1, "a\\u003ac": 2}',
        b'{"a": {"a": {"a": 1}}}',
        b'{"x": [{"k": 1}, {"k": 2}]}',
        b'{"A": 1, "a": 2}',
        b'{"\\u00e9": 1, "e\xcc\x81": 2}',  # NFC and NFD are different keys
    ]:
        data = assert_success(post_raw(client, token, _body(source_id, payload)), 202)
        assert data["rejected"] == [], payload
        assert data["accepted"] >= 1  # the hostile record, created or superseded


def test_duplicate_fields_outside_the_payload_do_not_crash(
    client: TestClient, token: str, source_id: str
) -> None:
    sid = source_id.encode()
    for body in [
        b'{"sourceId": "'
        + sid
        + b'", "sourceId": "'
        + sid
        + b'", "records": ['
        + GOOD_RECORD
        + b"]}",
        _envelope(
            source_id,
            b'{"recordId": "a", "recordId": "b", "entityType": "deal", '
            b'"sourceUpdatedAt": "2026-06-10T14:03:00Z", "payload": {}}',
        ),
    ]:
        response = post_raw(client, token, body)
        assert response.status_code in {202, 400}, response.text
        if response.status_code == 400:
            _is_400(response, body[:40])


# -- volume -----------------------------------------------------------------------


def test_many_rejections_in_one_request(client: TestClient, token: str, source_id: str) -> None:
    records = b", ".join([RECORD_HEAD + b"[]}"] * 500)
    data = assert_success(post_raw(client, token, _envelope(source_id, records)), 202)
    assert (data["status"], data["accepted"], len(data["rejected"])) == ("done", 0, 500)


def test_hostile_requests_leave_counts_unchanged(
    client: TestClient, token: str, source_id: str
) -> None:
    before = source_counts(client, token, source_id)
    for body in [
        b"[" * 100_000,
        _body(source_id, b'{"a": 1e400}', with_good=False),
        _body(source_id, b'{"a": 1, "a": 2}', with_good=False),
        _body(source_id, b'{"a": "\\ud800"}', with_good=False),
        _body(source_id, b'{"a": NaN}', with_good=False),
        _body(source_id, b'{"a": "\xff"}', with_good=False),
    ]:
        response = post_raw(client, token, body)
        assert response.status_code in {202, 400}
        assert "Traceback" not in response.text
    after = source_counts(client, token, source_id)
    assert (after["records"], after["versions"]) == (before["records"], before["versions"])
