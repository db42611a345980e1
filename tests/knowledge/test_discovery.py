"""Spec §9.2, §10.1: discovery runs, libraries and processes through HTTP, both backends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

import headwater.discover
import headwater.worker
from headwater.cli import main
from headwater.ids import now_micros
from headwater.store import Store
from headwater.worker import Worker
from tests.conftest import assert_error, bearer
from tests.normalize.helpers import create_source, get, ingest, ok, rec

SECOND = 1_000_000
HOUR = 3600


def at(hours: float) -> str:
    """A timestamp `hours` after 2026-06-01T00:00:00Z."""
    seconds = int(hours * HOUR)
    day, rest = divmod(seconds, 86_400)
    return f"2026-06-{1 + day:02d}T{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}Z"


def deal(record_id: str, stage: str, hours: float, **extra: Any) -> dict[str, Any]:
    return rec(record_id, {"name": record_id, "stage": stage, "amount": 1, **extra}, at(hours))


#: d1: lead -> qualified -> won; d2: lead -> qualified -> lost; d3: lead -> won
PIPELINE = [
    [deal("d1", "lead", 0, movedToStageBy="jane@acme.com"), deal("d2", "lead", 0),
     deal("d3", "lead", 1)],
    [deal("d1", "qualified", 2), deal("d2", "qualified", 4), deal("d3", "won", 3)],
    [deal("d1", "won", 5), deal("d2", "lost", 10)],
]  # fmt: skip


def load(client: TestClient, token: str, source: str, batches: list[list[dict[str, Any]]]) -> None:
    for records in batches:
        ingest(client, token, source, records)


class Clock:
    def __init__(self) -> None:
        self.offset = 0

    def __call__(self) -> int:
        return now_micros() + self.offset


def discover(client: TestClient, token: str, body: Any = None, **headers: str) -> Any:
    response = client.post(
        "/v1/knowledge/discover", json=body, headers={**bearer(token), **headers}
    )
    return ok(response, 202)


def test_a_discovery_run_writes_the_processes_of_the_active_library(
    client: TestClient, token: str, normalize_all: Callable[[], int]
) -> None:
    source = create_source(client, token)
    load(client, token, source, PIPELINE)
    ingest(client, token, source, [rec("t1", {"subject": "x"}, at(1), "ticket"),
                                   rec("t1", {"subject": "y"}, at(2), "ticket")])  # fmt: skip
    normalize_all()
    assert get(client, token, "/v1/processes") == []  # no library yet

    ack = discover(client, token)
    assert ack["status"] == "queued"
    queued = get(client, token, f"/v1/knowledge/libraries/{ack['libraryId']}")
    assert (queued["status"], queued["active"], queued["processes"]) == ("queued", False, None)
    assert queued["parameters"] == {"minSupport": 5, "minConfidence": 0.8, "topVariants": 20}
    assert normalize_all() == 1  # the worker runs discovery from the same queue

    library = get(client, token, f"/v1/knowledge/libraries/{ack['libraryId']}")
    assert library["status"] == "done" and library["active"] is True
    assert library["processes"] == 2 and library["rules"] == 0
    assert library["eventsRead"] == len(get(client, token, "/v1/events", limit=100))
    assert library["startedAt"] and library["completedAt"] and library["origin"] == "request"

    processes = {p["id"]: p for p in get(client, token, "/v1/processes")}
    assert set(processes) == {"deal-lifecycle", "ticket-lifecycle"}
    summary = processes["deal-lifecycle"]
    assert summary["entityType"] == "deal" and summary["stepField"] == "stage"
    assert summary["cases"] == 3 and summary["libraryId"] == ack["libraryId"]
    assert summary["sourceId"] is None
    # a type without a status-like field: its steps are the actions
    ticket = get(client, token, "/v1/processes/ticket-lifecycle")
    assert ticket["stepField"] is None
    assert ticket["variants"] == [{"steps": ["ticket_created", "ticket_updated"], "cases": 1}]

    process = get(client, token, "/v1/processes/deal-lifecycle")
    assert process["steps"] == [
        {"name": "lead", "cases": 3, "medianSecondsInStep": 2 * HOUR},
        {"name": "qualified", "cases": 2, "medianSecondsInStep": 3 * HOUR},
        {"name": "won", "cases": 2, "medianSecondsInStep": None},
        {"name": "lost", "cases": 1, "medianSecondsInStep": None},
    ]
    assert process["starts"] == [{"step": "lead", "cases": 3}]
    assert process["ends"] == [{"step": "won", "cases": 2}, {"step": "lost", "cases": 1}]
    assert process["transitions"] == [
        {"from": "lead", "to": "qualified", "cases": 2, "count": 2,
         "medianSeconds": 2 * HOUR, "p90Seconds": 4 * HOUR},
        {"from": "lead", "to": "won", "cases": 1, "count": 1,
         "medianSeconds": 2 * HOUR, "p90Seconds": 2 * HOUR},
        {"from": "qualified", "to": "lost", "cases": 1, "count": 1,
         "medianSeconds": 6 * HOUR, "p90Seconds": 6 * HOUR},
        {"from": "qualified", "to": "won", "cases": 1, "count": 1,
         "medianSeconds": 3 * HOUR, "p90Seconds": 3 * HOUR},
    ]  # fmt: skip
    assert process["variants"] == [
        {"steps": ["lead", "qualified", "lost"], "cases": 1},
        {"steps": ["lead", "qualified", "won"], "cases": 1},
        {"steps": ["lead", "won"], "cases": 1},
    ]
    assert_error(
        client.get("/v1/processes/nothing-lifecycle", headers=bearer(token)), 404, "NOT_FOUND"
    )


def test_source_filter_and_a_newer_library_taking_over(
    client: TestClient, token: str, normalize_all: Callable[[], int]
) -> None:
    crm = create_source(client, token, "CRM")
    other = create_source(client, token, "Other")
    load(client, token, crm, PIPELINE)
    ingest(client, token, other, [deal("x1", "open", 0)])
    ingest(client, token, other, [deal("x1", "closed", 1)])
    normalize_all()
    first = discover(client, token)["libraryId"]
    normalize_all()

    mine = get(client, token, "/v1/processes", sourceId=other)
    assert [(p["id"], p["cases"], p["sourceId"]) for p in mine] == [("deal-lifecycle", 1, other)]
    narrowed = get(client, token, "/v1/processes/deal-lifecycle", sourceId=other)
    assert narrowed["variants"] == [{"steps": ["open", "closed"], "cases": 1}]
    assert get(client, token, "/v1/processes/deal-lifecycle")["cases"] == 4
    unknown = "00000000-0000-7000-8000-000000000000"
    assert get(client, token, "/v1/processes", sourceId=unknown) == []
    assert_error(
        client.get("/v1/processes?sourceId=nope", headers=bearer(token)), 400, "VALIDATION_ERROR"
    )

    ingest(client, token, other, [deal("x2", "open", 2)])
    normalize_all()
    second = discover(client, token, {"topVariants": 1, "minSupport": 2})["libraryId"]
    normalize_all()
    libraries = get(client, token, "/v1/knowledge/libraries")
    assert [(x["id"], x["active"]) for x in libraries] == [(second, True), (first, False)]
    assert libraries[0]["parameters"]["topVariants"] == 1
    process = get(client, token, "/v1/processes/deal-lifecycle")
    assert process["libraryId"] == second and process["cases"] == 5
    assert len(process["variants"]) == 1
    # an older library stays readable by id
    assert get(client, token, "/v1/processes/deal-lifecycle", libraryId=first)["cases"] == 4


def test_parameters_are_validated(client: TestClient, token: str) -> None:
    for body, field in (
        ({"minSupport": 0}, "minSupport"),
        ({"minConfidence": 1.5}, "minConfidence"),
        ({"minConfidence": "high"}, "minConfidence"),
        ({"topVariants": 101}, "topVariants"),
        ({"bogus": 1}, "bogus"),
        ([], "body"),
    ):
        response = client.post("/v1/knowledge/discover", json=body, headers=bearer(token))
        assert_error(response, 400, "VALIDATION_ERROR")
        detail = response.json()["error"]["details"][0]
        assert detail["field"] == field, body
        assert "`" not in detail["message"] and "$" not in detail["message"], detail
    repeated = client.post(
        "/v1/knowledge/discover",
        content=b'{"minSupport": 3, "minSupport": 9}',
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert_error(repeated, 400, "VALIDATION_ERROR")
    assert repeated.json()["error"]["details"][0]["field"] == "minSupport"
    broken = client.post(
        "/v1/knowledge/discover",
        content=b"{",
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert_error(broken, 400, "VALIDATION_ERROR")
    text = client.post(
        "/v1/knowledge/discover",
        content=b"minSupport=3",
        headers={**bearer(token), "Content-Type": "text/plain"},
    )
    assert_error(text, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert get(client, token, "/v1/knowledge/libraries") == []
    # no body at all: the defaults
    assert ok(client.post("/v1/knowledge/discover", headers=bearer(token)), 202)["libraryId"]


def test_idempotency_key_replays_the_same_run(client: TestClient, token: str) -> None:
    first = client.post(
        "/v1/knowledge/discover",
        json={"minSupport": 3},
        headers={**bearer(token), "Idempotency-Key": "run-1"},
    )
    again = client.post(
        "/v1/knowledge/discover",
        json={"minSupport": 3},
        headers={**bearer(token), "Idempotency-Key": "run-1"},
    )
    assert ok(first, 202) == ok(again, 202)
    assert again.headers["idempotent-replayed"] == "true"
    other = client.post(
        "/v1/knowledge/discover",
        json={"minSupport": 4},
        headers={**bearer(token), "Idempotency-Key": "run-1"},
    )
    assert_error(other, 422, "IDEMPOTENCY_KEY_REUSED")
    assert len(get(client, token, "/v1/knowledge/libraries")) == 1


def test_another_organisation_sees_none_of_it(
    client: TestClient, make_key: Callable[..., str], normalize_all: Callable[[], int]
) -> None:
    a, b = make_key(org="org-a"), make_key(org="org-b")
    source = create_source(client, a)
    load(client, a, source, PIPELINE)
    normalize_all()
    library = discover(client, a)["libraryId"]
    normalize_all()
    b_source = create_source(client, b)
    ingest(client, b, b_source, [deal("mine", "open", 0)])
    normalize_all()
    discover(client, b)
    normalize_all()

    assert get(client, b, "/v1/knowledge/libraries")[0]["id"] != library
    assert len(get(client, b, "/v1/knowledge/libraries")) == 1
    processes = get(client, b, "/v1/processes")
    assert [(p["id"], p["cases"]) for p in processes] == [("deal-lifecycle", 1)]
    detail = get(client, b, "/v1/processes/deal-lifecycle")
    assert detail["variants"] == [{"steps": ["open"], "cases": 1}]
    assert get(client, b, "/v1/processes", sourceId=source) == []
    for path in (
        f"/v1/knowledge/libraries/{library}",
        f"/v1/processes?libraryId={library}",
        f"/v1/processes/deal-lifecycle?libraryId={library}",
    ):
        assert_error(client.get(path, headers=bearer(b)), 404, "NOT_FOUND")
    assert get(client, a, "/v1/processes/deal-lifecycle")["cases"] == 3


def test_scopes(client: TestClient, make_key: Callable[..., str]) -> None:
    reader = make_key(scopes="read")
    assert_error(
        client.post("/v1/knowledge/discover", headers=bearer(reader)), 403, "INSUFFICIENT_SCOPE"
    )
    writer = make_key(scopes="ingest")
    for path in ("/v1/knowledge/libraries", "/v1/processes", "/v1/processes/deal-lifecycle"):
        assert_error(client.get(path, headers=bearer(writer)), 403, "INSUFFICIENT_SCOPE")
    assert_error(client.get("/v1/processes"), 401, "MISSING_AUTH_HEADER")


def test_a_killed_workers_run_is_claimed_again_when_its_lease_runs_out(
    client: TestClient,
    token: str,
    store: Store,
    normalize_all: Callable[[], int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = create_source(client, token)
    load(client, token, source, PIPELINE)
    normalize_all()
    library = discover(client, token)["libraryId"]
    now = now_micros()
    with store.write() as tx:  # a worker claims the run and dies
        claimed = tx.claim_library("dead-worker", now, now + 60 * SECOND)
    assert claimed is not None and claimed.id == library
    assert get(client, token, f"/v1/knowledge/libraries/{library}")["status"] == "processing"

    clock = Clock()
    monkeypatch.setattr(headwater.worker, "now_micros", clock)
    survivor = Worker(store, worker_id="survivor")
    assert not survivor.run_once()  # the lease still holds
    clock.offset = 61 * SECOND
    assert survivor.run_once()
    done = get(client, token, f"/v1/knowledge/libraries/{library}")
    assert (done["status"], done["attempts"], done["active"]) == ("done", 2, True)
    # the dead worker cannot complete it any more
    with store.write() as tx:
        assert not tx.complete_library(library, claimed.org_id, "dead-worker", (0, 0, 0), 0, now)
    assert get(client, token, "/v1/processes/deal-lifecycle")["cases"] == 3


def test_a_failing_run_is_retried_with_backoff_then_ends_in_error(
    client: TestClient, token: str, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("boom")

    clock = Clock()
    monkeypatch.setattr(headwater.discover, "run_discovery", broken)
    monkeypatch.setattr(headwater.worker, "now_micros", clock)
    library = discover(client, token)["libraryId"]
    worker = Worker(store, worker_id="w", max_attempts=2)
    assert worker.run_once()
    state = get(client, token, f"/v1/knowledge/libraries/{library}")
    assert (state["status"], state["attempts"]) == ("queued", 1)
    assert state["error"]["code"] == "DISCOVERY_FAILED" and "boom" in state["error"]["message"]
    assert not worker.run_once()  # backoff: not due yet
    clock.offset = 2 * SECOND
    assert worker.run_once()
    failed = get(client, token, f"/v1/knowledge/libraries/{library}")
    assert (failed["status"], failed["attempts"], failed["active"]) == ("error", 2, False)
    assert failed["completedAt"] is not None
    clock.offset = 3600 * SECOND
    assert not worker.run_once()
    assert get(client, token, "/v1/processes") == []


def test_workers_start_runs_for_organisations_with_new_events(
    client: TestClient,
    token: str,
    store: Store,
    normalize_all: Callable[[], int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    monkeypatch.setattr(headwater.worker, "now_micros", clock)
    worker = Worker(store, worker_id="w", discover_interval=600, discover_check_seconds=0)
    assert not worker.run_once()  # no events: nothing to discover
    source = create_source(client, token)
    load(client, token, source, PIPELINE[:1])
    while worker.run_once():  # normalizes, then schedules and runs discovery
        pass
    libraries = get(client, token, "/v1/knowledge/libraries")
    assert [(x["origin"], x["status"]) for x in libraries] == [("schedule", "done")]
    assert get(client, token, "/v1/processes/deal-lifecycle")["cases"] == 3

    load(client, token, source, PIPELINE[1:])
    while worker.run_once():  # new events, but the last run is younger than the interval
        pass
    assert len(get(client, token, "/v1/knowledge/libraries")) == 1
    clock.offset = 601 * SECOND
    while worker.run_once():
        pass
    libraries = get(client, token, "/v1/knowledge/libraries")
    assert [(x["origin"], x["status"], x["active"]) for x in libraries] == [
        ("schedule", "done", True),
        ("schedule", "done", False),
    ]
    assert len(get(client, token, "/v1/processes/deal-lifecycle")["variants"]) == 3
    clock.offset = 1300 * SECOND
    assert not worker.run_once()  # no new events since the last run: no run
    assert len(get(client, token, "/v1/knowledge/libraries")) == 2
    # 0 turns it off
    off = Worker(store, worker_id="off", discover_interval=0, discover_check_seconds=0)
    load(client, token, source, [[deal("d9", "lead", 20)]])
    while off.run_once():
        pass
    clock.offset = 3000 * SECOND
    assert not off.run_once()
    assert len(get(client, token, "/v1/knowledge/libraries")) == 2


def test_the_cli_runs_discovery(
    client: TestClient, token: str, database_url: str, normalize_all: Callable[[], int]
) -> None:
    source = create_source(client, token)
    load(client, token, source, PIPELINE)
    normalize_all()
    result = CliRunner().invoke(
        main, ["discover", "--org", "acme", "--top-variants", "2", "--database-url", database_url]
    )
    assert result.exit_code == 0, result.output
    assert "acme: library" in result.output and "done, 1 processes" in result.output
    process = get(client, token, "/v1/processes/deal-lifecycle")
    assert process["cases"] == 3 and len(process["variants"]) == 2
    missing = CliRunner().invoke(
        main, ["discover", "--org", "nobody", "--database-url", database_url]
    )
    assert missing.exit_code == 2 and "nobody" in missing.output
