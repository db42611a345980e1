"""The storage interface: one protocol, implemented by `sqlite.py` and `postgres.py`.

Methods speak the domain (heads, versions, batches), not SQL, because the two
dialects differ in how they lock and bulk-write. Reads are methods of `Store`; all
writes happen on a `WriteTx` from `Store.write()`, which commits when the block exits
normally and rolls back on an exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from headwater.core.actors import Actor, Changes
from headwater.core.idempotency import StoredKey
from headwater.core.knowledge import ClaimedLibrary, Library, ProcessRow
from headwater.core.models import (
    ActorView,
    ApiKey,
    Batch,
    BatchStatus,
    ClaimedBatch,
    EventFilter,
    EventRow,
    Head,
    HeadRow,
    Organisation,
    PlannedVersion,
    RecordKey,
    RecordResult,
    RecordVersion,
    Source,
    SourceCounts,
    StoredEvent,
)
from headwater.core.outcome import VersionIdentity
from headwater.core.rules import Rule, RuleFilter, StoredRule

if TYPE_CHECKING:
    from headwater.store.console import ConsoleSession, OrgTotals, SeriesPoint
    from headwater.store.knowledge import CaseEventRow

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    total: int

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)


class WriteTx(Protocol):
    # organisations and keys
    def ensure_organisation(self, name: str, new_id: str, now: int) -> Organisation: ...
    def insert_api_key(self, key: ApiKey, token_hash: bytes) -> None: ...
    def revoke_api_key(self, org_id: str, key_id: str, now: int) -> ApiKey | None: ...

    # sources
    def get_source(self, org_id: str, source_id: str) -> Source | None: ...
    def insert_source(self, source: Source) -> None: ...
    def update_source(self, source: Source) -> None: ...

    # ingest
    def lock_records(self, source_id: str, keys: Iterable[RecordKey]) -> None:
        """Serialize concurrent writers of the same records until the transaction ends."""

    def load_heads(self, source_id: str, keys: Iterable[RecordKey]) -> dict[RecordKey, Head]: ...
    def find_versions(
        self, source_id: str, identities: Sequence[VersionIdentity]
    ) -> dict[VersionIdentity, str]: ...
    def insert_versions(
        self,
        org_id: str,
        source_id: str,
        batch_id: str,
        versions: Sequence[PlannedVersion],
        now: int,
    ) -> None: ...
    def upsert_heads(
        self, org_id: str, source_id: str, heads: Mapping[RecordKey, Head]
    ) -> None: ...
    def insert_batch(self, batch: Batch, results: Sequence[RecordResult]) -> None: ...

    # the normalization queue
    def claim_batch(self, worker_id: str, now: int, lease_until: int) -> ClaimedBatch | None: ...
    def complete_batch(
        self, batch_id: str, worker_id: str, records: int, events: int, now: int
    ) -> bool: ...
    def retry_batch(
        self, batch_id: str, worker_id: str, run_after: int, code: str, message: str
    ) -> None: ...
    def fail_batch(
        self, batch_id: str, worker_id: str | None, code: str, message: str, now: int
    ) -> None: ...
    def extend_lease(self, batch_id: str, worker_id: str, until: int) -> bool: ...
    def set_progress(self, batch_id: str, done: int, total: int) -> None: ...
    def requeue_source_errors(self, source_id: str, now: int) -> int: ...

    # events and actors
    def lock_feed(self, org_id: str) -> None: ...
    def next_seqs(self, org_id: str, count: int) -> int: ...
    def latest_tombstones(
        self, source_id: str, keys: Iterable[RecordKey]
    ) -> dict[RecordKey, int]: ...
    def load_actors(
        self, org_id: str, emails: Iterable[str], names: Iterable[str]
    ) -> list[Actor]: ...
    def apply_actor_changes(self, org_id: str, changes: Changes, now: int) -> None: ...
    def add_aliases(self, org_id: str, aliases: Iterable[tuple[str, str, str]]) -> None: ...
    def insert_events(self, events: Sequence[EventRow]) -> None: ...
    def soft_delete_events(self, source_id: str, key: RecordKey, before: int) -> None: ...
    def event_ids_between(self, source_id: str, first: RecordKey, last: RecordKey) -> set[str]: ...
    def delete_events(self, event_ids: Sequence[str]) -> None: ...
    def touch_api_key(self, key_id: str, now: int) -> None: ...

    # discovery runs and libraries (store/knowledge.py)
    def lock_discovery_schedule(self) -> None: ...
    def insert_library(self, lib: Library) -> None: ...
    def due_for_discovery(self, started_before: int, limit: int) -> list[str]: ...
    def claim_library(
        self, worker_id: str, now: int, lease_until: int, library_id: str | None = None
    ) -> ClaimedLibrary | None: ...
    def extend_library_lease(self, library_id: str, worker_id: str, until: int) -> bool: ...
    def insert_processes(self, org_id: str, processes: Sequence[ProcessRow]) -> None: ...
    def complete_library(
        self,
        library_id: str,
        org_id: str,
        worker_id: str,
        counts: tuple[int, int, int],
        feed_seq: int,
        now: int,
    ) -> bool: ...
    def retry_library(
        self, library_id: str, worker_id: str, run_after: int, code: str, message: str
    ) -> None: ...
    def fail_library(
        self, library_id: str, worker_id: str, code: str, message: str, now: int
    ) -> None: ...

    # rules, reviews and memories (store/rules.py)
    def insert_rules(
        self, org_id: str, library_id: str, rules: Sequence[Rule], now: int
    ) -> None: ...
    def insert_memory(self, rule: StoredRule) -> None: ...
    def get_rule(self, org_id: str, rule_id: str, library_id: str | None) -> StoredRule | None: ...
    def review_rule(
        self,
        org_id: str,
        rule_id: str,
        status: str,
        description: str | None,
        key_id: str,
        now: int,
    ) -> None: ...

    # idempotency keys
    def get_idempotency(self, org_id: str, endpoint: str, key: str) -> StoredKey | None: ...
    def put_idempotency(self, org_id: str, endpoint: str, key: str, stored: StoredKey) -> None: ...
    def delete_idempotency(self, org_id: str, endpoint: str, key: str) -> None: ...
    def claimant_alive(self, owner: str) -> bool:
        """Whether the server instance `owner` (a claim's holder) still runs."""

    # console sessions (store/console.py)
    def insert_console_session(
        self, id_hash: bytes, key: ApiKey, csrf_token: str, now: int, expires_at: int
    ) -> None: ...
    def delete_console_session(self, id_hash: bytes) -> None: ...
    def delete_expired_console_sessions(self, now: int) -> None: ...


class Store(Protocol):
    backend: str

    def write(self) -> AbstractContextManager[WriteTx]: ...
    def ping(self) -> None:
        """Raise `errors.Unavailable` when storage cannot be reached."""

    def close(self) -> None: ...
    def claimant(self) -> str:
        """This instance's id for the Idempotency-Key claims it makes; while the process
        runs, `WriteTx.claimant_alive` says so to every process (store/claimants.py)."""

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at."""

    def queue_stats(self) -> tuple[dict[BatchStatus, int], int | None]: ...

    # keys
    def find_api_key(self, token_hash: bytes) -> ApiKey | None: ...
    def touch_api_key(self, key_id: str, now: int) -> None: ...
    def take_token(self, key_id: str, now: int, rate: float, burst: float) -> int | None:
        """Spend one of the key's rate-limit tokens; seconds to wait when none is left."""

    def list_api_keys(self, org_id: str, limit: int, offset: int) -> Page[ApiKey]: ...

    # sources
    def get_source(self, org_id: str, source_id: str) -> Source | None: ...
    def list_sources(self, org_id: str, limit: int, offset: int) -> Page[Source]: ...
    def source_counts(self, org_id: str, source_id: str) -> SourceCounts: ...

    # batches and versions
    def get_batch(self, org_id: str, batch_id: str) -> Batch | None: ...
    def list_batches(
        self,
        org_id: str,
        source_id: str | None,
        status: BatchStatus | None,
        limit: int,
        offset: int,
    ) -> Page[Batch]: ...
    def batch_results(
        self, org_id: str, batch_id: str, rejected_only: bool = False
    ) -> list[RecordResult] | None: ...
    def batch_version_ids(self, org_id: str, batch_id: str) -> list[str] | None:
        """The ids of the versions the batch stored (its receipt's created, superseded and
        stale lines), in receipt order; None when there is no such batch."""

    def get_version(self, org_id: str, version_id: str) -> RecordVersion | None: ...
    def get_versions(self, org_id: str, version_ids: Sequence[str]) -> dict[str, RecordVersion]: ...
    def source_versions(self, org_id: str, source_id: str) -> list[RecordVersion]:
        """Every version of a source at once (tests and tools; the service reads ranges)."""

    def source_record_keys(
        self, org_id: str, source_id: str, after: RecordKey | None, limit: int
    ) -> list[RecordKey]: ...
    def versions_between(
        self, org_id: str, source_id: str, first: RecordKey, last: RecordKey
    ) -> list[RecordVersion]: ...
    def record_versions_page(
        self, org_id: str, source_id: str, key: RecordKey, limit: int, offset: int
    ) -> Page[RecordVersion]: ...
    def get_head(self, org_id: str, source_id: str, key: RecordKey) -> HeadRow | None: ...
    def known_payloads(
        self, org_id: str, source_id: str, keys: Sequence[RecordKey]
    ) -> dict[RecordKey, tuple[bytes, bytes]]:
        """(raw fingerprint, content hash) of the heads of `keys` that keep a fingerprint;
        read outside any transaction (ingest's fast path, `validation.parse_request`)."""

    def list_heads(
        self, org_id: str, source_id: str, entity_type: str | None, limit: int, offset: int
    ) -> Page[HeadRow]: ...

    # events and actors
    def list_events(
        self, org_id: str, filters: EventFilter, limit: int, offset: int
    ) -> Page[StoredEvent]: ...
    def events_after(
        self, org_id: str, filters: EventFilter, after_seq: int, limit: int
    ) -> list[StoredEvent]: ...
    def get_event(self, org_id: str, event_id: str) -> StoredEvent | None: ...
    def entity_events_page(
        self, org_id: str, source_id: str, key: RecordKey, limit: int, offset: int
    ) -> Page[StoredEvent]: ...
    def list_actors(self, org_id: str, limit: int, offset: int) -> Page[ActorView]: ...
    def get_actor(self, org_id: str, actor_id: str) -> ActorView | None: ...
    def actor_aliases(
        self, org_id: str, actor_ids: Sequence[str]
    ) -> dict[str, list[tuple[str, str]]]: ...

    # exports (store/export.py): keyset pages bounded by the feed position at the start
    def feed_high_water(self, org_id: str) -> int: ...
    def export_count(self, org_id: str, filters: EventFilter, max_seq: int) -> int: ...
    def export_events_by_time(
        self,
        org_id: str,
        filters: EventFilter,
        max_seq: int,
        after: tuple[int, int] | None,
        limit: int,
    ) -> list[StoredEvent]: ...
    def export_events_by_entity(
        self,
        org_id: str,
        filters: EventFilter,
        max_seq: int,
        after: tuple[str, str, str, int, int] | None,
        limit: int,
    ) -> list[StoredEvent]: ...
    def export_actors(
        self, org_id: str, filters: EventFilter, max_seq: int, after: str | None, limit: int
    ) -> list[ActorView]: ...

    # discovery runs, libraries and processes (store/knowledge.py)
    def get_library(self, org_id: str, library_id: str) -> Library | None: ...
    def list_libraries(self, org_id: str, limit: int, offset: int) -> Page[Library]: ...
    def active_library_id(self, org_id: str) -> str | None: ...
    def list_processes(
        self, org_id: str, library_id: str, scope: str, limit: int, offset: int
    ) -> Page[ProcessRow]: ...
    def get_process(
        self, org_id: str, library_id: str, scope: str, process_id: str
    ) -> ProcessRow | None: ...
    def find_organisations(self, name: str | None = None) -> list[Organisation]: ...
    def feed_position(self, org_id: str) -> int: ...
    def case_events(
        self, org_id: str, source_id: str, after: tuple[str, str, int, int] | None, limit: int
    ) -> list[CaseEventRow]: ...

    # the console's bounded reads (store/console.py)
    def console_session(self, id_hash: bytes) -> ConsoleSession | None: ...
    def org_totals(self, org_id: str, cap: int) -> OrgTotals: ...
    def pending_batches(self, org_id: str) -> tuple[dict[BatchStatus, int], int | None]: ...
    def ingest_series(
        self, org_id: str, since: int, bucket_micros: int, source_id: str | None = None
    ) -> list[SeriesPoint]: ...
    def source_totals(
        self, org_id: str, source_id: str
    ) -> tuple[dict[str, int], int, int | None]: ...
    def source_entity_types(
        self, source_id: str, limit: int, cap: int
    ) -> list[tuple[str, int]]: ...
    def source_event_count(self, org_id: str, source_id: str, cap: int) -> int: ...
    def batches_before(
        self,
        org_id: str,
        source_id: str | None,
        status: BatchStatus | None,
        before_id: str | None,
        limit: int,
    ) -> list[Batch]: ...
    def heads_after(
        self,
        org_id: str,
        source_id: str,
        entity_type: str | None,
        after: RecordKey | None,
        limit: int,
    ) -> list[HeadRow]: ...
    def events_before(
        self,
        org_id: str,
        filters: EventFilter,
        before_seq: int | None,
        limit: int,
        window: int | None = None,
    ) -> tuple[list[StoredEvent], int]: ...
    def record_events(
        self, org_id: str, source_id: str, key: RecordKey, since: int | None = None
    ) -> list[StoredEvent]: ...
    def actors_after(
        self, org_id: str, search: str | None, after_id: str | None, limit: int
    ) -> list[ActorView]: ...
    def merged_actors(self, org_id: str, actor_id: str) -> list[ActorView]: ...
    # rules, reviews and memories (store/rules.py)
    def list_rules(
        self, org_id: str, filters: RuleFilter, limit: int, offset: int
    ) -> Page[StoredRule]: ...
    def get_rule(self, org_id: str, rule_id: str, library_id: str | None) -> StoredRule | None: ...
    def search_rules(
        self, org_id: str, library_id: str | None, query: str, limit: int
    ) -> tuple[list[tuple[StoredRule, float]], int]: ...
    def rules_at_steps(
        self,
        org_id: str,
        library_id: str | None,
        process_id: str,
        steps: Sequence[str],
        limit: int,
    ) -> tuple[list[StoredRule], int]: ...
