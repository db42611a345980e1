"""The seed's example, over real HTTP, against `headwater serve` (issue: core ingest)."""

from __future__ import annotations

import copy

import httpx

from tests.conftest import SEED_PAYLOADS
from tests.live.conftest import Server


def _ingest(
    client: httpx.Client, source_id: str, records: list[dict[str, object]]
) -> dict[str, object]:
    response = client.post("/v1/ingest", json={"sourceId": source_id, "records": records})
    assert response.status_code == 202, response.text
    assert response.headers["x-request-id"] == response.json()["meta"]["requestId"]
    return dict(response.json()["data"])


def test_seed_example_over_http(server: Server) -> None:
    key = server.create_key()
    assert key["token"].startswith("sk_live_")
    assert set(key) >= {"token", "id", "orgId", "scopes"}
    headers = {"Authorization": f"Bearer {key['token']}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=10) as client:
        created = client.post("/v1/sources", json={"name": "CRM", "entityTypes": ["deal"]})
        assert created.status_code == 201, created.text
        # no header names the server library (it would only help pick an exploit)
        assert "server" not in created.headers
        assert "server" not in client.get("/no/such/path").headers
        source_id = created.json()["data"]["id"]

        first = _ingest(client, source_id, SEED_PAYLOADS)
        assert (first["accepted"], first["deduplicated"], first["rejected"]) == (2, 0, [])
        assert first["status"] == "queued"

        again = _ingest(client, source_id, SEED_PAYLOADS)
        assert (again["accepted"], again["deduplicated"]) == (0, 2)
        assert again["status"] == "done"

        changed = copy.deepcopy(SEED_PAYLOADS)
        changed[0]["payload"]["amount"] = 43000  # type: ignore[index]
        changed[0]["sourceUpdatedAt"] = "2026-06-11T09:00:00Z"
        third = _ingest(client, source_id, changed)
        assert (third["accepted"], third["deduplicated"]) == (1, 1)
        outcomes = client.get(f"/v1/ingest/{third['batchId']}/records").json()["data"]
        assert [o["outcome"] for o in outcomes] == ["superseded", "unchanged"]
        head_version = outcomes[0]["versionId"]

        older = copy.deepcopy(SEED_PAYLOADS[:1])
        older[0]["payload"]["amount"] = 1  # type: ignore[index]
        older[0]["sourceUpdatedAt"] = "2026-06-01T00:00:00Z"
        fourth = _ingest(client, source_id, older)
        assert (fourth["accepted"], fourth["deduplicated"]) == (1, 0)
        stale = client.get(f"/v1/ingest/{fourth['batchId']}/records").json()["data"]
        assert stale[0]["outcome"] == "stale"

        # The head did not move: re-sending the superseding version is still unchanged.
        fifth = _ingest(client, source_id, changed[:1])
        assert (fifth["accepted"], fifth["deduplicated"]) == (0, 1)
        replay = client.get(f"/v1/ingest/{fifth['batchId']}/records").json()["data"]
        assert replay[0]["versionId"] == head_version

        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
