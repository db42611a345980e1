"""Scale-out on PostgreSQL (issue 4): 2 API processes, 2 workers, 8 clients, one SIGKILL.

Clients send overlapping recordIds with shuffled `sourceUpdatedAt`. A record's content
determines its time (value v is always sent at base + v seconds), so whatever order the
requests commit in, the head each record must end with is known: its largest value.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import msgspec
import pytest

from headwater import normalize
from headwater.core import canonical
from headwater.core.models import BatchStatus, EventFilter, StoredEvent
from headwater.store import Store, open_store
from tests.live.conftest import Server, start_worker

RECORDS = 120  # recordIds shared by every client
VALUES = 40  # possible contents per record
CLIENTS = 8
DURATION = float(os.environ.get("HEADWATER_TEST_SCALE_SECONDS", "6"))  # seconds of load


def _payload(record: int, value: int) -> dict[str, object]:
    return {
        "name": f"Deal {record}",
        "stage": ["lead", "qualified", "won"][value % 3],
        "amount": value * 100,
        "owner": f"rep{value % 5}@acme.com",
        "updatedBy": {"name": f"Rep {value % 5}", "email": f"rep{value % 5}@acme.com"},
    }


def _timestamp(value: int) -> str:
    return f"2026-06-10T{value // 60:02d}:{value % 60:02d}:00Z"


def _every_event(store: Store, org_id: str) -> list[StoredEvent]:
    found: list[StoredEvent] = []
    while True:
        page = store.list_events(org_id, EventFilter(include_deleted=True), 100, len(found))
        found += page.items
        if len(found) >= page.total:
            return found


@pytest.mark.backends("postgres")
def test_two_apis_two_workers_eight_clients(database_url: str, tmp_path: Path) -> None:
    apis = [Server(database_url, extra_args=["--no-worker"]).start(tmp_path) for _ in range(2)]
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    workers = [start_worker(database_url, log, lease=2.0) for log in logs]
    key = apis[0].create_key()
    headers = {"Authorization": f"Bearer {key['token']}"}
    source_id = httpx.post(
        f"{apis[0].base_url}/v1/sources", json={"name": "CRM"}, headers=headers
    ).json()["data"]["id"]

    sent: list[tuple[int, int]] = []  # (record, value) of every record sent
    acks: list[dict[str, object]] = []
    failures: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + DURATION

    def client(number: int) -> None:
        rng = random.Random(number)
        with httpx.Client(base_url=apis[number % 2].base_url, headers=headers, timeout=30) as http:
            while time.monotonic() < stop_at:
                chosen = [(rng.randrange(RECORDS), rng.randrange(VALUES)) for _ in range(50)]
                body = {
                    "sourceId": source_id,
                    "records": [
                        {
                            "recordId": f"deal-{r}",
                            "entityType": "deal",
                            "sourceUpdatedAt": _timestamp(v),
                            "payload": _payload(r, v),
                        }
                        for r, v in chosen
                    ],
                }
                response = http.post("/v1/ingest", json=body)
                with lock:
                    if response.status_code != 202:
                        failures.append(response.text)
                        return
                    sent.extend(chosen)
                    acks.append(response.json()["data"])

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    time.sleep(DURATION / 2)
    os.kill(workers[0].pid, signal.SIGKILL)  # one worker dies mid-run
    for thread in threads:
        thread.join()
    assert not failures, failures[:3]

    store = open_store(database_url)
    try:
        org_id = key["orgId"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            pending = sum(
                store.list_batches(org_id, None, status, 1, 0).total
                for status in (BatchStatus.QUEUED, BatchStatus.PROCESSING)
            )
            if pending == 0:
                break
            time.sleep(0.2)
        # every batch done
        assert store.list_batches(org_id, None, BatchStatus.DONE, 1, 0).total == len(acks)

        # outcomes add up: each record sent is accepted or deduplicated, none rejected
        accepted = sum(int(a["accepted"]) for a in acks)  # type: ignore[call-overload]
        deduplicated = sum(int(a["deduplicated"]) for a in acks)  # type: ignore[call-overload]
        assert accepted + deduplicated == len(sent)
        print(
            f"{len(acks)} batches, {len(sent)} records, {accepted} accepted, {deduplicated} dedup"
        )
        assert len(acks) >= 2 * CLIENTS  # the load was real
        assert accepted > RECORDS and deduplicated > 0  # supersedes and dedup both happened
        assert all(a["rejected"] == [] for a in acks)

        # every accepted version stored exactly once
        versions = store.source_versions(org_id, source_id)
        assert len(versions) == accepted
        identities = Counter((v.key, v.content_hash, v.source_updated_at) for v in versions)
        assert max(identities.values()) == 1

        # every head is its record's newest content, at the newest time it was sent
        newest: dict[int, int] = {}
        for record, value in sent:
            newest[record] = max(newest.get(record, -1), value)
        heads = store.list_heads(org_id, source_id, None, 1000, 0)
        assert heads.total == len(newest)
        by_id = {v.id: v for v in versions}
        for head in heads:
            record = int(head.key.record_id.removeprefix("deal-"))
            value = newest[record]
            expected = canonical.content_hash(
                canonical.canonicalize(msgspec.json.encode(_payload(record, value))), False
            )
            assert head.content_hash == expected, head.key
            assert by_id[head.version_id].content_hash == expected
            assert by_id[head.version_id].source_updated_at == head.source_updated_at

        # event ids unique, and the same set one process derives from the same versions
        events = _every_event(store, org_id)
        assert len({e.row.id for e in events}) == len(events)
        clean = normalize.derive(store, org_id, source_id, versions, by_id)
        assert {e.row.id for e in events} == {d.id for d in clean}
        seqs = [e.row.seq for e in events]
        assert len(set(seqs)) == len(seqs)  # feed positions are never handed out twice
    finally:
        store.close()
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(20)
        for api in apis:
            api.stop()
