"""The embedded backend: one SQLite file in WAL mode.

SQLite has a single writer, so this process sends every write transaction through
one connection guarded by a lock (`BEGIN IMMEDIATE`, so a transaction never has to
upgrade its lock halfway); other processes on the same file wait on `busy_timeout`.
Reads use one connection per thread and run beside the writer thanks to WAL.
`synchronous=FULL` makes a commit durable before the 202 is sent, even across a power
loss; against `NORMAL` it costs ~4 us per record of a first load and ~1.5 on a replay
(0-12 % and ~15 % in one process on this machine kind; docs/PERFORMANCE.md).

Checkpoints (copying the WAL back into the database file) run on a background thread
with its own connection, beside the writer, instead of inside whichever commit crosses
SQLite's 1,000-page threshold: that commit used to pay for everyone's pages while
holding the write lock. A high `wal_autocheckpoint` stays as a backstop.

The SQL PostgreSQL runs too lives in `shared.py` (here `%s` becomes `?`); what only
SQLite runs is below: the ingest and normalization lookups, chunked `IN (...)` lists
(far below SQLite's bound-parameter limit) and `executemany` inserts.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from itertools import groupby
from typing import Any

from headwater import errors
from headwater.core import ratelimit
from headwater.core.actors import Actor
from headwater.core.models import EventRow, Head, PlannedVersion, RecordKey, RecordVersion
from headwater.core.outcome import VersionIdentity
from headwater.store import rows
from headwater.store.claimants import SqliteClaimants, sqlite_owner_alive
from headwater.store.console import ConsoleReads, ConsoleWriteTx
from headwater.store.export import ExportReads
from headwater.store.history import HistoryReads
from headwater.store.knowledge import KnowledgeReads, KnowledgeWriteTx
from headwater.store.rules import RuleReads, RuleWriteTx
from headwater.store.shared import (
    RECORD_KEYS_AFTER,
    SqlReads,
    SqlWriteTx,
    chunks,
    key_pair,
    marks,
)
from headwater.store.urls import sqlite_path


@lru_cache(maxsize=512)
def _qmark(sql: str) -> str:
    return sql.replace("%s", "?")


#: WAL pages after which a commit checkpoints by itself (SQLite's default is 1,000): only
#: reached when the background checkpointer falls behind
AUTOCHECKPOINT_PAGES = 50_000
#: seconds between background checkpoints
CHECKPOINT_SECONDS = 0.5
#: page cache of the writer connection (KiB): a 500-record batch dirties a few MB of
#: index pages; SQLite's 2 MB default spills them to the WAL before the commit
WRITER_CACHE_KIB = 65_536


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


class SqliteStore(
    ConsoleReads, RuleReads, SqliteClaimants, KnowledgeReads, SqlReads, HistoryReads, ExportReads
):
    backend = "sqlite"
    events_by_entity = "events e INDEXED BY events_by_entity"  # store/export.py says why
    entity_type_term = "+e.entity_type"

    def __init__(self, database_url: str) -> None:
        SqliteClaimants.__init__(self)
        self.path = sqlite_path(database_url)
        self._writer = _connect(self.path)
        self._writer.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
        self._writer.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        self._checkpointer = _Checkpointer(self.path, CHECKPOINT_SECONDS)
        self._checkpointer.start()
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._buckets: dict[str, ratelimit.Bucket] = {}
        self._buckets_lock = threading.Lock()

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
            return self._reader().execute(_qmark(sql), params).fetchall()

    def get_versions(self, org_id: str, version_ids: Sequence[str]) -> dict[str, RecordVersion]:
        found: dict[str, RecordVersion] = {}
        for chunk in chunks(list(dict.fromkeys(version_ids))):
            for row in self._query(
                f"SELECT {rows.VERSION.sql} FROM record_versions "
                f"WHERE org_id = %s AND id IN ({marks(len(chunk))})",
                [org_id, *chunk],
            ):
                version = rows.version(row)
                found[version.id] = version
        return found

    def known_payloads(
        self, org_id: str, source_id: str, keys: Sequence[RecordKey]
    ) -> dict[RecordKey, tuple[bytes, bytes]]:
        """(raw fingerprint, content hash) of the heads of `keys` that have a fingerprint:
        read before the write lock, on this thread's reader (ingest's fast path)."""
        found: dict[RecordKey, tuple[bytes, bytes]] = {}
        ordered = sorted(set(keys), key=lambda k: k.entity_type)
        for entity_type, group in groupby(ordered, key=lambda k: k.entity_type):
            for chunk in chunks([k.record_id for k in group]):
                for record_id, raw, content_hash in self._query(
                    "SELECT record_id, raw_fingerprint, content_hash FROM record_heads "
                    "WHERE source_id = %s AND entity_type = %s "
                    f"AND record_id IN ({marks(len(chunk))}) AND org_id = %s "
                    "AND raw_fingerprint IS NOT NULL",
                    (source_id, entity_type, *chunk, org_id),
                ):
                    found[RecordKey(entity_type, record_id)] = (bytes(raw), bytes(content_hash))
        return found

    def source_record_keys(
        self, org_id: str, source_id: str, after: RecordKey | None, limit: int
    ) -> list[RecordKey]:
        """The source's record keys in (entity type, record id) order, `limit` at a time
        after `after` (keyset pagination over the heads' primary key)."""
        start = key_pair(after) if after is not None else ("", "")  # no entity type is empty
        return [
            RecordKey(entity_type, record_id)
            for entity_type, record_id in self._query(
                RECORD_KEYS_AFTER, (source_id, org_id, *start, limit)
            )
        ]

    @contextmanager
    def write(self) -> Iterator[SqliteWriteTx]:
        with self._write_lock, _translated():
            connection = self._writer
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield SqliteWriteTx(connection, self.instance_id)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def touch_api_key(self, key_id: str, now: int) -> None:
        with self.write() as tx:
            tx.touch_api_key(key_id, now)

    def take_token(self, key_id: str, now: int, rate: float, burst: float) -> int | None:
        """Buckets live in memory: one API process serves a SQLite file."""
        with self._buckets_lock:
            bucket, retry_after = ratelimit.take(self._buckets.get(key_id), now, rate, burst)
            self._buckets[key_id] = bucket
        return retry_after

    def close(self) -> None:
        self._checkpointer.stop()
        with self._readers_lock:
            for connection in self._readers:
                connection.close()
            self._readers.clear()
        with self._write_lock:
            self._writer.close()


class _Checkpointer(threading.Thread):
    """Folds the WAL back into the database file every `interval` seconds (PASSIVE: it
    never blocks the writer or the readers, and copies what it can)."""

    def __init__(self, path: str, interval: float) -> None:
        super().__init__(name="sqlite-checkpointer", daemon=True)
        self.path = path
        self.interval = interval
        self._stopped = threading.Event()

    def run(self) -> None:
        connection = sqlite3.connect(self.path, isolation_level=None, timeout=1.0)
        try:
            while not self._stopped.wait(self.interval):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:
                    continue  # e.g. busy: the next round copies what this one could not
        finally:
            connection.close()

    def stop(self) -> None:
        self._stopped.set()
        if self.is_alive() and self is not threading.current_thread():
            self.join()


class SqliteWriteTx(ConsoleWriteTx, RuleWriteTx, KnowledgeWriteTx, SqlWriteTx):
    def __init__(self, connection: sqlite3.Connection, instance_id: str) -> None:
        self.connection = connection
        self.instance_id = instance_id

    def claimant_alive(self, owner: str) -> bool:
        return sqlite_owner_alive(self.instance_id, owner)

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.connection.execute(_qmark(sql), params)

    def _executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        self.connection.executemany(_qmark(sql), params)

    def lock_records(self, source_id: str, keys: Iterable[RecordKey]) -> None:
        """SQLite: `BEGIN IMMEDIATE` already holds the database's only write lock."""

    def load_heads(self, source_id: str, keys: Iterable[RecordKey]) -> dict[RecordKey, Head]:
        heads: dict[RecordKey, Head] = {}
        ordered = sorted(set(keys), key=lambda k: k.entity_type)
        for entity_type, group in groupby(ordered, key=lambda k: k.entity_type):
            for chunk in chunks([k.record_id for k in group]):
                for record_id, version_id, content_hash, updated_at, deleted, raw in self._execute(
                    "SELECT record_id, version_id, content_hash, source_updated_at, deleted, "
                    "raw_fingerprint FROM record_heads WHERE source_id = %s AND entity_type = %s "
                    f"AND record_id IN ({marks(len(chunk))})",
                    (source_id, entity_type, *chunk),
                ):
                    heads[RecordKey(entity_type, record_id)] = Head(
                        str(version_id), bytes(content_hash), updated_at, bool(deleted),
                        bytes(raw) if raw is not None else b"",
                    )  # fmt: skip
        return heads

    def find_versions(
        self, source_id: str, identities: Sequence[VersionIdentity]
    ) -> dict[VersionIdentity, str]:
        """One query per entity type and chunk: each identity is one probe of the identity
        index. (`record_id IN (...) AND content_hash IN (...)` probed every pair of the two
        lists: quadratic in the batch's changed records.)"""
        found: dict[VersionIdentity, str] = {}
        by_type: dict[str, list[VersionIdentity]] = {}
        for identity in set(identities):
            by_type.setdefault(identity[0].entity_type, []).append(identity)
        for entity_type, group in by_type.items():
            for chunk in chunks(group):
                values = ", ".join(["(%s, %s, %s)"] * len(chunk))
                params: list[Any] = []
                for key, content_hash, updated_at in chunk:
                    params += (key.record_id, content_hash, updated_at)
                for version_id, record_id, content_hash, updated_at in self._execute(
                    "SELECT v.id, v.record_id, v.content_hash, v.source_updated_at "
                    f"FROM (VALUES {values}) AS k CROSS JOIN record_versions AS v "
                    "WHERE v.source_id = %s AND v.entity_type = %s AND v.record_id = k.column1 "
                    "AND v.content_hash = k.column2 AND v.source_updated_at = k.column3",
                    [*params, source_id, entity_type],
                ).fetchall():
                    identity = (RecordKey(entity_type, record_id), bytes(content_hash), updated_at)
                    found[identity] = str(version_id)
        return found

    def insert_versions(
        self,
        org_id: str,
        source_id: str,
        batch_id: str,
        versions: Sequence[PlannedVersion],
        now: int,
    ) -> None:
        if not versions:  # a replay: nothing to prepare either (as on PostgreSQL)
            return
        self._executemany(
            f"INSERT INTO record_versions ({rows.VERSION.sql}) "
            f"VALUES ({marks(len(rows.VERSION.names))})",
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
        if not heads:
            return
        self._executemany(
            "INSERT INTO record_heads (source_id, entity_type, record_id, org_id, version_id, "
            "content_hash, source_updated_at, deleted, raw_fingerprint) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (source_id, entity_type, record_id) DO UPDATE SET "
            "version_id = excluded.version_id, content_hash = excluded.content_hash, "
            "source_updated_at = excluded.source_updated_at, deleted = excluded.deleted, "
            "raw_fingerprint = excluded.raw_fingerprint",
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
                    head.raw_fingerprint or None,
                )
                for key, head in heads.items()
            ],
        )

    def latest_tombstones(self, source_id: str, keys: Iterable[RecordKey]) -> dict[RecordKey, int]:
        found: dict[RecordKey, int] = {}
        ordered = sorted(set(keys), key=lambda k: k.entity_type)
        for entity_type, group in groupby(ordered, key=lambda k: k.entity_type):
            for chunk in chunks([k.record_id for k in group]):
                for record_id, latest in self._execute(
                    # the literal predicate matches the partial index record_versions_tombstones
                    "SELECT record_id, max(source_updated_at) FROM record_versions "
                    "WHERE source_id = %s AND entity_type = %s "
                    f"AND record_id IN ({marks(len(chunk))}) AND deleted AND outcome <> 'stale' "
                    "GROUP BY record_id",
                    (source_id, entity_type, *chunk),
                ):
                    found[RecordKey(entity_type, record_id)] = latest
        return found

    def load_actors(self, org_id: str, emails: Iterable[str], names: Iterable[str]) -> list[Actor]:
        """The actors these emails and folded names can resolve to: live actors by email,
        every actor by name (merged placeholders keep a name known), and merge targets."""
        actors: dict[str, Actor] = {}
        columns = f"SELECT {rows.ACTOR.sql} FROM actors WHERE org_id = %s"
        queries = (
            ("AND merged_into IS NULL AND email", sorted(set(emails))),
            ("AND folded_name", sorted(set(names))),
        )
        for condition, values in queries:
            for chunk in chunks(values):
                for row in self._execute(
                    f"{columns} {condition} IN ({marks(len(chunk))})", (org_id, *chunk)
                ):
                    actor = rows.actor(row)
                    actors[actor.id] = actor
        targets = sorted({a.merged_into for a in actors.values() if a.merged_into} - set(actors))
        for chunk in chunks(targets):
            for row in self._execute(
                f"{columns} AND id IN ({marks(len(chunk))})", (org_id, *chunk)
            ):
                actor = rows.actor(row)
                actors[actor.id] = actor
        return list(actors.values())

    def _insert_actors(self, org_id: str, actors: Sequence[Actor], now: int) -> None:
        self._executemany(
            "INSERT INTO actors (id, org_id, email, name, folded_name, placeholder, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [(a.id, org_id, a.email, a.name, a.folded_name, a.placeholder, now) for a in actors],
        )

    def add_aliases(self, org_id: str, aliases: Iterable[tuple[str, str, str]]) -> None:
        self._executemany(
            "INSERT INTO actor_aliases (org_id, actor_id, kind, value) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            [(org_id, *alias) for alias in sorted(set(aliases))],
        )

    def insert_events(self, events: Sequence[EventRow]) -> None:
        """Insert with the given `seq`s; an id already stored is left as it is."""
        self._executemany(
            "INSERT INTO events (id, org_id, seq, source_id, batch_id, record_version_id, action, "
            "actor_id, entity_type, entity_id, entity_name, timestamp, changes, deleted, created_at) "
            f"VALUES ({marks(15)}) ON CONFLICT (id) DO NOTHING",
            [
                (
                    e.id, e.org_id, e.seq, e.source_id, e.batch_id, e.record_version_id, e.action,
                    e.actor_id, e.key.entity_type, e.key.record_id, e.entity_name, e.timestamp,
                    e.changes, e.deleted, e.created_at,
                )
                for e in events
            ],
        )  # fmt: skip
