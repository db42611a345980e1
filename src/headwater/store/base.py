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
from typing import Generic, Protocol, TypeVar

from headwater.core.idempotency import StoredKey
from headwater.core.models import (
    ApiKey,
    Batch,
    BatchStatus,
    Head,
    Organisation,
    PlannedVersion,
    RecordKey,
    RecordResult,
    RecordVersion,
    Source,
    SourceCounts,
)
from headwater.core.outcome import VersionIdentity

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

    # idempotency keys
    def get_idempotency(self, org_id: str, endpoint: str, key: str) -> StoredKey | None: ...
    def put_idempotency(self, org_id: str, endpoint: str, key: str, stored: StoredKey) -> None: ...
    def delete_idempotency(self, org_id: str, endpoint: str, key: str) -> None: ...


class Store(Protocol):
    backend: str

    def write(self) -> AbstractContextManager[WriteTx]: ...
    def ping(self) -> None:
        """Raise `errors.Unavailable` when storage cannot be reached."""

    def close(self) -> None: ...
    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at."""

    # keys
    def find_api_key(self, token_hash: bytes) -> ApiKey | None: ...
    def touch_api_key(self, key_id: str, now: int) -> None: ...
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
    def batch_results(self, org_id: str, batch_id: str) -> list[RecordResult] | None: ...
    def get_version(self, org_id: str, version_id: str) -> RecordVersion | None: ...
