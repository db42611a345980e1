"""The embedded backend: one SQLite file in WAL mode.

SQLite has a single writer, so this process sends every write transaction through
one connection guarded by a lock (`BEGIN IMMEDIATE`, so a transaction never has to
upgrade its lock halfway); other processes on the same file wait on `busy_timeout`.
Reads use one connection per thread and run beside the writer thanks to WAL.
`synchronous=FULL` makes a commit durable before the 202 is sent; on this machine
kind it costs ~3% of insert throughput (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import groupby
from typing import Any

from headwater import errors
from headwater.core.idempotency import StoredKey
from headwater.core.models import (
    ApiKey,
    Batch,
    BatchStatus,
    Head,
    Organisation,
    Outcome,
    PlannedVersion,
    RecordKey,
    RecordResult,
    RecordVersion,
    Source,
    SourceCounts,
)
from headwater.core.outcome import VersionIdentity
from headwater.store import rows
from headwater.store.base import Page
from headwater.store.urls import sqlite_path

#: SQLite's default limit on bound parameters is 32766; stay far below it.
_CHUNK = 400


def _connect(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA busy_timeout=30000")
    return connection


@contextmanager
def _translated() -> Iterator[None]:
    """Driver errors a retry can cure become `Unavailable` (503)."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        raise errors.Unavailable(f"SQLite: {exc}") from exc


class SqliteStore:
    backend = "sqlite"

    def __init__(self, database_url: str) -> None:
        self.path = sqlite_path(database_url)
        self._writer = _connect(self.path)
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()

    # -- connections ---------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = _connect(self.path)
            connection.execute("PRAGMA query_only=ON")
            self._local.connection = connection
            with self._readers_lock:
                self._readers.append(connection)
        return connection

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with _translated():
            return self._reader().execute(sql, params).fetchall()

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows_ = self._query(sql, params)
        return rows_[0] if rows_ else None

    @contextmanager
    def write(self) -> Iterator[SqliteWriteTx]:
        with self._write_lock, _translated():
            connection = self._writer
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield SqliteWriteTx(connection)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def ping(self) -> None:
        self._one("SELECT 1")

    def schema_revision(self) -> str | None:
        row = self._one("SELECT version_num FROM alembic_version")
        return str(row[0]) if row else None

    def close(self) -> None:
        with self._readers_lock:
            for connection in self._readers:
                connection.close()
            self._readers.clear()
        with self._write_lock:
            self._writer.close()

    # -- keys ----------------------------------------------------------------------

    def find_api_key(self, token_hash: bytes) -> ApiKey | None:
        row = self._one(
            f"SELECT {rows.API_KEY_COLUMNS} FROM api_keys WHERE token_hash = ?", (token_hash,)
        )
        return rows.api_key(row) if row else None

    def touch_api_key(self, key_id: str, now: int) -> None:
        with self.write() as tx:
            tx.connection.execute(
                "UPDATE api_keys SET last_used_at = ? WHERE id = ?", (now, key_id)
            )

    def list_api_keys(self, org_id: str, limit: int, offset: int) -> Page[ApiKey]:
        found = self._query(
            f"SELECT {rows.API_KEY_COLUMNS} FROM api_keys WHERE org_id = ? ORDER BY id LIMIT ? OFFSET ?",
            (org_id, limit, offset),
        )
        total = self._one("SELECT count(*) FROM api_keys WHERE org_id = ?", (org_id,))[0]
        return Page([rows.api_key(r) for r in found], total)

    # -- sources -------------------------------------------------------------------

    def get_source(self, org_id: str, source_id: str) -> Source | None:
        row = self._one(
            f"SELECT {rows.SOURCE_COLUMNS} FROM sources WHERE id = ? AND org_id = ?",
            (source_id, org_id),
        )
        return rows.source(row) if row else None

    def list_sources(self, org_id: str, limit: int, offset: int) -> Page[Source]:
        found = self._query(
            f"SELECT {rows.SOURCE_COLUMNS} FROM sources WHERE org_id = ? ORDER BY id LIMIT ? OFFSET ?",
            (org_id, limit, offset),
        )
        total = self._one("SELECT count(*) FROM sources WHERE org_id = ?", (org_id,))[0]
        return Page([rows.source(r) for r in found], total)

    def source_counts(self, org_id: str, source_id: str) -> SourceCounts:
        heads = self._one("SELECT count(*) FROM record_heads WHERE source_id = ?", (source_id,))[0]
        versions = self._one(
            "SELECT count(*) FROM record_versions WHERE source_id = ?", (source_id,)
        )[0]
        batches, last = self._one(
            "SELECT count(*), max(created_at) FROM batches WHERE source_id = ?", (source_id,)
        )
        return SourceCounts(
            records=heads, versions=versions, batches=batches, events=0, last_ingested_at=last
        )

    # -- batches and versions ------------------------------------------------------

    def get_batch(self, org_id: str, batch_id: str) -> Batch | None:
        row = self._one(
            f"SELECT {rows.BATCH_COLUMNS} FROM batches WHERE id = ? AND org_id = ?",
            (batch_id, org_id),
        )
        return rows.batch(row) if row else None

    def list_batches(
        self,
        org_id: str,
        source_id: str | None,
        status: BatchStatus | None,
        limit: int,
        offset: int,
    ) -> Page[Batch]:
        where, params = ["org_id = ?"], [org_id]
        if source_id is not None:
            where.append("source_id = ?")
            params.append(source_id)
        if status is not None:
            where.append("status = ?")
            params.append(status.value)
        clause = " AND ".join(where)
        found = self._query(
            f"SELECT {rows.BATCH_COLUMNS} FROM batches WHERE {clause} ORDER BY id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        total = self._one(f"SELECT count(*) FROM batches WHERE {clause}", params)[0]
        return Page([rows.batch(r) for r in found], total)

    def batch_results(self, org_id: str, batch_id: str) -> list[RecordResult] | None:
        row = self._one(
            "SELECT results FROM batches WHERE id = ? AND org_id = ?", (batch_id, org_id)
        )
        return rows.decode_results(row[0]) if row else None

    def get_version(self, org_id: str, version_id: str) -> RecordVersion | None:
        row = self._one(
            f"SELECT {rows.VERSION_COLUMNS} FROM record_versions WHERE id = ? AND org_id = ?",
            (version_id, org_id),
        )
        return rows.version(row) if row else None


class SqliteWriteTx:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.connection.execute(sql, params).fetchone()

    # -- organisations and keys ----------------------------------------------------

    def ensure_organisation(self, name: str, new_id: str, now: int) -> Organisation:
        self.connection.execute(
            "INSERT INTO organisations (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
            (new_id, name, now),
        )
        row = self._one("SELECT id, name, created_at FROM organisations WHERE name = ?", (name,))
        return Organisation(*row)

    def insert_api_key(self, key: ApiKey, token_hash: bytes) -> None:
        self.connection.execute(
            "INSERT INTO api_keys (id, org_id, label, prefix, token_hash, scopes, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                key.id,
                key.org_id,
                key.label,
                key.prefix,
                token_hash,
                rows.scopes_text(key.scopes),
                key.created_at,
            ),
        )

    def revoke_api_key(self, org_id: str, key_id: str, now: int) -> ApiKey | None:
        self.connection.execute(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ? AND org_id = ?",
            (now, key_id, org_id),
        )
        row = self._one(
            f"SELECT {rows.API_KEY_COLUMNS} FROM api_keys WHERE id = ? AND org_id = ?",
            (key_id, org_id),
        )
        return rows.api_key(row) if row else None

    # -- sources -------------------------------------------------------------------

    def get_source(self, org_id: str, source_id: str) -> Source | None:
        row = self._one(
            f"SELECT {rows.SOURCE_COLUMNS} FROM sources WHERE id = ? AND org_id = ?",
            (source_id, org_id),
        )
        return rows.source(row) if row else None

    def insert_source(self, source: Source) -> None:
        self.connection.execute(
            f"INSERT INTO sources ({rows.SOURCE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows.source_params(source),
        )

    def update_source(self, source: Source) -> None:
        params = rows.source_params(source)
        self.connection.execute(
            "UPDATE sources SET name = ?, status = ?, entity_types = ?, description = ?, mappings = ?, "
            "updated_at = ? WHERE id = ? AND org_id = ?",
            (
                params[3],
                params[4],
                params[5],
                params[6],
                params[7],
                params[9],
                source.id,
                source.org_id,
            ),
        )

    # -- ingest --------------------------------------------------------------------

    def lock_records(self, source_id: str, keys: Iterable[RecordKey]) -> None:
        """`BEGIN IMMEDIATE` already holds the database's only write lock."""

    def load_heads(self, source_id: str, keys: Iterable[RecordKey]) -> dict[RecordKey, Head]:
        heads: dict[RecordKey, Head] = {}
        ordered = sorted(set(keys), key=lambda k: k.entity_type)
        for entity_type, group in groupby(ordered, key=lambda k: k.entity_type):
            ids = [k.record_id for k in group]
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                for (
                    record_id,
                    version_id,
                    content_hash,
                    updated_at,
                    deleted,
                ) in self.connection.execute(
                    "SELECT record_id, version_id, content_hash, source_updated_at, deleted "
                    f"FROM record_heads WHERE source_id = ? AND entity_type = ? AND record_id IN ({marks})",
                    (source_id, entity_type, *chunk),
                ):
                    heads[RecordKey(entity_type, record_id)] = Head(
                        version_id, content_hash, updated_at, bool(deleted)
                    )
        return heads

    def find_versions(
        self, source_id: str, identities: Sequence[VersionIdentity]
    ) -> dict[VersionIdentity, str]:
        found: dict[VersionIdentity, str] = {}
        for identity in identities:
            key, content_hash, updated_at = identity
            row = self._one(
                "SELECT id FROM record_versions WHERE source_id = ? AND entity_type = ? "
                "AND record_id = ? AND content_hash = ? AND source_updated_at = ?",
                (source_id, key.entity_type, key.record_id, content_hash, updated_at),
            )
            if row:
                found[identity] = row[0]
        return found

    def insert_versions(
        self,
        org_id: str,
        source_id: str,
        batch_id: str,
        versions: Sequence[PlannedVersion],
        now: int,
    ) -> None:
        self.connection.executemany(
            f"INSERT INTO record_versions ({rows.VERSION_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    v.version_id,
                    org_id,
                    source_id,
                    v.record.key.entity_type,
                    v.record.key.record_id,
                    v.record.content_hash,
                    v.record.source_updated_at,
                    v.record.deleted,
                    v.outcome.value,
                    v.previous_version_id,
                    batch_id,
                    v.record.index,
                    now,
                    v.record.payload,
                )
                for v in versions
            ],
        )

    def upsert_heads(self, org_id: str, source_id: str, heads: Mapping[RecordKey, Head]) -> None:
        self.connection.executemany(
            "INSERT INTO record_heads (source_id, entity_type, record_id, org_id, version_id, "
            "content_hash, source_updated_at, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (source_id, entity_type, record_id) DO UPDATE SET "
            "version_id = excluded.version_id, content_hash = excluded.content_hash, "
            "source_updated_at = excluded.source_updated_at, deleted = excluded.deleted",
            [
                (
                    source_id,
                    key.entity_type,
                    key.record_id,
                    org_id,
                    head.version_id,
                    head.content_hash,
                    head.source_updated_at,
                    head.deleted,
                )
                for key, head in heads.items()
            ],
        )

    def insert_batch(self, batch: Batch, results: Sequence[RecordResult]) -> None:
        self.connection.execute(
            "INSERT INTO batches (id, org_id, source_id, status, created, superseded, unchanged, stale, "
            "rejected, results, records_created, events_created, run_after, created_at, completed_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                batch.id,
                batch.org_id,
                batch.source_id,
                batch.status.value,
                batch.counts[Outcome.CREATED],
                batch.counts[Outcome.SUPERSEDED],
                batch.counts[Outcome.UNCHANGED],
                batch.counts[Outcome.STALE],
                batch.rejected,
                rows.encode_results(results),
                batch.records_created,
                batch.events_created,
                batch.created_at,
                batch.created_at,
                batch.completed_at,
            ),
        )

    # -- idempotency keys ----------------------------------------------------------

    def get_idempotency(self, org_id: str, endpoint: str, key: str) -> StoredKey | None:
        row = self._one(
            "SELECT request_hash, response_status, response_body, locked_until, created_at "
            "FROM idempotency_keys WHERE org_id = ? AND endpoint = ? AND key = ?",
            (org_id, endpoint, key),
        )
        return StoredKey(*row) if row else None

    def put_idempotency(self, org_id: str, endpoint: str, key: str, stored: StoredKey) -> None:
        self.connection.execute(
            "INSERT INTO idempotency_keys (org_id, endpoint, key, request_hash, response_status, "
            "response_body, locked_until, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (org_id, endpoint, key) DO UPDATE SET request_hash = excluded.request_hash, "
            "response_status = excluded.response_status, response_body = excluded.response_body, "
            "locked_until = excluded.locked_until, created_at = excluded.created_at",
            (
                org_id,
                endpoint,
                key,
                stored.request_hash,
                stored.response_status,
                stored.response_body,
                stored.locked_until,
                stored.created_at,
            ),
        )

    def delete_idempotency(self, org_id: str, endpoint: str, key: str) -> None:
        self.connection.execute(
            "DELETE FROM idempotency_keys WHERE org_id = ? AND endpoint = ? AND key = ?",
            (org_id, endpoint, key),
        )
