"""Spec §6.1 and §6.3: the seed's two deal records become exactly five events."""

from __future__ import annotations

from collections.abc import Callable

from starlette.testclient import TestClient

from tests.conftest import SEED_PAYLOADS
from tests.normalize.helpers import (
    actions,
    actor_email,
    all_events,
    batch,
    by_action,
    get,
    ingest,
    is_uuid,
    version_ids,
)


def test_seed_batch_reaches_done_with_counts(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    ack = ingest(client, token, source_id, SEED_PAYLOADS)
    assert ack["status"] == "queued"
    queued = batch(client, token, ack["batchId"])
    assert (queued["recordsCreated"], queued["eventsCreated"]) == (None, None)

    assert normalize_all() == 1
    done = batch(client, token, ack["batchId"])
    assert done["status"] == "done"
    assert (done["recordsCreated"], done["eventsCreated"]) == (2, 5)
    assert done["outcomes"] == {"created": 2, "superseded": 0, "unchanged": 0, "stale": 0}
    assert done["startedAt"] is not None
    assert done["completedAt"] is not None
    assert done["startedAt"] <= done["completedAt"]
    assert done["error"] is None
    assert normalize_all() == 0  # nothing left to do


def test_seed_events_are_exactly_those_of_the_spec(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    ack = ingest(client, token, source_id, SEED_PAYLOADS)
    v4471, v4472 = version_ids(client, token, ack["batchId"])
    normalize_all()

    events = all_events(client, token)
    assert len(events) == 5
    assert len({e["id"] for e in events}) == 5
    per_record = {
        rid: by_action([e for e in events if e["entity"]["id"] == rid])
        for rid in ("deal-4471", "deal-4472")
    }
    assert set(per_record["deal-4471"]) == {
        "deal_created",
        "deal_stage_changed",
        "deal_owner_assigned",
    }
    assert set(per_record["deal-4472"]) == {"deal_created", "deal_owner_assigned"}

    stage = per_record["deal-4471"]["deal_stage_changed"]
    assert actor_email(stage) == "jane.smith@acme.com"
    assert stage["actor"]["placeholder"] is False
    assert is_uuid(stage["actor"]["id"])
    assert stage["changes"] == [{"field": "stage", "from": None, "to": "negotiation"}]

    owner = per_record["deal-4471"]["deal_owner_assigned"]
    assert owner["changes"] == [{"field": "owner", "from": None, "to": "jane.smith@acme.com"}]
    assert actor_email(owner) == "jane.smith@acme.com"
    owner2 = per_record["deal-4472"]["deal_owner_assigned"]
    assert owner2["changes"] == [{"field": "owner", "from": None, "to": "mark.lee@acme.com"}]
    # with no creator key, the owner is the fallback actor of the creation
    assert actor_email(per_record["deal-4472"]["deal_created"]) == "mark.lee@acme.com"

    expected = {
        "deal-4471": ("Acme Corp renewal", "2026-06-10T14:03:00Z", v4471),
        "deal-4472": ("Northwind expansion", "2026-06-10T15:21:00Z", v4472),
    }
    for event in events:
        name, timestamp, version_id = expected[event["entity"]["id"]]
        assert event["entity"] == {"type": "deal", "id": event["entity"]["id"], "name": name}
        assert event["timestamp"] == timestamp  # the source's time, not ingestion time
        assert event["sourceId"] == source_id
        assert event["batchId"] == ack["batchId"]
        assert event["recordVersionId"] == version_id
        assert event["deleted"] is False
        assert is_uuid(event["id"])
        assert event["createdAt"].endswith("Z")

    # the same actor everywhere for jane: one canonical actor per email
    jane_ids = {e["actor"]["id"] for e in events if actor_email(e) == "jane.smith@acme.com"}
    assert len(jane_ids) == 1
    actors = get(client, token, "/v1/actors")
    assert sorted(a["email"] for a in actors) == ["jane.smith@acme.com", "mark.lee@acme.com"]


def test_seed_event_by_id_matches_the_listing(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    ingest(client, token, source_id, SEED_PAYLOADS)
    normalize_all()
    events = all_events(client, token)
    assert actions(events) == [
        "deal_created",
        "deal_created",
        "deal_owner_assigned",
        "deal_owner_assigned",
        "deal_stage_changed",
    ]
    for event in events:
        one = get(client, token, f"/v1/events/{event['id']}")
        assert {k: v for k, v in one.items() if k != "provenance"} == event
