"""One word for one thing: the ingest answer's `deduplicated` is the batch's `unchanged`."""

from __future__ import annotations

from collections.abc import Callable

from starlette.testclient import TestClient

from tests.conftest import SEED_PAYLOADS, bearer, ingest_body


def test_deduplicated_in_the_answer_is_unchanged_in_the_batch(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    body = ingest_body(source_id, SEED_PAYLOADS)
    first = client.post("/v1/ingest", json=body, headers=bearer(token))
    again = client.post("/v1/ingest", json=body, headers=bearer(token))  # no key: a new request
    assert first.status_code == again.status_code == 202
    ack = again.json()["data"]
    assert (ack["accepted"], ack["deduplicated"]) == (0, 2)
    normalize_all()
    batch = client.get(f"/v1/ingest/{ack['batchId']}", headers=bearer(token)).json()["data"]
    assert batch["deduplicated"] == batch["outcomes"]["unchanged"] == 2
    records = client.get(f"/v1/ingest/{ack['batchId']}/records", headers=bearer(token))
    assert [r["outcome"] for r in records.json()["data"]] == ["unchanged", "unchanged"]


def test_the_openapi_document_explains_the_two_words_at_both_places(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    deduplicated = schemas["BatchAck"]["properties"]["deduplicated"]["description"]
    unchanged = schemas["Outcomes"]["properties"]["unchanged"]["description"]
    outcome = schemas["RecordOutcome"]["properties"]["outcome"]["description"]
    assert "`unchanged`" in deduplicated
    assert "`deduplicated`" in unchanged
    assert "`deduplicated`" in outcome
