"""A normalizer killed with SIGKILL mid-batch loses nothing and doubles nothing (issue 3)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from headwater import ingest, keys, normalize
from headwater.core import sources
from headwater.core.models import BatchStatus, EventFilter, StoredEvent
from headwater.ids import new_id, now_micros
from headwater.store import Store, open_store
from tests.live.conftest import start_worker


def _big_request(source_id: str, records: int = 500) -> bytes:
    """Records with large payloads, so that normalizing the batch takes a while."""
    filler = "x" * 4000
    return msgspec.json.encode(
        {
            "sourceId": source_id,
            "records": [
                {
                    "recordId": f"deal-{i}",
                    "entityType": "deal",
                    "sourceUpdatedAt": "2026-06-10T14:03:00Z",
                    "payload": {
                        "name": f"Deal {i}",
                        "stage": "open",
                        "owner": f"owner{i % 7}@acme.com",
                        "movedToStageBy": {"name": f"Person {i % 11}"},
                        "notes": [filler] * 4,
                    },
                }
                for i in range(records)
            ],
        }
    )


def _setup(store: Store) -> tuple[str, str]:
    with store.write() as tx:
        organisation, _, _ = keys.issue_for_organisation(tx, "acme", "t", ["ingest", "read"])
    source = sources.new_source(
        sources.CreateSource(name="CRM"), new_id(), organisation.id, now_micros()
    )
    with store.write() as tx:
        tx.insert_source(source)
    request = ingest.validate(_big_request(source.id))
    with store.write() as tx:
        result = ingest.apply(tx, organisation.id, request, new_id(), now_micros(), new_id)
    return organisation.id, result.batch.id


def _wait_for(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.002)
    raise AssertionError("timed out")


def test_sigkill_mid_batch_then_restart_completes_with_the_clean_run_events(
    database_url: str, tmp_path: Path
) -> None:
    store = open_store(database_url)
    try:
        org_id, batch_id = _setup(store)
        log = tmp_path / "worker.log"

        def status() -> BatchStatus:
            batch = store.get_batch(org_id, batch_id)
            assert batch is not None
            return batch.status

        first = start_worker(database_url, log)
        try:
            _wait_for(lambda: status() is BatchStatus.PROCESSING, 30)
            os.kill(first.pid, signal.SIGKILL)
        finally:
            first.wait(10)
        assert status() is BatchStatus.PROCESSING  # killed mid-batch: nothing committed yet

        second = start_worker(database_url, log)
        try:
            _wait_for(lambda: status() is BatchStatus.DONE, 60)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(20) == 0, log.read_text()

        batch = store.get_batch(org_id, batch_id)
        assert batch is not None
        assert batch.records_created == 500
        assert batch.attempts == 2  # claimed, killed, taken over after the lease ran out
        # what a clean, uninterrupted run derives from the same stored versions
        results = store.batch_results(org_id, batch_id) or []
        versions = store.get_versions(org_id, [r.version_id for r in results if r.version_id])
        clean = normalize.derive(store, org_id, batch.source_id, list(versions.values()), {})
        stored = _every_event(store, org_id)
        assert batch.events_created == len(clean) == len(stored) == 500 * 3
        assert {e.row.id for e in stored} == {d.id for d in clean}
        assert {(e.row.action, e.row.key.record_id) for e in stored} == {
            (d.action, d.key.record_id) for d in clean
        }
    finally:
        store.close()


def _every_event(store: Store, org_id: str) -> list[StoredEvent]:
    found: list[StoredEvent] = []
    while True:
        page = store.list_events(org_id, EventFilter(include_deleted=True), 100, len(found))
        found += page.items
        if len(found) >= page.total:
            return found
