"""Process discovery (spec §9.2): one entity's ordered events in, its case; cases in, a process.

Pure and deterministic. A **case** is one entity (source, entity type, entity id) seen as
the sequence of steps it entered, in time order. `cases_from_events` builds cases from
events; `ProcessBuilder` folds cases into a `Process` one at a time, so its memory grows with
the distinct steps, transitions and variants and with one 8-byte duration per step entry,
never with the cases themselves (`discover` is the fold over an iterable).

Definitions (docs/processes.md):

- An event sets the step field when it creates the entity with a value for it or changes
  it (`StepEvent.values`); with no step field the steps are the events' actions.
- Entering the step an entity is already in is not a new entry (`a, a, b` is `a -> b`).
- A step's `cases`: cases that entered it at least once. Its time: from an entry to the
  case's next entry; an entry with no next one (the case is still there) has no time yet.
- A transition `a -> b`: consecutive entries; `count` occurrences, `cases` distinct cases.
- Percentiles are nearest-rank over the exact microsecond values: the p-th of n sorted
  values is the one at 1-based rank ceil(p * n / 100) (so the median of 1, 2, 3, 4 is 2).
- Orders: steps, starts and ends by cases (desc) then name; transitions by count (desc),
  then from, to; variants by cases (desc) then their step sequence.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import groupby
from typing import Any

import msgspec

#: the spec's top variants
TOP_VARIANTS = 20
#: status-like fields that name steps when the mapping names none (spec §9.2), in order
STEP_FIELDS = ("stage", "status", "state", "phase")

_json = msgspec.json.Encoder(order="sorted").encode


class StepEvent(msgspec.Struct, frozen=True, gc=False):
    """What discovery needs of one stored event."""

    id: str
    source_id: str
    entity_type: str
    entity_id: str
    timestamp: int  #: microseconds, the source's time
    seq: int  #: feed position: orders events of equal timestamp
    action: str
    actor_id: str | None
    version_id: str
    #: step-field values this event sets: {field: value} (see `step_value`)
    values: dict[str, str] = {}


class Entry(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """A case entering a step: small, so later steps (rules) can keep many of them."""

    step: str
    timestamp: int
    event_id: str
    actor_id: str | None
    version_id: str


class Case(msgspec.Struct, frozen=True, gc=False):
    source_id: str
    entity_type: str
    entity_id: str
    entries: tuple[Entry, ...]
    events: int  #: events of the entity read (entries are a subset)


class StepStat(msgspec.Struct, frozen=True):
    name: str
    cases: int
    median_seconds_in_step: float | None


class StepCount(msgspec.Struct, frozen=True):
    step: str
    cases: int


class Transition(msgspec.Struct, frozen=True):
    from_step: str
    to_step: str
    cases: int
    count: int
    median_seconds: float
    p90_seconds: float


class Variant(msgspec.Struct, frozen=True):
    steps: tuple[str, ...]
    cases: int


class Process(msgspec.Struct, frozen=True):
    cases: int
    events: int
    steps: tuple[StepStat, ...]
    starts: tuple[StepCount, ...]
    ends: tuple[StepCount, ...]
    transitions: tuple[Transition, ...]
    variants: tuple[Variant, ...]


def step_value(value: Any) -> str | None:
    """A field's value as a step name: strings as they are, other JSON values as their
    canonical JSON text (`3`, `true`); null and "" are no step."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    return _json(value).decode()


def case_entries(events: Iterable[StepEvent], field: str | None) -> tuple[Entry, ...]:
    """One entity's entries: its events in (timestamp, seq) order, each that sets `field`
    (or, with `field` None, each event's action) to a step other than the current one."""
    entries: list[Entry] = []
    current: str | None = None
    for event in sorted(events, key=lambda e: (e.timestamp, e.seq)):
        step = event.action if field is None else event.values.get(field)
        if step is None or step == current:
            continue
        current = step
        entries.append(Entry(step, event.timestamp, event.id, event.actor_id, event.version_id))
    return tuple(entries)


def case_of(events: Sequence[StepEvent], field: str | None) -> Case:
    """The case of one entity's events (all of the same entity)."""
    first = events[0]
    return Case(
        first.source_id,
        first.entity_type,
        first.entity_id,
        case_entries(events, field),
        len(events),
    )


def _entity(event: StepEvent) -> tuple[str, str, str]:
    return event.source_id, event.entity_type, event.entity_id


def cases_from_events(events: Iterable[StepEvent], field: str | None) -> list[Case]:
    """The cases of any events, in entity order; cases without entries are left out."""
    cases = [
        case_of(list(group), field) for _, group in groupby(sorted(events, key=_entity), _entity)
    ]
    return [case for case in cases if case.entries]


def nearest_rank(ordered: Sequence[int], percent: int) -> int:
    """The `percent`-th percentile of sorted values, nearest-rank (see the module doc)."""
    rank = max(1, (percent * len(ordered) + 99) // 100)
    return ordered[rank - 1]


def _seconds(micros: int) -> float:
    return micros / 1_000_000


class _Tally:
    """Distinct cases and every duration (microseconds, packed) of a step or transition."""

    __slots__ = ("cases", "durations")

    def __init__(self) -> None:
        self.cases = 0
        self.durations = array("q")


class ProcessBuilder:
    """Folds cases into a process, one at a time (order does not matter)."""

    def __init__(self, top_variants: int = TOP_VARIANTS) -> None:
        self.top_variants = top_variants
        self.cases = 0
        self.events = 0
        self._steps: dict[str, _Tally] = {}
        self._transitions: dict[tuple[str, str], _Tally] = {}
        self._starts: Counter[str] = Counter()
        self._ends: Counter[str] = Counter()
        self._variants: Counter[tuple[str, ...]] = Counter()

    def add(self, case: Case) -> None:
        entries = case.entries
        if not entries:
            return
        self.cases += 1
        self.events += case.events
        self._starts[entries[0].step] += 1
        self._ends[entries[-1].step] += 1
        self._variants[tuple(e.step for e in entries)] += 1
        seen_steps: set[str] = set()
        seen_moves: set[tuple[str, str]] = set()
        for index, entry in enumerate(entries):
            tally = self._steps.get(entry.step)
            if tally is None:
                tally = self._steps[entry.step] = _Tally()
            if entry.step not in seen_steps:
                seen_steps.add(entry.step)
                tally.cases += 1
            if index + 1 < len(entries):
                following = entries[index + 1]
                duration = following.timestamp - entry.timestamp
                tally.durations.append(duration)
                move = (entry.step, following.step)
                moved = self._transitions.get(move)
                if moved is None:
                    moved = self._transitions[move] = _Tally()
                if move not in seen_moves:
                    seen_moves.add(move)
                    moved.cases += 1
                moved.durations.append(duration)

    def result(self) -> Process:
        steps = []
        for name, tally in self._steps.items():
            ordered = sorted(tally.durations)
            median = _seconds(nearest_rank(ordered, 50)) if ordered else None
            steps.append(StepStat(name, tally.cases, median))
        transitions = []
        for (before, after), tally in self._transitions.items():
            ordered = sorted(tally.durations)
            transitions.append(
                Transition(
                    before,
                    after,
                    tally.cases,
                    len(ordered),
                    _seconds(nearest_rank(ordered, 50)),
                    _seconds(nearest_rank(ordered, 90)),
                )
            )
        variants = sorted(self._variants.items(), key=lambda item: (-item[1], item[0]))
        return Process(
            cases=self.cases,
            events=self.events,
            steps=tuple(sorted(steps, key=lambda s: (-s.cases, s.name))),
            starts=_counts(self._starts),
            ends=_counts(self._ends),
            transitions=tuple(
                sorted(transitions, key=lambda t: (-t.count, t.from_step, t.to_step))
            ),
            variants=tuple(Variant(s, n) for s, n in variants[: self.top_variants]),
        )


def _counts(counter: Counter[str]) -> tuple[StepCount, ...]:
    return tuple(StepCount(s, n) for s, n in sorted(counter.items(), key=lambda i: (-i[1], i[0])))


def discover(cases: Iterable[Case], top_variants: int = TOP_VARIANTS) -> Process:
    builder = ProcessBuilder(top_variants)
    for case in cases:
        builder.add(case)
    return builder.result()


def choose_step_field(named: Sequence[str], found: Iterable[str]) -> str | None:
    """The step field of an entity type: the first of the mapping's status fields
    (`named`), then of `STEP_FIELDS`, that its events set (`found`); None = actions."""
    present = set(found)
    for field in (*named, *STEP_FIELDS):
        if field in present:
            return field
    return None
