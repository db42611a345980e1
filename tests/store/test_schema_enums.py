"""Every value list the schema constrains (CHECK ... IN (...)) matches its Python enum.

If this fails, an enum of `core.models` or a CHECK constraint of a migration changed
without the other. Columns holding enum values without a CHECK (`batches.kind`,
`api_keys.scopes`) are listed in docs/decisions.md ("Enums and CHECK constraints").
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable

import psycopg

from headwater.core.knowledge import LibraryOrigin
from headwater.core.models import (
    STORED_OUTCOMES,
    AliasKind,
    BatchKind,
    BatchStatus,
    Scope,
    SourceStatus,
)
from headwater.core.rules import REVIEW_STATUSES, RULE_KINDS
from headwater.store.urls import backend_of, sqlite_path

#: (table, column) -> the values its CHECK allows, from the Python side
EXPECTED: dict[tuple[str, str], frozenset[str]] = {
    ("sources", "status"): frozenset(SourceStatus),
    ("batches", "status"): frozenset(BatchStatus),
    ("record_versions", "outcome"): frozenset(STORED_OUTCOMES),
    ("actor_aliases", "kind"): frozenset(AliasKind),
    ("libraries", "status"): frozenset(BatchStatus),  # a run moves through a batch's states
    ("libraries", "origin"): frozenset(LibraryOrigin),
    ("rules", "kind"): frozenset(RULE_KINDS),
    ("rules", "review_status"): frozenset(REVIEW_STATUSES),
}

_SQLITE_CHECK = re.compile(r"CHECK \((\w+) IN \(([^)]*)\)\)")
_PG_CHECK = re.compile(r"CHECK \(\((\w+) = ANY \(ARRAY\[(.*)\]\)\)\)")


def _values(listed: str) -> frozenset[str]:
    return frozenset(re.findall(r"'([^']*)'", listed))


def _sqlite_checks(url: str) -> Iterable[tuple[tuple[str, str], frozenset[str]]]:
    with sqlite3.connect(sqlite_path(url)) as db:
        for table, sql in db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"):
            for column, listed in _SQLITE_CHECK.findall(sql or ""):
                yield (table, column), _values(listed)


def _postgres_checks(url: str) -> Iterable[tuple[tuple[str, str], frozenset[str]]]:
    with psycopg.connect(url) as db:
        for table, definition in db.execute(
            "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype = 'c' AND connamespace = 'public'::regnamespace"
        ):
            match = _PG_CHECK.fullmatch(definition)
            assert match, f"a CHECK this test cannot read: {table} {definition}"
            yield (table, match[1]), _values(match[2])


def test_check_constraints_match_the_enums(database_url: str) -> None:
    read = _sqlite_checks if backend_of(database_url) == "sqlite" else _postgres_checks
    found = dict(read(database_url))
    assert found == EXPECTED


def test_the_enums_are_what_the_wire_and_the_store_write() -> None:
    """The values themselves: renaming a member's value would orphan stored rows."""
    assert set(SourceStatus) == {"active", "paused", "archived"}
    assert set(BatchStatus) == {"queued", "processing", "done", "error"}
    assert set(AliasKind) == {"email", "name"}
    assert set(STORED_OUTCOMES) == {"created", "superseded", "stale"}
    assert set(LibraryOrigin) == {"request", "schedule"}
    # stored without a CHECK (docs/decisions.md)
    assert set(BatchKind) == {"ingest", "renormalize"}
    assert set(Scope) == {"ingest", "read", "admin"}
