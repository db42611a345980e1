"""Discovery's keyset pages on PostgreSQL read one index range, whatever is stored.

A run reads a source's events in (entity type, entity id, timestamp, seq) pages
(`store/knowledge.py`); a plan that scans or sorts every event of the source after the
key would make each page cost grow with the log. The table is not analyzed, as on a
server without autovacuum.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from headwater.store.knowledge import CASE_EVENTS_AFTER
from headwater.store.postgres import PostgresStore
from tests.store.plans import plan_nodes

SOURCE = "01900000-0000-7000-8000-000000000001"
ORG = "01900000-0000-7000-8000-000000000002"
ENTITIES = 2_000  #: five events each

pytestmark = pytest.mark.backends("postgres")


@pytest.fixture
def filled(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url) as db:
        db.execute(
            "INSERT INTO events (id, org_id, seq, source_id, batch_id, record_version_id, "
            "action, entity_type, entity_id, timestamp, changes, deleted, created_at) "
            "SELECT gen_random_uuid(), %s, i, %s, gen_random_uuid(), gen_random_uuid(), "
            "'deal_updated', 'deal', 'd-' || (i %% %s), i, '[]', false, 0 "
            "FROM generate_series(1, %s) AS i",
            (ORG, SOURCE, ENTITIES, ENTITIES * 5),
        )
        db.commit()
        yield db


def test_a_page_reads_one_range_of_the_entity_index(filled: psycopg.Connection[Any]) -> None:
    limit = 100
    for setting in PostgresStore.KEY_WALK_SETTINGS:  # as PostgresStore.case_events runs it
        filled.execute(setting)
    params = (SOURCE, "deal", "d-1000", 3000, 3000, ORG, False, limit)
    nodes = plan_nodes(filled, CASE_EVENTS_AFTER, params)
    assert nodes[0]["Actual Rows"] == limit
    scans = [n for n in nodes if "Scan" in n["Node Type"]]
    assert scans, nodes
    assert all(n["Node Type"] in ("Index Scan", "Index Only Scan") for n in scans), nodes
    assert all(n.get("Index Name") == "events_by_entity" for n in scans), nodes
    assert not [n for n in nodes if n["Node Type"] in ("Sort", "Incremental Sort")], nodes
    assert max(n["Actual Rows"] * n["Actual Loops"] for n in scans) <= limit
