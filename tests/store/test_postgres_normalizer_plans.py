"""Normalization's lookups on PostgreSQL probe indexes per key, whatever is stored.

`email IN (...)` over actors was planned as a scan of every actor of the organisation on
tables never analyzed (as on a server without autovacuum): 40-190 ms per batch at 9k
actors; `id = ANY(...)` over versions can be planned as a sequential scan. The tables
here are filled without ANALYZE, which is where the planner goes wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from headwater.store.postgres import (
    ACTORS_BY_EMAIL,
    ACTORS_BY_NAME,
    TOMBSTONES_BY_KEY,
    VERSIONS_BY_ID,
)
from tests.store.plans import assert_probes, plan_nodes

ORG = "01900000-0000-7000-8000-000000000002"
SOURCE = "01900000-0000-7000-8000-000000000001"
STORED = 5_000
#: a batch's worth of keys (500), half of them not stored
ASKED = list(range(1, STORED * 2, 20))
FOUND = [i for i in ASKED if i <= STORED]

pytestmark = pytest.mark.backends("postgres")


@pytest.fixture
def filled(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """STORED actors, versions (every tenth a tombstone), written without ANALYZE."""
    with psycopg.connect(database_url) as db:
        db.execute(
            "INSERT INTO actors (id, org_id, email, name, folded_name, placeholder, created_at) "
            "SELECT gen_random_uuid(), %s, 'a' || i || '@acme.example', 'A ' || i, 'a ' || i, "
            "false, 0 FROM generate_series(1, %s) AS i",
            (ORG, STORED),
        )
        db.execute(
            "INSERT INTO record_versions (id, org_id, source_id, entity_type, record_id, "
            "content_hash, source_updated_at, deleted, outcome, batch_id, batch_index, "
            "ingested_at, payload) SELECT ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))"
            "::uuid, %s, %s, 'deal', 'd-' || i, sha256(i::text::bytea), i, i %% 10 = 0, "
            "'created', gen_random_uuid(), 0, 0, '{}' FROM generate_series(1, %s) AS i",
            (ORG, SOURCE, STORED),
        )
        db.commit()
        yield db


def test_actors_are_probed_by_email(filled: psycopg.Connection[Any]) -> None:
    emails = [f"a{i}@acme.example" for i in ASKED]
    nodes = plan_nodes(filled, ACTORS_BY_EMAIL, (emails, ORG))
    assert_probes(nodes, "actors", len(ASKED), len(FOUND))


def test_actors_are_probed_by_name(filled: psycopg.Connection[Any]) -> None:
    names = [f"a {i}" for i in ASKED]
    nodes = plan_nodes(filled, ACTORS_BY_NAME, (names, ORG))
    assert_probes(nodes, "actors", len(ASKED), len(FOUND))


def test_tombstones_are_probed_by_key(filled: psycopg.Connection[Any]) -> None:
    params = (["deal"] * len(ASKED), [f"d-{i}" for i in ASKED], SOURCE)
    nodes = plan_nodes(filled, TOMBSTONES_BY_KEY, params)
    assert_probes(nodes, "record_versions", len(ASKED), len([i for i in FOUND if i % 10 == 0]))


def test_versions_are_probed_by_id(filled: psycopg.Connection[Any]) -> None:
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in ASKED]
    nodes = plan_nodes(filled, VERSIONS_BY_ID, (ids, ORG))
    assert_probes(nodes, "record_versions", len(ASKED), len(FOUND))
