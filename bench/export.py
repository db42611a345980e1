"""`python -m bench.export`: how fast the event-log exports stream, and the server's memory.

Fills a fresh database in-process with `--events` events (a third of that many deals,
each created, moved to another stage and updated; 200 actors), with the record versions
the OCEL export reads for the first values; then starts a real `headwater serve
--no-worker` and downloads `/v1/export/ocel` and `/v1/export/xes` over HTTP, the body
thrown away as it arrives. Per export: events/s (events / wall time of the download),
bytes, and the server's RSS before and its peak during the download (VmHWM, reset
before each export), whose difference is the memory growth. Method: bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.limit import tuned_gc
from bench.server import (
    Databases,
    Service,
    checkpoint,
    loadavg,
    machine,
    prepare,
    proc_status,
    reset_peak,
)
from headwater.core.canonical import canonicalize, content_hash
from headwater.core.models import (
    Batch,
    BatchStatus,
    EventRow,
    Head,
    Outcome,
    PlannedVersion,
    RecordKey,
    ValidRecord,
)
from headwater.ids import new_id, now_micros
from headwater.store.base import Store

STEP = 500  #: deals per fill transaction
ACTORS = 200
BASE = 1_780_000_000_000_000  #: 2026-05-28, microseconds


def fill(store: Store, org_id: str, source_id: str, events: int) -> int:
    """`events` events (rounded down to a multiple of 3) on events // 3 deals."""
    actors = [(new_id(), f"person{i}@example.com", f"Person {i}") for i in range(ACTORS)]
    with store.write() as tx:
        for actor_id, email, name in actors:
            tx._execute(  # type: ignore[attr-defined]
                "INSERT INTO actors (id, org_id, email, name, folded_name, placeholder, "
                "created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (actor_id, org_id, email, name, name.lower(), False, now_micros()),
            )
    deals, seq, written = events // 3, 0, 0
    for start in range(0, deals, STEP):
        now = now_micros()
        batch_id = new_id()
        versions, rows = [], []
        for i in range(start, min(deals, start + STEP)):
            at = BASE + i * 1_000_000
            actor = actors[i % ACTORS]
            payload = json.dumps(
                {"name": f"Deal {i} - Ünïcode & <xml>", "stage": "lead", "amount": i,
                 "owner": actor[1], "notes": "x" * 200}
            ).encode()  # fmt: skip
            record = ValidRecord(i - start, RecordKey("deal", f"deal-{i:08d}"), at, payload,
                                 content_hash(canonicalize(payload), False), False)  # fmt: skip
            version = PlannedVersion(new_id(), record, Outcome.CREATED, None)
            versions.append(version)
            for offset, action, changes in (
                (0, "deal_created", b"[]"),
                (3_600_000_000, "deal_stage_changed",
                 b'[{"field":"stage","from":"lead","to":"won"}]'),
                (7_200_000_000, "deal_updated",
                 b'[{"field":"amount","from":%d,"to":%d}]' % (i, i + 1)),
            ):  # fmt: skip
                seq += 1
                rows.append(
                    EventRow(
                        new_id(),
                        org_id,
                        source_id,
                        batch_id,
                        version.version_id,
                        action,
                        actor[0],
                        record.key,
                        f"Deal {i}",
                        at + offset,
                        changes,
                        False,
                        now,
                        seq,
                    )
                )
        counts = dict.fromkeys(Outcome, 0)
        counts[Outcome.CREATED] = len(versions)
        batch = Batch(id=batch_id, org_id=org_id, source_id=source_id, status=BatchStatus.DONE,
                      counts=counts, rejected=0, records_created=len(versions),
                      events_created=len(rows), attempts=1, error_code=None, error_message=None,
                      created_at=now, started_at=now, completed_at=now)  # fmt: skip
        heads = {v.record.key: Head(v.version_id, v.record.content_hash,
                                    v.record.source_updated_at, False) for v in versions}  # fmt: skip
        with store.write() as tx:
            tx.insert_versions(org_id, source_id, batch_id, versions, now)
            tx.upsert_heads(org_id, source_id, heads)
            tx.insert_batch(batch, [])
            tx.insert_events(rows)
            tx._execute(  # type: ignore[attr-defined]
                "INSERT INTO feed_positions (org_id, last_seq) VALUES (%s, %s) "
                "ON CONFLICT (org_id) DO UPDATE SET last_seq = excluded.last_seq",
                (org_id, seq),
            )
        written += len(rows)
    return written


def download(service: Service, token: str, kind: str, params: dict[str, str]) -> dict[str, Any]:
    pid = service.pids["server"]
    reset_peak(pid)
    before = proc_status(pid).get("VmRSS", 0)
    peak = [before]
    stop = threading.Event()

    def sample() -> None:  # VmHWM is the kernel's own peak; sampling covers no-reset kernels
        while not stop.wait(0.05):
            peak[0] = max(peak[0], proc_status(pid).get("VmRSS", 0))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    size = 0
    started = time.perf_counter()
    url = f"http://127.0.0.1:{service.port}/v1/export/{kind}"
    with httpx.stream("GET", url, params=params, timeout=600,
                      headers={"Authorization": f"Bearer {token}"}) as response:  # fmt: skip
        response.raise_for_status()
        events = int(response.headers["x-export-events"])
        for chunk in response.iter_raw(1 << 20):
            size += len(chunk)
    seconds = time.perf_counter() - started
    stop.set()
    sampler.join()
    status = proc_status(pid)
    high = max(peak[0], status.get("VmHWM", 0))
    return {
        "kind": kind,
        "events": events,
        "bytes": size,
        "seconds": round(seconds, 3),
        "eventsPerSecond": round(events / seconds),
        "rssBeforeMiB": round(before / 2**20, 1),
        "rssPeakMiB": round(high / 2**20, 1),
        "growthMiB": round((high - before) / 2**20, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.export", description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--database-url", help="PostgreSQL admin URL (default: SQLite)")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="headwater-export-bench-"))
    databases = Databases(args.database_url, workdir)
    service: Service | None = None
    try:
        url = databases.new("export")
        store, tenant = prepare(url, with_source=True)
        assert tenant.source_id is not None
        started = time.perf_counter()
        with tuned_gc():
            written = fill(store, tenant.org_id, tenant.source_id, args.events)
        store.close()
        checkpoint(url)
        print(f"filled {written:,} events in {time.perf_counter() - started:.1f} s", flush=True)
        service = Service(url, workdir, "export", "none").start()
        results = {"machine": machine(), "backend": databases.backend, "events": written,
                   "loadavgBefore": loadavg(), "exports": []}  # fmt: skip
        for kind, params in (("ocel", {}), ("xes", {"entityType": "deal"})):
            figures = download(service, tenant.token, kind, params)
            results["exports"].append(figures)
            print(json.dumps(figures), flush=True)
        results["loadavgAfter"] = loadavg()
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        return 0
    finally:
        if service is not None:
            service.stop()
        databases.drop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
