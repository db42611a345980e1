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
from typing import Any
from uuid import UUID

import psycopg
import psycopg_pool
from psycopg.adapt import Loader

from headwater import errors
from headwater.core import ratelimit
from headwater.core.actors import Actor
from headwater.core.idempotency import StoredKey
from headwater.core.models import EventRow, Head, PlannedVersion, RecordKey, RecordVersion
from headwater.core.outcome import VersionIdentity
from headwater.store import rows
from headwater.store.claimants import PostgresClaimants, postgres_owner_alive
from headwater.store.console import ConsoleReads, ConsoleWriteTx
from headwater.store.export import ExportReads
from headwater.store.history import HistoryReads
from headwater.store.knowledge import (
    CASE_EVENTS_AFTER,
    CASE_START,
    CaseEventRow,
    KnowledgeReads,
    KnowledgeWriteTx,
    case_event,
)
from headwater.store.rules import RuleReads, RuleWriteTx
from headwater.store.shared import (
    RECORD_KEYS_AFTER,
    SqlReads,
    SqlWriteTx,
    key_pair,
)
from headwater.store.urls import libpq_url

#: the advisory lock id under which workers start scheduled discovery runs
DISCOVERY_SCHEDULE_LOCK = 0x6865_6164_6469_7363  # "headdisc"


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


#: The batch's own keys probe the primary key one by one (LATERAL). Without `LIMIT 1`
#: the planner flattens the subquery into a hash join over every head (or version) of the
#: source and entity type, O(stored records) per batch; `= ANY(...)` can be planned the
#: same way. tests/store/test_postgres_plans.py checks the plans.
HEADS_BY_KEY = (
    "SELECT k.e, k.r, h.version_id, h.content_hash, h.source_updated_at, h.deleted, "
    "h.raw_fingerprint FROM unnest(%b::text[], %b::text[]) AS k(e, r) CROSS JOIN LATERAL ("
    "SELECT version_id, content_hash, source_updated_at, deleted, raw_fingerprint "
    "FROM record_heads WHERE source_id = %s AND entity_type = k.e AND record_id = k.r "
    "LIMIT 1) AS h"
)
#: ingest's fast path, before the transaction: the same probes, fingerprinted heads only
KNOWN_BY_KEY = (
    "SELECT k.e, k.r, h.raw_fingerprint, h.content_hash "
    "FROM unnest(%b::text[], %b::text[]) AS k(e, r) CROSS JOIN LATERAL ("
    "SELECT raw_fingerprint, content_hash FROM record_heads "
    "WHERE source_id = %s AND entity_type = k.e AND record_id = k.r AND org_id = %s "
    "AND raw_fingerprint IS NOT NULL LIMIT 1) AS h"
)
VERSIONS_BY_IDENTITY = (
    "SELECT v.id, k.e, k.r, k.h, k.t FROM unnest(%b::text[], %b::text[], %b::bytea[], "
    "%b::int8[]) AS k(e, r, h, t) CROSS JOIN LATERAL (SELECT id FROM record_versions "
    "WHERE source_id = %s AND entity_type = k.e AND record_id = k.r "
    "AND content_hash = k.h AND source_updated_at = k.t LIMIT 1) AS v"
)


class PostgresStore(
    ConsoleReads, RuleReads, PostgresClaimants, KnowledgeReads, SqlReads, HistoryReads, ExportReads
):
    backend = "postgresql"

    def __init__(self, database_url: str, min_size: int = 1, max_size: int = 10) -> None:
        PostgresClaimants.__init__(self, libpq_url(database_url))
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

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with _translated(), self.pool.connection() as connection:
            return connection.execute(sql, params).fetchall()

    @contextmanager
    def write(self) -> Iterator[PostgresWriteTx]:
        with _translated(), self.pool.connection() as connection, connection.transaction():
            yield PostgresWriteTx(connection)

    def touch_api_key(self, key_id: str, now: int) -> None:
        with self.write() as tx:
            tx.touch_api_key(key_id, now)

    def take_token(self, key_id: str, now: int, rate: float, burst: float) -> int | None:
        """One bucket row per key, updated under its row lock: the limit holds across
        every API process."""
        with self.write() as tx:
            # A bucket update lost in a crash only forgives a few requests: skip the fsync.
            tx._execute("SET LOCAL synchronous_commit TO OFF")
            row = tx._one(
                "SELECT tokens, updated_at FROM rate_limits WHERE key_id = %s FOR UPDATE", (key_id,)
            )
            current = ratelimit.Bucket(row[0], row[1]) if row else None
            bucket, retry_after = ratelimit.take(current, now, rate, burst)
            tx._execute(
                "INSERT INTO rate_limits (key_id, tokens, updated_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (key_id) DO UPDATE SET tokens = excluded.tokens, "
                "updated_at = excluded.updated_at",
                (key_id, bucket.tokens, bucket.updated_at),
            )
        return retry_after

    def get_versions(self, org_id: str, version_ids: Sequence[str]) -> dict[str, RecordVersion]:
        """One statement of fixed text (`VERSIONS_BY_ID`) for any number of ids: psycopg
        caches its conversion and prepares it, where `id IN (%s, ...)` per chunk of 400
        was parsed anew on every call."""
        ids = list(dict.fromkeys(version_ids))
        if not ids:
            return {}
        found: dict[str, RecordVersion] = {}
        for row in self._query(VERSIONS_BY_ID, (ids, org_id)):
            version = rows.version(row)
            found[version.id] = version
        return found

    def known_payloads(
        self, org_id: str, source_id: str, keys: Sequence[RecordKey]
    ) -> dict[RecordKey, tuple[bytes, bytes]]:
        """As `SqliteStore.known_payloads`: one primary-key probe per record (`KNOWN_BY_KEY`),
        outside any transaction."""
        ordered = list(set(keys))
        if not ordered:
            return {}
        found = self._query(
            KNOWN_BY_KEY,
            ([k.entity_type for k in ordered], [k.record_id for k in ordered], source_id, org_id),
        )
        return {
            RecordKey(entity_type, record_id): (bytes(raw), bytes(content_hash))
            for entity_type, record_id, raw, content_hash in found
        }

    #: Without statistics the planner expects the key range to be tiny and reads all of it
    #: through a bitmap scan, then sorts: every step of a renormalize would read the rest
    #: of the source. Walking the primary key in order stops after `limit` rows.
    KEY_WALK_SETTINGS = ("SET LOCAL enable_bitmapscan = off",)

    def source_record_keys(
        self, org_id: str, source_id: str, after: RecordKey | None, limit: int
    ) -> list[RecordKey]:
        start = key_pair(after) if after is not None else ("", "")
        with _translated(), self.pool.connection() as connection, connection.transaction():
            for setting in self.KEY_WALK_SETTINGS:
                connection.execute(setting)
            found = connection.execute(
                RECORD_KEYS_AFTER, (source_id, org_id, *start, limit)
            ).fetchall()
        return [RecordKey(entity_type, record_id) for entity_type, record_id in found]

    def case_events(
        self,
        org_id: str,
        source_id: str,
        after: tuple[str, str, int, int] | None,
        limit: int,
    ) -> list[CaseEventRow]:
        """As `KnowledgeReads.case_events`, walking events_by_entity in order (the same
        planner trap as `source_record_keys`: tests/store/test_postgres_discovery_plans.py)."""
        start = after if after is not None else CASE_START
        with _translated(), self.pool.connection() as connection, connection.transaction():
            for setting in self.KEY_WALK_SETTINGS:
                connection.execute(setting)
            found = connection.execute(
                CASE_EVENTS_AFTER, (source_id, *start, org_id, False, limit)
            ).fetchall()
        return [case_event(r) for r in found]

    def close(self) -> None:
        self.close_claimants()
        self.pool.close()


class PostgresWriteTx(ConsoleWriteTx, RuleWriteTx, KnowledgeWriteTx, SqlWriteTx):
    share_lock = " FOR SHARE"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def lock_discovery_schedule(self) -> None:
        self._execute("SELECT pg_advisory_xact_lock(%s)", (DISCOVERY_SCHEDULE_LOCK,))

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection

    def claimant_alive(self, owner: str) -> bool:
        return postgres_owner_alive(self.connection, owner)

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        return self.connection.execute(sql, params)

    def _executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        with self.connection.cursor() as cursor:
            cursor.executemany(sql, params)

    def lock_records(self, source_id: str, keys: Iterable[RecordKey]) -> None:
        lock_ids = sorted({record_lock_id(source_id, key) for key in keys})
        if lock_ids:
            self._execute(
                "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%b::bigint[]) AS k",
                (lock_ids,),
            )

    def load_heads(self, source_id: str, keys: Iterable[RecordKey]) -> dict[RecordKey, Head]:
        """One primary-key probe per record (`HEADS_BY_KEY`), in one statement."""
        ordered = list(set(keys))
        if not ordered:
            return {}
        found = self._execute(
            HEADS_BY_KEY,
            ([k.entity_type for k in ordered], [k.record_id for k in ordered], source_id),
        )
        heads: dict[RecordKey, Head] = {}
        for entity_type, record_id, version_id, content_hash, updated_at, deleted, raw in found:
            fingerprint = bytes(raw) if raw is not None else b""
            heads[RecordKey(entity_type, record_id)] = Head(
                version_id, bytes(content_hash), updated_at, deleted, fingerprint
            )
        return heads

    def find_versions(
        self, source_id: str, identities: Sequence[VersionIdentity]
    ) -> dict[VersionIdentity, str]:
        """One probe of the unique identity index per candidate (`VERSIONS_BY_IDENTITY`)."""
        group = list(set(identities))
        if not group:
            return {}
        rows = self._execute(
            VERSIONS_BY_IDENTITY,
            (
                [key.entity_type for key, _, _ in group],
                [key.record_id for key, _, _ in group],
                [content_hash for _, content_hash, _ in group],
                [updated_at for _, _, updated_at in group],
                source_id,
            ),
        )
        return {
            (RecordKey(entity_type, record_id), bytes(content_hash), updated_at): str(version_id)
            for version_id, entity_type, record_id, content_hash, updated_at in rows
        }

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
            f"COPY record_versions ({rows.VERSION.sql}) FROM STDIN (FORMAT BINARY)"
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
        self._execute(
            "INSERT INTO record_heads (source_id, entity_type, record_id, org_id, version_id, "
            "content_hash, source_updated_at, deleted, raw_fingerprint) "
            "SELECT %s, e, r, %s, v::uuid, h, t, d, f FROM unnest("
            "%b::text[], %b::text[], %b::text[], %b::bytea[], %b::int8[], %b::bool[], "
            "%b::bytea[]) AS u(e, r, v, h, t, d, f) "
            "ON CONFLICT (source_id, entity_type, record_id) DO UPDATE SET "
            "version_id = excluded.version_id, content_hash = excluded.content_hash, "
            "source_updated_at = excluded.source_updated_at, deleted = excluded.deleted, "
            "raw_fingerprint = excluded.raw_fingerprint",
            (
                source_id,
                org_id,
                [k.entity_type for k, _ in items],
                [k.record_id for k, _ in items],
                [h.version_id for _, h in items],
                [h.content_hash for _, h in items],
                [h.source_updated_at for _, h in items],
                [h.deleted for _, h in items],
                [h.raw_fingerprint or None for _, h in items],
            ),
        )

    def get_idempotency(self, org_id: str, endpoint: str, key: str) -> StoredKey | None:
        """Also locks the key until the transaction ends, so two requests arriving at
        once cannot both find it free and both claim it."""
        self._execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 7214432002))",
            (f"{org_id} {endpoint} {key}",),
        )
        return super().get_idempotency(org_id, endpoint, key)

    # -- normalization: one statement per table and batch, arrays bound in binary ------

    def latest_tombstones(self, source_id: str, keys: Iterable[RecordKey]) -> dict[RecordKey, int]:
        """One probe of the partial index record_versions_tombstones per record
        (`TOMBSTONES_BY_KEY`), in one statement."""
        ordered = sorted(set(keys), key=lambda k: (k.entity_type, k.record_id))
        if not ordered:
            return {}
        found = self._execute(
            TOMBSTONES_BY_KEY,
            ([k.entity_type for k in ordered], [k.record_id for k in ordered], source_id),
        )
        return {
            RecordKey(entity_type, record_id): latest for entity_type, record_id, latest in found
        }

    def load_actors(self, org_id: str, emails: Iterable[str], names: Iterable[str]) -> list[Actor]:
        """As `SqliteWriteTx.load_actors`, with one index probe per email and name
        (`ACTORS_BY_EMAIL`, `ACTORS_BY_NAME`): `email IN (...)` was planned as a scan of
        every actor of the organisation."""
        actors: dict[str, Actor] = {}
        for sql, values in ((ACTORS_BY_EMAIL, emails), (ACTORS_BY_NAME, names)):
            wanted = sorted(set(values))
            if wanted:
                for row in self._execute(sql, (wanted, org_id)):
                    actor = rows.actor(row)
                    actors[actor.id] = actor
        targets = sorted({a.merged_into for a in actors.values() if a.merged_into} - set(actors))
        if targets:
            for row in self._execute(
                f"SELECT {_ACTOR_COLUMNS} FROM actors a WHERE org_id = %s AND id = ANY(%b::uuid[])",
                (org_id, targets),
            ):
                actor = rows.actor(row)
                actors[actor.id] = actor
        return list(actors.values())

    def _insert_actors(self, org_id: str, actors: Sequence[Actor], now: int) -> None:
        if actors:
            self._execute(
                "INSERT INTO actors (id, org_id, email, name, folded_name, placeholder, "
                "created_at) SELECT i, %s, e, n, f, p, %s FROM unnest("
                "%b::uuid[], %b::text[], %b::text[], %b::text[], %b::bool[]) AS u(i, e, n, f, p)",
                (
                    org_id,
                    now,
                    [a.id for a in actors],
                    [a.email for a in actors],
                    [a.name for a in actors],
                    [a.folded_name for a in actors],
                    [a.placeholder for a in actors],
                ),
            )

    def add_aliases(self, org_id: str, aliases: Iterable[tuple[str, str, str]]) -> None:
        ordered = sorted(set(aliases))
        if ordered:
            self._execute(
                "INSERT INTO actor_aliases (org_id, actor_id, kind, value) "
                "SELECT %s, a, k, v FROM unnest(%b::uuid[], %b::text[], %b::text[]) AS u(a, k, v) "
                "ON CONFLICT DO NOTHING",
                (
                    org_id,
                    [a for a, _, _ in ordered],
                    [k for _, k, _ in ordered],
                    [v for _, _, v in ordered],
                ),
            )

    def insert_events(self, events: Sequence[EventRow]) -> None:
        """Insert with the given `seq`s; an id already stored is left as it is."""
        if events:
            self._execute(
                "INSERT INTO events (id, org_id, seq, source_id, batch_id, record_version_id, "
                "action, actor_id, entity_type, entity_id, entity_name, timestamp, changes, "
                "deleted, created_at) SELECT * FROM unnest(%b::uuid[], %b::uuid[], %b::int8[], "
                "%b::uuid[], %b::uuid[], %b::uuid[], %b::text[], %b::uuid[], %b::text[], "
                "%b::text[], %b::text[], %b::int8[], %b::bytea[], %b::bool[], %b::int8[]) "
                "ON CONFLICT (id) DO NOTHING",
                (
                    [e.id for e in events], [e.org_id for e in events], [e.seq for e in events],
                    [e.source_id for e in events], [e.batch_id for e in events],
                    [e.record_version_id for e in events], [e.action for e in events],
                    [e.actor_id for e in events], [e.key.entity_type for e in events],
                    [e.key.record_id for e in events], [e.entity_name for e in events],
                    [e.timestamp for e in events], [e.changes for e in events],
                    [e.deleted for e in events], [e.created_at for e in events],
                ),
            )  # fmt: skip


# -- normalization's lookups ---------------------------------------------------------
#
# Each probes an index once per key asked for, whatever is stored: the LATERAL subquery
# is kept from being flattened into a join over the whole table (planned so on tables
# never analyzed; `= ANY(...)` can be planned as a scan too) by its aggregate, `LIMIT 1`
# or `OFFSET 0`. tests/store/test_postgres_normalizer_plans.py checks the plans.

_ACTOR_COLUMNS = ", ".join(f"a.{column}" for column in rows.ACTOR.names)
#: rows.VERSION, with the uuid columns cast to text: psycopg reads those with its
#: C text loader instead of calling `_UuidAsText` five times per row
_VERSION_COLUMNS_AS_TEXT = ", ".join(
    f"{c}::text" if c in ("id", "org_id", "source_id", "previous_version_id", "batch_id") else c
    for c in rows.VERSION.names
)

VERSIONS_BY_ID = (
    "SELECT v.* FROM unnest(%b::uuid[]) AS k(id) CROSS JOIN LATERAL ("
    f"SELECT {_VERSION_COLUMNS_AS_TEXT} FROM record_versions "
    "WHERE id = k.id AND org_id = %s LIMIT 1) AS v"
)
TOMBSTONES_BY_KEY = (
    "SELECT k.e, k.r, t.latest FROM unnest(%b::text[], %b::text[]) AS k(e, r) "
    "CROSS JOIN LATERAL (SELECT max(source_updated_at) AS latest FROM record_versions "
    "WHERE source_id = %s AND entity_type = k.e AND record_id = k.r "
    "AND deleted AND outcome <> 'stale') AS t WHERE t.latest IS NOT NULL"
)
ACTORS_BY_EMAIL = (
    f"SELECT {_ACTOR_COLUMNS} FROM unnest(%b::text[]) AS k(v) CROSS JOIN LATERAL "
    "(SELECT * FROM actors WHERE org_id = %s AND email = k.v AND merged_into IS NULL "
    "OFFSET 0) AS a"
)
ACTORS_BY_NAME = (
    f"SELECT {_ACTOR_COLUMNS} FROM unnest(%b::text[]) AS k(v) CROSS JOIN LATERAL "
    "(SELECT * FROM actors WHERE org_id = %s AND folded_name = k.v OFFSET 0) AS a"
)
