from __future__ import annotations

from collections.abc import Callable

from starlette.testclient import TestClient

from tests.conftest import bearer, ingest_body


def test_seed_gives_five_events(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    batch = client.post("/v1/ingest", json=ingest_body(source_id), headers=bearer(token)).json()["data"]
    assert normalize_all() == 1
    status = client.get(f"/v1/ingest/{batch['batchId']}", headers=bearer(token)).json()["data"]
    assert status["status"] == "done"
    assert (status["recordsCreated"], status["eventsCreated"]) == (2, 5)
