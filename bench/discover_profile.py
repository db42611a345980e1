"""A discovery run over a generated event log: wall time and peak memory of the run alone.

    PYTHONPATH=. uv run python -m bench.discover_profile                    # SQLite, 200k entities
    PYTHONPATH=. uv run python -m bench.discover_profile --entities 20000   # ~100k events
    PYTHONPATH=. uv run python -m bench.discover_profile \\
        --database-url postgresql://postgres@127.0.0.1:5432/postgres         # a fresh database there
    ... --profile discover.prof      # also a cProfile of the run (pstats top 25)

The log is written straight into the tables (the run reads only what normalization
would have written, so there is no point timing normalization here): per deal a
`deal_created` event whose stored version's payload names the first stage, a
`deal_owner_assigned`, one to three `deal_stage_changed` events along a sales pipeline,
and zero to two `deal_updated` (five events per entity on average). Then a child process
(`--run`) claims and runs one discovery run exactly as a worker does; its wall time,
CPU (and on PostgreSQL the CPU of the server backends serving the database) and peak
RSS (`VmHWM`) are the run's alone.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import server
from bench.normalize_profile import _backend_ticks
from headwater.core.knowledge import DiscoverParameters, new_library
from headwater.core.models import EventRow, Outcome, PlannedVersion, RecordKey, ValidRecord
from headwater.ids import new_id, now_micros
from headwater.store import open_store
from headwater.store.base import Store
from headwater.worker import Worker

#: where a deal can go from each stage
PIPELINE = {
    "lead": ("qualified", "qualified", "lost"),
    "qualified": ("proposal", "proposal", "lost"),
    "proposal": ("negotiation", "won", "lost"),
    "negotiation": ("won", "won", "lost"),
}
HOUR = 3_600_000_000
CHUNK = 5_000  #: entities per write transaction


def fill(store: Store, org_id: str, source_id: str, entities: int, seed: int) -> int:
    """Write `entities` deals' events (and their created versions); returns the events."""
    rng = random.Random(seed)
    total = 0
    seq = 0
    start = 1_780_000_000_000_000
    for first in range(0, entities, CHUNK):
        versions: list[PlannedVersion] = []
        events: list[EventRow] = []
        batch_id = new_id()
        for n in range(first, min(first + CHUNK, entities)):
            key = RecordKey("deal", f"deal-{n:07d}")
            at = start + rng.randrange(0, 90 * 24 * HOUR)
            created = new_id()
            payload = json.dumps(
                {"name": f"Deal {n}", "stage": "lead", "amount": rng.randrange(1000, 90000),
                 "owner": f"rep{rng.randrange(40)}@acme.com"}
            ).encode()  # fmt: skip
            versions.append(
                PlannedVersion(
                    created,
                    ValidRecord(n - first, key, at, payload, rng.randbytes(32), False),
                    Outcome.CREATED,
                    None,
                )
            )
            rows: list[tuple[str, str, int, bytes]] = [
                ("deal_created", created, at, b"[]"),
                ("deal_owner_assigned", created, at, b'[{"field":"owner","from":null,"to":"x"}]'),
            ]
            stage = "lead"
            for _ in range(rng.choice((1, 2, 2, 3))):
                if stage not in PIPELINE:
                    break
                at += rng.randrange(HOUR, 30 * 24 * HOUR)
                after = rng.choice(PIPELINE[stage])
                change = f'[{{"field":"stage","from":"{stage}","to":"{after}"}}]'.encode()
                rows.append(("deal_stage_changed", new_id(), at, change))
                stage = after
            for _ in range(rng.choice((0, 1, 1, 2))):
                at += rng.randrange(HOUR, 10 * 24 * HOUR)
                rows.append(("deal_updated", new_id(), at, b'[{"field":"amount","from":1,"to":2}]'))
            for action, version_id, timestamp, changes in rows:
                seq += 1
                events.append(
                    EventRow(
                        id=new_id(), org_id=org_id, source_id=source_id, batch_id=batch_id,
                        record_version_id=version_id, action=action,
                        actor_id=None, key=key, entity_name=f"Deal {n}", timestamp=timestamp,
                        changes=changes, deleted=False, created_at=now_micros(), seq=seq,
                    )
                )  # fmt: skip
        with store.write() as tx:
            tx.insert_versions(org_id, source_id, batch_id, versions, now_micros())
            tx.insert_events(events)
            tx.lock_feed(org_id)
            tx.next_seqs(org_id, len(events))
        total += len(events)
    return total


def run_child(url: str, org_id: str, profile: Path | None) -> None:
    """The timed part: one discovery run, as a worker runs it."""
    store = open_store(url)
    library = new_library(new_id(), org_id, DiscoverParameters(), "request", now_micros())
    with store.write() as tx:
        tx.insert_library(library)
    before = server.proc_status(os.getpid()).get("VmHWM", 0) / 2**20
    profiler = cProfile.Profile() if profile else None
    ticks = _backend_ticks(url)
    cpu, wall = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    assert Worker(store, worker_id="bench", lease_seconds=120).run_discovery_once(library.id)
    if profiler:
        profiler.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    after = _backend_ticks(url)
    database_cpu = (
        round((after - ticks) / os.sysconf("SC_CLK_TCK"), 2)
        if ticks is not None and after is not None
        else None
    )
    done = store.get_library(org_id, library.id)
    assert done is not None
    assert done.status.value == "done", done
    # VmHWM, not ru_maxrss: Linux carries the parent's peak across fork + exec into the latter
    peak = server.proc_status(os.getpid()).get("VmHWM", 0) / 2**20
    print(
        json.dumps(
            {"events": done.events_read, "processes": done.processes, "wallSeconds": round(wall, 2),
             "cpuSeconds": round(cpu, 2), "databaseCpuSeconds": database_cpu,
             "loadAverage": server.loadavg(), "rssBeforeMiB": round(before, 1),
             "peakRssMiB": round(peak, 1)}
        )
    )  # fmt: skip
    store.close()
    if profiler and profile:
        profiler.dump_stats(profile)
        pstats.Stats(str(profile)).sort_stats("cumulative").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a PostgreSQL server to create a database on")
    parser.add_argument("--entities", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=20260610)
    parser.add_argument("--profile", type=Path, help="write a cProfile of the run here")
    parser.add_argument("--run", nargs=2, metavar=("URL", "ORG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        run_child(args.run[0], args.run[1], args.profile)
        return
    with tempfile.TemporaryDirectory() as workdir:
        databases = server.Databases(args.database_url, Path(workdir))
        try:
            url = databases.new("discover")
            store, tenant = server.prepare(url, with_source=True)
            assert tenant.source_id is not None
            started = time.perf_counter()
            events = fill(store, tenant.org_id, tenant.source_id, args.entities, args.seed)
            store.close()
            server.checkpoint(url)
            if url.startswith("postgresql"):
                import psycopg

                with psycopg.connect(url, autocommit=True) as connection:
                    connection.execute("VACUUM ANALYZE")
            print(f"{databases.backend}: {args.entities} entities, {events} events written "
                  f"in {time.perf_counter() - started:.1f} s; machine {server.machine()}")  # fmt: skip
            command = [sys.executable, "-m", "bench.discover_profile", "--run", url, tenant.org_id]
            if args.profile:
                command += ["--profile", str(args.profile)]
            subprocess.run(command, check=True)
        finally:
            databases.drop_all()


if __name__ == "__main__":
    main()
