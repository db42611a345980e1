"""Unit and property tests for headwater.core.events (spec §6.2, §6.3: events from versions).

The last part simulates ingest (core.outcome.plan_ingest on dicts) and normalization to
check the issue's property: for any chain of payloads, re-normalizing gives the same
events as incremental processing.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from headwater.core import canonical
from headwater.core.actors import ActorRef
from headwater.core.events import EventDraft, VersionView, event_id, events_for
from headwater.core.mapping import Mapping, MappingSpec
from headwater.core.models import Head, Outcome, PlannedVersion, RecordKey, ValidRecord
from headwater.core.outcome import VersionIdentity, plan_ingest, versions_to_check

#: property tests: no per-example deadline (CI machines vary)
PROPERTY = settings(deadline=None)

CREATED, SUPERSEDED, STALE = Outcome.CREATED, Outcome.SUPERSEDED, Outcome.STALE
DEFAULT = Mapping.default()
DEAL = RecordKey("deal", "deal-1")
JANE = ActorRef("jane.smith@acme.com", None)
MARK = ActorRef("mark.lee@acme.com", None)
_canonical = msgspec.json.Encoder(order="sorted").encode


def view(
    version_id: str,
    payload: dict[str, Any],
    ts: int = 1,
    outcome: Outcome = CREATED,
    deleted: bool = False,
    key: RecordKey = DEAL,
) -> VersionView:
    return VersionView(version_id, key, ts, deleted, outcome, payload)


def supersede(
    before: dict[str, Any], after: dict[str, Any], mapping: Mapping = DEFAULT
) -> list[EventDraft]:
    return events_for(view("v2", after, ts=2, outcome=SUPERSEDED), view("v1", before), mapping)


def summary(events: Sequence[EventDraft]) -> list[tuple[str, ActorRef | None, list[Any]]]:
    return [(e.action, e.actor, [c.as_json() for c in e.changes]) for e in events]


def actions(events: Sequence[EventDraft]) -> list[str]:
    return [e.action for e in events]


def actor_of(events: Sequence[EventDraft], action: str) -> str | None:
    (event,) = [e for e in events if e.action == action]
    return None if event.actor is None else event.actor.email or event.actor.name


# --------------------------------------------------------------------------- the seed

SEED = [
    view(
        "ver-4471",
        {
            "name": "Acme Corp renewal",
            "stage": "negotiation",
            "amount": 42000,
            "owner": "jane.smith@acme.com",
            "movedToStageBy": "jane.smith@acme.com",
        },
        ts=1_781_100_180_000_000,
        key=RecordKey("deal", "deal-4471"),
    ),
    view(
        "ver-4472",
        {
            "name": "Northwind expansion",
            "stage": "closed_won",
            "amount": 12500,
            "owner": "mark.lee@acme.com",
        },
        ts=1_781_104_860_000_000,
        key=RecordKey("deal", "deal-4472"),
    ),
]


def test_the_seed_gives_the_five_events_of_the_spec() -> None:
    events = [e for version in SEED for e in events_for(version, None, DEFAULT)]
    assert [
        (e.key.record_id, e.action, e.actor, [c.as_json() for c in e.changes]) for e in events
    ] == [
        ("deal-4471", "deal_created", JANE, []),
        (
            "deal-4471",
            "deal_stage_changed",
            JANE,
            [{"field": "stage", "from": None, "to": "negotiation"}],
        ),
        (
            "deal-4471",
            "deal_owner_assigned",
            JANE,
            [{"field": "owner", "from": None, "to": "jane.smith@acme.com"}],
        ),
        ("deal-4472", "deal_created", MARK, []),
        (
            "deal-4472",
            "deal_owner_assigned",
            MARK,
            [{"field": "owner", "from": None, "to": "mark.lee@acme.com"}],
        ),
    ]
    for event, (version, name) in zip(
        events,
        [(SEED[0], "Acme Corp renewal")] * 3 + [(SEED[1], "Northwind expansion")] * 2,
        strict=True,
    ):
        assert event.entity_name == name
        assert event.timestamp == version.source_updated_at
        assert event.version_id == version.version_id
        assert event.key == version.key
        assert event.deleted is False
    assert len({e.id for e in events}) == 5


def test_the_seed_s_event_ids_are_pinned() -> None:
    # Deterministic ids (§6.2) across releases: a change re-mints every stored event id.
    assert event_id("ver-4471", DEFAULT.fingerprint, "deal_created", "") == (
        event_id("ver-4471", DEFAULT.fingerprint, "deal_created", "")
    )
    ids = [e.id for e in events_for(SEED[0], None, DEFAULT)]
    assert ids[0] == event_id("ver-4471", DEFAULT.fingerprint, "deal_created", "")
    assert ids[1] == event_id("ver-4471", DEFAULT.fingerprint, "deal_stage_changed", "stage")
    assert ids[2] == event_id("ver-4471", DEFAULT.fingerprint, "deal_owner_assigned", "owner")
    assert ids[0] == "ea32ba8a-754f-8638-add5-ca80c9870d0f"  # default-v2 (docs/mappings.md)


# --------------------------------------------------------------------------- first versions


def test_first_version_without_attribution_is_one_created_event() -> None:
    events = events_for(view("v1", {"name": "Acme", "amount": 1, "stage": "lead"}), None, DEFAULT)
    assert summary(events) == [("deal_created", None, [])]


def test_first_version_gives_each_attributed_field_and_each_assignment() -> None:
    payload = {
        "stage": "lead",
        "region": "emea",
        "movedToStageBy": "a@x.co",
        "movedToRegionBy": {"name": "Bo", "email": "B@x.co"},
        "owner": "o@x.co",
        "assignee": "Ann",
        "assignedTo": {"email": "t@x.co"},
        "createdBy": "c@x.co",
    }
    assert summary(events_for(view("v1", payload), None, DEFAULT)) == [
        ("deal_created", ActorRef("c@x.co", None), []),
        (
            "deal_region_changed",
            ActorRef("b@x.co", "Bo"),
            [{"field": "region", "from": None, "to": "emea"}],
        ),
        (
            "deal_stage_changed",
            ActorRef("a@x.co", None),
            [{"field": "stage", "from": None, "to": "lead"}],
        ),
        (
            "deal_owner_assigned",
            ActorRef("c@x.co", None),
            [{"field": "owner", "from": None, "to": "o@x.co"}],
        ),
        (
            "deal_assignee_assigned",
            ActorRef("c@x.co", None),
            [{"field": "assignee", "from": None, "to": "Ann"}],
        ),
        (
            "deal_assigned_to_assigned",
            ActorRef("c@x.co", None),
            [{"field": "assignedTo", "from": None, "to": {"email": "t@x.co"}}],
        ),
    ]


def test_first_version_null_assignment_gives_no_event() -> None:
    events = events_for(view("v1", {"owner": None, "assignee": "Ann"}), None, DEFAULT)
    assert actions(events) == ["deal_created", "deal_assignee_assigned"]


def test_first_version_attributed_assignment_is_one_assigned_event() -> None:
    # as for a superseding version: the assignment event, with the attributed actor
    payload = {"owner": "o@x.co", "movedToOwnerBy": "m@x.co"}
    assert summary(events_for(view("v1", payload), None, DEFAULT)) == [
        ("deal_created", ActorRef("o@x.co", None), []),
        (
            "deal_owner_assigned",
            ActorRef("m@x.co", None),
            [{"field": "owner", "from": None, "to": "o@x.co"}],
        ),
    ]


def test_creation_actor_precedence() -> None:
    def created_by(payload: dict[str, Any]) -> str | None:
        return actor_of(events_for(view("v1", payload), None, DEFAULT), "deal_created")

    full = {
        "createdBy": "c@x.co",
        "author": "a@x.co",
        "sender": "s@x.co",
        "owner": "o@x.co",
        "updatedBy": "u@x.co",
        "movedToStageBy": "m@x.co",
    }
    assert created_by(full) == "c@x.co"
    assert created_by({**full, "createdBy": None}) == "a@x.co"
    assert created_by({**full, "createdBy": "", "author": 5}) == "s@x.co"
    del full["createdBy"], full["author"], full["sender"]
    assert created_by(full) == "o@x.co"  # updatedBy is for changes, not creation
    assert created_by({"updatedBy": "u@x.co", "movedToStageBy": "m@x.co"}) is None


# --------------------------------------------------------------------------- superseding versions


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"movedToStageBy": "m@x.co", "stageChangedBy": "s@x.co", "updatedBy": "u@x.co"}, "m@x.co"),
        ({"stageChangedBy": "s@x.co", "updatedBy": "u@x.co", "owner": "o@x.co"}, "s@x.co"),
        ({"updatedBy": "u@x.co", "modifiedBy": "d@x.co", "owner": "o@x.co"}, "u@x.co"),
        ({"modifiedBy": "d@x.co", "lastModifiedBy": "l@x.co"}, "d@x.co"),
        ({"lastModifiedBy": "l@x.co", "owner": "o@x.co"}, "l@x.co"),
        ({"owner": "o@x.co", "createdBy": "c@x.co", "author": "a@x.co"}, "o@x.co"),
        ({"createdBy": "c@x.co", "movedToPhaseBy": "p@x.co", "statusChangedBy": "t@x.co"}, None),
        ({"movedToStageBy": "", "stageChangedBy": 3, "updatedBy": "Jane"}, "Jane"),
    ],
)
def test_change_actor_precedence(extra: dict[str, Any], expected: str | None) -> None:
    before = {"stage": "lead", **extra}
    events = supersede(before, {**extra, "stage": "won"})
    assert actor_of(events, "deal_stage_changed") == expected


def test_the_updated_event_uses_no_field_specific_actor() -> None:
    extra = {"movedToStageBy": "m@x.co", "amountChangedBy": "a@x.co", "modifiedBy": "d@x.co"}
    events = supersede({"amount": 1, **extra}, {"amount": 2, **extra})
    assert actor_of(events, "deal_updated") == "d@x.co"


def test_each_status_like_field_gives_its_own_event() -> None:
    before = {"stage": "lead", "status": "open", "state": "a", "phase": 1, "priority": "low"}
    after = {"stage": "won", "status": "closed", "state": "b", "phase": 2, "priority": "high"}
    assert summary(supersede(before, after)) == [
        ("deal_phase_changed", None, [{"field": "phase", "from": 1, "to": 2}]),
        ("deal_priority_changed", None, [{"field": "priority", "from": "low", "to": "high"}]),
        ("deal_stage_changed", None, [{"field": "stage", "from": "lead", "to": "won"}]),
        ("deal_state_changed", None, [{"field": "state", "from": "a", "to": "b"}]),
        ("deal_status_changed", None, [{"field": "status", "from": "open", "to": "closed"}]),
    ]


def test_a_field_with_a_moved_to_key_is_status_like() -> None:
    before = {"region": "emea", "tier": 1}
    after = {"region": "apac", "tier": 2, "movedToRegionBy": "m@x.co"}
    assert summary(supersede(before, after)) == [
        (
            "deal_region_changed",
            ActorRef("m@x.co", None),
            [{"field": "region", "from": "emea", "to": "apac"}],
        ),
        ("deal_updated", None, [{"field": "tier", "from": 1, "to": 2}]),
    ]


def test_assignment_fields_give_assigned_events() -> None:
    before = {"owner": "a@x.co", "assignee": "Ann", "assignedTo": "t@x.co"}
    after = {"owner": "b@x.co", "assignee": "Bo", "assignedTo": None, "updatedBy": "u@x.co"}
    events = supersede(before, after)
    assert summary(events) == [  # in field order (code points: "assignedTo" < "assignee")
        (
            "deal_assigned_to_assigned",
            ActorRef("u@x.co", None),
            [{"field": "assignedTo", "from": "t@x.co", "to": None}],
        ),
        (
            "deal_assignee_assigned",
            ActorRef("u@x.co", None),
            [{"field": "assignee", "from": "Ann", "to": "Bo"}],
        ),
        (
            "deal_owner_assigned",
            ActorRef("u@x.co", None),
            [{"field": "owner", "from": "a@x.co", "to": "b@x.co"}],
        ),
    ]
    # assignment wins over attribution: one event per field
    events = supersede({"owner": "a@x.co"}, {"owner": "b@x.co", "movedToOwnerBy": "m@x.co"})
    assert summary(events) == [
        (
            "deal_owner_assigned",
            ActorRef("m@x.co", None),
            [{"field": "owner", "from": "a@x.co", "to": "b@x.co"}],
        )
    ]


def test_other_fields_together_give_one_updated_event_with_sorted_changes() -> None:
    before = {"zeta": 1, "amount": 1, "Name": "a", "name": "Acme", "nested": {"a": [1, 2]}}
    after = {"zeta": 2, "amount": 1, "Name": "b", "name": "Acme 2", "nested": {"a": [2, 1]}}
    (event,) = supersede(before, after)
    assert event.action == "deal_updated"
    assert [c.as_json() for c in event.changes] == [
        {"field": "Name", "from": "a", "to": "b"},
        {"field": "name", "from": "Acme", "to": "Acme 2"},
        {"field": "nested", "from": {"a": [1, 2]}, "to": {"a": [2, 1]}},
        {"field": "zeta", "from": 1, "to": 2},
    ]
    assert event.entity_name == "Acme 2"


def test_removed_and_added_fields_are_changes() -> None:
    (event,) = supersede({"amount": 1, "gone": "x"}, {"amount": 1, "new": False})
    assert [c.as_json() for c in event.changes] == [
        {"field": "gone", "from": "x", "to": None},
        {"field": "new", "from": None, "to": False},
    ]
    events = supersede({"stage": "lead"}, {})
    assert summary(events) == [
        ("deal_stage_changed", None, [{"field": "stage", "from": "lead", "to": None}])
    ]
    events = supersede({}, {"owner": "o@x.co"})
    assert actions(events) == ["deal_owner_assigned"]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (1, 1.0),
        (True, 1),
        (False, 0),
        (0, None),
        ("", None),
        ("1", 1),
        (0.0, -0.0),
        ([], {}),
        ({"a": 1}, {"a": 1.0}),
        ([1, 2], [2, 1]),
        (10**30, 10**30 + 1),
    ],
)
def test_values_are_compared_by_canonical_json(old: Any, new: Any) -> None:
    for before, after in ((old, new), (new, old)):
        (event,) = supersede({"amount": before}, {"amount": after})
        assert [c.as_json() for c in event.changes] == [
            {"field": "amount", "from": before, "to": after}
        ]


def test_equal_values_are_not_changes() -> None:
    before = {"nested": {"a": 1, "b": [1, {"c": None}]}, "n": 10**30, "f": 0.1}
    after = {"f": 0.1, "n": 10**30, "nested": {"b": [1, {"c": None}], "a": 1}}
    assert supersede(before, after) == []


def test_actor_keys_are_never_changes() -> None:
    keys = [
        "movedToStageBy",
        "stageChangedBy",
        "updatedBy",
        "modifiedBy",
        "lastModifiedBy",
        "createdBy",
        "author",
        "sender",
        "deletedBy",
    ]
    before = dict.fromkeys(keys, "a@x.co")
    after = dict.fromkeys(keys, "b@x.co")
    assert supersede(before, after) == []
    assert supersede({}, after) == []
    assert supersede(before, {}) == []
    (event,) = supersede({**before, "amount": 1}, {**after, "amount": 2})
    assert [c.field for c in event.changes] == ["amount"]
    assert event.actor == ActorRef("b@x.co", None)  # updatedBy of the new version


def test_stale_versions_give_nothing() -> None:
    stale = view("v3", {"stage": "won", "owner": "x@x.co"}, ts=0, outcome=STALE)
    assert events_for(stale, None, DEFAULT) == []
    assert events_for(stale, view("v1", {"stage": "lead"}), DEFAULT) == []
    stale_tombstone = view("v3", {}, ts=0, outcome=STALE, deleted=True)
    assert events_for(stale_tombstone, None, DEFAULT) == []


# --------------------------------------------------------------------------- tombstones


def test_a_tombstone_gives_deleted_with_the_previous_name() -> None:
    previous = view("v1", {"name": "Acme", "stage": "lead"})
    tombstone = view("v2", {}, ts=5, outcome=SUPERSEDED, deleted=True)
    (event,) = events_for(tombstone, previous, DEFAULT)
    assert (event.action, event.entity_name, event.changes, event.actor) == (
        "deal_deleted",
        "Acme",
        (),
        None,
    )
    assert (event.timestamp, event.version_id, event.deleted) == (5, "v2", False)


def test_a_tombstone_s_actor_and_own_name() -> None:
    previous = view("v1", {"name": "Acme", "owner": "o@x.co"})
    payload = {"title": "Acme (closed)", "deletedBy": "d@x.co", "updatedBy": "u@x.co"}
    tombstone = view("v2", payload, ts=5, outcome=SUPERSEDED, deleted=True)
    (event,) = events_for(tombstone, previous, DEFAULT)
    assert (event.entity_name, event.actor) == ("Acme (closed)", ActorRef("d@x.co", None))
    del payload["deletedBy"]
    (event,) = events_for(tombstone, previous, DEFAULT)
    assert event.actor == ActorRef("u@x.co", None)
    # a tombstone payload that only keeps the owner: the fallback actor
    tombstone = view("v2", {"owner": "o@x.co"}, ts=5, outcome=SUPERSEDED, deleted=True)
    (event,) = events_for(tombstone, previous, DEFAULT)
    assert (event.action, event.actor) == ("deal_deleted", ActorRef("o@x.co", None))


def test_a_first_version_that_is_a_tombstone() -> None:
    tombstone = view("v1", {"name": "Acme", "stage": "lead", "owner": "o@x.co"}, deleted=True)
    (event,) = events_for(tombstone, None, DEFAULT)
    assert (event.action, event.entity_name) == ("deal_deleted", "Acme")


def test_a_version_superseding_a_tombstone_is_a_creation_again() -> None:
    tombstone = view("v2", {}, ts=2, outcome=SUPERSEDED, deleted=True)
    payload = {"name": "Acme", "stage": "lead", "movedToStageBy": "m@x.co", "owner": "o@x.co"}
    back = view("v3", payload, ts=3, outcome=SUPERSEDED)
    events = events_for(back, tombstone, DEFAULT)
    fresh = events_for(view("v3", payload, ts=3), None, DEFAULT)
    assert events == fresh
    assert actions(events) == ["deal_created", "deal_stage_changed", "deal_owner_assigned"]


def test_tombstoned_after_soft_deletes_older_events() -> None:
    version = view("v1", {"owner": "o@x.co"}, ts=5)
    assert [e.deleted for e in events_for(version, None, DEFAULT, tombstoned_after=6)] == [
        True,
        True,
    ]
    assert [e.deleted for e in events_for(version, None, DEFAULT, tombstoned_after=5)] == [
        False,
        False,
    ]
    assert [e.deleted for e in events_for(version, None, DEFAULT, tombstoned_after=None)] == [
        False,
        False,
    ]
    # the flag does not change which events or their ids
    assert [e.id for e in events_for(version, None, DEFAULT, tombstoned_after=6)] == [
        e.id for e in events_for(version, None, DEFAULT)
    ]


# --------------------------------------------------------------------------- entity names


@pytest.mark.parametrize(
    ("payload", "name"),
    [
        ({"name": "N", "title": "T", "subject": "S", "displayName": "D", "fullName": "F"}, "N"),
        ({"title": "T", "subject": "S", "displayName": "D", "fullName": "F"}, "T"),
        ({"subject": "S", "displayName": "D", "fullName": "F"}, "S"),
        ({"displayName": "D", "fullName": "F"}, "D"),
        ({"fullName": "F"}, "F"),
        ({"name": "  ", "title": "T"}, "T"),
        ({"name": 5, "title": None, "subject": ["S"], "displayName": {"a": 1}}, None),
        ({"Name": "N", "label": "L"}, None),
        ({}, None),
    ],
)
def test_entity_name(payload: dict[str, Any], name: str | None) -> None:
    (event,) = events_for(view("v1", payload), None, DEFAULT)
    assert event.entity_name == name


# --------------------------------------------------------------------------- ids and determinism

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = [
    "name",
    "title",
    "stage",
    "status",
    "priority",
    "owner",
    "assignee",
    "assignedTo",
    "amount",
    "region",
    "movedToStageBy",
    "movedToRegionBy",
    "movedToOwnerBy",
    "stageChangedBy",
    "updatedBy",
    "createdBy",
    "deletedBy",
    "",
]
actor_values = st.sampled_from(
    ["jane@acme.com", "Jane Smith", {"name": "Jane", "email": "J@acme.com"}, "", 3]
)
payloads = st.dictionaries(
    st.sampled_from(FIELDS) | st.text(max_size=6),
    json_values | actor_values,
    max_size=8,
)
mapping_specs = st.builds(
    MappingSpec,
    statusFields=st.none() | st.lists(st.sampled_from(FIELDS[:-1]), max_size=3),
    assignmentFields=st.none() | st.lists(st.sampled_from(FIELDS[:-1]), max_size=3),
    ignoreFields=st.none() | st.lists(st.sampled_from(FIELDS[:-1]), max_size=2),
    actions=st.none()
    | st.dictionaries(
        st.sampled_from(
            ["created", "updated", "deleted", "stage_changed", "owner_changed", "owner_assigned"]
        ),
        st.sampled_from(["x", "y", "deal_updated"]),
        max_size=4,
    ),
)
versions = st.builds(
    view,
    version_id=st.sampled_from(["v1", "v2", "0190f5e2-7c1a-7b3e-8f00-1234567890ab"]),
    payload=payloads,
    ts=st.integers(min_value=-(10**15), max_value=10**16),
    outcome=st.sampled_from([CREATED, SUPERSEDED]),
    deleted=st.booleans(),
)
previous_versions = st.none() | st.builds(
    view, version_id=st.just("v0"), payload=payloads, deleted=st.booleans()
)


def all_events(
    version: VersionView, previous: VersionView | None, mapping: Mapping
) -> list[EventDraft]:
    if version.outcome is CREATED:
        previous = None
    return events_for(version, previous, mapping)


@PROPERTY
@given(versions, previous_versions, mapping_specs)
def test_events_for_is_deterministic(
    version: VersionView, previous: VersionView | None, spec: MappingSpec
) -> None:
    mapping = Mapping.build(spec)
    events = all_events(version, previous, mapping)
    assert events == all_events(version, previous, mapping)
    # equal inputs built afresh (a re-read from storage) give the same events
    copied = dataclasses.replace(version, payload=json.loads(json.dumps(version.payload)))
    assert events == all_events(copied, previous, Mapping.build(spec))
    # key order of the payload is not content: the same events
    shuffled = dataclasses.replace(version, payload=dict(reversed(list(version.payload.items()))))
    assert events == all_events(shuffled, previous, mapping)


ATTRIBUTED_OWNER = view("v1", {"owner": "o@x.co", "movedToOwnerBy": "m@x.co"})


@PROPERTY
@given(versions, previous_versions, mapping_specs)
# an attributed assignment field, with its two possible actions renamed to the same name
@example(ATTRIBUTED_OWNER, None, MappingSpec(actions={"owner_changed": "x", "owner_assigned": "x"}))
@example(ATTRIBUTED_OWNER, None, MappingSpec())
@example(ATTRIBUTED_OWNER, None, MappingSpec(assignmentFields=["owner", "owner"]))
def test_event_ids_are_unique_uuid8s(
    version: VersionView, previous: VersionView | None, spec: MappingSpec
) -> None:
    events = all_events(version, previous, Mapping.build(spec))
    ids = [e.id for e in events]
    assert len(set(ids)) == len(ids)
    for event_id_ in ids:
        parsed = uuid.UUID(event_id_)
        assert str(parsed) == event_id_
        assert parsed.version == 8
        assert parsed.variant == uuid.RFC_4122
    for event in events:
        assert event.version_id == version.version_id
        assert event.key == version.key
        assert event.timestamp == version.source_updated_at
        assert event.deleted is False
        # one event per field: each change names a distinct field
    fields = [c.field for e in events for c in e.changes]
    assert len(set(fields)) == len(fields)
    assert len(events) >= 1 or (version.outcome is SUPERSEDED and not version.deleted)


@PROPERTY
@given(versions, previous_versions, mapping_specs, mapping_specs)
def test_event_ids_differ_with_the_version_or_the_mapping(
    version: VersionView,
    previous: VersionView | None,
    spec: MappingSpec,
    other_spec: MappingSpec,
) -> None:
    mapping = Mapping.build(spec)
    events = all_events(version, previous, mapping)
    ids = {e.id for e in events}
    renamed = dataclasses.replace(version, version_id=version.version_id + "'")
    assert ids.isdisjoint(e.id for e in all_events(renamed, previous, mapping))
    other = Mapping.build(other_spec)
    if other.fingerprint != mapping.fingerprint:
        assert ids.isdisjoint(e.id for e in all_events(version, previous, other))
    else:
        assert ids == {e.id for e in all_events(version, previous, other)}


@PROPERTY
@given(payloads, payloads)
def test_diff_reports_exactly_the_changed_fields(
    before: dict[str, Any], after: dict[str, Any]
) -> None:
    events = supersede(before, after)
    changes = {c.field: c for e in events for c in e.changes}
    for name in set(before) | set(after):
        differs = (name in before) != (name in after) or _canonical(before[name]) != _canonical(
            after[name]
        )
        if DEFAULT.is_actor_key(name) or not differs:
            assert name not in changes
        else:
            assert changes[name].before == before.get(name)
            assert changes[name].after == after.get(name)
    assert set(changes) <= set(before) | set(after)
    updated = [e for e in events if e.action == "deal_updated"]
    assert len(updated) <= 1
    for event in updated:
        fields = [c.field for c in event.changes]
        assert fields == sorted(fields) and fields
        assert not {*fields} & {*DEFAULT.status_fields, *DEFAULT.assignment_fields}
    for event in events:
        if event.action != "deal_updated":
            assert len(event.changes) == 1


def test_event_id_shape() -> None:
    one = event_id("v1", "f", "deal_created", "")
    assert uuid.UUID(one).version == 8
    assert one == event_id("v1", "f", "deal_created", "")
    others = {
        event_id("v2", "f", "deal_created", ""),
        event_id("v1", "g", "deal_created", ""),
        event_id("v1", "f", "deal_updated", ""),
        event_id("v1", "f", "deal_created", "x"),
        # the separator keeps the parts apart
        event_id("v1\x00f", "", "deal_created", ""),
    }
    assert one not in others and len(others) == 5


# --------------------------------------------------------------------------- ingest, then normalize


def record(
    index: int, key: RecordKey, payload: dict[str, Any], ts: int, deleted: bool
) -> ValidRecord:
    raw = json.dumps(payload).encode()
    digest = canonical.content_hash(canonical.canonicalize(raw), deleted)
    return ValidRecord(index, key, ts, raw, digest, deleted)


def to_view(version: PlannedVersion) -> VersionView:
    r = version.record
    return VersionView(
        version.version_id,
        r.key,
        r.source_updated_at,
        r.deleted,
        version.outcome,
        json.loads(r.payload),
    )


@dataclass
class World:
    """Ingest storage on dicts (heads, versions by identity) plus the event table."""

    mapping: Mapping
    heads: dict[RecordKey, Head] = field(default_factory=dict)
    versions: dict[VersionIdentity, PlannedVersion] = field(default_factory=dict)
    by_id: dict[str, PlannedVersion] = field(default_factory=dict)
    batches: list[list[PlannedVersion]] = field(default_factory=list)
    events: dict[str, EventDraft] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def ingest(self, records: Sequence[ValidRecord]) -> int:
        """Store one request like the ingest shell; returns its batch number."""
        keys = {r.key for r in records}
        heads = {k: self.heads[k] for k in keys if k in self.heads}
        wanted = versions_to_check(records, heads)
        stored = {i: self.versions[i].version_id for i in wanted if i in self.versions}
        plan = plan_ingest(records, [], heads, stored, lambda: f"v{next(self.ids)}")
        for version in plan.versions:
            r = version.record
            identity = (r.key, r.content_hash, r.source_updated_at)
            assert identity not in self.versions
            self.versions[identity] = self.by_id[version.version_id] = version
        self.heads.update(plan.heads)
        self.batches.append(plan.versions)
        return len(self.batches) - 1

    def derive(self, versions: Sequence[PlannedVersion]) -> list[EventDraft]:
        """events_for of each version with the version it superseded (normalize.derive)."""
        drafts: list[EventDraft] = []
        for version in versions:
            previous = version.previous_version_id
            before = to_view(self.by_id[previous]) if previous is not None else None
            events = events_for(to_view(version), before, self.mapping)
            if version.outcome is STALE:
                assert events == []
            drafts += events
        return drafts

    def tombstones(self) -> dict[RecordKey, int]:
        """The latest non-stale tombstone time of each record stored so far."""
        latest: dict[RecordKey, int] = {}
        for version in self.by_id.values():
            r = version.record
            if r.deleted and version.outcome is not STALE:
                latest[r.key] = max(latest.get(r.key, r.source_updated_at), r.source_updated_at)
        return latest

    def normalize(self, batch: int) -> None:
        """One batch, like normalize.normalize_batch (tombstones read at that moment)."""
        versions = self.batches[batch]
        for draft in apply_tombstones(self.derive(versions), self.tombstones()):
            assert draft.id not in self.events, f"event id written twice: {draft}"
            self.events[draft.id] = draft
        for version in versions:
            r = version.record
            if r.deleted and version.outcome is not STALE:
                for event in list(self.events.values()):
                    if event.key == r.key and event.timestamp < r.source_updated_at:
                        self.events[event.id] = dataclasses.replace(event, deleted=True)

    def renormalize(self) -> dict[str, EventDraft]:
        """All stored versions, like normalize.renormalize_source."""
        chain = sorted(
            self.by_id.values(), key=lambda v: (v.record.source_updated_at, v.record.index)
        )
        drafts = apply_tombstones(self.derive(chain), self.tombstones())
        rebuilt = {d.id: d for d in drafts}
        assert len(rebuilt) == len(drafts), "event ids repeat across the history"
        return rebuilt


def apply_tombstones(
    drafts: list[EventDraft], tombstones: dict[RecordKey, int]
) -> list[EventDraft]:
    return [
        dataclasses.replace(d, deleted=True)
        if d.key in tombstones and d.timestamp < tombstones[d.key]
        else d
        for d in drafts
    ]


KEYS = [RecordKey("deal", "1"), RecordKey("deal", "2"), RecordKey("ticket", "1")]
sim_payloads = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["Acme", "Northwind"]),
        "stage": st.sampled_from(["lead", "won"]),
        "owner": st.sampled_from(["jane@acme.com", "Jane Smith"]),
        "amount": st.sampled_from([1, 1.0, True]),
        "movedToStageBy": st.just("mark@acme.com"),
        "updatedBy": st.sampled_from(["ann@acme.com", {"name": "Ann", "email": "ann@acme.com"}]),
    },
)
sim_records = st.tuples(
    st.sampled_from(KEYS),
    sim_payloads,
    st.integers(min_value=0, max_value=4),  # few timestamps: many ties
    st.sampled_from([False, False, False, True]),  # occasional tombstones
)
requests = st.lists(st.lists(sim_records, min_size=1, max_size=5), min_size=1, max_size=6)
sim_mappings = st.sampled_from(
    [
        MappingSpec(),
        MappingSpec(
            statusFields=["amount"], actions={"created": "opened", "stage_changed": "moved"}
        ),
        MappingSpec(assignmentFields=["owner", "updatedBy"], ignoreFields=["name"]),
    ]
)


def build_requests(
    sent: list[list[tuple[RecordKey, dict[str, Any], int, bool]]],
) -> list[list[ValidRecord]]:
    return [
        [
            record(i, key, payload, ts, deleted)
            for i, (key, payload, ts, deleted) in enumerate(request)
        ]
        for request in sent
    ]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests, sim_mappings, st.data())
def test_renormalizing_gives_the_same_events_as_incremental_processing(
    sent: list[list[tuple[RecordKey, dict[str, Any], int, bool]]],
    spec: MappingSpec,
    data: st.DataObject,
) -> None:
    mapping = Mapping.build(spec)
    batches = build_requests(sent)

    # incremental: each batch normalized right after its request
    eager = World(mapping)
    for records in batches:
        eager.normalize(eager.ingest(records))

    # asynchronous: normalization of batches lags behind ingest, in any order
    lagging = World(mapping)
    pending: list[int] = []
    for records in batches:
        pending.append(lagging.ingest(records))
        while pending:
            now: bool = data.draw(st.booleans(), label="normalize now")
            if not now:
                break
            at: int = data.draw(st.integers(0, len(pending) - 1), label="which batch")
            lagging.normalize(pending.pop(at))
    order = data.draw(st.permutations(pending), label="remaining order")
    for batch in order:
        lagging.normalize(batch)

    rebuilt = eager.renormalize()
    assert eager.events == rebuilt
    assert lagging.events == rebuilt
    assert lagging.renormalize() == rebuilt
    # re-normalizing twice changes nothing
    assert eager.renormalize() == rebuilt

    # the tombstone rule, spelled out: an event is deleted exactly when a non-stale
    # tombstone of its record is newer than it
    versions = list(eager.by_id.values())
    for event in rebuilt.values():
        newer_tombstone = any(
            v.record.key == event.key
            and v.record.deleted
            and v.outcome is not STALE
            and v.record.source_updated_at > event.timestamp
            for v in versions
        )
        assert event.deleted is newer_tombstone
    # every stored non-stale version is accounted for: a first version (or one after a
    # tombstone) gives exactly one created/deleted event; stale versions give none
    by_version: dict[str, list[str]] = {}
    for event in rebuilt.values():
        by_version.setdefault(event.version_id, []).append(event.action)
    for version in versions:
        produced = by_version.get(version.version_id, [])
        previous = eager.by_id.get(version.previous_version_id or "")
        if version.outcome is STALE:
            assert produced == []
        elif version.record.deleted:
            assert produced == [mapping.action(version.record.key.entity_type, "deleted")]
        elif previous is None or previous.record.deleted:
            created = mapping.action(version.record.key.entity_type, "created")
            assert produced.count(created) == 1
        elif not produced:
            # content differs from the head, yet no event: only actor keys or ignored
            # fields differ
            before, after = json.loads(previous.record.payload), json.loads(version.record.payload)
            differing = {
                name
                for name in set(before) | set(after)
                if name not in before
                or name not in after
                or _canonical(before[name]) != _canonical(after[name])
            }
            assert differing
            assert all(
                mapping.is_actor_key(name) or name in mapping.ignore_fields for name in differing
            )
