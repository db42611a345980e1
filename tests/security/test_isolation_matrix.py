"""Organisation B sees nothing of organisation A (spec §2): every endpoint, A's real ids."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from starlette.testclient import TestClient

from tests.conftest import SEED_PAYLOADS, assert_error, bearer


def test_every_endpoint_answers_404_for_another_organisations_ids(
    client: TestClient, make_key: Callable[..., str], normalize_all: Callable[[], int]
) -> None:
    a, b = make_key(org="org-a"), make_key(org="org-b")
    source = client.post("/v1/sources", json={"name": "A"}, headers=bearer(a)).json()["data"]["id"]
    batch = client.post(
        "/v1/ingest", json={"sourceId": source, "records": SEED_PAYLOADS}, headers=bearer(a)
    ).json()["data"]["batchId"]
    normalize_all()
    library = client.post("/v1/knowledge/discover", headers=bearer(a)).json()["data"]["libraryId"]
    normalize_all()
    event = client.get("/v1/events", headers=bearer(a)).json()["data"][0]
    version = event["recordVersionId"]
    actor = event["actor"]["id"]
    key = client.get("/v1/keys", headers=bearer(a)).json()["data"][0]["id"]
    record = quote("deal-4471", safe="")
    json_headers = {**bearer(b), "Content-Type": "application/json"}

    not_found = [
        ("GET", f"/v1/sources/{source}", None),
        ("PATCH", f"/v1/sources/{source}", b'{"name": "mine now"}'),
        ("POST", f"/v1/sources/{source}/renormalize", None),
        ("POST", "/v1/ingest", f'{{"sourceId": "{source}", "records": [{{"recordId": "x", "entityType": "deal", "sourceUpdatedAt": "2026-01-01T00:00:00Z", "payload": {{}}}}]}}'.encode()),
        ("GET", f"/v1/ingest/{batch}", None),
        ("GET", f"/v1/ingest/{batch}/records", None),
        ("GET", f"/v1/events/{event['id']}", None),
        ("GET", f"/v1/sources/{source}/records", None),
        ("GET", f"/v1/sources/{source}/records/deal/{record}", None),
        ("GET", f"/v1/records/versions/{version}/payload", None),
        ("GET", f"/v1/entities/{source}/deal/{record}/timeline", None),
        ("GET", f"/v1/actors/{actor}", None),
        ("DELETE", f"/v1/keys/{key}", None),
        ("GET", f"/v1/knowledge/libraries/{library}", None),
        ("GET", f"/v1/processes?libraryId={library}", None),
        ("GET", f"/v1/processes/deal-lifecycle?libraryId={library}", None),
    ]  # fmt: skip
    for method, path, body in not_found:
        response = client.request(method, path, headers=json_headers, content=body)
        assert_error(response, 404, "NOT_FOUND")
        # ... exactly like an id that does not exist
        assert response.json()["error"]["message"] == client.request(
            method, path.replace(source, "00000000-0000-7000-8000-000000000000")
            .replace(batch, "00000000-0000-7000-8000-000000000000")
            .replace(event["id"], "00000000-0000-7000-8000-000000000000")
            .replace(version, "00000000-0000-7000-8000-000000000000")
            .replace(actor, "00000000-0000-7000-8000-000000000000")
            .replace(key, "00000000-0000-7000-8000-000000000000")
            .replace(library, "00000000-0000-7000-8000-000000000000"),
            headers=json_headers, content=body,
        ).json()["error"]["message"]  # fmt: skip

    # lists and filters show none of A's data
    for path in (
        "/v1/sources",
        "/v1/ingest",
        f"/v1/ingest?sourceId={source}",
        "/v1/events",
        f"/v1/events?sourceId={source}",
        "/v1/events?after=",
        "/v1/actors",
        "/v1/knowledge/libraries",
        "/v1/processes",
        f"/v1/processes?sourceId={source}",
    ):
        response = client.get(path, headers=bearer(b))
        assert response.status_code == 200, path
        assert response.json()["data"] == [], path
    assert [k["id"] for k in client.get("/v1/keys", headers=bearer(b)).json()["data"]] != [key]
    # and A's data is untouched
    assert client.get(f"/v1/sources/{source}", headers=bearer(a)).json()["data"]["name"] == "A"
