"""pm4py as an independent oracle (issue: process view): when an entity type's steps are its
actions, the directly-follows graph pm4py discovers from the XES export is Headwater's own
transitions, count for count, and both see the same cases and events."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import bearer
from tests.knowledge.test_discovery import at, discover
from tests.normalize.helpers import create_source, get, ingest, rec

pm4py = pytest.importorskip("pm4py")


def ticket(record_id: str, hours: float, **payload: Any) -> dict[str, Any]:
    return rec(record_id, {"subject": record_id, **payload}, at(hours), "ticket")


#: no status-like field: the steps are the actions (created, assignee_assigned, updated).
#: Each version changes one thing, so no action follows itself (Headwater folds a repeated
#: step into one entry; a directly-follows graph would count a self-loop).
HISTORY = [
    [ticket("t1", 0), ticket("t2", 0, assignee="ann@acme.com"), ticket("t3", 1)],
    [ticket("t1", 2, assignee="bob@acme.com"),
     ticket("t2", 3, assignee="ann@acme.com", notes="call back"),
     ticket("t3", 2, notes="first")],
    [ticket("t1", 4, assignee="bob@acme.com", notes="done"),
     ticket("t2", 5, assignee="cy@acme.com", notes="call back"),
     ticket("t3", 6, notes="first", assignee="ann@acme.com")],
]  # fmt: skip


def test_directly_follows_counts_from_the_xes_export_are_the_transitions(
    client: TestClient, token: str, normalize_all: Callable[[], int], tmp_path: Path
) -> None:
    source = create_source(client, token)
    for records in HISTORY:
        ingest(client, token, source, records)
    normalize_all()
    discover(client, token)
    assert normalize_all() == 1

    response = client.get("/v1/export/xes", params={"entityType": "ticket"}, headers=bearer(token))
    assert response.status_code == 200, response.text
    path = tmp_path / "tickets.xes"
    path.write_bytes(response.content)
    log = pm4py.read_xes(str(path))
    dfg, starts, ends = pm4py.discover_dfg(log)

    process = get(client, token, "/v1/processes/ticket-lifecycle")
    assert process["stepField"] is None
    assert process["cases"] == log["case:concept:name"].nunique() == 3
    assert process["events"] == len(log)
    ours = {(t["from"], t["to"]): t["count"] for t in process["transitions"]}
    assert ours == dict(dfg)
    assert {s["step"]: s["cases"] for s in process["starts"]} == dict(starts)
    assert {e["step"]: e["cases"] for e in process["ends"]} == dict(ends)
    # and the variants are the traces' action sequences
    traces = Counter(
        tuple(trace["concept:name"]) for _, trace in log.groupby("case:concept:name", sort=False)
    )
    assert {tuple(v["steps"]): v["cases"] for v in process["variants"]} == dict(traces)
