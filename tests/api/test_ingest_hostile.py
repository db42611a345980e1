"""Issue #2 item 10: hostile bodies get a clear 400 or a per-record rejection, never a 500
or a hang, and leave the server answering and the stored data untouched."""

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
from tests.conftest import SEED_PAYLOADS, assert_error, bearer

pytestmark = pytest.mark.timeout(60)

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
    return b'{"sourceId": "' + source_id.encode() + b'", "records": [' + records + b"]}"


@pytest.fixture
def stored(client: TestClient, token: str, source_id: str, store: Store) -> Iterator[None]:
    """Seed data before the attack; afterwards the server answers and the data is intact."""
    first = ingest_ok(client, token, source_id, SEED_PAYLOADS)
    results = batch_records(client, token, first["batchId"])
    org_id = org_id_of(store, token)
    before = {r["versionId"]: store.get_version(org_id, r["versionId"]) for r in results}
    yield
    assert_success(client.get("/healthz"))
    again = ingest_ok(client, token, source_id, SEED_PAYLOADS)
    assert (again["accepted"], again["deduplicated"]) == (0, 2)
    for version_id, version in before.items():
        assert store.get_version(org_id, version_id) == version


def _rejected_or_400(response: Any, code: str = "INVALID_PAYLOAD") -> str:
    """Either the whole request is a 400, or the hostile record (index 0) is rejected
    with `code` while the good record proceeds. Returns which one happened."""
    assert response.status_code in {202, 400}, response.text
    if response.status_code == 400:
        detail_fields(assert_error(response, 400, "VALIDATION_ERROR"))
        return "400"
    data = assert_success(response, 202)
    assert [r["index"] for r in data["rejected"]] == [0], data
    assert data["rejected"][0]["code"] == code
    assert data["rejected"][0]["message"]
    assert data["accepted"] + data["deduplicated"] == 1  # the good record went through
    return "rejected"


# -- nesting ----------------------------------------------------------------------


@pytest.mark.usefixtures("stored")
def test_100000_open_brackets_is_400(client: TestClient, token: str) -> None:
    error = assert_error(post_raw(client, token, b"[" * 100_000), 400, "VALIDATION_ERROR")
    detail_fields(error)


@pytest.mark.usefixtures("stored")
def test_100000_open_braces_is_400(client: TestClient, token: str) -> None:
    assert_error(post_raw(client, token, b'{"a":' * 100_000), 400, "VALIDATION_ERROR")


@pytest.mark.usefixtures("stored")
def test_deep_nesting_inside_records_is_400(client: TestClient, token: str, source_id: str) -> None:
    body = b'{"sourceId": "' + source_id.encode() + b'", "records": ' + b"[" * 100_000
    assert_error(post_raw(client, token, body), 400, "VALIDATION_ERROR")


@pytest.mark.usefixtures("stored")
def test_payload_nested_5000_levels_is_refused(
    client: TestClient, token: str, source_id: str
) -> None:
    payload = b'{"a":' * 5000 + b"1" + b"}" * 5000
    _rejected_or_400(post_raw(client, token, _body(source_id, payload)))


@pytest.mark.usefixtures("stored")
def test_payload_nested_5000_arrays_is_refused(
    client: TestClient, token: str, source_id: str
) -> None:
    payload = b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}"
    _rejected_or_400(post_raw(client, token, _body(source_id, payload)))


@pytest.mark.usefixtures("stored")
def test_moderate_nesting_is_fine_and_verbatim(
    client: TestClient, token: str, source_id: str, store: Store
) -> None:
    payload = b'{"a":' * 50 + b"1" + b"}" * 50
    data = assert_success(post_raw(client, token, _body(source_id, payload)), 202)
    assert (data["accepted"], data["rejected"]) == (2, [])
    [first, _] = batch_records(client, token, data["batchId"])
    version = store.get_version(org_id_of(store, token), first["versionId"])
    assert version is not None
    assert version.payload == payload


# -- numbers ----------------------------------------------------------------------


@pytest.mark.usefixtures("stored")
def test_number_out_of_double_range_in_payload_is_invalid_payload(
    client: TestClient, token: str, source_id: str
) -> None:
    for number in [b"1e400", b"-1e400", b"1E+999", b"2e308", b"[1e400]"]:
        response = post_raw(client, token, _body(source_id, b'{"amount": ' + number + b"}"))
        data = assert_success(response, 202)
        [rejection] = data["rejected"]
        assert (rejection["index"], rejection["code"]) == (0, "INVALID_PAYLOAD"), number
        assert data["accepted"] + data["deduplicated"] == 1


@pytest.mark.usefixtures("stored")
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
    assert [r["outcome"] for r in batch_records(client, token, other["batchId"])] == ["superseded"]


@pytest.mark.usefixtures("stored")
def test_huge_number_in_the_envelope_is_400(client: TestClient, token: str) -> None:
    response = post_raw(client, token, b'{"sourceId": 1e400, "records": [{}]}')
    assert_error(response, 400, "VALIDATION_ERROR")


@pytest.mark.usefixtures("stored")
def test_nan_and_infinity_in_payload_are_refused(
    client: TestClient, token: str, source_id: str
) -> None:
    for literal in [b"NaN", b"Infinity", b"-Infinity", b"nan", b"inf", b"-NaN"]:
        _rejected_or_400(post_raw(client, token, _body(source_id, b'{"x": ' + literal + b"}")))


@pytest.mark.usefixtures("stored")
def test_nan_in_the_envelope_is_400(client: TestClient, token: str) -> None:
    assert_error(
        post_raw(client, token, b'{"sourceId": NaN, "records": []}'), 400, "VALIDATION_ERROR"
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


@pytest.mark.usefixtures("stored")
def test_invalid_utf8_in_payload_is_refused(client: TestClient, token: str, source_id: str) -> None:
    for raw_string in INVALID_UTF8:
        for payload in (b'{"name": "' + raw_string + b'"}', b'{"' + raw_string + b'": 1}'):
            _rejected_or_400(post_raw(client, token, _body(source_id, payload)))


@pytest.mark.usefixtures("stored")
def test_invalid_utf8_in_the_envelope_is_400(client: TestClient, token: str) -> None:
    for body in [
        b'{"sourceId": "\xff", "records": [{}]}',
        b'{"\xff": 1}',
        b"\xff\xfe{}",
        b'{"sourceId": "00000000-0000-4000-8000-000000000000", "records": [{"recordId": "\xff"}]}',
    ]:
        response = post_raw(client, token, body)
        assert response.status_code in {202, 400, 404}, (body, response.text)
        if response.status_code == 400:
            assert_error(response, 400, "VALIDATION_ERROR")
        else:  # the record part may be judged per record; the source does not exist
            assert_error(response, 404, "NOT_FOUND")


@pytest.mark.usefixtures("stored")
def test_utf16_body_is_400(client: TestClient, token: str, source_id: str) -> None:
    body = json.dumps({"sourceId": source_id, "records": SEED_PAYLOADS}).encode("utf-16")
    assert_error(post_raw(client, token, body), 400, "VALIDATION_ERROR")


@pytest.mark.usefixtures("stored")
def test_utf8_bom_is_not_a_crash(client: TestClient, token: str, source_id: str) -> None:
    body = b"\xef\xbb\xbf" + json.dumps({"sourceId": source_id, "records": SEED_PAYLOADS}).encode()
    response = post_raw(client, token, body)
    assert response.status_code in {202, 400}, response.text
    if response.status_code == 400:
        assert_error(response, 400, "VALIDATION_ERROR")


LONE_SURROGATES = [
    b"\\ud800",
    b"\\udfff",
    b"\\ud83d",
    b"\\ude00\\ud83d",  # a pair in the wrong order
    b"\\ud800x",
    b"\\uDC00",
    b"\\ud83d\\u0041",  # high surrogate followed by a non-surrogate escape
]


@pytest.mark.usefixtures("stored")
def test_lone_surrogate_in_payload_is_refused(
    client: TestClient, token: str, source_id: str
) -> None:
    for escaped in LONE_SURROGATES:
        for payload in (b'{"name": "a' + escaped + b'b"}', b'{"a' + escaped + b'": 1}'):
            _rejected_or_400(post_raw(client, token, _body(source_id, payload)))


@pytest.mark.usefixtures("stored")
def test_lone_surrogate_in_a_record_id_is_refused(
    client: TestClient, token: str, source_id: str
) -> None:
    body = (
        b'{"sourceId": "' + source_id.encode() + b'", "records": [{"recordId": "x\\ud800", '
        b'"entityType": "deal", "sourceUpdatedAt": "2026-06-10T14:03:00Z", "payload": {}}, '
        + GOOD_RECORD
        + b"]}"
    )
    response = post_raw(client, token, body)
    assert response.status_code in {202, 400}, response.text
    if response.status_code == 400:
        assert_error(response, 400, "VALIDATION_ERROR")
    else:
        data = assert_success(response, 202)
        assert [r["index"] for r in data["rejected"]] == [0]


@pytest.mark.usefixtures("stored")
def test_lone_surrogate_in_the_envelope_is_400(client: TestClient, token: str) -> None:
    response = post_raw(client, token, b'{"sourceId": "\\ud800", "records": [{}]}')
    assert_error(response, 400, "VALIDATION_ERROR")


@pytest.mark.usefixtures("stored")
def test_valid_surrogate_pair_is_fine(client: TestClient, token: str, source_id: str) -> None:
    data = assert_success(
        post_raw(client, token, _body(source_id, b'{"e": "\\ud83d\\ude00"}')), 202
    )
    assert (data["accepted"], data["rejected"]) == (2, [])


@pytest.mark.usefixtures("stored")
def test_nul_and_control_characters_in_payload_strings_are_fine(
    client: TestClient, token: str, source_id: str, store: Store
) -> None:
    payload = b'{"s": "a\\u0000b\\u001fc"}'
    data = assert_success(post_raw(client, token, _body(source_id, payload)), 202)
    assert data["rejected"] == []
    [first, _] = batch_records(client, token, data["batchId"])
    version = store.get_version(org_id_of(store, token), first["versionId"])
    assert version is not None
    assert version.payload == payload


@pytest.mark.usefixtures("stored")
def test_raw_control_character_in_a_payload_string_is_refused(
    client: TestClient, token: str, source_id: str
) -> None:
    _rejected_or_400(post_raw(client, token, _body(source_id, b'{"s": "a\x01b"}')))


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


@pytest.mark.usefixtures("stored")
def test_duplicate_keys_in_payload_are_invalid_payload(
    client: TestClient, token: str, source_id: str
) -> None:
    for payload in DUPLICATE_KEYS:
        data = assert_success(post_raw(client, token, _body(source_id, payload)), 202)
        assert [(r["index"], r["code"], r["recordId"]) for r in data["rejected"]] == [
            (0, "INVALID_PAYLOAD", "hostile")
        ], payload
        assert data["accepted"] + data["deduplicated"] == 1


@pytest.mark.usefixtures("stored")
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


@pytest.mark.usefixtures("stored")
def test_duplicate_keys_in_the_envelope_do_not_crash(
    client: TestClient, token: str, source_id: str
) -> None:
    body = (
        b'{"sourceId": "' + source_id.encode() + b'", "sourceId": "' + source_id.encode() + b'",'
        b' "records": [' + GOOD_RECORD + b"]}"
    )
    response = post_raw(client, token, body)
    assert response.status_code in {202, 400}, response.text
    if response.status_code == 400:
        assert_error(response, 400, "VALIDATION_ERROR")


@pytest.mark.usefixtures("stored")
def test_duplicate_field_inside_a_record_does_not_crash(
    client: TestClient, token: str, source_id: str
) -> None:
    body = (
        b'{"sourceId": "' + source_id.encode() + b'", "records": [{"recordId": "a", '
        b'"recordId": "b", "entityType": "deal", "sourceUpdatedAt": "2026-06-10T14:03:00Z", '
        b'"payload": {}}]}'
    )
    response = post_raw(client, token, body)
    assert response.status_code in {202, 400}, response.text
    if response.status_code == 400:
        assert_error(response, 400, "VALIDATION_ERROR")


# -- sizes and shapes -------------------------------------------------------------


@pytest.mark.usefixtures("stored")
def test_many_small_rejections_in_one_request(
    client: TestClient, token: str, source_id: str
) -> None:
    records = b", ".join([RECORD_HEAD + b"[]}"] * 500)
    body = b'{"sourceId": "' + source_id.encode() + b'", "records": [' + records + b"]}"
    data = assert_success(post_raw(client, token, body), 202)
    assert (data["status"], data["accepted"], len(data["rejected"])) == ("done", 0, 500)


@pytest.mark.usefixtures("stored")
def test_huge_string_in_the_envelope_is_handled(client: TestClient, token: str) -> None:
    body = b'{"sourceId": "' + b"a" * (9 * 1024 * 1024) + b'", "records": [{}]}'
    error = assert_error(post_raw(client, token, body), 400, "VALIDATION_ERROR")
    assert "sourceId" in detail_fields(error)
    assert len(json.dumps(error)) < 10_000  # the error does not echo the input back


@pytest.mark.usefixtures("stored")
def test_record_that_is_deeply_nested_array_is_refused(
    client: TestClient, token: str, source_id: str
) -> None:
    body = (
        b'{"sourceId": "'
        + source_id.encode()
        + b'", "records": ['
        + b"[" * 5000
        + b"]" * 5000
        + b", "
        + GOOD_RECORD
        + b"]}"
    )
    response = post_raw(client, token, body)
    assert response.status_code in {202, 400}, response.text
    if response.status_code == 400:
        assert_error(response, 400, "VALIDATION_ERROR")
    else:
        data = assert_success(response, 202)
        assert [r["index"] for r in data["rejected"]] == [0]


def test_hostile_requests_leave_counts_unchanged(
    client: TestClient, token: str, source_id: str, stored: None
) -> None:
    before = source_counts(client, token, source_id)
    for body in [
        b"[" * 100_000,
        _body(source_id, b'{"a": 1e400}', with_good=False),
        _body(source_id, b'{"a": 1, "a": 2}', with_good=False),
        _body(source_id, b'{"a": "\\ud800"}', with_good=False),
        _body(source_id, b'{"a": NaN}', with_good=False),
    ]:
        response = post_raw(client, token, body)
        assert response.status_code in {202, 400}
        assert "Traceback" not in response.text
    after = source_counts(client, token, source_id)
    assert after["records"] == before["records"]
    assert after["versions"] == before["versions"]
    response = client.get("/v1/sources", headers=bearer(token))
    assert_success(response)
