"""Spec §6.2, §7: every event leads back to the exact bytes that were sent."""

from __future__ import annotations

from collections.abc import Callable

from starlette.testclient import TestClient

from tests.conftest import bearer
from tests.normalize.helpers import all_events, batch, get, version_ids

FIRST = (
    '{ "name" :"Caf\\u00e9   deal" ,\n\t"stage":"lead",  "amount":1.50E+3,'
    '"owner":"Ann@Acme.com", "nested": {"b":1 ,"a":[ 1,2 ]} }'
)
SECOND = '{"stage":"won","amount":1500.0,"nested":{"a":[1,2],"b":1},"name":"Café   deal","owner":"Ann@Acme.com","movedToStageBy":"bob@acme.com"}'


def _post(client: TestClient, token: str, source_id: str, payload: str, at: str) -> str:
    body = (
        '{"sourceId":"' + source_id + '",  "records" : [\n  {"recordId": "deal/1 ü",'
        ' "entityType":"deal", "sourceUpdatedAt":"' + at + '", "payload":' + payload + "}\n]}"
    )
    response = client.post(
        "/v1/ingest",
        content=body.encode(),
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert response.status_code == 202, response.text
    return str(response.json()["data"]["batchId"])


def test_every_event_leads_to_the_exact_bytes_sent(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    sent = {}
    first = _post(client, token, source_id, FIRST, "2026-06-10T14:03:00Z")
    second = _post(client, token, source_id, SECOND, "2026-06-11T14:03:00Z")
    for batch_id, payload in ((first, FIRST), (second, SECOND)):
        (version_id,) = version_ids(client, token, batch_id)
        assert version_id is not None
        sent[version_id] = (batch_id, payload)
    normalize_all()
    assert batch(client, token, second)["outcomes"]["superseded"] == 1

    events = all_events(client, token)
    assert {e["recordVersionId"] for e in events} == set(sent)
    # 1.50E+3 and 1500.0 are the same number, the key order and spacing do not matter:
    # only the stage changed
    assert sorted(e["action"] for e in events) == [
        "deal_created",
        "deal_owner_assigned",
        "deal_stage_changed",
    ]
    for event in events:
        one = get(client, token, f"/v1/events/{event['id']}")
        assert len(one["provenance"]) == 1
        provenance = one["provenance"][0]
        batch_id, payload = sent[event["recordVersionId"]]
        assert provenance["id"] == event["recordVersionId"]
        assert provenance["sourceId"] == source_id
        assert provenance["recordId"] == "deal/1 ü"
        assert provenance["connectorType"] == "custom_api"
        assert provenance["batchId"] == batch_id == event["batchId"]
        assert provenance["ingestedAt"].endswith("Z")
        raw = client.get(f"/v1/records/versions/{provenance['id']}/payload", headers=bearer(token))
        assert raw.status_code == 200
        assert raw.headers["content-type"].startswith("application/json")
        assert raw.content == payload.encode()  # byte for byte, not re-encoded


def test_provenance_of_the_merged_and_deleted(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    first = _post(client, token, source_id, FIRST, "2026-06-10T14:03:00Z")
    tombstone = (
        '{"sourceId":"' + source_id + '","records":[{"recordId":"deal/1 ü","entityType":"deal",'
        '"sourceUpdatedAt":"2026-06-12T00:00:00Z","deleted":true,"payload":{ "deletedBy" : "x@y.io" }}]}'
    )
    response = client.post(
        "/v1/ingest",
        content=tombstone.encode(),
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert response.status_code == 202, response.text
    normalize_all()
    (first_version,) = version_ids(client, token, first)
    for event in all_events(client, token, includeDeleted="true"):
        provenance = get(client, token, f"/v1/events/{event['id']}")["provenance"][0]
        raw = client.get(
            f"/v1/records/versions/{provenance['id']}/payload", headers=bearer(token)
        ).content
        if event["action"] == "deal_deleted":
            assert raw == b'{ "deletedBy" : "x@y.io" }'
        else:
            assert provenance["id"] == first_version
            assert raw == FIRST.encode()
