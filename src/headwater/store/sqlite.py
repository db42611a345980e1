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

The queries live in `sql.py`, shared with PostgreSQL; here `%s` becomes `?`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from headwater import errors
from headwater.core import ratelimit
from headwater.store.knowledge import KnowledgeReads, KnowledgeWriteTx
from headwater.store.rules import RuleReads, RuleWriteTx
from headwater.store.sql import SqlReads, SqlWriteTx
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


class SqliteStore(RuleReads, KnowledgeReads, SqlReads):
    backend = "sqlite"

    def __init__(self, database_url: str) -> None:
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


class SqliteWriteTx(RuleWriteTx, KnowledgeWriteTx, SqlWriteTx):
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.connection.execute(_qmark(sql), params)

    def _executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        self.connection.executemany(_qmark(sql), params)
