"""SQLite's WAL is folded back into the database by the store's background checkpointer,
not by whichever commit crosses a threshold while holding the write lock."""

from __future__ import annotations

import os
import time

import pytest

from headwater.store import sqlite

pytestmark = pytest.mark.backends("sqlite")


def _write_megabytes(store: sqlite.SqliteStore, count: int) -> None:
    for _ in range(count):
        with store.write() as tx:
            tx._execute("CREATE TABLE IF NOT EXISTS filler (data BLOB)")
            tx._execute("INSERT INTO filler VALUES (randomblob(1048576))")


def _wal_bytes(store: sqlite.SqliteStore) -> int:
    return os.path.getsize(store.path + "-wal")


def test_background_checkpoints_keep_the_wal_small(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite, "CHECKPOINT_SECONDS", 0.05)
    store = sqlite.SqliteStore(database_url)
    try:
        for _ in range(10):  # 30 MB written; the WAL is reused once checkpointed
            _write_megabytes(store, 3)
            time.sleep(0.2)
        assert _wal_bytes(store) < 12 * 2**20
    finally:
        store.close()


def test_without_the_checkpointer_the_wal_grows(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control for the test above: the writer itself no longer checkpoints at 1,000
    pages, so the background thread is what bounds the WAL."""
    monkeypatch.setattr(sqlite, "CHECKPOINT_SECONDS", 3600.0)
    store = sqlite.SqliteStore(database_url)
    try:
        for _ in range(10):
            _write_megabytes(store, 3)
            time.sleep(0.02)
        assert _wal_bytes(store) > 25 * 2**20
    finally:
        store.close()


def test_close_stops_the_checkpointer(database_url: str) -> None:
    store = sqlite.SqliteStore(database_url)
    thread = store._checkpointer
    assert thread.is_alive()
    store.close()
    assert not thread.is_alive()
