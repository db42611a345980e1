"""Rules (spec §10.2): sentences a team can check, derived from a process's cases.

Pure and deterministic. `RuleBuilder` folds the same `core.process.Case`s a
`ProcessBuilder` folds, one at a time and in any order, and `RuleBuilder.rules` turns
the counts into rules. Definitions (docs/rules.md):

- `precedence` (before, after): of the cases that reach `after`, those that entered
  `before` earlier than their first entry into `after`.
- `transition` (from, to): of the cases that leave `from` (an entry follows one of
  its entries), those that move straight from `from` to `to` at least once.
- `duration` (from, to): a case's time for the move is its longest `from -> to`; the
  median and p90 are nearest-rank over those times (one per case); the rule holds in
  the cases whose time is within the p90.
- `actor` (step, actor): of the entries into `step`, those by `actor` (entries, not
  cases: a step is set once per entry).

Each rule has `cases` (what it speaks about), `support` (where it holds),
`confidence` = support / cases and `frequency` = support. It is emitted when support
>= minSupport and confidence >= minConfidence.

Evidence is bounded: per rule, the `EVIDENCE_IDS` smallest event ids (as strings) of
its examples and of its counter-examples, so the same cases in any order give the same
lists; for `duration`, the fastest cases are the examples and the slowest beyond the
p90 the counter-examples. Memory grows with steps, step pairs and actors, and with one
8-byte time per case and move (fewer than the process builder's one per entry).
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from array import array
from bisect import insort
from collections.abc import Mapping
from typing import Any

import msgspec

from headwater.core.process import Case, nearest_rank

#: example and counter-example event ids kept per rule
EVIDENCE_IDS = 10
#: rule kinds in the order rules of one step are listed
KINDS = ("precedence", "transition", "duration", "actor")

_canonical = msgspec.json.Encoder(order="sorted").encode


class Evidence(msgspec.Struct, frozen=True, rename="camel"):
    cases: int
    support: int
    counter_examples: int
    example_event_ids: tuple[str, ...]
    counter_example_event_ids: tuple[str, ...]


class Rule(msgspec.Struct, frozen=True):
    id: str
    process_id: str
    type: str
    applies_at_step: str
    description: str
    confidence: float
    frequency: int
    #: the wire's `condition`: {kind, type, ...} (camelCase keys)
    condition: dict[str, Any]
    evidence: Evidence


def rule_id(org_id: str, process_id: str, identity: Mapping[str, Any]) -> str:
    """A UUIDv8 from the SHA-256 of (organisation, process, condition identity): the
    same rule keeps its id from run to run, so its review carries over."""
    digest = bytearray(
        hashlib.sha256(
            org_id.encode() + b"\x00" + process_id.encode() + b"\x00" + _canonical(identity)
        ).digest()[:16]
    )
    digest[6] = (digest[6] & 0x0F) | 0x80
    digest[8] = (digest[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(digest)))


class _Sample:
    """A count and the `size` smallest ids seen (order-independent)."""

    __slots__ = ("ids", "size", "total")

    def __init__(self, size: int, ids: list[str] | None = None) -> None:
        self.size = size
        self.total = 0
        self.ids: list[str] = ids if ids is not None else []

    def add(self, event_id: str) -> None:
        self.total += 1
        self.offer(event_id)

    def offer(self, event_id: str) -> None:
        ids = self.ids
        if len(ids) < self.size:
            insort(ids, event_id)
        elif event_id < ids[-1]:
            insort(ids, event_id)
            ids.pop()


class _Timed:
    """One time per case (packed) and the fastest and slowest cases with their events."""

    __slots__ = ("fastest", "size", "slowest", "times")

    def __init__(self, size: int) -> None:
        self.size = size
        self.times = array("q")
        self.fastest: list[tuple[int, str]] = []
        self.slowest: list[tuple[int, str]] = []  #: (-time, event id), smallest first

    def add(self, time: int, event_id: str) -> None:
        self.times.append(time)
        for kept, item in ((self.fastest, (time, event_id)), (self.slowest, (-time, event_id))):
            if len(kept) < self.size:
                insort(kept, item)
            elif item < kept[-1]:
                insort(kept, item)
                kept.pop()


class RuleBuilder:
    """Folds one process's cases into the counts its rules are read from."""

    def __init__(self, evidence_ids: int = EVIDENCE_IDS) -> None:
        self.n = evidence_ids
        self.cases = 0
        #: step -> cases reaching it (the event of their first entry)
        self._reached: dict[str, _Sample] = {}
        #: (before, after) -> cases where `before` came first / did not
        self._preceded: dict[tuple[str, str], _Sample] = {}
        self._not_preceded: dict[tuple[str, str], _Sample] = {}
        self._befores: dict[str, list[str]] = {}  #: after -> befores seen with it
        #: from -> cases leaving it (the event of their first leaving entry)
        self._left: dict[str, _Sample] = {}
        self._moved: dict[tuple[str, str], _Sample] = {}
        self._not_moved: dict[tuple[str, str], _Sample] = {}
        self._targets: dict[str, list[str]] = {}  #: from -> targets seen
        self._timed: dict[tuple[str, str], _Timed] = {}
        #: step -> its entries; (step, actor) -> that actor's entries / the others'
        self._entered: dict[str, _Sample] = {}
        self._set_by: dict[tuple[str, str], _Sample] = {}
        self._not_set_by: dict[tuple[str, str], _Sample] = {}
        self._actors: dict[str, list[str]] = {}  #: step -> actors seen setting it

    def add(self, case: Case) -> None:
        entries = case.entries
        if not entries:
            return
        self.cases += 1
        first: dict[str, int] = {}
        for index, entry in enumerate(entries):
            first.setdefault(entry.step, index)
        self._add_precedence(case, first)
        self._add_moves(case)
        self._add_actors(case)

    def _add_precedence(self, case: Case, first: dict[str, int]) -> None:
        entries = case.entries
        order = sorted(first, key=first.__getitem__)
        for position, after in enumerate(order):
            event_id = entries[first[after]].event_id
            befores = set(order[:position])
            for before in befores:
                pair = (before, after)
                if pair not in self._preceded:
                    # a new pair: every earlier case that reached `after` lacked `before`
                    self._preceded[pair] = _Sample(self.n)
                    reached = self._reached.get(after)
                    self._not_preceded[pair] = _copy(reached, self.n)
                    self._befores.setdefault(after, []).append(before)
                self._preceded[pair].add(event_id)
            for before in self._befores.get(after, ()):
                if before not in befores:
                    self._not_preceded[(before, after)].add(event_id)
            self._sample(self._reached, after).add(event_id)

    def _add_moves(self, case: Case) -> None:
        entries = case.entries
        leaving: dict[str, str] = {}  #: from -> the event of its first leaving entry
        moves: dict[tuple[str, str], tuple[str, int]] = {}  #: first event, longest time
        for current, following in itertools.pairwise(entries):
            leaving.setdefault(current.step, following.event_id)
            move = (current.step, following.step)
            time = following.timestamp - current.timestamp
            seen = moves.get(move)
            if seen is None:
                moves[move] = (following.event_id, time)
            elif time > seen[1]:
                moves[move] = (seen[0], time)
        for (source, target), (event_id, time) in moves.items():
            move = (source, target)
            if move not in self._moved:
                self._moved[move] = _Sample(self.n)
                self._not_moved[move] = _copy(self._left.get(source), self.n)
                self._targets.setdefault(source, []).append(target)
                self._timed[move] = _Timed(self.n)
            self._moved[move].add(event_id)
            self._timed[move].add(time, event_id)
        for source, event_id in leaving.items():
            for target in self._targets.get(source, ()):
                if (source, target) not in moves:
                    self._not_moved[(source, target)].add(event_id)
            self._sample(self._left, source).add(event_id)

    def _add_actors(self, case: Case) -> None:
        for entry in case.entries:
            step, actor, event_id = entry.step, entry.actor_id, entry.event_id
            if actor is not None and (step, actor) not in self._set_by:
                self._set_by[(step, actor)] = _Sample(self.n)
                self._not_set_by[(step, actor)] = _copy(self._entered.get(step), self.n)
                self._actors.setdefault(step, []).append(actor)
            for other in self._actors.get(step, ()):
                if other != actor:
                    self._not_set_by[(step, other)].add(event_id)
            if actor is not None:
                self._set_by[(step, actor)].add(event_id)
            self._sample(self._entered, step).add(event_id)

    def _sample(self, samples: dict[str, _Sample], key: str) -> _Sample:
        found = samples.get(key)
        if found is None:
            found = samples[key] = _Sample(self.n)
        return found

    def actors(self) -> list[str]:
        """Every actor id seen setting a step (to name them in descriptions)."""
        return sorted({actor for _, actor in self._set_by})

    def rules(
        self,
        org_id: str,
        process_id: str,
        entity_type: str,
        min_support: int,
        min_confidence: float,
        actor_names: Mapping[str, str] | None = None,
    ) -> list[Rule]:
        """The rules that clear both thresholds, ordered by step, kind and id.
        `actor_names` gives the text an actor is named by (default: its id)."""
        names = actor_names or {}
        noun = plural(entity_type)
        found: list[Rule] = []

        def emit(
            identity: dict[str, Any],
            step: str,
            description: str,
            cases: int,
            examples: _Sample,
            counters: _Sample,
            extra: dict[str, Any] | None = None,
        ) -> None:
            support = examples.total
            confidence = support / cases if cases else 0.0
            if support < min_support or confidence < min_confidence:
                return
            found.append(
                Rule(
                    id=rule_id(org_id, process_id, identity),
                    process_id=process_id,
                    type=identity["type"],
                    applies_at_step=step,
                    description=description,
                    confidence=confidence,
                    frequency=support,
                    condition={"kind": "deterministic", **identity, **(extra or {})},
                    evidence=Evidence(
                        cases=cases,
                        support=support,
                        counter_examples=counters.total,
                        example_event_ids=tuple(examples.ids),
                        counter_example_event_ids=tuple(counters.ids),
                    ),
                )
            )

        for (before, after), examples in self._preceded.items():
            cases = self._reached[after].total
            emit(
                {"type": "precedence", "before": before, "after": after},
                after,
                f"{after} is reached only after {before} ({examples.total} of {cases} {noun})",
                cases,
                examples,
                self._not_preceded[(before, after)],
            )
        for (source, target), examples in self._moved.items():
            cases = self._left[source].total
            emit(
                {"type": "transition", "from": source, "to": target},
                source,
                f"after {source}, {noun} move to {target} "
                f"({examples.total} of {cases} {noun} leaving {source})",
                cases,
                examples,
                self._not_moved[(source, target)],
            )
            self._emit_duration(emit, source, target, noun)
        for (step, actor), examples in self._set_by.items():
            cases = self._entered[step].total
            name = names.get(actor, actor)
            share = round(100 * examples.total / cases)
            emit(
                {"type": "actor", "step": step, "actorId": actor},
                step,
                f"{step} is set by {name} in {share}% of entries ({examples.total} of {cases})",
                cases,
                examples,
                self._not_set_by[(step, actor)],
                {"actor": name},
            )
        return sorted(found, key=lambda r: (r.applies_at_step, KINDS.index(r.type), r.id))

    def _emit_duration(self, emit: Any, source: str, target: str, noun: str) -> None:
        timed = self._timed[(source, target)]
        ordered = sorted(timed.times)
        median, p90 = nearest_rank(ordered, 50), nearest_rank(ordered, 90)
        within = sum(1 for t in ordered if t <= p90)
        examples = _Sample(self.n, sorted(e for t, e in timed.fastest if t <= p90))
        examples.total = within
        counters = _Sample(self.n, sorted(e for t, e in timed.slowest if -t > p90))
        counters.total = len(ordered) - within
        emit(
            {"type": "duration", "from": source, "to": target},
            source,
            f"{source} → {target} takes a median of {human_duration(median)} "
            f"(p90 {human_duration(p90)}; {within} of {len(ordered)} {noun} within it)",
            len(ordered),
            examples,
            counters,
            {"medianSeconds": median / 1_000_000, "p90Seconds": p90 / 1_000_000},
        )


def _copy(sample: _Sample | None, size: int) -> _Sample:
    """A new sample holding what `sample` holds (its total and smallest ids)."""
    copied = _Sample(size, list(sample.ids) if sample is not None else [])
    copied.total = sample.total if sample is not None else 0
    return copied


_UNITS = ((86_400, "day"), (3_600, "hour"), (60, "minute"), (1, "second"))


def human_duration(micros: int) -> str:
    """`5 days`, `2.5 hours`, `1 minute`, `0 seconds`: the largest unit that fits, to one
    decimal (rounded half to even, as Python's formatting does)."""
    seconds = micros / 1_000_000
    for size, unit in _UNITS:
        if seconds >= size or size == 1:
            value = round(seconds / size, 1)
            text = f"{value:g}"
            return f"{text} {unit}" if value == 1 else f"{text} {unit}s"
    raise AssertionError("unreachable")


def plural(noun: str) -> str:
    """An English plural good enough for entity types (deal -> deals, company -> companies)."""
    if noun.endswith("y") and len(noun) > 1 and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    return noun + "s"


#: the library id of memories: they belong to every library of their organisation
MEMORY_LIBRARY = "00000000-0000-0000-0000-000000000000"
REVIEW_STATUSES = ("inferred", "confirmed", "rejected", "modified")
#: `condition.kind`: found in the events, or taught by a person (a memory, spec §10.3)
RULE_KINDS = ("deterministic", "human")


class RuleDetail(msgspec.Struct, frozen=True):
    """What a stored rule keeps beyond its listed fields (`rules.detail`)."""

    condition: dict[str, Any]
    evidence: Evidence


class StoredRule(msgspec.Struct, frozen=True):
    """A rule as stored: a library's (kind "deterministic") or a memory (kind "human")."""

    library_id: str
    id: str
    org_id: str
    kind: str
    type: str
    process_id: str | None
    applies_at_step: str | None
    description: str
    confidence: float
    frequency: int
    review_status: str
    created_at: int
    updated_at: int
    detail: RuleDetail | None = None  #: read by the detail endpoints only


class RuleFilter(msgspec.Struct, frozen=True):
    library_id: str | None  #: None: the organisation has no library (memories only)
    review_status: str | None = None
    process_id: str | None = None
    search: str | None = None  #: case-insensitive substring of the description
