from __future__ import annotations

from starlette.testclient import TestClient

from tests.conftest import bearer, ingest_body


def test_seed_example_is_accepted(client: TestClient, token: str, source_id: str) -> None:
    response = client.post("/v1/ingest", json=ingest_body(source_id), headers=bearer(token))
    assert response.status_code == 202, response.text
    data = response.json()["data"]
    assert (data["accepted"], data["deduplicated"], data["rejected"]) == (2, 0, [])
    assert data["status"] == "queued"
