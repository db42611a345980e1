"""Reading PostgreSQL plans in tests: did a lookup probe an index once per key?"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg


def plan_nodes(
    db: psycopg.Connection[Any], sql: str, params: tuple[Any, ...]
) -> list[dict[str, Any]]:
    """Every node of the executed plan of `sql` (EXPLAIN ANALYZE), the root first."""
    row = db.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params).fetchone()
    assert row is not None
    document = row[0] if isinstance(row[0], list) else json.loads(row[0])
    return list(_walk(document[0]["Plan"]))


def _walk(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _walk(child)


def assert_probes(nodes: list[dict[str, Any]], table: str, asked: int, found: int) -> None:
    """`table` is read only by index scans, once per key asked for (`asked` loops), never
    hashed or merged with the keys; the query returns `found` rows."""
    on_table = [n for n in nodes if n.get("Relation Name") == table]
    assert on_table, nodes
    assert all(n["Node Type"] in ("Index Scan", "Index Only Scan") for n in on_table), on_table
    assert not [n for n in nodes if n["Node Type"] in ("Hash Join", "Merge Join")], nodes
    assert not [n for n in nodes if n.get("Rows Removed by Filter", 0) > asked], nodes
    assert [n["Actual Loops"] for n in on_table] == [asked]
    assert nodes[0]["Actual Rows"] == found
