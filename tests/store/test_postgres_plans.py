"""The batch's dedup lookups on PostgreSQL probe indexes per key, whatever is stored.

A plan that hashes or scans every head of a source makes each ingest cost grow with the
stored data (it did: 20-350 ms per 500-record batch at 20k records). The tables here are
not analyzed, as on a server without autovacuum, which is where the planner goes wrong.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from headwater.store.postgres import (
    HEADS_BY_KEY,
    KNOWN_BY_KEY,
    VERSIONS_BY_IDENTITY,
    PostgresStore,
)
from headwater.store.shared import RECORD_KEYS_AFTER, VERSIONS_BETWEEN
from tests.store.plans import assert_probes, plan_nodes

SOURCE = "01900000-0000-7000-8000-000000000001"
ORG = "01900000-0000-7000-8000-000000000002"
STORED = 5_000

pytestmark = pytest.mark.backends("postgres")


@pytest.fixture
def filled(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """STORED versions and heads of one source and entity type, written without ANALYZE."""
    with psycopg.connect(database_url) as db:
        db.execute(
            "INSERT INTO record_versions (id, org_id, source_id, entity_type, record_id, "
            "content_hash, source_updated_at, deleted, outcome, batch_id, batch_index, "
            "ingested_at, payload) SELECT gen_random_uuid(), %s, %s, 'deal', 'd-' || i, "
            "sha256(i::text::bytea), i, false, 'created', gen_random_uuid(), 0, 0, '{}' "
            "FROM generate_series(1, %s) AS i",
            (ORG, SOURCE, STORED),
        )
        db.execute(
            "INSERT INTO record_heads (source_id, entity_type, record_id, org_id, version_id, "
            "content_hash, source_updated_at, deleted) SELECT source_id, entity_type, "
            "record_id, org_id, id, content_hash, source_updated_at, deleted FROM record_versions"
        )
        db.commit()
        yield db


#: a batch's worth of keys (500), half of them not stored
ASKED = list(range(1, STORED * 2, 20))


def test_heads_are_probed_by_key(filled: psycopg.Connection[Any]) -> None:
    asked = [i for i in ASKED if i <= STORED]
    params = (["deal"] * len(ASKED), [f"d-{i}" for i in ASKED], SOURCE)
    nodes = plan_nodes(filled, HEADS_BY_KEY, params)
    assert_probes(nodes, "record_heads", len(ASKED), len(asked))


def test_known_payloads_are_probed_by_key(filled: psycopg.Connection[Any]) -> None:
    """Ingest's fast-path read, before the transaction (`PostgresStore.known_payloads`)."""
    filled.execute("UPDATE record_heads SET raw_fingerprint = content_hash")
    filled.commit()
    asked = [i for i in ASKED if i <= STORED]
    params = (["deal"] * len(ASKED), [f"d-{i}" for i in ASKED], SOURCE, ORG)
    nodes = plan_nodes(filled, KNOWN_BY_KEY, params)
    assert_probes(nodes, "record_heads", len(ASKED), len(asked))


def test_versions_are_probed_by_identity(filled: psycopg.Connection[Any]) -> None:
    hashes = [hashlib.sha256(str(i).encode()).digest() for i in ASKED]
    params = (["deal"] * len(ASKED), [f"d-{i}" for i in ASKED], hashes, ASKED, SOURCE)
    nodes = plan_nodes(filled, VERSIONS_BY_IDENTITY, params)
    assert_probes(nodes, "record_versions", len(ASKED), len([i for i in ASKED if i <= STORED]))


def _rows_read(nodes: list[dict[str, Any]]) -> int:
    """The most rows any scan of the plan read (no sequential scans allowed)."""
    scans = [n for n in nodes if "Scan" in n["Node Type"]]
    assert scans and not [n for n in scans if n["Node Type"] == "Seq Scan"], nodes
    return max(n["Actual Rows"] * n["Actual Loops"] for n in scans)


def test_renormalize_steps_read_one_range_of_records(filled: psycopg.Connection[Any]) -> None:
    """A renormalize reads a source a range of record keys at a time (normalize.py): index
    range scans that read the rows of the range, not every row of the source after it."""
    params = (SOURCE, "deal", "d-100", "deal", "d-1009", ORG)
    nodes = plan_nodes(filled, VERSIONS_BETWEEN, params)
    assert nodes[0]["Actual Rows"] == 11  # d-100, d-1000 ... d-1009
    assert _rows_read(nodes) <= 11

    for setting in PostgresStore.KEY_WALK_SETTINGS:
        filled.execute(setting)
    nodes = plan_nodes(filled, RECORD_KEYS_AFTER, (SOURCE, ORG, "deal", "d-100", 10))
    assert nodes[0]["Actual Rows"] == 10
    assert _rows_read(nodes) <= 10
