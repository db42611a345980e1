"""Spec §1 and §4.1: the envelope, request ids, framework errors, body limits, 400s."""

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


def test_success_carries_request_id_header_equal_to_meta(client: TestClient, token: str) -> None:
    response = client.get("/v1/sources", headers=bearer(token))
    assert_success(response)


def test_each_request_gets_its_own_request_id(client: TestClient, token: str) -> None:
    ids = {client.get("/v1/sources", headers=bearer(token)).headers["x-request-id"] for _ in "abc"}
    assert len(ids) == 3
    assert all(is_uuid(i) for i in ids)


def test_client_uuid_request_id_is_reused_on_success(client: TestClient, token: str) -> None:
    sent = str(uuid.uuid4())
    response = client.get("/v1/sources", headers={**bearer(token), "X-Request-Id": sent})
    assert_success(response)
    assert response.headers["x-request-id"] == sent
    assert response.json()["meta"]["requestId"] == sent


def test_client_uuid_request_id_is_reused_on_error(client: TestClient) -> None:
    sent = str(uuid.uuid4())
    response = client.get("/v1/sources", headers={"X-Request-Id": sent})
    assert_error(response, 401, "MISSING_AUTH_HEADER")
    assert response.headers["x-request-id"] == sent


def test_client_uuid_request_id_is_reused_on_framework_404(client: TestClient) -> None:
    sent = str(uuid.uuid4())
    response = client.get("/nowhere", headers={"X-Request-Id": sent})
    assert_error(response, 404, "NOT_FOUND")
    assert response.json()["meta"]["requestId"] == sent


def test_malformed_client_request_id_is_replaced_by_a_fresh_uuid(
    client: TestClient, token: str
) -> None:
    for sent in ["not-a-uuid", "", "x" * 500, "1234", str(uuid.uuid4()) + "0"]:
        response = client.get("/v1/sources", headers={**bearer(token), "X-Request-Id": sent})
        assert_success(response)
        assert response.headers["x-request-id"] != sent
        assert is_uuid(response.headers["x-request-id"]), sent


def test_only_one_request_id_header(client: TestClient, token: str) -> None:
    response = client.get(
        "/v1/sources", headers={**bearer(token), "X-Request-Id": str(uuid.uuid4())}
    )
    assert len(response.headers.get_list("x-request-id")) == 1


def test_health_probe_is_enveloped_without_auth(client: TestClient) -> None:
    assert assert_success(client.get("/healthz"))["status"] == "ok"


# -- framework errors -------------------------------------------------------------


UNKNOWN_PATHS = [
    ("GET", "/"),
    ("GET", "/v1"),
    ("GET", "/v1/nope"),
    ("POST", "/v1/nope"),
    ("GET", "/v2/ingest"),
    ("GET", "/v1/sources/a/b/c"),
    ("DELETE", "/v1/events/x"),
]


def test_unknown_path_is_404_in_the_envelope(client: TestClient, token: str) -> None:
    for method, path in UNKNOWN_PATHS:
        response = client.request(method, path, headers=bearer(token))
        assert_error(response, 404, "NOT_FOUND")
        assert response.headers["content-type"].startswith("application/json"), path


def test_unknown_path_is_404_even_without_auth(client: TestClient) -> None:
    assert_error(client.get("/v1/unknown"), 404, "NOT_FOUND")


WRONG_METHODS = [
    ("PUT", "/v1/ingest"),
    ("DELETE", "/v1/ingest"),
    ("DELETE", "/v1/sources"),
    ("PUT", f"/v1/sources/{MISSING_UUID}"),
    ("POST", f"/v1/ingest/{MISSING_UUID}"),
    ("POST", f"/v1/ingest/{MISSING_UUID}/records"),
    ("PATCH", "/v1/keys"),
    ("GET", f"/v1/keys/{MISSING_UUID}"),
    ("POST", "/healthz"),
]


def test_wrong_method_is_405_in_the_envelope(client: TestClient, token: str) -> None:
    for method, path in WRONG_METHODS:
        response = client.request(method, path, headers=bearer(token))
        assert_error(response, 405, "METHOD_NOT_ALLOWED")
        assert "allow" in response.headers, (method, path)


def test_wrong_method_is_405_even_without_auth(client: TestClient) -> None:
    assert_error(client.put("/v1/ingest"), 405, "METHOD_NOT_ALLOWED")


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


def test_body_of_exactly_10_mib_is_accepted(client: TestClient, token: str, source_id: str) -> None:
    response = post_raw(client, token, _padded_body(source_id, LIMIT))
    assert assert_success(response, 202)["accepted"] == 2


def test_body_over_10_mib_with_content_length_is_413(
    client: TestClient, token: str, source_id: str
) -> None:
    response = post_raw(client, token, _padded_body(source_id, LIMIT + 1))
    assert response.request.headers["content-length"] == str(LIMIT + 1)
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert source_counts(client, token, source_id)["batches"] == 0


def test_chunked_body_over_10_mib_is_413(client: TestClient, token: str, source_id: str) -> None:
    body = _padded_body(source_id, LIMIT + 1)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 1024 * 1024):
            yield body[start : start + 1024 * 1024]

    response = client.post(
        "/v1/ingest",
        content=chunks(),
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert source_counts(client, token, source_id)["batches"] == 0


def test_chunked_body_under_the_limit_is_accepted(
    client: TestClient, token: str, source_id: str
) -> None:
    body = json.dumps(ingest_body(source_id)).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 7):
            yield body[start : start + 7]

    response = client.post(
        "/v1/ingest",
        content=chunks(),
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert assert_success(response, 202)["accepted"] == 2


def test_body_larger_than_its_content_length_claims_is_413(
    client: TestClient, token: str, source_id: str
) -> None:
    body = _padded_body(source_id, LIMIT + 1)

    def chunks() -> Iterator[bytes]:
        yield body

    response = client.post(
        "/v1/ingest",
        content=chunks(),
        headers={**bearer(token), "Content-Type": "application/json", "Content-Length": "100"},
    )
    assert response.request.headers["content-length"] == "100"
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


def test_source_body_over_its_limit_is_413(client: TestClient, token: str) -> None:
    response = client.post(
        "/v1/sources",
        content=b'{"name": "x", "description": "' + b"a" * (LIMIT + 1) + b'"}',
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


# -- media type (415) -------------------------------------------------------------


def test_ingest_without_content_type_is_415(client: TestClient, token: str, source_id: str) -> None:
    response = client.post(
        "/v1/ingest", content=json.dumps(ingest_body(source_id)).encode(), headers=bearer(token)
    )
    assert "content-type" not in response.request.headers
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert source_counts(client, token, source_id)["batches"] == 0


def test_ingest_with_non_json_content_type_is_415(
    client: TestClient, token: str, source_id: str
) -> None:
    body = json.dumps(ingest_body(source_id)).encode()
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


def test_json_content_type_with_parameters_or_case_is_accepted(
    client: TestClient, token: str, source_id: str
) -> None:
    body = json.dumps(ingest_body(source_id)).encode()
    for content_type in [
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/json;",
    ]:
        response = client.post(
            "/v1/ingest", content=body, headers={**bearer(token), "Content-Type": content_type}
        )
        assert_success(response, 202)


def test_other_posts_without_json_are_415(client: TestClient, token: str) -> None:
    for path in ["/v1/sources", "/v1/keys"]:
        response = client.post(
            path, content=b'{"name": "x"}', headers={**bearer(token), "Content-Type": "text/plain"}
        )
        assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert_page(client.get("/v1/sources", headers=bearer(token)), total=0)


def test_patch_without_json_is_415(client: TestClient, token: str, source_id: str) -> None:
    response = client.patch(
        f"/v1/sources/{source_id}", content=b'{"name": "x"}', headers=bearer(token)
    )
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


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


def test_malformed_json_is_400(client: TestClient, token: str) -> None:
    for body in MALFORMED:
        error = assert_error(post_raw(client, token, body), 400, "VALIDATION_ERROR")
        detail_fields(error)


def test_body_that_is_not_an_object_is_400(client: TestClient, token: str) -> None:
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


def test_envelope_400_reports_every_bad_field(client: TestClient, token: str) -> None:
    response = client.post("/v1/ingest", json={"records": []}, headers=bearer(token))
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert {"sourceId", "records"} <= set(detail_fields(error))


def test_501_records_is_400_and_nothing_is_stored(
    client: TestClient, token: str, source_id: str
) -> None:
    records = [record(f"deal-{i}") for i in range(501)]
    response = client.post(
        "/v1/ingest", json=ingest_body(source_id, records), headers=bearer(token)
    )
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert "records" in detail_fields(error)
    assert details_mention(error, "500")
    assert source_counts(client, token, source_id) == {
        "records": 0,
        "versions": 0,
        "events": 0,
        "batches": 0,
    }


def test_500_records_is_accepted(client: TestClient, token: str, source_id: str) -> None:
    records = [record(f"deal-{i}") for i in range(500)]
    response = client.post(
        "/v1/ingest", json=ingest_body(source_id, records), headers=bearer(token)
    )
    assert assert_success(response, 202)["accepted"] == 500


def test_uppercase_source_uuid_is_accepted(client: TestClient, token: str, source_id: str) -> None:
    response = client.post("/v1/ingest", json=ingest_body(source_id.upper()), headers=bearer(token))
    assert assert_success(response, 202)["sourceId"] == source_id


def test_whole_request_error_stores_nothing(client: TestClient, token: str, source_id: str) -> None:
    body = json.dumps(ingest_body(source_id))[:-5].encode()  # cut off: malformed
    assert_error(post_raw(client, token, body), 400, "VALIDATION_ERROR")
    assert source_counts(client, token, source_id)["versions"] == 0


# -- pagination parameters --------------------------------------------------------


PAGINATED = ["/v1/sources", "/v1/ingest", "/v1/keys"]


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


def test_bad_pagination_params_are_400(client: TestClient, token: str) -> None:
    for path in PAGINATED:
        for params, field in BAD_PAGES:
            response = client.get(path, params=params, headers=bearer(token))
            error = assert_error(response, 400, "VALIDATION_ERROR")
            assert field in detail_fields(error), (path, params)


def test_bad_pagination_on_batch_records_is_400(
    client: TestClient, token: str, source_id: str
) -> None:
    batch = assert_success(
        client.post("/v1/ingest", json=ingest_body(source_id), headers=bearer(token)), 202
    )
    for params in ({"limit": "0"}, {"limit": "101"}, {"offset": "-1"}, {"limit": "abc"}):
        response = client.get(
            f"/v1/ingest/{batch['batchId']}/records", params=params, headers=bearer(token)
        )
        assert_error(response, 400, "VALIDATION_ERROR")


def test_pagination_bounds_are_inclusive(client: TestClient, token: str, source_id: str) -> None:
    for limit, offset in [("1", "0"), ("100", "0"), ("20", "5")]:
        response = client.get(
            "/v1/sources", params={"limit": limit, "offset": offset}, headers=bearer(token)
        )
        assert_page(response, total=1, limit=int(limit), offset=int(offset))


def test_default_pagination_is_limit_20_offset_0(client: TestClient, token: str) -> None:
    assert_page(client.get("/v1/sources", headers=bearer(token)), total=0)
