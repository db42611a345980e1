"""The discovery shell (spec §9.2, §10.1): stream an organisation's events into cases and
processes, and write them as a new library version.

A run reads each source's non-deleted events in (entity type, entity id, timestamp, seq)
keyset pages (`Store.case_events`), so memory holds one page and the entity that spans
its end. Each complete entity becomes a `core.process.Case` for every step field it sets
(and for its actions, until a step field is seen for its entity type), and is folded at
once into the builders of the organisation-wide process of its entity type and of the
same process narrowed to its source. Nothing keeps the cases themselves: what grows with
the log is the builders' packed durations (8 bytes per step entry, docs/processes.md).

A consumer of cases (e.g. rules, spec §10.2) joins the run by folding the same cases
(`Collector.add`) and writing its results in the final transaction beside the processes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from headwater.core.knowledge import ClaimedLibrary, ProcessRow, process_id
from headwater.core.mapping import Mapping, parse_mappings
from headwater.core.models import RecordVersion, Source
from headwater.core.process import (
    STEP_FIELDS,
    Case,
    ProcessBuilder,
    StepEvent,
    case_of,
    choose_step_field,
    step_value,
)
from headwater.ids import now_micros
from headwater.normalize import LeaseLost
from headwater.rule_discovery import RuleFolder
from headwater.store.base import Store
from headwater.store.knowledge import CaseEventRow

#: events per keyset page: bounds the run's memory and the length of each read
PAGE_EVENTS = 5_000
#: sources read per page of the organisation's source list
SOURCE_PAGE = 100
#: the process of every source together
ALL_SOURCES = ""

_changes = msgspec.json.Decoder(list[dict[str, Any]]).decode
_payload = msgspec.json.Decoder().decode
_encode = msgspec.json.encode


@dataclass(slots=True)
class _Scope:
    """One process being built: an entity type, over all sources or one."""

    named: list[str] = field(default_factory=list)  #: the mappings' status fields, in order
    builders: dict[str | None, ProcessBuilder] = field(default_factory=dict)
    fields_seen: bool = False


@dataclass(frozen=True)
class _SourceRules:
    """What a source's mapping says about one entity type, for discovery."""

    candidates: tuple[str, ...]  #: status fields to look for, the mapping's first
    named: tuple[str, ...]
    created_action: str

    @functools.cached_property
    def needles(self) -> tuple[bytes, ...]:
        """How a change of each candidate field appears in an event's stored `changes`
        (msgspec's encoding of `core.events.Change`): changes without one are not decoded."""
        return tuple(b'"field":' + _encode(name) for name in self.candidates)


class CaseConsumer(Protocol):
    """Folds the cases the collector builds (scope, entity type, step field; None = actions)."""

    def add(self, scope: str, entity_type: str, step_field: str | None, case: Case) -> None: ...


class Collector:
    """Folds entities into the processes of every (scope, entity type)."""

    def __init__(self, top_variants: int) -> None:
        self.top_variants = top_variants
        self.scopes: dict[tuple[str, str], _Scope] = {}
        self.events_read = 0
        self.consumers: list[CaseConsumer] = []

    def scope(self, scope: str, entity_type: str, named: Sequence[str]) -> _Scope:
        found = self.scopes.get((scope, entity_type))
        if found is None:
            found = self.scopes[(scope, entity_type)] = _Scope()
        if named:
            for name in named:
                if name not in found.named:
                    found.named.append(name)
        return found

    def add(self, source_id: str, events: Sequence[StepEvent], rules: _SourceRules) -> None:
        """One entity's events (all of one entity, any order)."""
        self.events_read += len(events)
        entity_type = events[0].entity_type
        scopes = (
            self.scope(ALL_SOURCES, entity_type, rules.named),
            self.scope(source_id, entity_type, rules.named),
        )
        present = {f for e in events for f in e.values}
        fields: list[str | None] = [f for f in rules.candidates if f in present]
        if fields:
            for scope in scopes:
                if not scope.fields_seen:
                    scope.fields_seen = True
                    scope.builders.pop(None, None)  # actions are steps only without a field
        else:
            fields = [None] if not (scopes[0].fields_seen and scopes[1].fields_seen) else []
        for name in fields:
            case = case_of(events, name)  # built once, folded into both scopes
            for scope_key, scope in zip((ALL_SOURCES, source_id), scopes, strict=True):
                if (name is None) != scope.fields_seen:
                    self._builder(scope, name).add(case)
                    for consumer in self.consumers:
                        consumer.add(scope_key, entity_type, name, case)

    def _builder(self, scope: _Scope, name: str | None) -> ProcessBuilder:
        builder = scope.builders.get(name)
        if builder is None:
            builder = scope.builders[name] = ProcessBuilder(self.top_variants)
        return builder

    def rows(self, library_id: str) -> list[ProcessRow]:
        found = []
        for (scope_key, entity_type), scope in sorted(self.scopes.items()):
            chosen = choose_step_field(scope.named, [k for k in scope.builders if k is not None])
            builder = scope.builders.get(chosen)
            if builder is None or builder.cases == 0:
                continue
            process = builder.result()
            found.append(
                ProcessRow(
                    library_id=library_id,
                    scope=scope_key,
                    process_id=process_id(entity_type),
                    entity_type=entity_type,
                    step_field=chosen,
                    cases=process.cases,
                    events=process.events,
                    detail=_encode(process),
                )
            )
        return found


def run_discovery(
    store: Store,
    claimed: ClaimedLibrary,
    worker_id: str,
    lease_micros: int,
    page_events: int = PAGE_EVENTS,
) -> int:
    """Compute every process of the organisation and write them as the library `claimed`,
    which becomes the active library; returns the events read. Raises `LeaseLost` when
    another worker took the run over (nothing of this attempt is written)."""
    org_id = claimed.org_id
    # Events after this position are "new" for the next scheduled run; read it first so
    # none committed while this run reads is counted as seen.
    feed_seq = store.feed_position(org_id)
    collector = Collector(claimed.parameters.topVariants)
    rule_folder = RuleFolder()
    collector.consumers.append(rule_folder)
    lease = _Lease(store, claimed.id, worker_id, lease_micros)
    for source in _sources(store, org_id):
        mapped = _rules_of(source)
        for entities in _entity_pages(store, org_id, source.id, page_events, lease):
            rules = [
                mapped.get(e[0].entity_type) or _default_rules(e[0].entity_type) for e in entities
            ]
            created = [
                row.version_id
                for entity, r in zip(entities, rules, strict=True)
                for row in entity
                if row.action == r.created_action
            ]
            payloads = store.get_versions(org_id, created) if created else {}
            for entity, r in zip(entities, rules, strict=True):
                collector.add(source.id, step_events(entity, r, source.id, payloads), r)
    rows = collector.rows(claimed.id)
    found_rules = rule_folder.rules(store, org_id, rows, claimed.parameters)
    with store.write() as tx:
        # Two runs of one organisation finishing at once must switch the active library one
        # after the other (libraries_active allows one): the feed lock orders them.
        tx.lock_feed(org_id)
        tx.insert_processes(org_id, rows)
        tx.insert_rules(org_id, claimed.id, found_rules, now_micros())
        processes = sum(1 for r in rows if r.scope == ALL_SOURCES)
        counts = (processes, len(found_rules), collector.events_read)
        if not tx.complete_library(claimed.id, org_id, worker_id, counts, feed_seq, now_micros()):
            raise LeaseLost(claimed.id)
    return collector.events_read


class _Lease:
    """Renews the run's lease while it reads, at most every third of the lease."""

    def __init__(self, store: Store, library_id: str, worker_id: str, lease_micros: int) -> None:
        self.store, self.library_id, self.worker_id = store, library_id, worker_id
        self.lease_micros = lease_micros
        self.renewed = now_micros()

    def keep(self) -> None:
        now = now_micros()
        if now - self.renewed < self.lease_micros // 3:
            return
        with self.store.write() as tx:
            if not tx.extend_library_lease(
                self.library_id, self.worker_id, now + self.lease_micros
            ):
                raise LeaseLost(self.library_id)
        self.renewed = now


def _sources(store: Store, org_id: str) -> Iterator[Source]:
    offset = 0
    while True:
        page = store.list_sources(org_id, SOURCE_PAGE, offset)
        yield from page
        offset += len(page.items)
        if len(page.items) < SOURCE_PAGE:
            return


def _rules_of(source: Source) -> dict[str, _SourceRules]:
    specs = parse_mappings(source.mappings) if source.mappings else {}
    rules = {}
    for entity_type, spec in specs.items():
        named = tuple(dict.fromkeys(spec.statusFields or ()))
        rules[entity_type] = _SourceRules(
            candidates=tuple(dict.fromkeys((*named, *STEP_FIELDS))),
            named=named,
            created_action=Mapping.build(spec).action(entity_type, "created"),
        )
    return rules


@functools.lru_cache(maxsize=1024)
def _default_rules(entity_type: str) -> _SourceRules:
    return _SourceRules(STEP_FIELDS, (), f"{entity_type}_created")


def _entity_pages(
    store: Store, org_id: str, source_id: str, page_events: int, lease: _Lease
) -> Iterator[list[list[CaseEventRow]]]:
    """The source's entities, each as its events, a keyset page at a time; an entity
    whose events run past the end of a page is completed by the next one."""
    after: tuple[str, str, int, int] | None = None
    current: list[CaseEventRow] = []
    while True:
        lease.keep()
        page = store.case_events(org_id, source_id, after, page_events)
        complete: list[list[CaseEventRow]] = []
        for row in page:
            if current and (
                row.entity_id != current[0].entity_id or row.entity_type != current[0].entity_type
            ):
                complete.append(current)
                current = []
            current.append(row)
        last_page = len(page) < page_events
        if last_page and current:
            complete.append(current)
        if complete:
            yield complete
        if last_page:
            return
        last = page[-1]
        after = (last.entity_type, last.entity_id, last.timestamp, last.seq)


def step_events(
    rows: Sequence[CaseEventRow],
    rules: _SourceRules,
    source_id: str,
    payloads: dict[str, RecordVersion],
) -> list[StepEvent]:
    """An entity's stored events as `StepEvent`s with the step values they set: from the
    fields their changes name and, for a creation, from the created version's payload (a
    first version that names no one who moved its stage has a `_created` event only)."""
    wanted = rules.candidates
    events = []
    for row in rows:
        values: dict[str, str] = {}
        changes = row.changes
        if changes != b"[]" and any(needle in changes for needle in rules.needles):
            for change in _changes(changes):
                name = change.get("field")
                if name in wanted:
                    value = step_value(change.get("to"))
                    if value is not None:
                        values[name] = value
        version = payloads.get(row.version_id) if row.action == rules.created_action else None
        if version is not None:
            payload = _payload(version.payload)
            if isinstance(payload, dict):
                for name in wanted:
                    if name in payload:
                        value = step_value(payload[name])
                        if value is not None:
                            values.setdefault(name, value)
        events.append(
            StepEvent(
                id=row.id,
                source_id=source_id,
                entity_type=row.entity_type,
                entity_id=row.entity_id,
                timestamp=row.timestamp,
                seq=row.seq,
                action=row.action,
                actor_id=row.actor_id,
                version_id=row.version_id,
                values=values,
            )
        )
    return events
