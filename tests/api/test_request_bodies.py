"""Issue #11 points 1-3 and 5-7: what a request body may be, and how its faults are told.

Repeated keys, bytes that are not UTF-8, charsets and content codings, near-miss paths,
the wording of validation details and timestamp errors, and rejected records that echo
what was sent. Every test goes through HTTP, on both storage backends.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.api.helpers import (
    assert_success,
    batch_records,
    detail_fields,
    ingest_ok,
    post_raw,
    record,
    source_counts,
)
from tests.conftest import assert_error, bearer

TS = "2026-06-10T14:03:00Z"


def _record_text(record_id: str = "deal-1", extra: str = "") -> str:
    return (
        f'{{"recordId": "{record_id}", "entityType": "deal", "sourceUpdatedAt": "{TS}", '
        f'"payload": {{"name": "Acme"}}{extra}}}'
    )


def _details(response: Any) -> list[dict[str, str]]:
    details: list[dict[str, str]] = response.json()["error"]["details"]
    return details


# --------------------------------------------------------------------- 1. repeated keys


def test_repeated_source_id_is_refused_naming_the_key(
    client: TestClient, token: str, source_id: str
) -> None:
    other = client.post("/v1/sources", json={"name": "Other"}, headers=bearer(token))
    other_id = assert_success(other, 201)["id"]
    one = _record_text()
    body = f'{{"sourceId": "{source_id}", "sourceId": "{other_id}", "records": [{one}]}}'
    error = assert_error(post_raw(client, token, body), 400, "VALIDATION_ERROR")
    assert detail_fields(error) == ["sourceId"]
    assert "more than once" in error["details"][0]["message"]
    # nothing went to either source
    assert source_counts(client, token, source_id)["records"] == 0
    assert source_counts(client, token, other_id)["records"] == 0


def test_repeated_records_key_is_refused(client: TestClient, token: str, source_id: str) -> None:
    a, b = _record_text("a"), _record_text("b")
    body = f'{{"sourceId": "{source_id}", "records": [{a}], "records": [{b}]}}'

    error = assert_error(post_raw(client, token, body), 400, "VALIDATION_ERROR")
    assert detail_fields(error) == ["records"]
    assert source_counts(client, token, source_id)["records"] == 0


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        (', "payload": {"name": "Other"}', "payload"),
        (', "deleted": false, "deleted": true', "deleted"),
        (f', "sourceUpdatedAt": "{TS}"', "sourceUpdatedAt"),
    ],
)
def test_a_record_repeating_a_key_is_rejected_alone(
    client: TestClient, token: str, source_id: str, extra: str, key: str
) -> None:
    """Decision: a record's own repeated key rejects that record (the per-record model of
    spec §4.2), naming the key; the request and its other records proceed."""
    records = f"{_record_text('twice', extra)}, {_record_text('fine')}"
    body = f'{{"sourceId": "{source_id}", "records": [{records}]}}'

    data = assert_success(post_raw(client, token, body), 202)
    assert data["accepted"] == 1
    [rejected] = data["rejected"]
    assert rejected["index"] == 0
    assert rejected["code"] == "INVALID_RECORD"
    assert repr(key) in rejected["message"]
    assert rejected["recordId"] == "twice"
    assert rejected["entityType"] == "deal"
    assert source_counts(client, token, source_id)["records"] == 1


def test_a_repeated_record_id_is_not_echoed(client: TestClient, token: str, source_id: str) -> None:
    twice = _record_text("a", ', "recordId": "b"')
    body = f'{{"sourceId": "{source_id}", "records": [{twice}]}}'
    [rejected] = assert_success(post_raw(client, token, body), 202)["rejected"]
    assert "'recordId'" in rejected["message"]
    assert rejected["recordId"] is None  # neither value was sent unambiguously


def test_a_repeated_key_spelled_with_an_escaped_colon_is_still_found(
    client: TestClient, token: str, source_id: str
) -> None:
    """The cheap colon count cannot see through `\\u003a`; the exact path must."""
    escaped = _record_text("a\\u003ab")
    body = f'{{"sourceId": "{source_id}", "records": [{escaped}], "sourceId": "{source_id}"}}'

    error = assert_error(post_raw(client, token, body), 400, "VALIDATION_ERROR")
    assert detail_fields(error) == ["sourceId"]
    escaped = _record_text("a\\u003ab", ', "payload": {}')
    body = f'{{"sourceId": "{source_id}", "records": [{escaped}]}}'
    [rejected] = assert_success(post_raw(client, token, body), 202)["rejected"]
    assert rejected["recordId"] == "a:b"
    assert "'payload'" in rejected["message"]


def test_an_ignored_top_level_field_is_not_mistaken_for_a_repeat(
    client: TestClient, token: str, source_id: str
) -> None:
    one = _record_text()
    body = f'{{"sourceId": "{source_id}", "note": {{"a:b": "c:d"}}, "records": [{one}]}}'
    assert assert_success(post_raw(client, token, body), 202)["accepted"] == 1


def test_a_repeated_key_inside_a_payload_names_it(
    client: TestClient, token: str, source_id: str
) -> None:
    body = (
        f'{{"sourceId": "{source_id}", "records": [{{"recordId": "p", "entityType": "deal", '
        f'"sourceUpdatedAt": "{TS}", "payload": {{"a": {{"b": 1, "b": 2}}}}}}]}}'
    )
    [rejected] = assert_success(post_raw(client, token, body), 202)["rejected"]
    assert rejected["code"] == "INVALID_PAYLOAD"
    assert "a.b" in rejected["message"]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/v1/sources", '{"name": "A", "name": "B"}', "name"),
        (
            "POST",
            "/v1/sources",
            '{"name": "A", "mappings": {"deal": {"actors": [], "actors": ["x"]}}}',
            "mappings.deal.actors",
        ),
        ("PATCH", "/v1/sources/{id}", '{"status": "paused", "status": "active"}', "status"),
        ("POST", "/v1/keys", '{"label": "a", "scopes": ["read"], "scopes": ["admin"]}', "scopes"),
    ],
)
def test_every_json_body_refuses_repeated_keys(
    client: TestClient, token: str, source_id: str, method: str, path: str, body: str, field: str
) -> None:
    response = client.request(
        method,
        path.format(id=source_id),
        content=body,
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert detail_fields(error) == [field]
    # nothing changed
    source = assert_success(client.get(f"/v1/sources/{source_id}", headers=bearer(token)))
    assert source["status"] == "active"
    assert len(assert_success(client.get("/v1/sources", headers=bearer(token)))) == 1


# ------------------------------------------------------------ 2. UTF-8, charset, coding


@pytest.mark.parametrize(
    "where",
    [
        "an ignored top-level field",
        "a record id",
        "a payload",
        "after the JSON value",
    ],
)
def test_bytes_that_are_not_utf8_are_refused_wherever_they_are(
    client: TestClient, token: str, source_id: str, where: str
) -> None:
    bad = b"\xff\xfe"
    good = _record_text().encode()
    bodies = {
        "an ignored top-level field": b'{"sourceId": "%s", "note": "%s", "records": [%s]}'
        % (source_id.encode(), bad, good),
        "a record id": b'{"sourceId": "%s", "records": [%s]}'
        % (source_id.encode(), _record_text().encode().replace(b"deal-1", b"deal" + bad)),
        "a payload": b'{"sourceId": "%s", "records": [%s]}'
        % (source_id.encode(), good.replace(b"Acme", b"Ac" + bad)),
        "after the JSON value": b'{"sourceId": "%s", "records": [%s]} %s'
        % (source_id.encode(), good, bad),
    }
    error = assert_error(post_raw(client, token, bodies[where]), 400, "VALIDATION_ERROR")
    assert error["details"] == [{"field": "body", "message": "is not valid UTF-8"}]
    assert source_counts(client, token, source_id)["records"] == 0


def test_other_json_bodies_must_be_utf8_too(client: TestClient, token: str) -> None:
    response = client.post(
        "/v1/sources",
        content=b'{"name": "caf\xe9"}',  # Latin-1
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["details"] == [{"field": "body", "message": "is not valid UTF-8"}]


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=iso-8859-1",
        "application/json; charset=utf-16",
        "application/json;charset=latin1",
        'application/json; charset="windows-1252"',
    ],
)
def test_a_charset_other_than_utf8_is_415(
    client: TestClient, token: str, source_id: str, content_type: str
) -> None:
    body = json.dumps({"sourceId": source_id, "records": [record()]})
    response = post_raw(client, token, body, {"Content-Type": content_type})
    error = assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert "UTF-8" in error["message"]
    response = client.post(
        "/v1/sources",
        content=b'{"name": "x"}',
        headers={**bearer(token), "Content-Type": content_type},
    )
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert source_counts(client, token, source_id)["records"] == 0


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=utf-8",
        "application/json; charset=UTF-8",
        'application/json; charset="utf-8"',
    ],
)
def test_a_utf8_charset_is_accepted(
    client: TestClient, token: str, source_id: str, content_type: str
) -> None:
    body = json.dumps({"sourceId": source_id, "records": [record()]})
    response = post_raw(client, token, body, {"Content-Type": content_type})
    assert assert_success(response, 202)["accepted"] == 1


@pytest.mark.parametrize("coding", ["gzip", "br", "deflate", "x-custom", "identity, gzip"])
def test_a_content_encoding_the_server_does_not_decode_is_415(
    client: TestClient, token: str, source_id: str, coding: str
) -> None:
    import gzip

    body = gzip.compress(json.dumps({"sourceId": source_id, "records": [record()]}).encode())
    response = post_raw(client, token, body, {"Content-Encoding": coding})
    error = assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert "Content-Encoding" in error["message"]
    response = client.patch(
        f"/v1/sources/{source_id}",
        content=b'{"status": "paused"}',
        headers={**bearer(token), "Content-Type": "application/json", "Content-Encoding": coding},
    )
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    source = assert_success(client.get(f"/v1/sources/{source_id}", headers=bearer(token)))
    assert source["status"] == "active"


def test_identity_content_encoding_is_accepted(
    client: TestClient, token: str, source_id: str
) -> None:
    body = json.dumps({"sourceId": source_id, "records": [record()]})
    response = post_raw(client, token, body, {"Content-Encoding": "identity"})
    assert assert_success(response, 202)["accepted"] == 1


# ------------------------------------------------------------------ 3. no redirects


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/sources/"),
        ("POST", "/v1/sources/"),
        ("POST", "/v1/ingest/"),
        ("GET", "/v1/events/"),
        ("GET", "/v1/keys/"),
        ("GET", "/v1/actors/"),
        ("GET", "/healthz/"),
        ("GET", "/v1/"),
        ("GET", "/v1"),
        ("GET", "/V1/sources"),
        ("GET", "//v1/sources"),
    ],
)
def test_near_miss_paths_are_404_never_a_redirect(
    client: TestClient, token: str, method: str, path: str
) -> None:
    response = client.request(
        method,
        path,
        headers={**bearer(token), "Host": "evil.example", "Content-Type": "application/json"},
        content=b"{}",
        follow_redirects=False,
    )
    assert "location" not in response.headers
    assert_error(response, 404, "NOT_FOUND")


def test_a_record_path_with_a_trailing_slash_is_not_redirected(
    client: TestClient, token: str, source_id: str
) -> None:
    """A recordId may end in `/`: the path is taken as sent, never rewritten."""
    ingest_ok(client, token, source_id, [record("ends-with/")])
    response = client.get(
        f"/v1/sources/{source_id}/records/deal/ends-with%2F",
        headers=bearer(token),
        follow_redirects=False,
    )
    assert assert_success(response)["recordId"] == "ends-with/"
    response = client.get(
        f"/v1/sources/{source_id}/records/deal/ends-with",
        headers=bearer(token),
        follow_redirects=False,
    )
    assert_error(response, 404, "NOT_FOUND")


# ------------------------------------------------------------- 5. details in client terms


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({}, "name", "is required"),
        ({"name": 5}, "name", "must be a string"),
        ({"name": ""}, "name", "at least 1 character"),
        ({"name": "x" * 201}, "name", "at most 200 characters"),
        ({"name": "a\x00b"}, "name", "NUL"),
        ({"name": "x", "entityTypes": ["deal", "a b"]}, "entityTypes[1]", "letters, digits"),
        ({"name": "x", "entityTypes": "deal"}, "entityTypes", "must be an array"),
        ({"name": "x", "description": 3}, "description", "must be a string or null"),
        ({"name": "x", "descriptoin": "typo"}, "descriptoin", "not a known field"),
        ([], "body", "must be a JSON object"),
    ],
)
def test_source_details_name_the_field_in_words(
    client: TestClient, token: str, body: Any, field: str, words: str
) -> None:
    response = client.post("/v1/sources", json=body, headers=bearer(token))
    error = assert_error(response, 400, "VALIDATION_ERROR")
    [detail] = _details(response)
    assert detail["field"] == field, error
    assert words in detail["message"], error
    _assert_plain_words(detail["message"])


def _assert_plain_words(message: str) -> None:
    """No parser wording: no regular expressions, no `$` paths, no type names in backticks."""
    for leak in ("regex", "`", "$", "^", "Expected", "msgspec", "[A-Za-z", "\\x00"):
        assert leak not in message, message


def test_patch_and_key_details_name_allowed_values(
    client: TestClient, token: str, source_id: str
) -> None:
    response = client.patch(
        f"/v1/sources/{source_id}", json={"status": "deleted"}, headers=bearer(token)
    )
    assert_error(response, 400, "VALIDATION_ERROR")
    [detail] = _details(response)
    assert detail == {"field": "status", "message": "must be one of active, paused, archived"}
    response = client.post(
        "/v1/keys", json={"label": "k", "scopes": ["read", "root"]}, headers=bearer(token)
    )
    assert_error(response, 400, "VALIDATION_ERROR")
    [detail] = _details(response)
    assert detail["field"] == "scopes[1]"
    assert "ingest" in detail["message"] and "admin" in detail["message"]
    response = client.post("/v1/keys", json={"scopes": ["read"]}, headers=bearer(token))
    [detail] = _details(response)
    assert detail == {"field": "label", "message": "is required"}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"name": "x",', "ends before"),
        (b'{"name": "x"} trailing', "after the JSON value"),
        (b'{"name": tru}', "unexpected character at byte"),
        (b"", "is empty"),
        (b'{"name": "\\ud800"}', "surrogate"),
    ],
)
def test_malformed_json_is_described_in_words(
    client: TestClient, token: str, body: bytes, words: str
) -> None:
    response = client.post(
        "/v1/sources", content=body, headers={**bearer(token), "Content-Type": "application/json"}
    )
    assert_error(response, 400, "VALIDATION_ERROR")
    [detail] = _details(response)
    assert detail["field"] == "body"
    assert words in detail["message"]
    assert "malformed" not in detail["message"]  # msgspec's wording


def test_ingest_envelope_details_name_fields(
    client: TestClient, token: str, source_id: str
) -> None:
    response = post_raw(client, token, '{"records": "x"}')
    assert_error(response, 400, "VALIDATION_ERROR")
    assert {d["field"] for d in _details(response)} == {"sourceId", "records"}
    for detail in _details(response):
        _assert_plain_words(detail["message"])


# -------------------------------------------------------------------- 6. timestamps


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("2026-06-10T14:03:00", "time zone"),
        ("2026-06-10", "not a date"),
        ("2026-02-30T00:00:00Z", "impossible date"),
        ("2026-06-30T23:59:60Z", "leap second"),
        ("2026-06-10T24:00:00Z", "impossible time of day"),
        ("2026-06-10T14:03:00+25:00", "impossible time zone offset"),
        ("0000-01-01T00:00:00Z", "out of range"),
        ("9999-12-31T23:59:59-01:00", "out of range"),
        ("2026-06-10T14:03Z", "seconds"),
        ("yesterday", "RFC 3339"),
    ],
)
def test_timestamp_errors_say_what_is_wrong(
    client: TestClient, token: str, source_id: str, value: str, words: str
) -> None:
    data = ingest_ok(client, token, source_id, [record("t", updated_at=value), record("ok")])
    [rejected] = data["rejected"]
    assert rejected["code"] == "INVALID_TIMESTAMP"
    assert rejected["message"].startswith("sourceUpdatedAt ")
    assert words in rejected["message"], rejected
    # not the one message every fault used to get
    assert "RFC 3339 date-time with a time zone" not in rejected["message"]
    # the event filters say the same
    response = client.get("/v1/events", params={"from": value}, headers=bearer(token))
    assert_error(response, 400, "VALIDATION_ERROR")
    [detail] = _details(response)
    assert detail["field"] == "from"
    assert words in detail["message"]


# ------------------------------------------------------- 7. rejected records echo what was sent


@pytest.mark.parametrize(
    ("record_text", "record_id", "entity_type", "code"),
    [
        ('{"recordId": 42, "entityType": "deal", "sourceUpdatedAt": "TS", "payload": {}}'.replace("TS", TS),
         42, "deal", "INVALID_RECORD_ID"),
        ('{"recordId": 1e400, "entityType": "deal", "sourceUpdatedAt": "TS", "payload": {}}'.replace("TS", TS),
         "1e400", "deal", "INVALID_RECORD_ID"),
        ('{"recordId": ["a", 1], "entityType": "deal", "payload": {}}', ["a", 1], "deal",
         "INVALID_RECORD_ID"),
        ('{"recordId": null, "entityType": "deal", "payload": {}}', None, "deal",
         "INVALID_RECORD_ID"),
        ('{"recordId": "r1", "entityType": "not a type", "payload": {}}', "r1", "not a type",
         "INVALID_ENTITY_TYPE"),
        ('{"recordId": "r2", "entityType": "deal", "sourceUpdatedAt": "x", "payload": {}}',
         "r2", "deal", "INVALID_TIMESTAMP"),
        ('{"recordId": "r3", "entityType": "deal", "sourceUpdatedOn": "x"}', "r3", "deal",
         "UNKNOWN_FIELD"),
        ('{"recordId": 7, "entityType": "deal", "sourceUpdatedOn": "x"}', 7, "deal",
         "UNKNOWN_FIELD"),
        ('{"recordId": "r4", "entityType": 9, "sourceUpdatedAt": "TS", "payload": {}}'.replace("TS", TS),
         "r4", None, "INVALID_ENTITY_TYPE"),
        ('{"recordId": "r5", "entityType": "deal", "sourceUpdatedAt": "TS", "payload": []}'.replace("TS", TS),
         "r5", "deal", "INVALID_PAYLOAD"),
        ('{"recordId": "r6", "entityType": "deal", "sourceUpdatedAt": "TS", "deleted": "yes"}'.replace("TS", TS),
         "r6", "deal", "INVALID_RECORD"),
        ('["not", "an", "object"]', None, None, "INVALID_RECORD"),
    ],
)  # fmt: skip
def test_rejected_records_echo_record_id_and_entity_type_as_sent(
    client: TestClient,
    token: str,
    source_id: str,
    record_text: str,
    record_id: Any,
    entity_type: str | None,
    code: str,
) -> None:
    ok = _record_text("ok")
    body = f'{{"sourceId": "{source_id}", "records": [{ok}, {record_text}]}}'
    response = post_raw(client, token, body)
    if record_id == "1e400":  # a number no float holds comes back as its text
        assert '"recordId":1e400' in response.text
        record_id = json.loads(response.text, parse_float=str)["data"]["rejected"][0]["recordId"]
        assert record_id == "1e400"
    data = assert_success(response, 202)
    [rejected] = data["rejected"]
    assert rejected["index"] == 1
    assert rejected["code"] == code, rejected
    if record_id != "1e400":
        assert rejected["recordId"] == record_id
    assert rejected["entityType"] == entity_type
    # the batch and its receipt say the same, later
    batch = assert_success(client.get(f"/v1/ingest/{data['batchId']}", headers=bearer(token)))
    assert batch["rejected"] == data["rejected"]
    lines = batch_records(client, token, data["batchId"])
    assert lines[1]["outcome"] == "rejected"
    assert lines[1]["entityType"] == entity_type
    assert lines[1]["code"] == code
