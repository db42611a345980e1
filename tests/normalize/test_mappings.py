"""Spec §6.4: a source's custom `mappings`, validated on write, drive its events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.testclient import TestClient

from tests.conftest import assert_error, bearer
from tests.normalize.helpers import (
    actions,
    actor_email,
    all_events,
    by_action,
    create_source,
    get,
    ingest,
    rec,
)

T1, T2, T3 = (f"2026-06-1{d}T10:00:00Z" for d in range(1, 4))

TICKET_MAPPING = {
    "ticket": {
        "statusFields": ["severity"],
        "assignmentFields": ["handler"],
        "createdByFields": ["reporter"],
        "updatedByFields": ["editor"],
        "fallbackActorFields": ["teamLead"],
        "ignoreFields": ["lastSyncedAt"],
        "nameFields": ["headline"],
        "actions": {
            "created": "ticket_opened",
            "updated": "ticket_edited",
            "handler_assigned": "ticket_routed",
        },
    }
}
V1 = {
    "headline": "Printer on fire",
    "name": "not the display name",
    "severity": "high",
    "status": "new",
    "handler": "hal@acme.com",
    "reporter": "rita@acme.com",
    "teamLead": "tom@acme.com",
    "lastSyncedAt": "1",
}


def _by_time(client: TestClient, token: str, source: str, at: str) -> dict[str, dict[str, Any]]:
    return by_action(
        [e for e in all_events(client, token, sourceId=source) if e["timestamp"] == at]
    )


def test_events_follow_a_custom_mapping(
    client: TestClient, token: str, normalize_all: Callable[[], int]
) -> None:
    source = create_source(client, token, "Helpdesk", mappings=TICKET_MAPPING)
    assert get(client, token, f"/v1/sources/{source}")["mappings"] == TICKET_MAPPING
    v2 = {
        **V1,
        "severity": "critical",
        "status": "open",
        "lastSyncedAt": "2",
        "editor": "eve@acme.com",
    }
    v3 = {
        **V1,
        "severity": "critical",
        "status": "open",
        "lastSyncedAt": "3",
        "handler": "kim@acme.com",
    }
    ingest(client, token, source, [rec("t-1", V1, T1, "ticket")])
    ingest(client, token, source, [rec("t-1", v2, T2, "ticket")])
    ingest(client, token, source, [rec("t-1", v3, T3, "ticket")])
    ingest(
        client,
        token,
        source,
        [rec("t-1", {**v3, "lastSyncedAt": "4"}, "2026-06-14T10:00:00Z", "ticket")],
    )
    normalize_all()

    first = _by_time(client, token, source, T1)
    assert set(first) == {"ticket_opened", "ticket_routed"}  # renamed actions
    assert actor_email(first["ticket_opened"]) == "rita@acme.com"  # createdByFields
    assert first["ticket_routed"]["changes"] == [
        {"field": "handler", "from": None, "to": "hal@acme.com"}
    ]
    assert {e["entity"]["name"] for e in first.values()} == {"Printer on fire"}  # nameFields

    second = _by_time(client, token, source, T2)
    # severity is status-like here; status is not; lastSyncedAt is ignored; editor is an actor key
    assert set(second) == {"ticket_severity_changed", "ticket_edited"}
    severity = second["ticket_severity_changed"]
    assert severity["changes"] == [{"field": "severity", "from": "high", "to": "critical"}]
    assert actor_email(severity) == "eve@acme.com"  # updatedByFields
    assert second["ticket_edited"]["changes"] == [{"field": "status", "from": "new", "to": "open"}]

    third = _by_time(client, token, source, T3)
    assert set(third) == {"ticket_routed"}
    routed = third["ticket_routed"]
    assert routed["changes"] == [{"field": "handler", "from": "hal@acme.com", "to": "kim@acme.com"}]
    assert actor_email(routed) == "tom@acme.com"  # fallbackActorFields (no editor any more)

    # a version that differs only in an ignored field is stored but gives no events
    assert _by_time(client, token, source, "2026-06-14T10:00:00Z") == {}


def test_entity_types_without_a_mapping_keep_the_defaults(
    client: TestClient, token: str, normalize_all: Callable[[], int]
) -> None:
    source = create_source(client, token, "Helpdesk", mappings=TICKET_MAPPING)
    deal = {
        "name": "Deal",
        "stage": "lead",
        "owner": "o@acme.com",
        "severity": "x",
        "handler": "h@acme.com",
    }
    ingest(client, token, source, [rec("d-1", deal, T1)])
    ingest(client, token, source, [rec("d-1", {**deal, "stage": "won", "severity": "y"}, T2)])
    normalize_all()
    assert actions(all_events(client, token, sourceId=source)) == [
        "deal_created",
        "deal_owner_assigned",
        "deal_stage_changed",
        "deal_updated",
    ]
    updated = by_action(all_events(client, token, sourceId=source))["deal_updated"]
    assert updated["changes"] == [{"field": "severity", "from": "x", "to": "y"}]


def test_a_mapping_can_ignore_and_rename_default_fields(
    client: TestClient, token: str, normalize_all: Callable[[], int]
) -> None:
    mappings = {
        "deal": {
            "ignoreFields": ["stage", "owner"],
            "actions": {"created": "deal_opened", "updated": "deal_touched"},
        }
    }
    source = create_source(client, token, "CRM", mappings=mappings)
    deal = {
        "name": "Deal",
        "stage": "lead",
        "owner": "o@acme.com",
        "amount": 1,
        "movedToStageBy": "m@acme.com",
    }
    ingest(client, token, source, [rec("d-1", deal, T1)])
    ingest(
        client,
        token,
        source,
        [rec("d-1", {**deal, "stage": "won", "owner": "p@acme.com", "amount": 2}, T2)],
    )
    normalize_all()
    events = all_events(client, token, sourceId=source)
    assert actions(events) == ["deal_opened", "deal_touched"]
    touched = by_action(events)["deal_touched"]
    assert touched["changes"] == [{"field": "amount", "from": 1, "to": 2}]
    assert actor_email(touched) == "p@acme.com"  # owner still names the fallback actor


INVALID: list[tuple[Any, str]] = [
    ({"ticket": {"statusFields": "severity"}}, "mappings.ticket.statusFields"),
    ({"ticket": {"statusFields": [""]}}, "mappings.ticket.statusFields"),
    ({"ticket": {"assignmentFields": [1]}}, "mappings.ticket.assignmentFields"),
    ({"ticket": {"bogusFields": []}}, "mappings.ticket.bogusFields"),
    ({"ticket": {"actions": {"created": "has space"}}}, "mappings.ticket.actions.created"),
    ({"ticket": {"actions": {"created": 3}}}, "mappings.ticket.actions"),
    ({"ticket": {"nameFields": ["x"] * 101}}, "mappings.ticket.nameFields"),
    ({"ticket": ["statusFields"]}, "mappings.ticket"),
    ({"bad type!": {}}, "mappings.bad type!"),
    (["ticket"], "mappings"),
]


def test_invalid_mappings_are_rejected_on_create_and_patch(
    client: TestClient, token: str, source_id: str
) -> None:
    for mappings, field in INVALID:
        response = client.post(
            "/v1/sources", json={"name": "x", "mappings": mappings}, headers=bearer(token)
        )
        error = assert_error(response, 400, "VALIDATION_ERROR")
        fields = [d["field"] for d in error["details"]]
        assert any(f.startswith(field) for f in fields), (mappings, fields)
        assert all(d["message"] for d in error["details"])

        response = client.patch(
            f"/v1/sources/{source_id}", json={"mappings": mappings}, headers=bearer(token)
        )
        error = assert_error(response, 400, "VALIDATION_ERROR")
        fields = [d["field"] for d in error["details"]]
        assert any(f.startswith(field) for f in fields), (mappings, fields)
    assert get(client, token, f"/v1/sources/{source_id}")["mappings"] is None  # unchanged
    assert len(get(client, token, "/v1/sources")) == 1  # nothing was created


UNKNOWN_KEYS: list[tuple[Any, str]] = [
    ({"ticket": {"bogus": 1}}, "mappings.ticket.bogus"),
    ({"ticket": {"statusfields": ["x"]}}, "mappings.ticket.statusfields"),  # case matters
    ({"ticket": {"actions": {"bogus": "x"}}}, "mappings.ticket.actions.bogus"),
    ({"ticket": {"actions": {"create": "x"}}}, "mappings.ticket.actions.create"),
    ({"ticket": {"actions": {"ticket_created": "x"}}}, "mappings.ticket.actions.ticket_created"),
    ({"ticket": {"actions": {"Stage_changed": "x"}}}, "mappings.ticket.actions.Stage_changed"),
    (
        {"ticket": {"actions": {"created": "ok", "stage_moved": "x"}}},
        "mappings.ticket.actions.stage_moved",
    ),
]


def test_unknown_keys_and_action_names_are_400_with_their_path_and_not_stored(
    client: TestClient, token: str, source_id: str
) -> None:
    for mappings, field in UNKNOWN_KEYS:
        for response in [
            client.post(
                "/v1/sources", json={"name": "x", "mappings": mappings}, headers=bearer(token)
            ),
            client.patch(
                f"/v1/sources/{source_id}", json={"mappings": mappings}, headers=bearer(token)
            ),
        ]:
            error = assert_error(response, 400, "VALIDATION_ERROR")
            assert [d["field"] for d in error["details"]] == [field], mappings
    assert get(client, token, f"/v1/sources/{source_id}")["mappings"] is None
    assert len(get(client, token, "/v1/sources")) == 1
    # every action the default rules produce can be renamed
    known = {"created": "a", "updated": "b", "deleted": "c", "assigned_to_assigned": "d",
             "stage_changed": "e", "_changed": "f", "my.field-x_changed": "g"}  # fmt: skip
    response = client.patch(
        f"/v1/sources/{source_id}",
        json={"mappings": {"ticket": {"actions": known}}},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text


def test_valid_mappings_can_be_patched_and_cleared(
    client: TestClient, token: str, source_id: str
) -> None:
    response = client.patch(
        f"/v1/sources/{source_id}", json={"mappings": TICKET_MAPPING}, headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    assert get(client, token, f"/v1/sources/{source_id}")["mappings"] == TICKET_MAPPING
    response = client.patch(
        f"/v1/sources/{source_id}", json={"mappings": None}, headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    assert get(client, token, f"/v1/sources/{source_id}")["mappings"] is None


def test_a_replication_key_that_alone_changed_gives_no_event(
    client: TestClient, token: str, normalize_all: Callable[[], int]
) -> None:
    """A Singer tap sends `updated_at` (its replication key) in every record: a version
    that differs only there is stored (the payload is kept verbatim) but gives no event."""
    source = create_source(client, token, "Postgres deals")
    v1 = {"name": "Acme renewal", "stage": "negotiation", "amount": 42000,
          "updated_at": "2026-06-10T14:03:00+00:00"}  # fmt: skip
    touched = {**v1, "updated_at": "2026-06-11T09:00:00+00:00"}
    repriced = {**touched, "amount": 45000, "updated_at": "2026-06-12T09:00:00+00:00"}
    ingest(client, token, source, [rec("emea:1", v1, T1)])
    second = ingest(client, token, source, [rec("emea:1", touched, T2)])
    ingest(client, token, source, [rec("emea:1", repriced, T3)])
    normalize_all()
    assert second["accepted"] == 1  # a new version is stored...
    assert get(client, token, f"/v1/ingest/{second['batchId']}")["eventsCreated"] == 0  # ...quietly
    events = all_events(client, token, sourceId=source)
    assert actions(events) == ["deal_created", "deal_updated"]
    updated = by_action(events)["deal_updated"]
    assert updated["timestamp"] == T3
    assert updated["changes"] == [{"field": "amount", "from": 42000, "to": 45000}]


def test_ignore_fields_replace_the_default_list_and_renormalize_applies_the_change(
    client: TestClient, token: str, normalize_all: Callable[[], int]
) -> None:
    """`ignoreFields: []` reports the bookkeeping fields again; going back to the default
    and renormalizing removes the events they gave (new fingerprint: every event of the
    type gets a new id)."""
    everything = {"deal": {"ignoreFields": []}}
    source = create_source(client, token, "Postgres deals", mappings=everything)
    v1 = {"name": "Acme renewal", "stage": "negotiation", "updated_at": "1"}
    ingest(client, token, source, [rec("emea:1", v1, T1)])
    ingest(client, token, source, [rec("emea:1", {**v1, "updated_at": "2"}, T2)])
    normalize_all()
    before = all_events(client, token, sourceId=source)
    assert actions(before) == ["deal_created", "deal_updated"]
    assert by_action(before)["deal_updated"]["changes"] == [
        {"field": "updated_at", "from": "1", "to": "2"}
    ]

    response = client.patch(f"/v1/sources/{source}", json={"mappings": None}, headers=bearer(token))
    assert response.status_code == 200, response.text
    response = client.post(f"/v1/sources/{source}/renormalize", headers=bearer(token))
    assert response.status_code == 202, response.text
    normalize_all()
    after = all_events(client, token, sourceId=source)
    assert actions(after) == ["deal_created"]
    assert after[0]["id"] != by_action(before)["deal_created"]["id"]
