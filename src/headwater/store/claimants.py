"""Who holds an Idempotency-Key claim, and whether that holder still runs (spec §5).

A claim names its owner: the server instance (one per opened store) that runs the first
request. A retry that finds the claim asks whether the owner is alive; if its process
died, the claim died with it and the retry runs at once, instead of waiting out the
claim's one-minute lease. The answer must come from something that ends with the process
by itself, never from a heartbeat:

- PostgreSQL: each instance holds a session-level advisory lock on a connection of its own
  for as long as it runs. The server drops the lock the moment that connection closes,
  and the kernel closes it when the process dies, however it dies. Any process on the
  database sees the lock in `pg_locks`.
- SQLite (embedded): one API process serves a SQLite file (the rate limiter already keeps
  its buckets in memory on that footing), so a claim owned by another instance is one
  that a process which has since stopped left behind.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

import psycopg

from headwater.ids import new_id

#: first key of the two-int advisory locks that mark live instances (two-int locks live
#: apart from the one-bigint locks used for records and keys: objsubid 2, not 1)
LOCK_SPACE = 0x48574944  # "HWID"
#: how often the instance connection is checked before a claim is made with it
CHECK_SECONDS = 5.0

ALIVE = (
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 2)"
)


def lock_key(owner: str) -> int:
    """The second key of an instance's advisory lock (0 .. 2^31-1)."""
    digest = hashlib.blake2b(owner.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


class SqliteClaimants:
    """The embedded backend's instance identity: this store, for as long as it is open."""

    def __init__(self) -> None:
        self.instance_id = new_id()

    def claimant(self) -> str:
        return self.instance_id


def sqlite_owner_alive(instance_id: str, owner: str) -> bool:
    return owner == instance_id


class PostgresClaimants:
    """The instance lock, taken on first use on a connection of its own (so a process
    that never claims a key, such as a standalone worker, holds no extra connection)."""

    conninfo: str

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._claim_lock = threading.Lock()
        self._instance: str | None = None
        self._connection: psycopg.Connection[Any] | None = None
        self._checked_at = 0.0

    def claimant(self) -> str:
        with self._claim_lock:
            if self._instance is None or not self._still_held():
                self._hold_new()
            assert self._instance is not None
            return self._instance

    def _still_held(self) -> bool:
        """False when the instance connection was lost (its lock with it): a claim must
        not name an owner that others would see as dead."""
        connection = self._connection
        if connection is None or connection.closed or connection.broken:
            return False
        if time.monotonic() - self._checked_at < CHECK_SECONDS:
            return True
        try:
            connection.execute("SELECT 1")
        except psycopg.Error:
            return False
        self._checked_at = time.monotonic()
        return True

    def _hold_new(self) -> None:
        self._close_instance()
        instance = new_id()
        connection = psycopg.connect(self.conninfo, autocommit=True)
        connection.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_SPACE, lock_key(instance)))
        self._connection, self._instance = connection, instance
        self._checked_at = time.monotonic()

    def _close_instance(self) -> None:
        if self._connection is not None:
            self._connection.close()  # never raises, even on a lost connection
        self._connection, self._instance = None, None

    def close_claimants(self) -> None:
        with self._claim_lock:
            self._close_instance()


def postgres_owner_alive(connection: psycopg.Connection[Any], owner: str) -> bool:
    row = connection.execute(ALIVE, (LOCK_SPACE, lock_key(owner))).fetchone()
    return bool(row and row[0])
