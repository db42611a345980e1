"""Spec §1 and §4.1: the envelope, request ids, framework errors, body limits, 400s.

Each test loops over several cases (with the case in the assertion message) rather than
being parametrized: every test pays for a fresh database per backend.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from headwater.store import Store
from tests.api.helpers import (
    MISSING_UUID,
    assert_page,
    assert_success,
    detail_fields,
    details_mention,
    is_uuid,
    post_raw,
    record,
    source_counts,
)
from tests.conftest import assert_error, bearer, ingest_body

LIMIT = 10 * 1024 * 1024  # 10 MiB, spec §4.1


# -- request ids ------------------------------------------------------------------


def test_every_response_has_a_fresh_request_id_equal_to_meta(
    client: TestClient, token: str
) -> None:
    responses = [
        client.get("/v1/sources", headers=bearer(token)),
        client.get("/v1/sources", headers=bearer(token)),
        client.get("/healthz"),
        client.get("/v1/sources"),  # 401
        client.get("/nowhere"),  # framework 404
        client.put("/v1/ingest"),  # framework 405
    ]
    for response in responses[:3]:
        assert_success(response)
    assert_error(responses[3], 401, "MISSING_AUTH_HEADER")
    assert_error(responses[4], 404, "NOT_FOUND")
    assert_error(responses[5], 405, "METHOD_NOT_ALLOWED")
    ids = [r.headers["x-request-id"] for r in responses]
    assert all(is_uuid(i) for i in ids), ids
    assert len(set(ids)) == len(ids)
    for response in responses:
        assert len(response.headers.get_list("x-request-id")) == 1


def test_client_uuid_request_id_is_reused_malformed_replaced(
    client: TestClient, token: str
) -> None:
    cases = [
        (lambda h: client.get("/v1/sources", headers={**bearer(token), **h}), 200, None),
        (lambda h: client.get("/v1/sources", headers=h), 401, "MISSING_AUTH_HEADER"),
        (lambda h: client.get("/nowhere", headers=h), 404, "NOT_FOUND"),
        (lambda h: client.delete("/v1/sources", headers=h), 405, "METHOD_NOT_ALLOWED"),
    ]
    for send, status, code in cases:
        sent = str(uuid.uuid4())
        response = send({"X-Request-Id": sent})
        if code is None:
            assert_success(response, status)
        else:
            assert_error(response, status, code)
        assert response.headers["x-request-id"] == sent
        assert response.json()["meta"]["requestId"] == sent
    # a malformed one is replaced by a fresh UUID
    for sent in ["not-a-uuid", "", "x" * 500, "1234", str(uuid.uuid4()) + "0", "<script>"]:
        response = client.get("/v1/sources", headers={**bearer(token), "X-Request-Id": sent})
        assert_success(response)
        assert response.headers["x-request-id"] != sent
        assert is_uuid(response.headers["x-request-id"]), sent


# -- framework errors -------------------------------------------------------------

UNKNOWN_PATHS = [
    ("GET", "/nope"),  # `/` itself leads to the console (tests/console)
    ("GET", "/v1"),
    ("GET", "/v1/nope"),
    ("POST", "/v1/nope"),
    ("GET", "/v2/ingest"),
    ("GET", "/v1/sources/a/b/c"),
    ("DELETE", "/v1/no-such-thing/x"),
]

WRONG_METHODS = [
    ("PUT", "/v1/ingest"),
    ("DELETE", "/v1/ingest"),
    ("DELETE", "/v1/sources"),
    ("PUT", f"/v1/sources/{MISSING_UUID}"),
    ("POST", f"/v1/ingest/{MISSING_UUID}"),
    ("POST", f"/v1/ingest/{MISSING_UUID}/records"),
    ("PATCH", "/v1/keys"),
    ("GET", f"/v1/keys/{MISSING_UUID}"),
    ("OPTIONS", "/v1/keys"),
    ("POST", "/healthz"),
]


def test_unknown_path_and_wrong_method_use_the_envelope(client: TestClient, token: str) -> None:
    for headers in (bearer(token), {}):  # with or without a key
        for method, path in UNKNOWN_PATHS:
            response = client.request(method, path, headers=headers)
            assert_error(response, 404, "NOT_FOUND")
            assert response.headers["content-type"].startswith("application/json"), path
        for method, path in WRONG_METHODS:
            response = client.request(method, path, headers=headers)
            assert_error(response, 405, "METHOD_NOT_ALLOWED")
            assert response.headers["content-type"].startswith("application/json"), path
            assert "allow" in response.headers, (method, path)


def test_405_allow_header_lists_every_method_of_the_path(client: TestClient, token: str) -> None:
    """RFC 9110 §15.5.6: a 405 carries Allow with the resource's supported methods; paths
    served by two routes (GET and POST /v1/ingest) must list both."""
    expected = {
        "/v1/ingest": {"GET", "POST"},
        "/v1/sources": {"GET", "POST"},
        f"/v1/sources/{MISSING_UUID}": {"GET", "PATCH"},
        "/v1/keys": {"GET", "POST"},
        f"/v1/keys/{MISSING_UUID}": {"DELETE"},
        f"/v1/ingest/{MISSING_UUID}": {"GET"},
    }
    for path, methods in expected.items():
        response = client.put(path, headers=bearer(token))
        assert_error(response, 405, "METHOD_NOT_ALLOWED")
        allowed = {m.strip() for m in response.headers["allow"].split(",")}
        assert allowed - {"HEAD"} == methods, (path, allowed)


def test_internal_error_is_500_in_the_envelope_without_a_trace(
    client: TestClient, token: str, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: Any) -> Any:
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(store, "list_sources", boom)
    response = client.get("/v1/sources", headers=bearer(token))
    assert_error(response, 500, "INTERNAL_ERROR")
    assert "secret internals" not in response.text
    assert "RuntimeError" not in response.text
    # the server keeps answering
    monkeypatch.undo()
    assert_success(client.get("/v1/sources", headers=bearer(token)))


# -- body size (413) --------------------------------------------------------------


def _padded_body(source_id: str, size: int) -> bytes:
    """A valid ingest body padded with trailing whitespace to exactly `size` bytes."""
    body = json.dumps(ingest_body(source_id)).encode()
    assert len(body) <= size
    return body + b" " * (size - len(body))


def _chunks(body: bytes, size: int = 1024 * 1024) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_body_of_exactly_10_mib_is_accepted_one_byte_more_is_413(
    client: TestClient, token: str, source_id: str
) -> None:
    over = post_raw(client, token, _padded_body(source_id, LIMIT + 1))
    assert over.request.headers["content-length"] == str(LIMIT + 1)
    assert_error(over, 413, "PAYLOAD_TOO_LARGE")
    assert source_counts(client, token, source_id)["batches"] == 0

    response = post_raw(client, token, _padded_body(source_id, LIMIT))
    assert assert_success(response, 202)["accepted"] == 2


def test_chunked_body_is_limited_while_reading(
    client: TestClient, token: str, source_id: str
) -> None:
    headers = {**bearer(token), "Content-Type": "application/json"}
    over = client.post(
        "/v1/ingest", content=_chunks(_padded_body(source_id, LIMIT + 1)), headers=headers
    )
    assert "content-length" not in over.request.headers
    assert over.request.headers["transfer-encoding"] == "chunked"
    assert_error(over, 413, "PAYLOAD_TOO_LARGE")
    # whatever Content-Length claims
    lying = client.post(
        "/v1/ingest",
        content=_chunks(_padded_body(source_id, LIMIT + 1), LIMIT + 1),
        headers={**headers, "Content-Length": "100"},
    )
    assert lying.request.headers["content-length"] == "100"
    assert_error(lying, 413, "PAYLOAD_TOO_LARGE")
    assert source_counts(client, token, source_id)["batches"] == 0
    # a small chunked body is read whole
    small = json.dumps(ingest_body(source_id)).encode()
    response = client.post("/v1/ingest", content=_chunks(small, 7), headers=headers)
    assert "content-length" not in response.request.headers
    assert assert_success(response, 202)["accepted"] == 2


def test_other_bodies_have_limits_too(client: TestClient, token: str, source_id: str) -> None:
    headers = {**bearer(token), "Content-Type": "application/json"}
    big = b'{"name": "x", "description": "' + b"a" * (LIMIT + 1) + b'"}'
    for method, path in [
        ("POST", "/v1/sources"),
        ("PATCH", f"/v1/sources/{source_id}"),
        ("POST", "/v1/keys"),
    ]:
        response = client.request(method, path, content=big, headers=headers)
        assert_error(response, 413, "PAYLOAD_TOO_LARGE")
        chunked = client.request(method, path, content=_chunks(big), headers=headers)
        assert_error(chunked, 413, "PAYLOAD_TOO_LARGE")
    assert_page(client.get("/v1/sources", headers=bearer(token)), total=1)


# -- media type (415) -------------------------------------------------------------


def test_ingest_without_json_content_type_is_415(
    client: TestClient, token: str, source_id: str
) -> None:
    body = json.dumps(ingest_body(source_id)).encode()
    missing = client.post("/v1/ingest", content=body, headers=bearer(token))
    assert "content-type" not in missing.request.headers
    assert_error(missing, 415, "UNSUPPORTED_MEDIA_TYPE")
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        "text/json",
        "",
    ]:
        response = client.post(
            "/v1/ingest", content=body, headers={**bearer(token), "Content-Type": content_type}
        )
        assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert source_counts(client, token, source_id)["batches"] == 0

    for content_type in [
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/json;",
    ]:
        response = client.post(
            "/v1/ingest", content=body, headers={**bearer(token), "Content-Type": content_type}
        )
        assert_success(response, 202)


def test_other_writes_without_json_are_415(client: TestClient, token: str, source_id: str) -> None:
    for method, path in [
        ("POST", "/v1/sources"),
        ("POST", "/v1/keys"),
        ("PATCH", f"/v1/sources/{source_id}"),
    ]:
        for headers in ({"Content-Type": "text/plain"}, {}):
            response = client.request(
                method, path, content=b'{"name": "x"}', headers={**bearer(token), **headers}
            )
            assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    items = assert_page(client.get("/v1/sources", headers=bearer(token)), total=1)
    assert items[0]["name"] == "CRM"


# -- whole-request validation (400) -----------------------------------------------

MALFORMED = [
    b"",
    b"{",
    b"not json",
    b'{"sourceId": "x",}',
    b"{'sourceId': 1}",
    b'{"sourceId": "00000000-0000-4000-8000-000000000000", "records": [] ',
    b'{"sourceId": "00000000-0000-4000-8000-000000000000", "records": [{}]} trailing',
]


def test_malformed_json_or_not_an_object_is_400(client: TestClient, token: str) -> None:
    for body in MALFORMED:
        error = assert_error(post_raw(client, token, body), 400, "VALIDATION_ERROR")
        detail_fields(error)
    for body in [b"[]", b'"text"', b"42", b"null", b"true", b"[{}]"]:
        error = assert_error(post_raw(client, token, body), 400, "VALIDATION_ERROR")
        assert detail_fields(error) == ["body"], body


def _records_ok() -> list[dict[str, Any]]:
    return [record()]


ENVELOPE_ERRORS: list[tuple[dict[str, Any], str]] = [
    ({"records": _records_ok()}, "sourceId"),
    ({"sourceId": None, "records": _records_ok()}, "sourceId"),
    ({"sourceId": "not-a-uuid", "records": _records_ok()}, "sourceId"),
    ({"sourceId": 12, "records": _records_ok()}, "sourceId"),
    ({"sourceId": MISSING_UUID + "0", "records": _records_ok()}, "sourceId"),
    ({"sourceId": "{" + MISSING_UUID + "}", "records": _records_ok()}, "sourceId"),
    ({"sourceId": MISSING_UUID}, "records"),
    ({"sourceId": MISSING_UUID, "records": None}, "records"),
    ({"sourceId": MISSING_UUID, "records": {"a": 1}}, "records"),
    ({"sourceId": MISSING_UUID, "records": "deal"}, "records"),
    ({"sourceId": MISSING_UUID, "records": []}, "records"),
]


def test_envelope_field_errors_are_400_naming_the_field(client: TestClient, token: str) -> None:
    for body, field in ENVELOPE_ERRORS:
        response = client.post("/v1/ingest", json=body, headers=bearer(token))
        error = assert_error(response, 400, "VALIDATION_ERROR")
        assert field in detail_fields(error), (body, error)
    # every bad field is reported at once
    response = client.post("/v1/ingest", json={"records": []}, headers=bearer(token))
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert {"sourceId", "records"} <= set(detail_fields(error))


def test_record_count_limit_is_500_and_a_refused_request_stores_nothing(
    client: TestClient, token: str, source_id: str
) -> None:
    records = [record(f"deal-{i}") for i in range(501)]
    response = client.post(
        "/v1/ingest", json=ingest_body(source_id, records), headers=bearer(token)
    )
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert "records" in detail_fields(error)
    assert details_mention(error, "500")
    counts = source_counts(client, token, source_id)
    assert (counts["records"], counts["versions"], counts["batches"]) == (0, 0, 0)

    body = json.dumps(ingest_body(source_id))[:-5].encode()  # cut off: malformed
    assert_error(post_raw(client, token, body), 400, "VALIDATION_ERROR")
    assert source_counts(client, token, source_id)["versions"] == 0

    response = client.post(
        "/v1/ingest", json=ingest_body(source_id, records[:500]), headers=bearer(token)
    )
    assert assert_success(response, 202)["accepted"] == 500
    # an upper-case spelling of the source id is the same source
    response = client.post("/v1/ingest", json=ingest_body(source_id.upper()), headers=bearer(token))
    assert assert_success(response, 202)["sourceId"] == source_id


# -- pagination parameters --------------------------------------------------------

BAD_PAGES = [
    ({"limit": "0"}, "limit"),
    ({"limit": "101"}, "limit"),
    ({"limit": "-1"}, "limit"),
    ({"limit": "abc"}, "limit"),
    ({"limit": "1.5"}, "limit"),
    ({"limit": ""}, "limit"),
    ({"limit": "99999999999999999999999"}, "limit"),
    ({"offset": "-1"}, "offset"),
    ({"offset": "abc"}, "offset"),
    ({"offset": "\u0661"}, "offset"),  # an Arabic-Indic digit is not an ASCII integer
]


def test_pagination_params(client: TestClient, token: str, source_id: str) -> None:
    batch = assert_success(
        client.post("/v1/ingest", json=ingest_body(source_id), headers=bearer(token)), 202
    )
    paths = ["/v1/sources", "/v1/ingest", "/v1/keys", f"/v1/ingest/{batch['batchId']}/records"]
    for path in paths:
        for params, field in BAD_PAGES:
            response = client.get(path, params=params, headers=bearer(token))
            error = assert_error(response, 400, "VALIDATION_ERROR")
            assert field in detail_fields(error), (path, params)
    # defaults and inclusive bounds
    assert_page(client.get("/v1/sources", headers=bearer(token)), total=1, limit=20, offset=0)
    for limit, offset in [("1", "0"), ("100", "0"), ("20", "5")]:
        response = client.get(
            "/v1/sources", params={"limit": limit, "offset": offset}, headers=bearer(token)
        )
        assert_page(response, total=1, limit=int(limit), offset=int(offset))


def test_a_repeated_query_parameter_is_400(client: TestClient, token: str, source_id: str) -> None:
    """`limit=1&limit=50` could mean either: refused, naming the parameter."""
    for url, field in [
        ("/v1/events?limit=1&limit=50", "limit"),
        ("/v1/sources?offset=0&limit=5&offset=0", "offset"),  # even with equal values
        (f"/v1/events?sourceId={source_id}&sourceId={MISSING_UUID}", "sourceId"),
        (f"/v1/sources/{source_id}/records?entityType=deal&entityType=", "entityType"),
        ("/v1/events?after=&after=", "after"),
        ("/v1/events?unknown=1&unknown=2", "unknown"),
        ("/v1/ingest?%6Cimit=1&limit=2", "limit"),  # percent-encoded names are the same name
    ]:
        response = client.get(url, headers=bearer(token))
        error = assert_error(response, 400, "VALIDATION_ERROR")
        assert detail_fields(error) == [field], url
    # distinct parameters, and a single one, are fine
    assert_success(client.get("/v1/events?limit=1&offset=0", headers=bearer(token)))
    assert_success(client.get("/v1/events?limit=50", headers=bearer(token)))
    # a repeated parameter on a write is refused before anything is stored
    response = client.post(
        "/v1/sources?x=1&x=2", json={"name": "Not stored"}, headers=bearer(token)
    )
    assert_error(response, 400, "VALIDATION_ERROR")
    assert (
        client.get("/v1/sources", headers=bearer(token)).json()["meta"]["pagination"]["total"] == 1
    )
