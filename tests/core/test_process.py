"""Unit and property tests for headwater.core.process (spec §9.2: processes from events)."""

from __future__ import annotations

import itertools
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.core.process import (
    Case,
    Entry,
    StepEvent,
    case_entries,
    cases_from_events,
    choose_step_field,
    discover,
    nearest_rank,
    step_value,
)

PROPERTY = settings(deadline=None)
HOUR = 3_600_000_000


def ev(
    entity: str, at: int, seq: int, stage: str | None = None, action: str = "deal_updated"
) -> StepEvent:
    return StepEvent(
        id=f"{entity}-{seq}",
        source_id="s",
        entity_type="deal",
        entity_id=entity,
        timestamp=at,
        seq=seq,
        action=action,
        actor_id=None,
        version_id=f"v-{entity}-{seq}",
        values={"stage": stage} if stage is not None else {},
    )


def test_entering_the_step_already_in_is_not_a_new_entry() -> None:
    events = [
        ev("d1", 0, 1, "lead", "deal_created"),
        ev("d1", 0, 2, "lead", "deal_stage_changed"),
        ev("d1", HOUR, 3, "won", "deal_stage_changed"),
    ]
    assert [e.step for e in case_entries(events, "stage")] == ["lead", "won"]
    assert [e.step for e in case_entries(events, None)] == [
        "deal_created",
        "deal_stage_changed",
    ]


def test_a_small_process() -> None:
    events = [
        ev("d1", 0, 1, "lead"),
        ev("d1", 2 * HOUR, 2, "won"),
        ev("d2", 0, 3, "lead"),
        ev("d2", 4 * HOUR, 4, "lost"),
        ev("d3", 0, 5, "lead"),
        ev("d3", 6 * HOUR, 6, "won"),
        ev("d3", 7 * HOUR, 7, "note only"),  # no stage: not an entry
    ]
    process = discover(cases_from_events([e for e in events if e.id != "d3-7"], "stage"))
    assert process.cases == 3
    assert [(s.name, s.cases, s.median_seconds_in_step) for s in process.steps] == [
        ("lead", 3, 4 * 3600.0),
        ("won", 2, None),
        ("lost", 1, None),
    ]
    assert [(t.from_step, t.to_step, t.cases, t.count) for t in process.transitions] == [
        ("lead", "won", 2, 2),
        ("lead", "lost", 1, 1),
    ]
    won = process.transitions[0]
    assert (won.median_seconds, won.p90_seconds) == (2 * 3600.0, 6 * 3600.0)
    assert [(s.step, s.cases) for s in process.starts] == [("lead", 3)]
    assert [(s.step, s.cases) for s in process.ends] == [("won", 2), ("lost", 1)]
    assert [(v.steps, v.cases) for v in process.variants] == [
        (("lead", "won"), 2),
        (("lead", "lost"), 1),
    ]


def test_nearest_rank() -> None:
    assert nearest_rank([1, 2, 3, 4], 50) == 2
    assert nearest_rank([1, 2, 3, 4], 90) == 4
    assert nearest_rank([7], 90) == 7
    assert nearest_rank(list(range(1, 11)), 90) == 9
    assert nearest_rank(list(range(1, 101)), 50) == 50


def test_step_values_and_field_choice() -> None:
    assert step_value("lead") == "lead"
    assert step_value(3) == "3"
    assert step_value(None) is None
    assert step_value("") is None
    assert step_value({"b": 1, "a": 2}) == '{"a":2,"b":1}'
    assert choose_step_field((), {"status", "phase"}) == "status"
    assert choose_step_field(("pipeline",), {"status", "pipeline"}) == "pipeline"
    assert choose_step_field((), {"priority"}) is None


# -- properties -------------------------------------------------------------------------

STEPS = st.sampled_from(["lead", "qualified", "proposal", "won", "lost"])


@st.composite
def logs(draw: st.DrawFn) -> list[StepEvent]:
    """Events of a few entities, each a few stage changes at increasing times."""
    events: list[StepEvent] = []
    seq = 0
    for entity in range(draw(st.integers(0, 8))):
        at = draw(st.integers(0, 10 * HOUR))
        for _ in range(draw(st.integers(1, 6))):
            seq += 1
            at += draw(st.integers(0, 3 * HOUR))
            stage = draw(st.one_of(st.none(), STEPS))
            events.append(ev(f"d{entity}", at, seq, stage))
    return events


@PROPERTY
@given(logs())
def test_transition_cases_out_of_a_step_never_exceed_the_steps_cases(
    events: list[StepEvent],
) -> None:
    process = discover(cases_from_events(events, "stage"))
    cases = {s.name: s.cases for s in process.steps}
    for t in process.transitions:
        assert t.cases <= cases[t.from_step]
        assert t.cases <= cases[t.to_step]
        assert t.cases <= t.count
        assert t.median_seconds <= t.p90_seconds
    assert sum(s.cases for s in process.starts) == process.cases
    assert sum(s.cases for s in process.ends) == process.cases
    assert sum(v.cases for v in process.variants) <= process.cases
    assert all(s.cases <= process.cases for s in process.steps)


@PROPERTY
@given(logs(), st.randoms(use_true_random=False))
def test_reordering_events_of_different_entities_changes_nothing(
    events: list[StepEvent], rnd: object
) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert discover(cases_from_events(shuffled, "stage")) == discover(
        cases_from_events(events, "stage")
    )
    cases = cases_from_events(events, "stage")
    assert discover(reversed(cases)) == discover(cases)


@PROPERTY
@given(st.lists(STEPS, min_size=1, max_size=6), st.integers(1, 30))
def test_a_log_of_one_variant_has_exactly_that_variant(steps: list[str], count: int) -> None:
    path = [s for i, s in enumerate(steps) if i == 0 or s != steps[i - 1]]
    cases = [
        Case(
            "s",
            "deal",
            f"d{n}",
            tuple(Entry(step, i * HOUR, f"e{n}-{i}", None, "v") for i, step in enumerate(path)),
            len(path),
        )
        for n in range(count)
    ]
    process = discover(cases)
    assert [(v.steps, v.cases) for v in process.variants] == [(tuple(path), count)]
    assert process.starts[0].step == path[0] and process.ends[0].step == path[-1]
    assert sum(t.count for t in process.transitions) == count * (len(path) - 1)


@PROPERTY
@given(logs())
def test_entries_never_repeat_a_step_back_to_back(events: list[StepEvent]) -> None:
    for case in cases_from_events(events, "stage"):
        steps = [e.step for e in case.entries]
        assert all(a != b for a, b in itertools.pairwise(steps))
        times = [e.timestamp for e in case.entries]
        assert times == sorted(times)
    # every entry is one of the events that set the field
    setting = Counter(e.entity_id for e in events if e.values)
    for case in cases_from_events(events, "stage"):
        assert len(case.entries) <= setting[case.entity_id]
