"""Unit and property tests for headwater.core.rules (spec §10.2: rules from cases)."""

from __future__ import annotations

import itertools
import random
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.core.process import Case, Entry
from headwater.core.rules import Rule, RuleBuilder, human_duration, plural, rule_id

PROPERTY = settings(deadline=None, max_examples=100)
HOUR = 3_600_000_000
ORG = "00000000-0000-7000-8000-0000000000aa"


def case(name: str, steps: list[str], hours: list[float] | None = None,
         actors: list[str | None] | None = None) -> Case:  # fmt: skip
    times = hours or [float(i) for i in range(len(steps))]
    who = actors or [None] * len(steps)
    entries = tuple(
        Entry(step, int(at * HOUR), f"{name}-e{i}", actor, f"{name}-v{i}")
        for i, (step, at, actor) in enumerate(zip(steps, times, who, strict=True))
    )
    return Case("src", "deal", name, entries, len(entries))


def rules_of(cases: list[Case], support: int = 1, confidence: float = 0.0,
             evidence: int = 3) -> list[Rule]:  # fmt: skip
    builder = RuleBuilder(evidence)
    for c in cases:
        builder.add(c)
    return builder.rules(ORG, "deal-lifecycle", "deal", support, confidence, {"u1": "jane@x.com"})


def by_condition(rules: list[Rule]) -> dict[tuple[object, ...], Rule]:
    found: dict[tuple[object, ...], Rule] = {}
    for r in rules:
        c = r.condition
        key = (c["type"], c.get("before") or c.get("from") or c.get("step"),
               c.get("after") or c.get("to") or c.get("actorId"))  # fmt: skip
        found[key] = r
    return found


def test_the_four_kinds_on_a_small_pipeline() -> None:
    cases = [
        case("d1", ["lead", "negotiation", "won"], [0, 24, 48], ["u1", "u1", "u1"]),
        case("d2", ["lead", "negotiation", "won"], [0, 24, 72], ["u1", None, "u1"]),
        case("d3", ["lead", "negotiation", "lost"], [0, 24, 30], [None, "u2", "u2"]),
        case("d4", ["lead", "won"], [0, 10], ["u1", "u1"]),
    ]
    found = by_condition(rules_of(cases))
    precedence = found[("precedence", "negotiation", "won")]
    assert precedence.description == "won is reached only after negotiation (2 of 3 deals)"
    assert precedence.confidence == 2 / 3 and precedence.frequency == 2
    assert precedence.applies_at_step == "won"
    assert precedence.evidence.example_event_ids == ("d1-e2", "d2-e2")
    assert precedence.evidence.counter_example_event_ids == ("d4-e1",)
    assert found[("precedence", "lead", "won")].confidence == 1.0

    transition = found[("transition", "negotiation", "won")]
    assert transition.description == (
        "after negotiation, deals move to won (2 of 3 deals leaving negotiation)"
    )
    assert transition.evidence.counter_example_event_ids == ("d3-e2",)

    duration = found[("duration", "negotiation", "won")]
    assert duration.condition["medianSeconds"] == 24 * 3600
    assert duration.condition["p90Seconds"] == 48 * 3600
    assert duration.description.startswith("negotiation → won takes a median of 1 day (p90 2 days")
    assert duration.confidence == 1.0

    actor = found[("actor", "won", "u1")]
    assert actor.description == "won is set by jane@x.com in 100% of entries (3 of 3)"
    assert actor.condition == {"kind": "deterministic", "type": "actor", "step": "won",
                               "actorId": "u1", "actor": "jane@x.com"}  # fmt: skip
    lead = found[("actor", "lead", "u1")]
    assert (lead.evidence.cases, lead.evidence.support, lead.evidence.counter_examples) == (4, 3, 1)
    assert lead.evidence.counter_example_event_ids == ("d3-e0",)
    assert found[("actor", "negotiation", "u2")].description.endswith("(1 of 3)")


def test_thresholds() -> None:
    cases = [case(f"d{i}", ["lead", "won"] if i < 4 else ["lead", "lost"]) for i in range(5)]
    kinds = {(r.type, r.condition.get("to")) for r in rules_of(cases, 4, 0.8)}
    assert ("transition", "won") in kinds and ("transition", "lost") not in kinds
    assert not [r for r in rules_of(cases, 5, 0.8) if r.type == "transition"]  # support 4 < 5
    assert next(r for r in rules_of(cases, 4, 0.8) if r.type == "transition").confidence == 0.8
    assert not [r for r in rules_of(cases, 1, 0.81) if r.type == "transition"]


def test_ids_are_stable_uuids_of_organisation_process_and_condition() -> None:
    identity = {"type": "precedence", "before": "a", "after": "b"}
    first = rule_id(ORG, "deal-lifecycle", identity)
    assert first == rule_id(ORG, "deal-lifecycle", dict(reversed(identity.items())))
    assert uuid.UUID(first).version == 8
    assert first != rule_id(ORG, "ticket-lifecycle", identity)
    assert first != rule_id("other-org", "deal-lifecycle", identity)
    assert first != rule_id(ORG, "deal-lifecycle", {**identity, "before": "c"})


def test_human_durations_and_plurals() -> None:
    assert human_duration(5 * 24 * HOUR) == "5 days"
    assert human_duration(24 * HOUR) == "1 day"
    assert human_duration(int(2.5 * HOUR)) == "2.5 hours"
    assert human_duration(90_000_000) == "1.5 minutes"
    assert human_duration(0) == "0 seconds"
    assert [plural(n) for n in ("deal", "company", "day", "box", "class")] == [
        "deals", "companies", "days", "boxes", "classes"]  # fmt: skip


STEPS = st.sampled_from(["a", "b", "c", "d"])
ACTORS = st.sampled_from(["u1", "u2", None])


@st.composite
def cases_strategy(draw: st.DrawFn) -> list[Case]:
    count = draw(st.integers(1, 12))
    found = []
    for n in range(count):
        raw = draw(st.lists(STEPS, min_size=1, max_size=6))
        steps = [s for i, s in enumerate(raw) if i == 0 or s != raw[i - 1]]
        gaps = draw(st.lists(st.integers(0, 50), min_size=len(steps), max_size=len(steps)))
        hours = [float(sum(gaps[: i + 1])) for i in range(len(steps))]
        actors = draw(st.lists(ACTORS, min_size=len(steps), max_size=len(steps)))
        found.append(case(f"c{n:02d}", steps, hours, actors))
    return found


def _event_ids(cases: list[Case]) -> set[str]:
    return {e.event_id for c in cases for e in c.entries}


@PROPERTY
@given(cases_strategy())
def test_confidence_is_a_fraction_and_evidence_adds_up(cases: list[Case]) -> None:
    events = _event_ids(cases)
    for r in rules_of(cases):
        ev = r.evidence
        assert 0.0 <= r.confidence <= 1.0
        assert r.confidence == ev.support / ev.cases and r.frequency == ev.support
        assert ev.support + ev.counter_examples == ev.cases
        assert set(ev.example_event_ids) <= events
        assert set(ev.counter_example_event_ids) <= events
        assert not set(ev.example_event_ids) & set(ev.counter_example_event_ids)
        assert len(ev.example_event_ids) <= 3 and len(ev.counter_example_event_ids) <= 3
        if r.type != "duration":
            assert len(ev.example_event_ids) == min(3, ev.support)
            assert len(ev.counter_example_event_ids) == min(3, ev.counter_examples)


@PROPERTY
@given(cases_strategy(), st.randoms(use_true_random=False))
def test_the_same_cases_in_any_order_give_the_same_rules(
    cases: list[Case], rng: random.Random
) -> None:
    shuffled = list(cases)
    rng.shuffle(shuffled)
    assert rules_of(shuffled) == rules_of(cases)


@PROPERTY
@given(cases_strategy())
def test_counts_match_the_definitions(cases: list[Case]) -> None:
    found = by_condition(rules_of(cases))
    for (kind, x, y), r in found.items():
        if kind == "precedence":
            reach = [c for c in cases if any(e.step == y for e in c.entries)]
            held = [c for c in reach if x in _steps_before_first(c, str(y))]
            assert (r.evidence.cases, r.evidence.support) == (len(reach), len(held))
        elif kind == "transition":
            moves = [_moves(c) for c in cases]
            leave = [m for m in moves if any(a == x for a, _ in m)]
            assert (r.evidence.cases, r.evidence.support) == (
                len(leave), sum(1 for m in leave if (x, y) in m))  # fmt: skip
        elif kind == "actor":
            entries = [e for c in cases for e in c.entries if e.step == x]
            assert (r.evidence.cases, r.evidence.support) == (
                len(entries), sum(1 for e in entries if e.actor_id == y))  # fmt: skip


def _steps_before_first(c: Case, step: str) -> set[str]:
    steps = [e.step for e in c.entries]
    return set(steps[: steps.index(step)])


def _moves(c: Case) -> set[tuple[str, str]]:
    return {(a.step, b.step) for a, b in itertools.pairwise(c.entries)}


@PROPERTY
@given(cases_strategy(), st.data())
def test_removing_a_counter_example_raises_the_confidence(
    cases: list[Case], data: st.DataObject
) -> None:
    rules = [r for r in rules_of(cases) if r.evidence.counter_examples
             and r.type in ("precedence", "transition", "actor")]  # fmt: skip
    if not rules:
        return
    rule = data.draw(st.sampled_from(rules))
    counter = data.draw(st.sampled_from(rule.evidence.counter_example_event_ids))
    owner = next(c for c in cases if any(e.event_id == counter for e in c.entries))
    if rule.type == "actor" and any(
        e.actor_id == rule.condition["actorId"] and e.step == rule.condition["step"]
        for e in owner.entries
    ):
        return  # that case also holds examples of the rule  # fmt: skip
    rest = [c for c in cases if c is not owner]
    after = {r.id: r for r in rules_of(rest)}.get(rule.id)
    assert after is not None and after.confidence > rule.confidence
