"""The PostgreSQL backend: any number of API and worker processes on one database.

Concurrent ingests of the same records are serialized by transaction-scoped advisory
locks on the records' keys, taken in one statement in a fixed (sorted) order so two
transactions can never deadlock on them. Versions are written with binary COPY; array
parameters are bound in binary (`%b`), since psycopg's text-array dumper escapes
every element through Python (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import groupby
from typing import Any
from uuid import UUID

import psycopg
import psycopg_pool
from psycopg.adapt import Loader

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
from headwater.store.urls import libpq_url


class _UuidAsText(Loader):
    """Return uuid columns as `str`, the type every other layer uses for ids."""

    def load(self, data: Any) -> str:
        return bytes(data).decode()


def _configure(connection: psycopg.Connection[Any]) -> None:
    connection.adapters.register_loader("uuid", _UuidAsText)


@contextmanager
def _translated() -> Iterator[None]:
    """Errors a retry can cure become `Unavailable` (503)."""
    try:
        yield
    except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
        raise errors.Unavailable(f"PostgreSQL: {exc}") from exc


def record_lock_id(source_id: str, key: RecordKey) -> int:
    """A signed 64-bit advisory lock id for one record."""
    digest = hashlib.blake2b(
        f"{source_id}\x00{key.entity_type}\x00{key.record_id}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big", signed=True)


class PostgresStore:
    backend = "postgresql"

    def __init__(self, database_url: str, min_size: int = 1, max_size: int = 10) -> None:
        self.pool = psycopg_pool.ConnectionPool(
            libpq_url(database_url),
            min_size=min_size,
            max_size=max_size,
            configure=_configure,
            timeout=30.0,
            open=False,
        )
        with _translated():
            self.pool.open(wait=True, timeout=30.0)

    def _query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Any]:
        with _translated(), self.pool.connection() as connection:
            return connection.execute(sql, params).fetchall()

    def _one(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Any:
        found = self._query(sql, params)
        return found[0] if found else None

    @contextmanager
    def write(self) -> Iterator[PostgresWriteTx]:
        with _translated(), self.pool.connection() as connection, connection.transaction():
            yield PostgresWriteTx(connection)

    def ping(self) -> None:
        self._one("SELECT 1")

    def schema_revision(self) -> str | None:
        row = self._one("SELECT version_num FROM alembic_version")
        return str(row[0]) if row else None

    def close(self) -> None:
        self.pool.close()

    # -- keys ----------------------------------------------------------------------

    def find_api_key(self, token_hash: bytes) -> ApiKey | None:
        row = self._one(
            f"SELECT {rows.API_KEY_COLUMNS} FROM api_keys WHERE token_hash = %s", (token_hash,)
        )
        return rows.api_key(row) if row else None

    def touch_api_key(self, key_id: str, now: int) -> None:
        with self.write() as tx:
            tx.connection.execute(
                "UPDATE api_keys SET last_used_at = %s WHERE id = %s", (now, key_id)
            )

    def list_api_keys(self, org_id: str, limit: int, offset: int) -> Page[ApiKey]:
        found = self._query(
            f"SELECT {rows.API_KEY_COLUMNS}, count(*) OVER () FROM api_keys WHERE org_id = %s "
            "ORDER BY id LIMIT %s OFFSET %s",
            (org_id, limit, offset),
        )
        total = found[0][-1] if found else self._count("api_keys", org_id)
        return Page([rows.api_key(r) for r in found], total)

    def _count(self, table: str, org_id: str) -> int:
        return int(self._one(f"SELECT count(*) FROM {table} WHERE org_id = %s", (org_id,))[0])

    # -- sources -------------------------------------------------------------------

    def get_source(self, org_id: str, source_id: str) -> Source | None:
        row = self._one(
            f"SELECT {rows.SOURCE_COLUMNS} FROM sources WHERE id = %s AND org_id = %s",
            (source_id, org_id),
        )
        return rows.source(row) if row else None

    def list_sources(self, org_id: str, limit: int, offset: int) -> Page[Source]:
        found = self._query(
            f"SELECT {rows.SOURCE_COLUMNS} FROM sources WHERE org_id = %s "
            "ORDER BY id LIMIT %s OFFSET %s",
            (org_id, limit, offset),
        )
        return Page([rows.source(r) for r in found], self._count("sources", org_id))

    def source_counts(self, org_id: str, source_id: str) -> SourceCounts:
        row = self._one(
            "SELECT (SELECT count(*) FROM record_heads WHERE source_id = %(s)s), "
            "(SELECT count(*) FROM record_versions WHERE source_id = %(s)s), "
            "(SELECT count(*) FROM batches WHERE source_id = %(s)s), "
            "(SELECT max(created_at) FROM batches WHERE source_id = %(s)s)",
            {"s": source_id},
        )
        return SourceCounts(
            records=row[0], versions=row[1], batches=row[2], events=0, last_ingested_at=row[3]
        )

    # -- batches and versions ------------------------------------------------------

    def get_batch(self, org_id: str, batch_id: str) -> Batch | None:
        row = self._one(
            f"SELECT {rows.BATCH_COLUMNS} FROM batches WHERE id = %s AND org_id = %s",
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
        where, params = ["org_id = %s"], [org_id]
        if source_id is not None:
            where.append("source_id = %s")
            params.append(source_id)
        if status is not None:
            where.append("status = %s")
            params.append(status.value)
        clause = " AND ".join(where)
        found = self._query(
            f"SELECT {rows.BATCH_COLUMNS} FROM batches WHERE {clause} "
            "ORDER BY id DESC LIMIT %s OFFSET %s",
            [*params, limit, offset],
        )
        total = self._one(f"SELECT count(*) FROM batches WHERE {clause}", params)[0]
        return Page([rows.batch(r) for r in found], total)

    def batch_results(self, org_id: str, batch_id: str) -> list[RecordResult] | None:
        row = self._one(
            "SELECT results FROM batches WHERE id = %s AND org_id = %s", (batch_id, org_id)
        )
        return rows.decode_results(row[0]) if row else None

    def get_version(self, org_id: str, version_id: str) -> RecordVersion | None:
        row = self._one(
            f"SELECT {rows.VERSION_COLUMNS} FROM record_versions WHERE id = %s AND org_id = %s",
            (version_id, org_id),
        )
        return rows.version(row) if row else None


class PostgresWriteTx:
    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.connection.execute(sql, params).fetchone()

    # -- organisations and keys ----------------------------------------------------

    def ensure_organisation(self, name: str, new_id: str, now: int) -> Organisation:
        self.connection.execute(
            "INSERT INTO organisations (id, name, created_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (name) DO NOTHING",
            (new_id, name, now),
        )
        row = self._one("SELECT id, name, created_at FROM organisations WHERE name = %s", (name,))
        return Organisation(*row)

    def insert_api_key(self, key: ApiKey, token_hash: bytes) -> None:
        self.connection.execute(
            "INSERT INTO api_keys (id, org_id, label, prefix, token_hash, scopes, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
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
        row = self._one(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, %s) "
            f"WHERE id = %s AND org_id = %s RETURNING {rows.API_KEY_COLUMNS}",
            (now, key_id, org_id),
        )
        return rows.api_key(row) if row else None

    # -- sources -------------------------------------------------------------------

    def get_source(self, org_id: str, source_id: str) -> Source | None:
        row = self._one(
            f"SELECT {rows.SOURCE_COLUMNS} FROM sources WHERE id = %s AND org_id = %s FOR SHARE",
            (source_id, org_id),
        )
        return rows.source(row) if row else None

    def insert_source(self, source: Source) -> None:
        self.connection.execute(
            f"INSERT INTO sources ({rows.SOURCE_COLUMNS}) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows.source_params(source),
        )

    def update_source(self, source: Source) -> None:
        params = rows.source_params(source)
        self.connection.execute(
            "UPDATE sources SET name = %s, status = %s, entity_types = %s, description = %s, "
            "mappings = %s, updated_at = %s WHERE id = %s AND org_id = %s",
            (*params[3:8], params[9], source.id, source.org_id),
        )

    # -- ingest --------------------------------------------------------------------

    def lock_records(self, source_id: str, keys: Iterable[RecordKey]) -> None:
        lock_ids = sorted({record_lock_id(source_id, key) for key in keys})
        if lock_ids:
            self.connection.execute(
                "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%b::bigint[]) AS k",
                (lock_ids,),
            )

    def load_heads(self, source_id: str, keys: Iterable[RecordKey]) -> dict[RecordKey, Head]:
        heads: dict[RecordKey, Head] = {}
        ordered = sorted(set(keys), key=lambda k: k.entity_type)
        for entity_type, group in groupby(ordered, key=lambda k: k.entity_type):
            found = self.connection.execute(
                "SELECT record_id, version_id, content_hash, source_updated_at, deleted "
                "FROM record_heads WHERE source_id = %s AND entity_type = %s "
                "AND record_id = ANY(%b::text[])",
                (source_id, entity_type, [k.record_id for k in group]),
            )
            for record_id, version_id, content_hash, updated_at, deleted in found:
                heads[RecordKey(entity_type, record_id)] = Head(
                    version_id, bytes(content_hash), updated_at, deleted
                )
        return heads

    def find_versions(
        self, source_id: str, identities: Sequence[VersionIdentity]
    ) -> dict[VersionIdentity, str]:
        found: dict[VersionIdentity, str] = {}
        for identity in identities:
            key, content_hash, updated_at = identity
            row = self._one(
                "SELECT id FROM record_versions WHERE source_id = %s AND entity_type = %s "
                "AND record_id = %s AND content_hash = %s AND source_updated_at = %s",
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
        if not versions:
            return
        # Binary COPY wants uuid.UUID values; convert the batch-wide ids once.
        org, source, batch = UUID(org_id), UUID(source_id), UUID(batch_id)
        with self.connection.cursor().copy(
            f"COPY record_versions ({rows.VERSION_COLUMNS}) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(
                ["uuid", "uuid", "uuid", "text", "text", "bytea", "int8", "bool", "text",
                 "uuid", "uuid", "int4", "int8", "bytea"]
            )  # fmt: skip
            for v in versions:
                previous = v.previous_version_id
                copy.write_row(
                    (
                        UUID(v.version_id),
                        org,
                        source,
                        v.record.key.entity_type,
                        v.record.key.record_id,
                        v.record.content_hash,
                        v.record.source_updated_at,
                        v.record.deleted,
                        v.outcome.value,
                        UUID(previous) if previous is not None else None,
                        batch,
                        v.record.index,
                        now,
                        v.record.payload,
                    )
                )

    def upsert_heads(self, org_id: str, source_id: str, heads: Mapping[RecordKey, Head]) -> None:
        if not heads:
            return
        items = list(heads.items())
        self.connection.execute(
            "INSERT INTO record_heads (source_id, entity_type, record_id, org_id, version_id, "
            "content_hash, source_updated_at, deleted) "
            "SELECT %s, e, r, %s, v::uuid, h, t, d FROM unnest("
            "%b::text[], %b::text[], %b::text[], %b::bytea[], %b::int8[], %b::bool[]) "
            "AS u(e, r, v, h, t, d) "
            "ON CONFLICT (source_id, entity_type, record_id) DO UPDATE SET "
            "version_id = excluded.version_id, content_hash = excluded.content_hash, "
            "source_updated_at = excluded.source_updated_at, deleted = excluded.deleted",
            (
                source_id,
                org_id,
                [k.entity_type for k, _ in items],
                [k.record_id for k, _ in items],
                [h.version_id for _, h in items],
                [h.content_hash for _, h in items],
                [h.source_updated_at for _, h in items],
                [h.deleted for _, h in items],
            ),
        )

    def insert_batch(self, batch: Batch, results: Sequence[RecordResult]) -> None:
        self.connection.execute(
            "INSERT INTO batches (id, org_id, source_id, status, created, superseded, unchanged, "
            "stale, rejected, results, records_created, events_created, run_after, created_at, "
            "completed_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %b, %s, %s, %s, %s, %s)",
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
        """Also locks the key until the transaction ends, so two requests arriving at
        once cannot both find it free and both claim it."""
        self.connection.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 7214432002))",
            (f"{org_id} {endpoint} {key}",),
        )
        row = self._one(
            "SELECT request_hash, response_status, response_body, locked_until, created_at "
            "FROM idempotency_keys WHERE org_id = %s AND endpoint = %s AND key = %s FOR UPDATE",
            (org_id, endpoint, key),
        )
        if row is None:
            return None
        body = bytes(row[2]) if row[2] is not None else None
        return StoredKey(bytes(row[0]), row[1], body, row[3], row[4])

    def put_idempotency(self, org_id: str, endpoint: str, key: str, stored: StoredKey) -> None:
        self.connection.execute(
            "INSERT INTO idempotency_keys (org_id, endpoint, key, request_hash, response_status, "
            "response_body, locked_until, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (org_id, endpoint, key) DO UPDATE SET "
            "request_hash = excluded.request_hash, response_status = excluded.response_status, "
            "response_body = excluded.response_body, locked_until = excluded.locked_until, "
            "created_at = excluded.created_at",
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
            "DELETE FROM idempotency_keys WHERE org_id = %s AND endpoint = %s AND key = %s",
            (org_id, endpoint, key),
        )
