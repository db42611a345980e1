"""Unit and property tests for headwater.core.mapping (spec §6.3 defaults, §6.4 custom mappings)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.core.events import VersionView, events_for
from headwater.core.mapping import (
    DEFAULT_IGNORE_FIELDS,
    DEFAULT_RULES_VERSION,
    InvalidMappings,
    Mapping,
    MappingSpec,
    mappings_for,
    parse_mappings,
    snake,
)
from headwater.core.models import Outcome, RecordKey

#: property tests: no per-example deadline (CI machines vary)
PROPERTY = settings(deadline=None)

DEAL = RecordKey("deal", "deal-1")


def first(payload: dict[str, Any], mapping: Mapping) -> list[tuple[str, str | None]]:
    """(action, actor email or name) of a first version's events."""
    version = VersionView("v1", DEAL, 1, False, Outcome.CREATED, payload)
    return [
        (e.action, e.actor.email or e.actor.name if e.actor else None)
        for e in events_for(version, None, mapping)
    ]


def diff(
    before: dict[str, Any], after: dict[str, Any], mapping: Mapping
) -> list[tuple[str, list[str]]]:
    """(action, changed fields) of the events of `after` superseding `before`."""
    old = VersionView("v1", DEAL, 1, False, Outcome.CREATED, before)
    new = VersionView("v2", DEAL, 2, False, Outcome.SUPERSEDED, after)
    return [(e.action, [c.field for c in e.changes]) for e in events_for(new, old, mapping)]


def build(**fields: Any) -> Mapping:
    return Mapping.build(MappingSpec(**fields))


# --------------------------------------------------------------------------- parse_mappings


def test_parse_an_empty_document() -> None:
    assert parse_mappings({}) == {}
    assert parse_mappings({"deal": {}}) == {"deal": MappingSpec()}


def test_parse_a_full_document() -> None:
    document = {
        "deal": {
            "statusFields": ["stage", "region"],
            "assignmentFields": ["owner", "reviewer"],
            "createdByFields": ["creator"],
            "updatedByFields": ["editor"],
            "fallbackActorFields": [],
            "ignoreFields": ["syncedAt"],
            "nameFields": ["label", "name"],
            "actions": {"created": "opportunity_opened", "stage_changed": "deal_moved"},
        },
        "ticket.v2": {"statusFields": ["state"]},
        "contact-x_1": {"actions": {"updated": "contact.edited"}},
    }
    parsed = parse_mappings(document)
    assert set(parsed) == {"deal", "ticket.v2", "contact-x_1"}
    deal = parsed["deal"]
    assert deal.statusFields == ["stage", "region"]
    assert deal.assignmentFields == ["owner", "reviewer"]
    assert deal.createdByFields == ["creator"]
    assert deal.updatedByFields == ["editor"]
    assert deal.fallbackActorFields == []
    assert deal.ignoreFields == ["syncedAt"]
    assert deal.nameFields == ["label", "name"]
    assert deal.actions == {"created": "opportunity_opened", "stage_changed": "deal_moved"}
    assert parsed["ticket.v2"] == MappingSpec(statusFields=["state"])
    assert parsed["contact-x_1"].actions == {"updated": "contact.edited"}
    # a parsed spec round-trips through JSON (the shape stored with the source)
    assert msgspec.json.decode(msgspec.json.encode(deal), type=MappingSpec) == deal


def test_null_means_the_default() -> None:
    assert parse_mappings({"deal": {"statusFields": None, "actions": None}}) == {
        "deal": MappingSpec()
    }


@pytest.mark.parametrize(
    ("document", "field"),
    [
        # unknown keys (typos are caught, not ignored)
        ({"deal": {"statusField": ["stage"]}}, "mappings.deal.statusField"),
        ({"deal": {"bogus": 1}}, "mappings.deal.bogus"),
        ({"deal": {"nameFields": ["name"], "x": None}}, "mappings.deal.x"),
        # wrong types
        ({"deal": []}, "mappings.deal"),
        ({"deal": "stage"}, "mappings.deal"),
        ({"deal": None}, "mappings.deal"),
        ({"deal": {"statusFields": "stage"}}, "mappings.deal.statusFields"),
        ({"deal": {"statusFields": {"stage": True}}}, "mappings.deal.statusFields"),
        ({"deal": {"statusFields": ["stage", 1]}}, "mappings.deal.statusFields[1]"),
        ({"deal": {"assignmentFields": [None]}}, "mappings.deal.assignmentFields[0]"),
        ({"deal": {"ignoreFields": [["a"]]}}, "mappings.deal.ignoreFields[0]"),
        ({"deal": {"nameFields": [""]}}, "mappings.deal.nameFields[0]"),
        ({"deal": {"createdByFields": ["x" * 201]}}, "mappings.deal.createdByFields[0]"),
        ({"deal": {"updatedByFields": ["a"] * 101}}, "mappings.deal.updatedByFields"),
        ({"deal": {"fallbackActorFields": 3}}, "mappings.deal.fallbackActorFields"),
        ({"deal": {"actions": ["created"]}}, "mappings.deal.actions"),
        ({"deal": {"actions": "created"}}, "mappings.deal.actions"),
        # bad entity types
        ({"bad type": {}}, "mappings.bad type"),
        ({"": {}}, "mappings."),
        ({"deal/1": {}}, "mappings.deal/1"),
        ({"t" * 101: {}}, "mappings." + "t" * 101),
        # bad action names and keys
        ({"deal": {"actions": {"created": "has space"}}}, "mappings.deal.actions.created"),
        ({"deal": {"actions": {"created": ""}}}, "mappings.deal.actions.created"),
        ({"deal": {"actions": {"created": 1}}}, "mappings.deal.actions.created"),
        ({"deal": {"actions": {"created": None}}}, "mappings.deal.actions.created"),
        ({"deal": {"actions": {"created": "a" * 101}}}, "mappings.deal.actions.created"),
        ({"deal": {"actions": {"bad key": "x"}}}, "mappings.deal.actions.bad key"),
        ({"deal": {"actions": {"": "x"}}}, "mappings.deal.actions."),
        # the later entity type is checked too, after a valid one
        ({"deal": {}, "ticket": {"statusFields": [7]}}, "mappings.ticket.statusFields[0]"),
    ],
)
def test_invalid_documents_name_the_field(document: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidMappings) as raised:
        parse_mappings(document)
    assert raised.value.field == field
    assert str(raised.value)  # a message for the 400's details
    assert "[...]" not in raised.value.field
    assert isinstance(raised.value, ValueError)


def test_a_document_that_is_not_an_object_is_invalid() -> None:
    for document in [[], "x", 1, None]:
        with pytest.raises(InvalidMappings) as raised:
            parse_mappings(document)  # type: ignore[arg-type]
        assert raised.value.field == "mappings"


def test_mappings_for() -> None:
    assert mappings_for(None) == {}
    assert mappings_for({}) == {}
    built = mappings_for({"deal": {"statusFields": ["region"]}})
    assert set(built) == {"deal"}
    assert built["deal"] == build(statusFields=["region"])
    assert built["deal"].status_fields == frozenset({"region"})
    with pytest.raises(InvalidMappings):
        mappings_for({"deal": {"statusFields": "region"}})


# --------------------------------------------------------------------------- the default mapping


def test_the_default_mapping_is_the_spec_s() -> None:
    default = Mapping.default()
    assert default == Mapping.build(MappingSpec())
    assert default.status_fields == {"stage", "status", "state", "phase", "priority"}
    assert default.assignment_fields == ("owner", "assignee", "assignedTo")
    assert default.created_by_fields == ("createdBy", "author", "sender")
    assert default.updated_by_fields == ("updatedBy", "modifiedBy", "lastModifiedBy")
    assert default.fallback_actor_fields == ("owner",)
    assert default.ignore_fields == frozenset(DEFAULT_IGNORE_FIELDS)
    assert {"updated_at", "updatedAt", "lastModified", "_sdc_extracted_at"} <= default.ignore_fields
    assert default.name_fields[:3] == ("name", "title", "subject")
    assert default.actions == {}
    assert default.action("deal", "created") == "deal_created"
    assert default.action("ticket", "status_changed") == "ticket_status_changed"


def test_the_default_fingerprint_is_pinned() -> None:
    # Event ids hash the fingerprint: an accidental change here re-mints every event id of
    # every source on the next re-normalization. Bump DEFAULT_RULES_VERSION on purpose.
    # v2: the default ignoreFields (docs/mappings.md, "Changing the default mapping").
    assert DEFAULT_RULES_VERSION == "default-v2"
    assert Mapping.default().fingerprint == "4b4c7a3dd200efec95ab340c4ab40b15"


def test_a_change_of_bookkeeping_fields_alone_gives_no_event() -> None:
    """A tap's replication key (`updated_at`) changes with every edit; on its own it says
    nothing happened to the deal, and next to real changes it is not one of them."""
    default = Mapping.default()
    before = {"name": "Acme", "stage": "lead", "amount": 1, "updated_at": "2026-06-10T08:00:00Z"}
    touched = {**before, "updated_at": "2026-06-11T08:00:00Z", "_sdc_sequence": 7}
    assert diff(before, touched, default) == []
    assert diff(before, {**touched, "amount": 2}, default) == [("deal_updated", ["amount"])]
    assert diff(before, {**touched, "stage": "won"}, default) == [("deal_stage_changed", ["stage"])]
    # a first version still gives its creation event, whatever its bookkeeping fields
    assert first(before, default) == [("deal_created", None)]


@pytest.mark.parametrize("field", DEFAULT_IGNORE_FIELDS)
def test_every_default_ignored_field_is_ignored_alone(field: str) -> None:
    before = {"name": "Acme", field: "2026-06-10T08:00:00Z"}
    assert diff(before, {**before, field: "2026-06-11T08:00:00Z"}, Mapping.default()) == []


def test_a_source_s_ignore_fields_replace_the_default_list() -> None:
    before = {"name": "Acme", "updated_at": 1, "syncedAt": 1}
    after = {"name": "Acme", "updated_at": 2, "syncedAt": 2}
    assert diff(before, after, build(ignoreFields=["syncedAt"])) == [
        ("deal_updated", ["updated_at"])
    ]
    assert diff(before, after, build(ignoreFields=[])) == [
        ("deal_updated", ["syncedAt", "updated_at"])
    ]
    assert diff(before, after, build(ignoreFields=[*DEFAULT_IGNORE_FIELDS, "syncedAt"])) == []


@pytest.mark.parametrize(
    ("field", "is_actor"),
    [
        ("updatedBy", True),
        ("modifiedBy", True),
        ("lastModifiedBy", True),
        ("createdBy", True),
        ("author", True),
        ("sender", True),
        ("deletedBy", True),
        ("movedToStageBy", True),
        ("movedToRegionBy", True),
        ("stageChangedBy", True),
        ("priorityChangedBy", True),
        ("owner", False),  # an assignment, reported as a change
        ("stage", False),
        ("movedTo", False),
        ("movedtoStageBy", False),
        ("ChangedBy", False),
        ("name", False),
    ],
)
def test_is_actor_key(field: str, is_actor: bool) -> None:
    assert Mapping.default().is_actor_key(field) is is_actor


def test_attributed_fields() -> None:
    payload = {
        "movedToStageBy": "a",
        "movedToRegionBy": "b",
        "movedToAssignedToBy": "c",
        "stage": "x",
        "movedTo": "d",
        "movedtoPhaseBy": "e",
    }
    assert Mapping.default().attributed_fields(payload) == {
        "stage": "movedToStageBy",
        "region": "movedToRegionBy",
        "assignedTo": "movedToAssignedToBy",
    }


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("assignedTo", "assigned_to"),
        ("owner", "owner"),
        ("stage", "stage"),
        ("lastModifiedBy", "last_modified_by"),
        ("assigned_to", "assigned_to"),
        ("stage2Owner", "stage2_owner"),
        ("Stage", "stage"),
        ("", ""),
    ],
)
def test_snake(field: str, expected: str) -> None:
    assert snake(field) == expected


# --------------------------------------------------------------------------- overrides, through events


def test_status_fields_override_replaces_the_defaults() -> None:
    mapping = build(statusFields=["region"])
    before = {"stage": "lead", "region": "emea", "amount": 1}
    after = {"stage": "won", "region": "apac", "amount": 1}
    assert diff(before, after, mapping) == [
        ("deal_region_changed", ["region"]),
        ("deal_updated", ["stage"]),
    ]
    assert diff(before, after, Mapping.default()) == [
        ("deal_stage_changed", ["stage"]),
        ("deal_updated", ["region"]),
    ]


def test_assignment_fields_override() -> None:
    mapping = build(assignmentFields=["reviewer"])
    before = {"owner": "a@x.co", "reviewer": "b@x.co"}
    after = {"owner": "c@x.co", "reviewer": "d@x.co"}
    assert diff(before, after, mapping) == [
        ("deal_reviewer_assigned", ["reviewer"]),
        ("deal_updated", ["owner"]),
    ]
    assert first(after, mapping) == [
        ("deal_created", "c@x.co"),  # owner is still the fallback actor
        ("deal_reviewer_assigned", "c@x.co"),
    ]


def test_ignore_fields_override() -> None:
    mapping = build(ignoreFields=["syncedAt", "owner", "stage"])
    before = {"syncedAt": 1, "owner": "a@x.co", "stage": "lead", "amount": 1}
    assert diff(before, {**before, "syncedAt": 2, "owner": "b@x.co", "stage": "won"}, mapping) == []
    assert diff(before, {**before, "syncedAt": 2, "amount": 2}, mapping) == [
        ("deal_updated", ["amount"])
    ]
    # ignored on creation too: no assignment, no attributed change
    assert first({**before, "movedToStageBy": "m@x.co"}, mapping) == [("deal_created", "a@x.co")]


def test_name_fields_override() -> None:
    mapping = build(nameFields=["label"])
    version = VersionView(
        "v1", DEAL, 1, False, Outcome.CREATED, {"name": "Acme", "label": "Acme (EMEA)"}
    )
    assert [e.entity_name for e in events_for(version, None, mapping)] == ["Acme (EMEA)"]
    version = VersionView("v1", DEAL, 1, False, Outcome.CREATED, {"name": "Acme"})
    assert [e.entity_name for e in events_for(version, None, mapping)] == [None]


def test_actor_field_overrides() -> None:
    mapping = build(
        createdByFields=["creator"], updatedByFields=["editor"], fallbackActorFields=["manager"]
    )
    assert first({"creator": "c@x.co", "createdBy": "x@x.co", "manager": "m@x.co"}, mapping) == [
        ("deal_created", "c@x.co")
    ]
    assert first({"createdBy": "x@x.co", "manager": "m@x.co", "owner": "o@x.co"}, mapping) == [
        ("deal_created", "m@x.co"),
        ("deal_owner_assigned", "m@x.co"),
    ]
    old = VersionView("v1", DEAL, 1, False, Outcome.CREATED, {"amount": 1, "editor": "e@x.co"})
    new = VersionView(
        "v2",
        DEAL,
        2,
        False,
        Outcome.SUPERSEDED,
        {"amount": 2, "editor": "f@x.co", "updatedBy": "u@x.co"},
    )
    (event,) = events_for(new, old, mapping)
    assert event.action == "deal_updated"
    assert event.actor is not None and event.actor.email == "f@x.co"
    # the custom actor key is not a change; the default one is no longer an actor key
    assert [c.field for c in event.changes] == ["amount", "updatedBy"]
    # no fallback at all
    assert first({"owner": "o@x.co"}, build(fallbackActorFields=[])) == [
        ("deal_created", None),
        ("deal_owner_assigned", None),
    ]


def test_actions_rename() -> None:
    mapping = build(actions={"created": "opportunity_opened", "stage_changed": "deal_moved"})
    payload = {"stage": "lead", "owner": "o@x.co", "movedToStageBy": "m@x.co"}
    assert first(payload, mapping) == [
        ("opportunity_opened", "o@x.co"),
        ("deal_moved", "m@x.co"),
        ("deal_owner_assigned", "o@x.co"),  # not renamed: the default name
    ]
    assert diff(payload, {**payload, "stage": "won", "amount": 3}, mapping) == [
        ("deal_moved", ["stage"]),
        ("deal_updated", ["amount"]),
    ]
    # keys are the suffix after the entity type, and renaming applies to every entity type
    assert mapping.action("ticket", "created") == "opportunity_opened"


def test_repeated_assignment_fields_give_one_event() -> None:
    mapping = build(assignmentFields=["owner", "owner"])
    assert mapping.assignment_fields == ("owner",)
    assert first({"owner": "o@x.co"}, mapping) == [
        ("deal_created", "o@x.co"),
        ("deal_owner_assigned", "o@x.co"),
    ]


# --------------------------------------------------------------------------- fingerprint

field_lists = st.none() | st.lists(st.sampled_from(["stage", "owner", "region", "a"]), max_size=3)
specs = st.builds(
    MappingSpec,
    statusFields=field_lists,
    assignmentFields=field_lists,
    createdByFields=field_lists,
    updatedByFields=field_lists,
    fallbackActorFields=field_lists,
    ignoreFields=field_lists,
    nameFields=field_lists,
    actions=st.none()
    | st.dictionaries(
        st.sampled_from(["created", "updated", "stage_changed"]),
        st.sampled_from(["x", "y"]),
        max_size=2,
    ),
)


@PROPERTY
@given(specs)
def test_fingerprint_is_stable_for_equal_specs(spec: MappingSpec) -> None:
    again = msgspec.json.decode(msgspec.json.encode(spec), type=MappingSpec)
    assert again == spec
    assert Mapping.build(spec) == Mapping.build(again)
    assert Mapping.build(spec).fingerprint == Mapping.build(again).fingerprint
    # the same document parsed twice, whatever the key order
    document = msgspec.to_builtins(spec)
    reordered = dict(reversed(list(document.items())))
    assert (
        mappings_for({"deal": document})["deal"].fingerprint
        == mappings_for({"deal": reordered})["deal"].fingerprint
        == Mapping.build(spec).fingerprint
    )
    fingerprint = Mapping.build(spec).fingerprint
    assert len(fingerprint) == 32 and int(fingerprint, 16) >= 0


@PROPERTY
@given(specs, specs)
def test_fingerprint_differs_for_different_specs(one: MappingSpec, other: MappingSpec) -> None:
    same = one == other
    assert (Mapping.build(one).fingerprint == Mapping.build(other).fingerprint) is same


def test_fingerprint_of_a_custom_mapping_differs_from_the_default() -> None:
    default = Mapping.default().fingerprint
    assert build(statusFields=["stage"]).fingerprint != default
    assert build(actions={"created": "x"}).fingerprint != default
    assert (
        build(actions={"created": "x"}).fingerprint != build(actions={"created": "y"}).fingerprint
    )
    assert build(nameFields=["a", "b"]).fingerprint != build(nameFields=["b", "a"]).fingerprint


def test_unknown_action_keys_are_refused_on_write_but_read_back_from_old_documents() -> None:
    document = {"deal": {"actions": {"bogus": "x", "created": "deal_opened"}}}
    with pytest.raises(InvalidMappings) as refused:
        parse_mappings(document)
    assert refused.value.field == "mappings.deal.actions.bogus"
    built = mappings_for(document)["deal"]  # stored before the check: still normalizes
    assert built.action("deal", "created") == "deal_opened"
