"""Spec §6.3: a chain of versions gives change events; stale, unchanged, tombstones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

import headwater.core.retry
import headwater.normalize
from headwater.store import Store
from headwater.worker import Worker
from tests.normalize.helpers import (
    actions,
    actor_email,
    all_events,
    batch,
    by_action,
    create_source,
    get,
    ingest,
    rec,
    version_ids,
)

T1, T2, T3, T4, T5 = (f"2026-06-1{d}T10:00:00Z" for d in range(1, 6))

V1 = {
    "name": "Deal",
    "stage": "lead",
    "amount": 1,
    "owner": "ann@acme.com",
    "tags": ["a"],
}
V2 = {  # stage moved by bob, amount changed, updated by carl
    "name": "Deal",
    "stage": "qualified",
    "amount": 2,
    "owner": "ann@acme.com",
    "tags": ["a"],
    "movedToStageBy": "bob@acme.com",
    "updatedBy": "carl@acme.com",
}
V3 = {  # owner reassigned by erin; name and tags changed; priority set; updater still carl
    "name": "Deal renamed",
    "stage": "qualified",
    "amount": 2,
    "owner": "dave@acme.com",
    "ownerChangedBy": "erin@acme.com",
    "tags": ["a", "b"],
    "priority": "high",
    "updatedBy": "carl@acme.com",
}
V4 = {  # nobody named but the owner: the fallback actor
    "name": "Deal renamed",
    "stage": "won",
    "amount": 2,
    "owner": "dave@acme.com",
    "tags": ["a", "b"],
    "priority": "high",
}


def _events_of(client: TestClient, token: str, version_id: str | None) -> list[dict[str, Any]]:
    return [e for e in all_events(client, token) if e["recordVersionId"] == version_id]


def test_a_chain_of_versions_gives_the_right_change_events(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    produced: list[list[dict[str, Any]]] = []
    for payload, at in ((V1, T1), (V2, T2), (V3, T3), (V4, "2026-06-14T12:00:00+02:00")):
        ack = ingest(client, token, source_id, [rec("deal-1", payload, at)])
        normalize_all()
        (version_id,) = version_ids(client, token, ack["batchId"])
        events = _events_of(client, token, version_id)
        assert batch(client, token, ack["batchId"])["eventsCreated"] == len(events)
        produced.append(events)

    first, second, third, fourth = (by_action(events) for events in produced)
    assert set(first) == {"deal_created", "deal_owner_assigned"}

    assert set(second) == {"deal_stage_changed", "deal_updated"}
    stage = second["deal_stage_changed"]
    assert stage["changes"] == [{"field": "stage", "from": "lead", "to": "qualified"}]
    assert actor_email(stage) == "bob@acme.com"  # movedToStageBy beats updatedBy
    updated = second["deal_updated"]
    # actor keys (movedToStageBy, updatedBy) are not changes
    assert updated["changes"] == [{"field": "amount", "from": 1, "to": 2}]
    assert actor_email(updated) == "carl@acme.com"
    assert {e["timestamp"] for e in second.values()} == {T2}

    assert set(third) == {"deal_owner_assigned", "deal_priority_changed", "deal_updated"}
    owner = third["deal_owner_assigned"]
    assert owner["changes"] == [{"field": "owner", "from": "ann@acme.com", "to": "dave@acme.com"}]
    assert actor_email(owner) == "erin@acme.com"  # <field>ChangedBy
    priority = third["deal_priority_changed"]
    assert priority["changes"] == [{"field": "priority", "from": None, "to": "high"}]
    assert actor_email(priority) == "carl@acme.com"  # updatedBy
    # every other changed field together, in one event; the removed movedToStageBy is no change
    assert sorted(third["deal_updated"]["changes"], key=lambda c: c["field"]) == [
        {"field": "name", "from": "Deal", "to": "Deal renamed"},
        {"field": "tags", "from": ["a"], "to": ["a", "b"]},
    ]
    assert third["deal_updated"]["entity"]["name"] == "Deal renamed"

    # the removed ownerChangedBy/updatedBy keys are not changes either: only the stage moved
    assert set(fourth) == {"deal_stage_changed"}
    last = fourth["deal_stage_changed"]
    assert last["changes"] == [{"field": "stage", "from": "qualified", "to": "won"}]
    assert actor_email(last) == "dave@acme.com"  # the owner fallback
    assert last["timestamp"] == "2026-06-14T10:00:00Z"  # the source's time, in UTC


def test_one_request_with_the_whole_chain_gives_the_same_events(
    client: TestClient, token: str, normalize_all: Callable[[], int]
) -> None:
    """Versions of one record in one request are applied in (sourceUpdatedAt, index) order."""
    one_by_one = create_source(client, token, "one by one")
    for payload, at in ((V1, T1), (V2, T2), (V3, T3), (V4, T4)):
        ingest(client, token, one_by_one, [rec("deal-1", payload, at)])
    together = create_source(client, token, "together")
    records = [rec("deal-1", V3, T3), rec("deal-1", V1, T1), rec("deal-1", V4, T4)]
    ingest(client, token, together, [*records, rec("deal-1", V2, T2)])
    normalize_all()

    def summary(source: str) -> list[tuple[Any, ...]]:
        return sorted(
            (e["action"], e["timestamp"], actor_email(e), repr(e["changes"]))
            for e in all_events(client, token, sourceId=source)
        )

    assert len(summary(one_by_one)) == 8
    assert summary(one_by_one) == summary(together)


def test_assignment_fields_give_assigned_events(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    first = {"title": "Bug", "assignee": "Ann Lee", "assignedTo": {"email": "x@acme.com"}}
    ingest(client, token, source_id, [rec("t-1", first, T1, entity_type="support_ticket")])
    second = {**first, "assignedTo": {"email": "y@acme.com"}, "updatedBy": "zed@acme.com"}
    ingest(client, token, source_id, [rec("t-1", second, T2, entity_type="support_ticket")])
    normalize_all()
    events = all_events(client, token)
    assert actions(events) == [
        "support_ticket_assigned_to_assigned",
        "support_ticket_assigned_to_assigned",
        "support_ticket_assignee_assigned",
        "support_ticket_created",
    ]
    changed = next(e for e in events if e["timestamp"] == T2)
    assert changed["changes"] == [
        {"field": "assignedTo", "from": {"email": "x@acme.com"}, "to": {"email": "y@acme.com"}}
    ]
    assert actor_email(changed) == "zed@acme.com"
    assert {e["entity"]["name"] for e in events} == {"Bug"}  # `title` as display name


def test_a_stale_version_gives_no_events(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    ingest(client, token, source_id, [rec("deal-1", V1, T1)])
    ingest(client, token, source_id, [rec("deal-1", V2, T3)])
    normalize_all()
    before = all_events(client, token, includeDeleted="true")

    ack = ingest(client, token, source_id, [rec("deal-1", V3, T2)])  # older than the head
    assert ack["status"] == "queued"
    normalize_all()
    done = batch(client, token, ack["batchId"])
    assert done["outcomes"]["stale"] == 1
    assert (done["status"], done["recordsCreated"], done["eventsCreated"]) == ("done", 1, 0)
    assert all_events(client, token, includeDeleted="true") == before

    # the next version is diffed against the head (V2), not against the stale V3
    ingest(client, token, source_id, [rec("deal-1", {**V2, "amount": 3}, T4)])
    normalize_all()
    latest = [e for e in all_events(client, token) if e["timestamp"] == T4]
    assert [e["changes"] for e in latest] == [[{"field": "amount", "from": 2, "to": 3}]]


def test_an_unchanged_resend_gives_no_events(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    ingest(client, token, source_id, [rec("deal-1", V1, T1)])
    normalize_all()
    before = all_events(client, token)
    reordered = dict(reversed(list(V1.items())))  # same content, other key order, newer time
    ack = ingest(client, token, source_id, [rec("deal-1", reordered, T2)])
    assert (ack["accepted"], ack["deduplicated"], ack["status"]) == (0, 1, "done")
    assert normalize_all() == 0
    assert batch(client, token, ack["batchId"])["eventsCreated"] == 0
    assert all_events(client, token) == before


def test_a_tombstone_soft_deletes_earlier_events(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    ingest(client, token, source_id, [rec("deal-1", V1, T1), rec("deal-2", V1, T1)])
    ingest(client, token, source_id, [rec("deal-1", V2, T2)])
    normalize_all()
    earlier = [e for e in all_events(client, token) if e["entity"]["id"] == "deal-1"]
    assert len(earlier) == 4

    tombstone = rec("deal-1", {"deletedBy": "zoe@acme.com"}, T3, deleted=True)
    ack = ingest(client, token, source_id, [tombstone])
    normalize_all()
    assert batch(client, token, ack["batchId"])["eventsCreated"] == 1

    visible = [e for e in all_events(client, token) if e["entity"]["id"] == "deal-1"]
    assert [e["action"] for e in visible] == ["deal_deleted"]
    deleted = visible[0]
    assert deleted["deleted"] is False
    assert deleted["timestamp"] == T3
    assert actor_email(deleted) == "zoe@acme.com"
    assert deleted["entity"]["name"] == "Deal"  # from the last payload before the tombstone

    everything = all_events(client, token, includeDeleted="true", entityId="deal-1")
    assert {e["id"] for e in everything} == {e["id"] for e in earlier} | {deleted["id"]}
    for event in everything:
        assert event["deleted"] is (event["id"] != deleted["id"])
        one = get(client, token, f"/v1/events/{event['id']}")  # still readable by id
        assert one["deleted"] is event["deleted"]
        assert one["provenance"][0]["id"] == event["recordVersionId"]
    # the other record is untouched
    assert {e["deleted"] for e in all_events(client, token, entityId="deal-2")} == {False}
    assert len(all_events(client, token, entityId="deal-2")) == 2


def test_a_record_recreated_after_a_tombstone_starts_again(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    ingest(client, token, source_id, [rec("deal-1", V1, T1)])
    ingest(client, token, source_id, [rec("deal-1", None, T2, deleted=True)])
    ingest(client, token, source_id, [rec("deal-1", V1, T3)])
    normalize_all()
    visible = all_events(client, token)
    assert actions(visible) == ["deal_created", "deal_deleted", "deal_owner_assigned"]
    assert {e["timestamp"] for e in visible if e["action"] != "deal_deleted"} == {T3}
    deleted = by_action(visible)["deal_deleted"]
    assert deleted["actor"] is None  # a tombstone without payload names nobody
    hidden = [e for e in all_events(client, token, includeDeleted="true") if e["deleted"]]
    assert sorted((e["action"], e["timestamp"]) for e in hidden) == [
        ("deal_created", T1),
        ("deal_owner_assigned", T1),
    ]


def _tombstone_summary(client: TestClient, token: str, source: str) -> list[tuple[Any, ...]]:
    return sorted(
        (e["action"], e["timestamp"], e["deleted"])
        for e in all_events(client, token, sourceId=source, includeDeleted="true")
    )


def test_a_tombstone_normalized_before_the_earlier_batch_still_deletes_its_events(
    client: TestClient,
    token: str,
    store: Store,
    normalize_all: Callable[[], int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # in order: batch 1 is normalized, then the tombstone's batch 2
    in_order = create_source(client, token, "in order")
    ingest(client, token, in_order, [rec("deal-1", V1, T1)])
    normalize_all()
    ingest(client, token, in_order, [rec("deal-1", None, T2, deleted=True)])
    normalize_all()

    # out of order: batch 1 fails once, so the tombstone's batch 2 is normalized first
    out_of_order = create_source(client, token, "out of order")
    first = ingest(client, token, out_of_order, [rec("deal-1", V1, T1)])
    second = ingest(client, token, out_of_order, [rec("deal-1", None, T2, deleted=True)])
    (first_version,) = version_ids(client, token, first["batchId"])
    real = headwater.normalize.events_for
    failed: list[str] = []

    def flaky(version: Any, previous: Any, mapping: Any, *args: Any) -> Any:
        if version.version_id == first_version and not failed:
            failed.append(version.version_id)
            raise RuntimeError("transient")
        return real(version, previous, mapping, *args)

    monkeypatch.setattr(headwater.normalize, "events_for", flaky)
    monkeypatch.setattr(headwater.core.retry, "retry_delay", lambda attempt: 0)
    worker = Worker(store, worker_id="w")
    assert worker.run_once()  # batch 1 fails and goes back to the queue
    assert batch(client, token, first["batchId"])["status"] == "queued"
    assert worker.run_once()  # batch 2 (the tombstone)
    assert batch(client, token, second["batchId"])["status"] == "done"
    assert batch(client, token, first["batchId"])["status"] == "queued"
    assert worker.run_once()  # batch 1 again
    assert not worker.run_once()
    assert failed == [first_version]
    assert batch(client, token, first["batchId"])["status"] == "done"

    expected = [
        ("deal_created", T1, True),
        ("deal_deleted", T2, False),
        ("deal_owner_assigned", T1, True),
    ]
    assert _tombstone_summary(client, token, in_order) == expected
    assert _tombstone_summary(client, token, out_of_order) == expected
    assert actions(all_events(client, token, sourceId=out_of_order)) == ["deal_deleted"]
