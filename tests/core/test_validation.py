"""Unit and property tests for headwater.core.validation (spec §4.1 and §4.2)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater.core import canonical
from headwater.core.models import RecordKey, Rejection, ValidRecord
from headwater.core.timestamps import parse_rfc3339, to_micros
from headwater.core.validation import (
    MAX_PAYLOAD_BYTES,
    MAX_RECORDS,
    FieldError,
    RequestInvalid,
    parse_envelope,
    parse_request,
    parse_uuid,
    validate_record,
)

#: property tests: no per-example deadline (CI machines vary)
PROPERTY = settings(deadline=None)

SOURCE_ID = "0190f5e2-7c1a-7b3e-8f00-1234567890ab"
TS = "2026-06-10T14:03:00Z"
TS_MICROS = to_micros(datetime(2026, 6, 10, 14, 3, tzinfo=UTC))
RECORD_CODES = {
    "INVALID_RECORD_ID",
    "INVALID_ENTITY_TYPE",
    "INVALID_PAYLOAD",
    "INVALID_TIMESTAMP",
    "RECORD_TOO_LARGE",
    "UNKNOWN_FIELD",
    "INVALID_RECORD",
}
_MISSING = object()


def record(**changes: Any) -> bytes:
    """A valid record as JSON text, with fields replaced (or dropped when _MISSING)."""
    fields: dict[str, Any] = {
        "recordId": "deal-4471",
        "entityType": "deal",
        "sourceUpdatedAt": TS,
        "payload": {"name": "Acme Corp renewal", "amount": 42000},
    }
    fields.update(changes)
    return json.dumps({k: v for k, v in fields.items() if v is not _MISSING}).encode()


def rejected(raw: bytes, index: int = 0) -> Rejection:
    result = validate_record(index, raw)
    assert isinstance(result, Rejection), result
    assert result.index == index
    assert result.code in RECORD_CODES
    assert result.message
    return result


def valid(raw: bytes, index: int = 0) -> ValidRecord:
    result = validate_record(index, raw)
    assert isinstance(result, ValidRecord), result
    assert result.index == index
    return result


def envelope(records: Any = _MISSING, source_id: Any = SOURCE_ID, **extra: Any) -> bytes:
    body: dict[str, Any] = dict(extra)
    if source_id is not _MISSING:
        body["sourceId"] = source_id
    if records is not _MISSING:
        body["records"] = records
    return json.dumps(body).encode()


def invalid_request(body: bytes) -> RequestInvalid:
    with pytest.raises(RequestInvalid) as info:
        parse_envelope(body)
    error = info.value
    assert isinstance(error, ValueError)
    assert str(error)
    assert error.details
    assert all(isinstance(d, FieldError) and d.field and d.message for d in error.details)
    return error


def fields_of(error: RequestInvalid) -> set[str]:
    return {d.field for d in error.details}


# --------------------------------------------------------------------------- a valid record


def test_valid_record() -> None:
    result = valid(record(), index=7)
    assert result.index == 7
    assert result.key == RecordKey("deal", "deal-4471")
    assert result.source_updated_at == TS_MICROS
    assert result.deleted is False
    assert json.loads(result.payload) == {"name": "Acme Corp renewal", "amount": 42000}
    expected = canonical.content_hash(canonical.canonicalize(result.payload), False)
    assert result.content_hash == expected


def test_the_spec_example_record() -> None:
    raw = (
        b'{"recordId": "deal-4471", "entityType": "deal", "sourceUpdatedAt": "2026-06-10T14:03:00Z",\n'
        b'   "payload": {"name": "Acme Corp renewal", "stage": "negotiation", "amount": 42000,\n'
        b'               "owner": "jane.smith@acme.com", "movedToStageBy": "jane.smith@acme.com"}}'
    )
    result = valid(raw)
    assert result.payload == raw[raw.index(b'{"name"') : -1]


def test_timestamp_is_normalized_to_utc() -> None:
    result = valid(record(sourceUpdatedAt="2026-06-10T16:03:00.1234567+02:00"))
    assert result.source_updated_at == TS_MICROS + 123_456


def test_field_order_does_not_matter() -> None:
    raw = b'{"payload":{"a":1},"sourceUpdatedAt":"2026-06-10T14:03:00Z","entityType":"e","recordId":"r"}'
    assert valid(raw).key == RecordKey("e", "r")


@pytest.mark.parametrize(
    "payload_text",
    [
        b'{  "b" :1 ,\n\t"a": [ 1.0e3 , -0 , 1E2 ] }',
        b'{"z":"\\u00e9\\ud83d\\ude00\\/","a":"\xc3\xa9"}',
        b'{"b":2,"a":1}',
        b"{}",
        b"{ }",
        b'{"n":99999999999999999999,"f":0.10000000000000000001}',
        b'{"nested":{"deep":[{"x":null,"y":true}]},"s":"a:b"}',
    ],
)
def test_payload_bytes_are_kept_verbatim(payload_text: bytes) -> None:
    raw = b'{"recordId":"r","entityType":"e","sourceUpdatedAt":"' + TS.encode() + b'","payload":'
    raw += b"  " + payload_text + b" \n}"
    result = valid(raw)
    assert result.payload == payload_text
    assert result.content_hash == canonical.content_hash(
        canonical.canonicalize(payload_text), False
    )


def test_same_content_different_spelling_same_hash() -> None:
    one = valid(record(payload={"a": 1, "b": [1, 2]}))
    two = valid(
        b'{"recordId":"deal-4471","entityType":"deal","sourceUpdatedAt":"2026-06-10T15:03:00+01:00",'
        b'"payload":{ "b" : [1,2], "\\u0061" : 1 }}'
    )
    assert one.payload != two.payload
    assert one.content_hash == two.content_hash
    assert one.source_updated_at == two.source_updated_at


def test_timestamp_is_not_part_of_the_content() -> None:
    one = valid(record(sourceUpdatedAt="2026-06-10T14:03:00Z"))
    two = valid(record(sourceUpdatedAt="2027-01-01T00:00:00Z"))
    assert one.content_hash == two.content_hash
    assert one.source_updated_at < two.source_updated_at


def test_identity_fields_are_not_part_of_the_content() -> None:
    one = valid(record(recordId="a", entityType="deal"))
    two = valid(record(recordId="b", entityType="contact"))
    assert one.content_hash == two.content_hash
    assert one.key != two.key


# --------------------------------------------------------------------------- deleted / tombstones


def test_tombstone_without_payload() -> None:
    result = valid(record(deleted=True, payload=_MISSING))
    assert result.deleted is True
    assert result.payload == b"{}"
    assert result.content_hash == canonical.content_hash(b"{}", True)
    assert result.content_hash != canonical.content_hash(b"{}", False)


def test_tombstone_with_payload_keeps_it() -> None:
    result = valid(record(deleted=True, payload={"b": 1}))
    assert result.deleted is True
    assert json.loads(result.payload) == {"b": 1}
    assert result.content_hash == canonical.content_hash(b'{"b":1}', True)


def test_deleted_false_is_the_default() -> None:
    explicit = valid(record(deleted=False))
    implicit = valid(record())
    assert explicit.deleted is implicit.deleted is False
    assert explicit.content_hash == implicit.content_hash


def test_deleted_changes_the_hash() -> None:
    assert valid(record(deleted=True)).content_hash != valid(record()).content_hash


def test_deleted_false_still_needs_a_payload() -> None:
    result = rejected(record(deleted=False, payload=_MISSING))
    assert result.code == "INVALID_PAYLOAD"
    assert result.record_id == "deal-4471"


@pytest.mark.parametrize("value", ["true", 1, 0, None, [], {}, "false"])
def test_deleted_must_be_a_boolean(value: Any) -> None:
    result = rejected(record(deleted=value))
    assert result.code == "INVALID_RECORD"
    assert result.record_id == "deal-4471"
    assert "deleted" in result.message


# --------------------------------------------------------------------------- recordId


@pytest.mark.parametrize(
    "record_id",
    [
        "x",
        "deal-4471",
        "123",
        "a b c",
        "x" * 255,
        "é" * 255,
        "\U0001f600" * 255,
        "a/b?c#d",
        "\u2028",
    ],
)
def test_valid_record_ids(record_id: str) -> None:
    assert valid(record(recordId=record_id)).key.record_id == record_id


@pytest.mark.parametrize(
    ("record_id", "echoed"),
    [
        (_MISSING, None),
        (None, None),
        (123, b"123"),
        (1.5, b"1.5"),
        (True, b"true"),
        (["deal-1"], b'["deal-1"]'),
        ({"id": "deal-1"}, b'{"id": "deal-1"}'),
        ("", ""),
        ("x" * 256, "x" * 256),
        ("é" * 256, "é" * 256),
        ("a\x00b", "a\x00b"),
        ("\x00", "\x00"),
        ("line\nbreak", "line\nbreak"),
        ("tab\t", "tab\t"),
        ("\x1f", "\x1f"),
        ("del\x7f", "del\x7f"),
        ("nel\x85", "nel\x85"),
        ("\x9f", "\x9f"),
    ],
)
def test_invalid_record_ids(record_id: Any, echoed: str | bytes | None) -> None:
    """Echoed as sent: a string as such, any other JSON value verbatim (msgspec.Raw)."""
    result = rejected(record(recordId=record_id), index=3)
    assert result.code == "INVALID_RECORD_ID"
    if isinstance(echoed, bytes):
        assert isinstance(result.record_id, msgspec.Raw)
        assert bytes(result.record_id) == echoed
    else:
        assert result.record_id == echoed
    assert result.index == 3


def test_missing_record_id_message() -> None:
    assert "required" in rejected(record(recordId=_MISSING)).message


# --------------------------------------------------------------------------- entityType


@pytest.mark.parametrize("entity_type", ["deal", "a", "Deal_1.v-2", "x" * 100, "0", "a.b.c", "-_."])
def test_valid_entity_types(entity_type: str) -> None:
    assert valid(record(entityType=entity_type)).key.entity_type == entity_type


@pytest.mark.parametrize(
    "entity_type",
    [
        _MISSING,
        None,
        1,
        ["deal"],
        "",
        "x" * 101,
        "deal type",
        "déal",
        "deal/x",
        "deal:x",
        "deal\n",
        "\ndeal",
        "deal\x00",
        "ｄｅａｌ",  # full-width letters
        "٣",  # an Arabic-Indic digit
    ],
)
def test_invalid_entity_types(entity_type: Any) -> None:
    result = rejected(record(entityType=entity_type, recordId="r-1"))
    assert result.code == "INVALID_ENTITY_TYPE"
    assert result.record_id == "r-1"


# --------------------------------------------------------------------------- sourceUpdatedAt


@pytest.mark.parametrize(
    "value",
    [
        _MISSING,
        None,
        1749564180,
        1749564180.5,
        True,
        ["2026-06-10T14:03:00Z"],
        "",
        "2026-06-10",
        "2026-06-10T14:03:00",
        "yesterday",
        "2026-13-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-06-10T25:00:00Z",
        "0001-01-01T00:00:00+01:00",
    ],
)
def test_invalid_timestamps(value: Any) -> None:
    result = rejected(record(sourceUpdatedAt=value, recordId="r-2"))
    assert result.code == "INVALID_TIMESTAMP"
    assert result.record_id == "r-2"


# --------------------------------------------------------------------------- payload


@pytest.mark.parametrize(
    "payload_text",
    [
        b"[]",
        b"[{}]",
        b'"text"',
        b"42",
        b"null",
        b"true",
        b'{"a":1,"a":2}',  # duplicate key
        b'{"x":{"a":1,"a":1}}',
        b'{"a\\u003a":1,"a:":2}',
        b'{"a":1e400}',
        b'{"a":"\xff"}',  # invalid UTF-8 inside a string
    ],
)
def test_invalid_payloads(payload_text: bytes) -> None:
    raw = b'{"recordId":"r-3","entityType":"e","sourceUpdatedAt":"' + TS.encode() + b'",'
    raw += b'"payload":' + payload_text + b"}"
    result = rejected(raw)
    assert result.code == "INVALID_PAYLOAD"
    assert result.record_id == "r-3"


def test_missing_payload() -> None:
    result = rejected(record(payload=_MISSING, recordId="r-4"))
    assert result.code == "INVALID_PAYLOAD"
    assert result.record_id == "r-4"
    assert "required" in result.message


def test_duplicate_key_message() -> None:
    assert (
        "duplicate"
        in rejected(record(payload=_MISSING)[:-1] + b',"payload":{"a":1,"a":2}}').message
    )


def _payload_of_size(size: int, filler: str = "x") -> str:
    text = '{"a":"' + filler * (size - 8) + '"}'
    assert len(text.encode()) == size
    return text


def test_payload_of_exactly_one_mebibyte_is_accepted() -> None:
    payload = _payload_of_size(MAX_PAYLOAD_BYTES)
    raw = b'{"recordId":"big","entityType":"e","sourceUpdatedAt":"' + TS.encode() + b'","payload":'
    result = valid(raw + payload.encode() + b"}")
    assert len(result.payload) == MAX_PAYLOAD_BYTES == 1024 * 1024


@pytest.mark.parametrize(
    "payload",
    [
        _payload_of_size(MAX_PAYLOAD_BYTES + 1),
        _payload_of_size(3 * MAX_PAYLOAD_BYTES),
        # the limit counts the JSON text as sent, whitespace included
        '{"a":"x"' + " " * MAX_PAYLOAD_BYTES + "}",
        # and bytes, not characters: 2-byte characters
        '{"a":"' + "é" * (MAX_PAYLOAD_BYTES // 2) + '"}',
    ],
)
def test_payload_over_one_mebibyte_is_too_large(payload: str) -> None:
    raw = b'{"recordId":"big","entityType":"e","sourceUpdatedAt":"' + TS.encode() + b'","payload":'
    result = rejected(raw + payload.encode() + b"}")
    assert result.code == "RECORD_TOO_LARGE"
    assert result.record_id == "big"


# --------------------------------------------------------------------------- unknown fields


@pytest.mark.parametrize(
    "field", ["sourceUpdatedOn", "recordID", "Payload", "id", "updatedAt", "", "deleted ", "extra"]
)
def test_unknown_fields_are_rejected(field: str) -> None:
    result = rejected(record(**{field: "2026-06-10T14:03:00Z"}))
    assert result.code == "UNKNOWN_FIELD"
    assert result.record_id == "deal-4471"
    assert repr(field) in result.message


def test_unknown_field_without_a_valid_record_id() -> None:
    assert rejected(record(recordId=_MISSING, sourceUpdatedOn=TS)).record_id is None
    # a non-string id is echoed as sent, verbatim
    echoed = rejected(record(recordId=7, sourceUpdatedOn=TS)).record_id
    assert isinstance(echoed, msgspec.Raw) and bytes(echoed) == b"7"
    # the id is echoed as sent even when it would itself be invalid
    assert rejected(record(recordId="", sourceUpdatedOn=TS)).record_id == ""


def test_unknown_field_even_if_null() -> None:
    assert rejected(record(sourceUpdatedOn=None)).code == "UNKNOWN_FIELD"


# --------------------------------------------------------------------------- not a record


@pytest.mark.parametrize("raw", [b"[]", b'["deal-1"]', b"1", b'"deal-1"', b"null", b"true"])
def test_record_must_be_an_object(raw: bytes) -> None:
    result = rejected(raw, index=2)
    assert result.code == "INVALID_RECORD"
    assert result.record_id is None
    assert result.index == 2


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b'{"recordId":"a",}', b"\xff", b'{"recordId":"\xff"}', b'{"recordId":"\\ud800"}'],
)
def test_malformed_records_are_rejected(raw: bytes) -> None:
    result = rejected(raw)
    assert result.code in {"INVALID_RECORD", "INVALID_RECORD_ID"}


@pytest.mark.parametrize("depth", [1000, 5000, 50_000])
@pytest.mark.parametrize(
    "template",
    [
        b'{"recordId":"r","entityType":"e","sourceUpdatedAt":"2026-06-10T14:03:00Z","payload":{"a":%s}}',
        b'{"recordId":"r","entityType":"e","sourceUpdatedAt":"2026-06-10T14:03:00Z","payload":%s}',
        b'{"recordId":"r","deleted":%s}',
        b'{"recordId":%s}',
        b"%s",
    ],
)
def test_deep_nesting_is_a_rejection_not_a_crash(depth: int, template: bytes) -> None:
    raw = template.replace(b"%s", b"[" * depth + b"]" * depth)
    result = rejected(raw)
    assert result.record_id in {None, "r"}


# --------------------------------------------------------------------------- parse_uuid


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (SOURCE_ID, SOURCE_ID),
        (SOURCE_ID.upper(), SOURCE_ID),
        ("00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000000"),
        ("FFFFFFFF-ffff-FFFF-ffff-FFFFFFFFFFFF", "ffffffff-ffff-ffff-ffff-ffffffffffff"),
    ],
)
def test_parse_uuid_valid(text: str, expected: str) -> None:
    assert parse_uuid(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        None,
        123,
        b"0190f5e2-7c1a-7b3e-8f00-1234567890ab",
        ["0190f5e2-7c1a-7b3e-8f00-1234567890ab"],
        "",
        "abc",
        "0190f5e27c1a7b3e8f001234567890ab",
        "{0190f5e2-7c1a-7b3e-8f00-1234567890ab}",
        "urn:uuid:0190f5e2-7c1a-7b3e-8f00-1234567890ab",
        "0190f5e2-7c1a-7b3e-8f00-1234567890ab\n",
        " 0190f5e2-7c1a-7b3e-8f00-1234567890ab",
        "0190f5e2-7c1a-7b3e-8f00-1234567890a",
        "0190f5e2-7c1a-7b3e-8f00-1234567890abc",
        "0190f5g2-7c1a-7b3e-8f00-1234567890ab",
        "0190f5e2_7c1a_7b3e_8f00_1234567890ab",
        "０190f5e2-7c1a-7b3e-8f00-1234567890ab",  # a full-width digit
    ],
)
def test_parse_uuid_invalid(text: Any) -> None:
    assert parse_uuid(text) is None


@PROPERTY
@given(st.uuids())
def test_parse_uuid_accepts_every_uuid(value: Any) -> None:
    assert parse_uuid(str(value)) == str(value)
    assert parse_uuid(str(value).upper()) == str(value)


# --------------------------------------------------------------------------- parse_envelope


def test_parse_envelope_keeps_records_verbatim() -> None:
    first = b'{ "recordId" : "a",\n "payload" : {"b":1, "a":2} }'
    second = b"[1, 2]"
    third = b'"text"'
    body = b'{"records": [ ' + first + b" ,\n" + second + b"," + third + b'], "sourceId": "'
    body += SOURCE_ID.upper().encode() + b'"}'
    source_id, records = parse_envelope(body)
    assert source_id == SOURCE_ID
    assert [bytes(r) for r in records] == [first, second, third]


def test_parse_envelope_then_validate_keeps_payload_verbatim() -> None:
    payload = b'{ "z" :\t"\\u00e9" , "a":[1.50,  2E1] }'
    body = (
        b'{"sourceId":"' + SOURCE_ID.encode() + b'","records":[{"recordId":"r","entityType":"e",'
        b'"sourceUpdatedAt":"2026-06-10T14:03:00Z","payload":' + payload + b"}]}"
    )
    _, records = parse_envelope(body)
    result = valid(bytes(records[0]))
    assert result.payload == payload


def test_parse_envelope_accepts_500_records() -> None:
    source_id, records = parse_envelope(envelope(records=[{}] * MAX_RECORDS))
    assert source_id == SOURCE_ID
    assert len(records) == 500


def test_parse_envelope_ignores_other_top_level_fields() -> None:
    _, records = parse_envelope(envelope(records=[{}], comment="hello"))
    assert len(records) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b" ",
        b"{",
        b"nope",
        b'{"sourceId":',
        b"{'sourceId': 1}",
        b"\xff\xfe",
        b'{"a":NaN}',
        b"{}x",
    ],
)
def test_parse_envelope_not_json(body: bytes) -> None:
    error = invalid_request(body)
    assert fields_of(error) == {"body"}


def test_parse_envelope_lone_surrogate_is_explained() -> None:
    error = invalid_request(b'{"sourceId":"\\ud800","records":[{}]}')
    assert fields_of(error) == {"body"}
    assert "surrogate" in error.details[0].message


@pytest.mark.parametrize("body", [b"[]", b"[{}]", b"null", b'"x"', b"1", b"true"])
def test_parse_envelope_not_an_object(body: bytes) -> None:
    error = invalid_request(body)
    assert fields_of(error) == {"body"}
    assert "object" in error.details[0].message


def test_parse_envelope_source_id_missing() -> None:
    error = invalid_request(envelope(records=[{}], source_id=_MISSING))
    assert fields_of(error) == {"sourceId"}
    assert "required" in error.details[0].message


@pytest.mark.parametrize(
    "source_id", [None, 123, "", "abc", "0190f5e27c1a7b3e8f001234567890ab", [SOURCE_ID], {"id": 1}]
)
def test_parse_envelope_source_id_not_a_uuid(source_id: Any) -> None:
    error = invalid_request(envelope(records=[{}], source_id=source_id))
    assert fields_of(error) == {"sourceId"}
    assert "UUID" in error.details[0].message


def test_parse_envelope_records_missing() -> None:
    error = invalid_request(envelope())
    assert fields_of(error) == {"records"}
    assert "required" in error.details[0].message


@pytest.mark.parametrize("records", [None, {}, {"0": {}}, "records", 5, True])
def test_parse_envelope_records_not_an_array(records: Any) -> None:
    error = invalid_request(envelope(records=records))
    assert fields_of(error) == {"records"}


def test_parse_envelope_records_empty() -> None:
    error = invalid_request(envelope(records=[]))
    assert fields_of(error) == {"records"}
    assert "at least 1" in error.details[0].message


@pytest.mark.parametrize("count", [MAX_RECORDS + 1, 1000])
def test_parse_envelope_too_many_records(count: int) -> None:
    error = invalid_request(envelope(records=[{}] * count))
    assert fields_of(error) == {"records"}
    assert "500" in error.details[0].message


def test_parse_envelope_reports_every_field() -> None:
    assert fields_of(invalid_request(b"{}")) == {"sourceId", "records"}
    assert fields_of(invalid_request(envelope(records=[], source_id="x"))) == {
        "sourceId",
        "records",
    }


def test_parse_envelope_deep_nesting() -> None:
    deep = b"[" * 5000 + b"]" * 5000
    body = b'{"sourceId":"' + SOURCE_ID.encode() + b'","records":[' + deep + b"]}"
    assert fields_of(invalid_request(body)) == {"body"}


# --------------------------------------------------------------------------- properties

record_ids = st.text(min_size=1, max_size=255).filter(
    lambda s: not re.search(r"[\x00-\x1f\x7f-\x9f]", s)
)
entity_types = st.from_regex(r"\A[A-Za-z0-9_.\-]{1,100}\Z")
json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
)
json_values = st.recursive(
    json_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=12,
)
payloads = st.dictionaries(st.text(max_size=6), json_values, max_size=5)
moments = st.datetimes(  # naive bounds; every generated value gets one of the zones below
    min_value=datetime(2, 1, 1),
    max_value=datetime(9998, 12, 31),
    timezones=st.builds(
        lambda minutes: timezone(timedelta(minutes=minutes)),
        st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59),
    ),
)
dump_options = st.fixed_dictionaries(
    {
        "indent": st.sampled_from([None, 0, 2, "\t"]),
        "separators": st.sampled_from([None, (",", ":"), (" , ", " : ")]),
        "ensure_ascii": st.booleans(),
        "sort_keys": st.booleans(),
    }
)


def rfc3339(moment: datetime) -> str:
    offset = moment.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    zone = "Z" if minutes == 0 else f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    text = f"{moment.year:04d}-" + moment.strftime("%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + zone


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    record_ids,
    entity_types,
    moments,
    payloads,
    dump_options,
    st.sampled_from([None, False, True]),
    st.integers(min_value=0, max_value=499),
)
def test_generated_valid_records_always_validate(
    record_id: str,
    entity_type: str,
    moment: datetime,
    payload: dict[str, Any],
    options: dict[str, Any],
    deleted: bool | None,
    index: int,
) -> None:
    payload_text = json.dumps(payload, **options).encode()
    raw = (
        b'{"recordId":' + json.dumps(record_id).encode()
        + b', "entityType":' + json.dumps(entity_type).encode()
        + b', "sourceUpdatedAt":"' + rfc3339(moment).encode() + b'"'
        + (b"" if deleted is None else b', "deleted":' + json.dumps(deleted).encode())
        + b', "payload":' + payload_text + b"}"
    )  # fmt: skip
    result = valid(raw, index)
    assert result.key == RecordKey(entity_type, record_id)
    assert result.source_updated_at == to_micros(moment)
    assert result.source_updated_at == parse_rfc3339(rfc3339(moment))
    assert result.payload == payload_text
    assert result.deleted is bool(deleted)
    expected = canonical.content_hash(canonical.canonicalize(payload_text), bool(deleted))
    assert result.content_hash == expected
    # wrapped in an envelope, the record text and its payload survive unchanged
    body = b'{"sourceId":"' + SOURCE_ID.encode() + b'","records":[' + raw + b"]}"
    _, records = parse_envelope(body)
    assert bytes(records[0]) == raw
    assert validate_record(index, bytes(records[0])) == result


def _check_result(result: ValidRecord | Rejection, index: int, sent: object) -> None:
    assert isinstance(result, ValidRecord | Rejection)
    assert result.index == index
    if isinstance(result, Rejection):
        assert result.code in RECORD_CODES
        assert result.message
        # recordId is echoed as sent (a non-string verbatim), or None
        if isinstance(result.record_id, msgspec.Raw):
            assert msgspec.json.decode(result.record_id) == sent
        else:
            assert result.record_id is None or result.record_id == sent


@PROPERTY
@given(st.binary(max_size=300), st.integers(min_value=0, max_value=10_000))
def test_validate_record_never_raises_on_bytes(raw: bytes, index: int) -> None:
    result = validate_record(index, raw)
    assert isinstance(result, ValidRecord | Rejection)
    assert result.index == index


@PROPERTY
@given(json_values)
def test_validate_record_never_raises_on_json_values(value: Any) -> None:
    result = validate_record(0, json.dumps(value).encode())
    _check_result(result, 0, value.get("recordId") if isinstance(value, dict) else None)
    if not isinstance(value, dict):
        assert isinstance(result, Rejection)
        assert result.code == "INVALID_RECORD"


record_like = st.dictionaries(
    st.sampled_from(
        ["recordId", "entityType", "sourceUpdatedAt", "payload", "deleted", "sourceUpdatedOn", "x"]
    ),
    st.one_of(
        json_values,
        record_ids,
        entity_types,
        st.sampled_from([TS, "2026-06-10", "2026-06-10T14:03:00+05:30", True, False]),
        payloads,
    ),
)


@PROPERTY
@given(record_like, st.integers(min_value=0, max_value=499))
def test_validate_record_never_raises_on_record_like_objects(
    value: dict[str, Any], index: int
) -> None:
    raw = json.dumps(value).encode()
    result = validate_record(index, raw)
    sent = value.get("recordId")
    _check_result(result, index, sent)
    if isinstance(sent, str) and isinstance(result, Rejection):
        assert result.record_id == sent
    if isinstance(result, ValidRecord):
        assert set(value) <= {"recordId", "entityType", "sourceUpdatedAt", "payload", "deleted"}
        assert result.key == RecordKey(value["entityType"], value["recordId"])
        assert result.deleted is value.get("deleted", False)
        assert ("payload" in value) or result.deleted
        if "payload" in value:
            assert json.loads(result.payload) == value["payload"]
    elif "sourceUpdatedOn" in value or "x" in value:
        assert result.code in {"UNKNOWN_FIELD"}


@PROPERTY
@given(st.lists(record_like, min_size=1, max_size=8), st.booleans())
def test_envelope_then_records_never_raise(records: list[dict[str, Any]], upper: bool) -> None:
    source_id = SOURCE_ID.upper() if upper else SOURCE_ID
    source, raws = parse_envelope(envelope(records=records, source_id=source_id))
    assert source == SOURCE_ID
    assert len(raws) == len(records)
    for index, raw in enumerate(raws):
        assert msgspec.json.decode(bytes(raw)) == records[index]
        _check_result(validate_record(index, bytes(raw)), index, records[index].get("recordId"))


# A record as a JSON value: mostly well-formed, often with one field wrong or missing.
record_values = st.fixed_dictionaries(
    {},
    optional={
        "recordId": st.one_of(record_ids, json_leaves),
        "entityType": st.one_of(entity_types, json_leaves),
        "sourceUpdatedAt": st.one_of(moments.map(rfc3339), json_leaves),
        "payload": st.one_of(payloads, json_values),
        "deleted": st.one_of(st.booleans(), json_leaves),
        "extra": json_leaves,
    },
)
well_formed = st.builds(
    lambda i, e, m, p, d: {"recordId": i, "entityType": e, "sourceUpdatedAt": rfc3339(m),
                           "payload": p, **({} if d is None else {"deleted": d})},
    record_ids, entity_types, moments, payloads, st.sampled_from([None, False, True]),
)  # fmt: skip


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(well_formed, record_values, json_values), min_size=0, max_size=6),
    st.one_of(st.just(SOURCE_ID), json_leaves),
)
def test_parse_request_equals_the_record_by_record_path(records: list[Any], source_id: Any) -> None:
    """The one-pass typed decode is an optimisation only: same results, same errors."""
    body = envelope(records, source_id)
    try:
        expected_source, raws = parse_envelope(body)
    except RequestInvalid as error:
        expected_details = error.details
    else:
        expected = [validate_record(i, bytes(raw)) for i, raw in enumerate(raws)]
        assert parse_request(body) == (expected_source, expected)
        return
    with pytest.raises(RequestInvalid) as info:
        parse_request(body)
    assert info.value.details == expected_details


def test_parse_request_one_bad_record_rejects_only_itself() -> None:
    good = json.loads(record())
    body = envelope([good, {**good, "recordId": 7}, {**good, "deleted": "yes"}, good])
    _, results = parse_request(body)
    assert [type(r).__name__ for r in results] == [
        "ValidRecord", "Rejection", "Rejection", "ValidRecord",
    ]  # fmt: skip
    assert [r.code for r in results if isinstance(r, Rejection)] == [
        "INVALID_RECORD_ID", "INVALID_RECORD",
    ]  # fmt: skip
