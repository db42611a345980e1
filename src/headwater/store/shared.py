"""The SQL both backends run unchanged, written once with `%s` placeholders.

`SqlReads` (the reads of `Store`) and `SqlWriteTx` (the writes of `WriteTx`) hold only
statements whose text SQLite and PostgreSQL both execute: `sqlite.py` rewrites the
placeholders to `?`. What one backend does its own way lives in that backend's module,
whole: SQLite's chunked `IN (...)` lookups and `executemany` writes in `sqlite.py`,
PostgreSQL's array binds, COPY, LATERAL probes and locks in `postgres.py`. Two knobs
remain here, `share_lock` and `skip_locked`: suffixes PostgreSQL appends to an otherwise
shared query. Subclasses provide `_query` / `_execute` / `_executemany`.

Rows are read by column name: each mapped select list is a `rows.Columns` (or the
statement's own names, unpacked right under it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from headwater.core.actors import Actor, Changes
from headwater.core.idempotency import StoredKey
from headwater.core.models import (
    ActorView,
    ApiKey,
    Batch,
    BatchKind,
    BatchStatus,
    ClaimedBatch,
    EventFilter,
    EventRow,
    HeadRow,
    Organisation,
    Outcome,
    RecordKey,
    RecordResult,
    RecordVersion,
    Source,
    SourceCounts,
    StoredEvent,
)
from headwater.store import rows
from headwater.store.base import Page

#: stay far below SQLite's bound-parameter limit in IN lists
CHUNK = 400

#: an event and its actor (`stored_event`)
EVENT = rows.Columns(
    "e.id", "e.org_id", "e.source_id", "e.batch_id", "e.record_version_id", "e.action",
    "e.actor_id", "e.entity_type", "e.entity_id", "e.entity_name", "e.timestamp", "e.changes",
    "e.deleted", "e.created_at", "e.seq", "a.id", "a.email", "a.name", "a.placeholder",
)  # fmt: skip
EVENT_SELECT = f"SELECT {EVENT.sql} FROM events e LEFT JOIN actors a ON a.id = e.actor_id"


def marks(count: int) -> str:
    return ",".join(["%s"] * count)


#: a renormalize's reads, a range of record keys at a time (row-value comparisons: one
#: index range in both dialects; tests/store/test_postgres_plans.py)
RECORD_KEYS_AFTER = (
    "SELECT entity_type, record_id FROM record_heads WHERE source_id = %s AND org_id = %s "
    "AND (entity_type, record_id) > (%s, %s) ORDER BY entity_type, record_id LIMIT %s"
)
VERSIONS_BETWEEN = (
    f"SELECT {rows.VERSION.sql} FROM record_versions WHERE source_id = %s "
    "AND (entity_type, record_id) >= (%s, %s) AND (entity_type, record_id) <= (%s, %s) "
    "AND org_id = %s ORDER BY entity_type, record_id, source_updated_at, id"
)


def key_pair(key: RecordKey) -> tuple[str, str]:
    """A record key as the two bound parameters of a row-value comparison."""
    return key.entity_type, key.record_id


def chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def stored_event(row: Sequence[Any], c: rows.Columns = EVENT) -> StoredEvent:
    actor_id = row[c.e_actor_id]
    event = EventRow(
        id=str(row[c.e_id]),
        org_id=str(row[c.e_org_id]),
        source_id=str(row[c.e_source_id]),
        batch_id=str(row[c.e_batch_id]),
        record_version_id=str(row[c.e_record_version_id]),
        action=row[c.e_action],
        actor_id=str(actor_id) if actor_id is not None else None,
        key=RecordKey(row[c.e_entity_type], row[c.e_entity_id]),
        entity_name=row[c.e_entity_name],
        timestamp=row[c.e_timestamp],
        changes=bytes(row[c.e_changes]),
        deleted=bool(row[c.e_deleted]),
        created_at=row[c.e_created_at],
        seq=row[c.e_seq],
    )
    found = row[c.a_id]
    actor = (
        ActorView(str(found), row[c.a_email], row[c.a_name], bool(row[c.a_placeholder]))
        if found is not None
        else None
    )
    return StoredEvent(event, actor)


def _event_where(org_id: str, f: EventFilter) -> tuple[str, list[Any]]:
    where, params = ["e.org_id = %s"], list[Any]([org_id])
    for column, value in (
        ("e.source_id", f.source_id),
        ("e.entity_type", f.entity_type),
        ("e.entity_id", f.entity_id),
        ("e.action", f.action),
        ("e.actor_id", f.actor_id),
    ):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if f.time_from is not None:
        where.append("e.timestamp >= %s")
        params.append(f.time_from)
    if f.time_to is not None:
        where.append("e.timestamp < %s")
        params.append(f.time_to)
    if not f.include_deleted:
        where.append("e.deleted = %s")
        params.append(False)
    return " AND ".join(where), params


class SqlReads:
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        found = self._query(sql, params)
        return found[0] if found else None

    def _count(self, sql: str, params: Sequence[Any]) -> int:
        return int(self._one(sql, params)[0])

    def ping(self) -> None:
        self._one("SELECT 1")

    def schema_revision(self) -> str | None:
        row = self._one("SELECT version_num FROM alembic_version")
        return str(row[0]) if row else None

    def queue_stats(self) -> tuple[dict[BatchStatus, int], int | None]:
        """Batches by status, and when the oldest batch not yet normalized was created."""
        counts: dict[BatchStatus, int] = {}
        for status, count in self._query("SELECT status, count(*) FROM batches GROUP BY status"):
            counts[BatchStatus(status)] = int(count)
        row = self._one(
            "SELECT min(created_at) FROM batches WHERE status IN ('queued', 'processing')"
        )
        return counts, row[0] if row else None

    # -- keys ----------------------------------------------------------------------

    def find_api_key(self, token_hash: bytes) -> ApiKey | None:
        row = self._one(
            f"SELECT {rows.API_KEY.sql} FROM api_keys WHERE token_hash = %s", (token_hash,)
        )
        return rows.api_key(row) if row else None

    def list_api_keys(self, org_id: str, limit: int, offset: int) -> Page[ApiKey]:
        found = self._query(
            f"SELECT {rows.API_KEY.sql} FROM api_keys WHERE org_id = %s "
            "ORDER BY id LIMIT %s OFFSET %s",
            (org_id, limit, offset),
        )
        total = self._count("SELECT count(*) FROM api_keys WHERE org_id = %s", (org_id,))
        return Page([rows.api_key(r) for r in found], total)

    # -- sources -------------------------------------------------------------------

    def get_source(self, org_id: str, source_id: str) -> Source | None:
        row = self._one(
            f"SELECT {rows.SOURCE.sql} FROM sources WHERE id = %s AND org_id = %s",
            (source_id, org_id),
        )
        return rows.source(row) if row else None

    def list_sources(self, org_id: str, limit: int, offset: int) -> Page[Source]:
        found = self._query(
            f"SELECT {rows.SOURCE.sql} FROM sources WHERE org_id = %s "
            "ORDER BY id LIMIT %s OFFSET %s",
            (org_id, limit, offset),
        )
        total = self._count("SELECT count(*) FROM sources WHERE org_id = %s", (org_id,))
        return Page([rows.source(r) for r in found], total)

    def source_counts(self, org_id: str, source_id: str) -> SourceCounts:
        row = self._one(
            "SELECT (SELECT count(*) FROM record_heads WHERE source_id = %s), "
            "(SELECT count(*) FROM record_versions WHERE source_id = %s), "
            "(SELECT count(*) FROM batches WHERE source_id = %s AND kind = 'ingest'), "
            "(SELECT count(*) FROM events WHERE source_id = %s), "
            "(SELECT max(created_at) FROM batches WHERE source_id = %s AND kind = 'ingest')",
            (source_id,) * 5,
        )
        records, versions, batches, events, last_ingested_at = row
        return SourceCounts(
            records=records,
            versions=versions,
            batches=batches,
            events=events,
            last_ingested_at=last_ingested_at,
        )

    # -- batches and versions ------------------------------------------------------

    def get_batch(self, org_id: str, batch_id: str) -> Batch | None:
        row = self._one(
            f"SELECT {rows.BATCH.sql} FROM batches WHERE id = %s AND org_id = %s",
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
            f"SELECT {rows.BATCH.sql} FROM batches WHERE {clause} "
            "ORDER BY id DESC LIMIT %s OFFSET %s",
            [*params, limit, offset],
        )
        total = self._count(f"SELECT count(*) FROM batches WHERE {clause}", params)
        return Page([rows.batch(r) for r in found], total)

    def batch_results(
        self, org_id: str, batch_id: str, rejected_only: bool = False
    ) -> list[RecordResult] | None:
        row = self._one(
            "SELECT results FROM batches WHERE id = %s AND org_id = %s", (batch_id, org_id)
        )
        return rows.decode_results(bytes(row[0]), rejected_only) if row else None

    def batch_version_ids(self, org_id: str, batch_id: str) -> list[str] | None:
        row = self._one(
            "SELECT results FROM batches WHERE id = %s AND org_id = %s", (batch_id, org_id)
        )
        return rows.stored_version_ids(bytes(row[0])) if row else None

    def get_version(self, org_id: str, version_id: str) -> RecordVersion | None:
        row = self._one(
            f"SELECT {rows.VERSION.sql} FROM record_versions WHERE id = %s AND org_id = %s",
            (version_id, org_id),
        )
        return rows.version(row) if row else None

    def source_versions(self, org_id: str, source_id: str) -> list[RecordVersion]:
        """Every stored version of a source, in each record's chain order."""
        return [
            rows.version(row)
            for row in self._query(
                f"SELECT {rows.VERSION.sql} FROM record_versions "
                "WHERE org_id = %s AND source_id = %s "
                "ORDER BY entity_type, record_id, source_updated_at, id",
                (org_id, source_id),
            )
        ]

    def versions_between(
        self, org_id: str, source_id: str, first: RecordKey, last: RecordKey
    ) -> list[RecordVersion]:
        """Every version of the records from `first` to `last` (inclusive, in key order),
        each record's chain in order: one range of the identity index."""
        return [
            rows.version(row)
            for row in self._query(
                VERSIONS_BETWEEN, (source_id, *key_pair(first), *key_pair(last), org_id)
            )
        ]

    def get_head(self, org_id: str, source_id: str, key: RecordKey) -> HeadRow | None:
        row = self._one(
            f"SELECT {rows.HEAD.sql} "
            "FROM record_heads WHERE org_id = %s AND source_id = %s AND entity_type = %s "
            "AND record_id = %s",
            (org_id, source_id, key.entity_type, key.record_id),
        )
        return rows.head_row(row) if row else None

    def list_heads(
        self, org_id: str, source_id: str, entity_type: str | None, limit: int, offset: int
    ) -> Page[HeadRow]:
        where, params = "org_id = %s AND source_id = %s", [org_id, source_id]
        if entity_type is not None:
            where += " AND entity_type = %s"
            params.append(entity_type)
        found = self._query(
            f"SELECT {rows.HEAD.sql} "
            f"FROM record_heads WHERE {where} ORDER BY entity_type, record_id LIMIT %s OFFSET %s",
            [*params, limit, offset],
        )
        total = self._count(f"SELECT count(*) FROM record_heads WHERE {where}", params)
        return Page([rows.head_row(r) for r in found], total)

    # -- events and actors ---------------------------------------------------------

    def list_events(
        self, org_id: str, filters: EventFilter, limit: int, offset: int
    ) -> Page[StoredEvent]:
        where, params = _event_where(org_id, filters)
        found = self._query(
            f"{EVENT_SELECT} WHERE {where} ORDER BY e.timestamp, e.seq LIMIT %s OFFSET %s",
            [*params, limit, offset],
        )
        total = self._count(f"SELECT count(*) FROM events e WHERE {where}", params)
        return Page([stored_event(r) for r in found], total)

    def events_after(
        self, org_id: str, filters: EventFilter, after_seq: int, limit: int
    ) -> list[StoredEvent]:
        """The feed: events with `seq` above the cursor, in `seq` order."""
        where, params = _event_where(org_id, filters)
        found = self._query(
            f"{EVENT_SELECT} WHERE {where} AND e.seq > %s ORDER BY e.seq LIMIT %s",
            [*params, after_seq, limit],
        )
        return [stored_event(r) for r in found]

    def get_event(self, org_id: str, event_id: str) -> StoredEvent | None:
        row = self._one(f"{EVENT_SELECT} WHERE e.org_id = %s AND e.id = %s", (org_id, event_id))
        return stored_event(row) if row else None

    def list_actors(self, org_id: str, limit: int, offset: int) -> Page[ActorView]:
        found = self._query(
            "SELECT id, email, name, placeholder FROM actors WHERE org_id = %s "
            "AND merged_into IS NULL ORDER BY id LIMIT %s OFFSET %s",
            (org_id, limit, offset),
        )
        total = self._count(
            "SELECT count(*) FROM actors WHERE org_id = %s AND merged_into IS NULL", (org_id,)
        )
        return Page(
            [
                ActorView(str(id_), email, name, bool(placeholder))
                for id_, email, name, placeholder in found
            ],
            total,
        )

    def get_actor(self, org_id: str, actor_id: str) -> ActorView | None:
        """The canonical actor for `actor_id`, following a merge."""
        row = self._one(
            "SELECT a.id, a.email, a.name, a.placeholder FROM actors a WHERE a.org_id = %s "
            "AND a.id = (SELECT coalesce(merged_into, id) FROM actors WHERE org_id = %s AND id = %s)",
            (org_id, org_id, actor_id),
        )
        if row is None:
            return None
        id_, email, name, placeholder = row
        return ActorView(str(id_), email, name, bool(placeholder))

    def actor_aliases(
        self, org_id: str, actor_ids: Sequence[str]
    ) -> dict[str, list[tuple[str, str]]]:
        aliases: dict[str, list[tuple[str, str]]] = {a: [] for a in actor_ids}
        for chunk in chunks(list(actor_ids)):
            for actor_id, kind, value in self._query(
                "SELECT actor_id, kind, value FROM actor_aliases WHERE org_id = %s "
                f"AND actor_id IN ({marks(len(chunk))}) ORDER BY kind, value",
                [org_id, *chunk],
            ):
                aliases[str(actor_id)].append((kind, value))
        return aliases


class SqlWriteTx:
    #: appended to the SELECTs that must lock what they read (PostgreSQL only)
    share_lock = ""
    skip_locked = ""

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; returns a cursor (fetchone, fetchall, rowcount)."""
        raise NotImplementedError

    def _executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._execute(sql, params).fetchone()

    def _insert_actors(self, org_id: str, actors: Sequence[Actor], now: int) -> None:
        """Each backend's bulk insert (used by `apply_actor_changes`)."""
        raise NotImplementedError

    # -- organisations and keys ----------------------------------------------------

    def ensure_organisation(self, name: str, new_id: str, now: int) -> Organisation:
        self._execute(
            "INSERT INTO organisations (id, name, created_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (name) DO NOTHING",
            (new_id, name, now),
        )
        row = self._one("SELECT id, name, created_at FROM organisations WHERE name = %s", (name,))
        org_id, org_name, created_at = row
        return Organisation(str(org_id), org_name, created_at)

    def insert_api_key(self, key: ApiKey, token_hash: bytes) -> None:
        self._execute(
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

    def touch_api_key(self, key_id: str, now: int) -> None:
        self._execute("UPDATE api_keys SET last_used_at = %s WHERE id = %s", (now, key_id))

    def revoke_api_key(self, org_id: str, key_id: str, now: int) -> ApiKey | None:
        row = self._one(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, %s) "
            f"WHERE id = %s AND org_id = %s RETURNING {rows.API_KEY.sql}",
            (now, key_id, org_id),
        )
        return rows.api_key(row) if row else None

    # -- sources -------------------------------------------------------------------

    def get_source(self, org_id: str, source_id: str) -> Source | None:
        row = self._one(
            f"SELECT {rows.SOURCE.sql} FROM sources WHERE id = %s AND org_id = %s"
            + self.share_lock,
            (source_id, org_id),
        )
        return rows.source(row) if row else None

    def insert_source(self, source: Source) -> None:
        values = rows.source_params(source)
        self._execute(
            f"INSERT INTO sources ({rows.SOURCE.sql}) VALUES ({marks(len(rows.SOURCE.names))})",
            [values[column] for column in rows.SOURCE.names],
        )

    def update_source(self, source: Source) -> None:
        values = rows.source_params(source)
        self._execute(
            "UPDATE sources SET name = %s, status = %s, entity_types = %s, description = %s, "
            "mappings = %s, updated_at = %s WHERE id = %s AND org_id = %s",
            (
                values["name"],
                values["status"],
                values["entity_types"],
                values["description"],
                values["mappings"],
                values["updated_at"],
                source.id,
                source.org_id,
            ),
        )

    # -- ingest --------------------------------------------------------------------

    def insert_batch(self, batch: Batch, results: Sequence[RecordResult]) -> None:
        self._execute(
            "INSERT INTO batches (id, org_id, source_id, status, created, superseded, unchanged, "
            "stale, rejected, results, records_created, events_created, run_after, created_at, "
            f"completed_at, kind) VALUES ({marks(16)})",
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
                batch.kind.value,
            ),
        )

    # -- the normalization queue ---------------------------------------------------

    def claim_batch(self, worker_id: str, now: int, lease_until: int) -> ClaimedBatch | None:
        """Take the oldest due batch: queued, or processing with an expired lease."""
        row = self._one(
            "UPDATE batches SET status = 'processing', worker_id = %s, attempts = attempts + 1, "
            "lease_until = %s, run_after = %s, started_at = coalesce(started_at, %s) "
            "WHERE id = (SELECT id FROM batches WHERE status IN ('queued', 'processing') "
            f"AND run_after <= %s ORDER BY run_after, id LIMIT 1{self.skip_locked}) "
            "RETURNING id, org_id, source_id, kind, attempts",
            (worker_id, lease_until, lease_until, now, now),
        )
        if row is None:
            return None
        batch_id, org_id, source_id, kind, attempts = row
        return ClaimedBatch(str(batch_id), str(org_id), str(source_id), BatchKind(kind), attempts)

    def complete_batch(
        self, batch_id: str, worker_id: str, records: int, events: int, now: int
    ) -> bool:
        """Mark done, only if this worker still holds the lease."""
        cursor = self._execute(
            "UPDATE batches SET status = 'done', records_created = %s, events_created = %s, "
            "completed_at = %s, lease_until = NULL, error_code = NULL, error_message = NULL "
            "WHERE id = %s AND worker_id = %s AND status = 'processing'",
            (records, events, now, batch_id, worker_id),
        )
        return bool(cursor.rowcount == 1)

    def retry_batch(
        self, batch_id: str, worker_id: str, run_after: int, code: str, message: str
    ) -> None:
        self._execute(
            "UPDATE batches SET status = 'queued', run_after = %s, lease_until = NULL, "
            "error_code = %s, error_message = %s "
            "WHERE id = %s AND worker_id = %s AND status = 'processing'",
            (run_after, code, message, batch_id, worker_id),
        )

    def fail_batch(
        self, batch_id: str, worker_id: str | None, code: str, message: str, now: int
    ) -> None:
        # The worker condition is added in Python: PostgreSQL cannot type a bare
        # `%s IS NULL` parameter (IndeterminateDatatype), so `OR %s IS NULL` failed there.
        params: list[Any] = [code, message, now, batch_id]
        mine = ""
        if worker_id is not None:
            mine = " AND worker_id = %s"
            params.append(worker_id)
        self._execute(
            "UPDATE batches SET status = 'error', lease_until = NULL, error_code = %s, "
            "error_message = %s, completed_at = %s WHERE id = %s AND status = 'processing'" + mine,
            params,
        )

    def extend_lease(self, batch_id: str, worker_id: str, until: int) -> bool:
        """Keep a long batch (a renormalize) ours; False when another worker has it."""
        cursor = self._execute(
            "UPDATE batches SET lease_until = %s "
            "WHERE id = %s AND worker_id = %s AND status = 'processing'",
            (until, batch_id, worker_id),
        )
        return bool(cursor.rowcount == 1)

    def set_progress(self, batch_id: str, done: int, total: int) -> None:
        self._execute(
            "UPDATE batches SET progress_done = %s, progress_total = %s WHERE id = %s",
            (done, total, batch_id),
        )

    def requeue_source_errors(self, source_id: str, now: int) -> int:
        """Re-normalizing a source retries its batches that ended in `error`."""
        cursor = self._execute(
            "UPDATE batches SET status = 'queued', attempts = 0, run_after = %s, completed_at = NULL "
            "WHERE source_id = %s AND status = 'error' AND kind = 'ingest'",
            (now, source_id),
        )
        return int(cursor.rowcount)

    # -- events and actors ---------------------------------------------------------

    def lock_feed(self, org_id: str) -> None:
        """Serialize the organisation's event writers until commit (see migration 0002)."""
        self._execute(
            "INSERT INTO feed_positions (org_id, last_seq) VALUES (%s, 0) "
            "ON CONFLICT (org_id) DO UPDATE SET last_seq = feed_positions.last_seq",
            (org_id,),
        )

    def next_seqs(self, org_id: str, count: int) -> int:
        """Reserve `count` feed positions; returns the first."""
        row = self._one(
            "UPDATE feed_positions SET last_seq = last_seq + %s WHERE org_id = %s RETURNING last_seq",
            (count, org_id),
        )
        return int(row[0]) - count + 1

    def apply_actor_changes(self, org_id: str, changes: Changes, now: int) -> None:
        self._insert_actors(org_id, list(changes.created.values()), now)
        for actor_id, name in changes.named.items():
            self._execute(
                "UPDATE actors SET name = %s, folded_name = %s WHERE id = %s",
                (name, Actor(actor_id, None, name, False).folded_name, actor_id),
            )
        for merge in changes.merges:
            self._execute(
                "UPDATE actors SET merged_into = %s WHERE id = %s",
                (merge.into_id, merge.placeholder_id),
            )
            self._execute(
                "UPDATE events SET actor_id = %s WHERE org_id = %s AND actor_id = %s",
                (merge.into_id, org_id, merge.placeholder_id),
            )
            self._execute(
                "INSERT INTO actor_aliases (org_id, actor_id, kind, value) "
                "SELECT org_id, %s, kind, value FROM actor_aliases WHERE actor_id = %s "
                "ON CONFLICT DO NOTHING",
                (merge.into_id, merge.placeholder_id),
            )
            self._execute("DELETE FROM actor_aliases WHERE actor_id = %s", (merge.placeholder_id,))

    def soft_delete_events(self, source_id: str, key: RecordKey, before: int) -> None:
        self._execute(
            "UPDATE events SET deleted = %s WHERE source_id = %s AND entity_type = %s "
            "AND entity_id = %s AND timestamp < %s AND deleted = %s",
            (True, source_id, key.entity_type, key.record_id, before, False),
        )

    def event_ids_between(self, source_id: str, first: RecordKey, last: RecordKey) -> set[str]:
        """The ids of the events of the records from `first` to `last` (inclusive)."""
        return {
            str(row[0])
            for row in self._execute(
                "SELECT id FROM events WHERE source_id = %s "
                "AND (entity_type, entity_id) >= (%s, %s) AND (entity_type, entity_id) <= (%s, %s)",
                (source_id, *key_pair(first), *key_pair(last)),
            ).fetchall()
        }

    def delete_events(self, event_ids: Sequence[str]) -> None:
        for chunk in chunks(list(event_ids)):
            self._execute(f"DELETE FROM events WHERE id IN ({marks(len(chunk))})", chunk)

    # -- idempotency keys ----------------------------------------------------------

    def get_idempotency(self, org_id: str, endpoint: str, key: str) -> StoredKey | None:
        row = self._one(
            "SELECT request_hash, response_status, response_body, locked_until, created_at, "
            "owner FROM idempotency_keys WHERE org_id = %s AND endpoint = %s AND key = %s",
            (org_id, endpoint, key),
        )
        if row is None:
            return None
        request_hash, response_status, response_body, locked_until, created_at, owner = row
        body = bytes(response_body) if response_body is not None else None
        return StoredKey(
            bytes(request_hash), response_status, body, locked_until, created_at, owner
        )

    def put_idempotency(self, org_id: str, endpoint: str, key: str, stored: StoredKey) -> None:
        self._execute(
            "INSERT INTO idempotency_keys (org_id, endpoint, key, request_hash, response_status, "
            f"response_body, locked_until, created_at, owner) VALUES ({marks(9)}) "
            "ON CONFLICT (org_id, endpoint, key) DO UPDATE SET "
            "request_hash = excluded.request_hash, response_status = excluded.response_status, "
            "response_body = excluded.response_body, locked_until = excluded.locked_until, "
            "created_at = excluded.created_at, owner = excluded.owner",
            (
                org_id,
                endpoint,
                key,
                stored.request_hash,
                stored.response_status,
                stored.response_body,
                stored.locked_until,
                stored.created_at,
                stored.owner,
            ),
        )

    def delete_idempotency(self, org_id: str, endpoint: str, key: str) -> None:
        self._execute(
            "DELETE FROM idempotency_keys WHERE org_id = %s AND endpoint = %s AND key = %s",
            (org_id, endpoint, key),
        )
