"""Storage: `open_store(url)` picks the backend from the database URL."""

from __future__ import annotations

from headwater.store.base import Page, Store, WriteTx
from headwater.store.urls import backend_of

__all__ = ["Page", "Store", "WriteTx", "open_store"]


def open_store(database_url: str) -> Store:
    """Open (not migrate) the database at `database_url`."""
    if backend_of(database_url) == "sqlite":
        from headwater.store.sqlite import SqliteStore

        return SqliteStore(database_url)
    from headwater.store.postgres import PostgresStore

    return PostgresStore(database_url)
