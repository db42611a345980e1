"""CPU per normalized record, in one process: ingest a data set, then drain the queue.

    PYTHONPATH=. uv run python -m bench.normalize_profile                # SQLite, 20k records
    PYTHONPATH=. uv run python -m bench.normalize_profile \\
        --database-url postgresql://postgres@127.0.0.1:5432/postgres      # a fresh database there
    ... --profile normalize.prof     # also a cProfile of the normalization (pstats top 30)
    ... --digest                     # deterministic ids; print a hash of what was written

The bodies of `bench/data.py` are ingested in-process (`ingest.validate` / `ingest.apply`,
as the route does), then a `Worker` claims and normalizes every queued batch. Only that
second part is timed: CPU of this process (`time.process_time`), wall clock, and on
PostgreSQL the CPU of the server backends serving this database (from /proc). Garbage
collection is tuned as `headwater worker` tunes it. `--digest` makes every id
deterministic and hashes the events, actors, aliases and batch states (not their
clock-derived columns), to check that a change to the normalizer writes the same thing.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import itertools
import os
import pstats
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import data, server
from headwater import ids, ingest, normalize
from headwater.ids import now_micros
from headwater.store.base import Store
from headwater.worker import Worker


def _ids(seed: int) -> Callable[[], str]:
    """Deterministic ids, time-ordered like `headwater.ids.new_id` (a counter in the high
    bits): index locality, and so storage costs, stay those of real ids."""
    rng = random.Random(seed)
    counter = itertools.count(1)

    def new_id() -> str:
        return str(uuid.UUID(int=(next(counter) << 80) | rng.getrandbits(80)))

    return new_id


def _ingest(
    store: Store, tenant: server.Tenant, bodies: list[bytes], new_id: Callable[[], str]
) -> int:
    assert tenant.source_id is not None
    stored = 0
    for body in bodies:
        validated = ingest.validate(data.with_source(body, tenant.source_id))
        with store.write() as tx:
            result = ingest.apply(tx, tenant.org_id, validated, new_id(), now_micros(), new_id)
        stored += result.batch.accepted
    return stored


def _backend_ticks(url: str) -> int | None:
    """CPU clock ticks of the PostgreSQL backends connected to this database."""
    if not url.startswith("postgresql"):
        return None
    import psycopg

    with psycopg.connect(url) as connection:
        pids = [
            int(row[0])
            for row in connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
        ]
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks


def _digest(store: Store, org_id: str) -> str:
    """A hash of what normalization wrote, with actor ids replaced by who they are."""
    query: Any = store._query  # type: ignore[attr-defined]
    actors = {
        str(r[0]): r[1:]
        for r in query(
            "SELECT id, email, name, folded_name, placeholder, merged_into FROM actors "
            "WHERE org_id = %s",
            (org_id,),
        )
    }

    def who(actor_id: Any) -> Any:
        if actor_id is None:
            return None
        email, name, folded, placeholder, merged = actors[str(actor_id)]
        return (email, name, folded, bool(placeholder), who(merged))

    digest = hashlib.sha256()
    for row in query(
        "SELECT seq, id, record_version_id, batch_id, action, actor_id, entity_type, entity_id, "
        "entity_name, timestamp, changes, deleted FROM events WHERE org_id = %s ORDER BY seq",
        (org_id,),
    ):
        values = [str(v) for v in row[:5]] + [
            who(row[5]),
            *row[6:10],
            bytes(row[10]),
            bool(row[11]),
        ]
        digest.update(repr(values).encode())
    for described in sorted(repr(who(a)) for a in actors):
        digest.update(described.encode())
    aliases = query("SELECT actor_id, kind, value FROM actor_aliases WHERE org_id = %s", (org_id,))
    for alias in sorted(repr((who(a), k, v)) for a, k, v in aliases):
        digest.update(alias.encode())
    for row in query(
        "SELECT id, status, records_created, events_created, error_code, attempts FROM batches "
        "WHERE org_id = %s ORDER BY id",
        (org_id,),
    ):
        digest.update(repr([str(row[0]), *row[1:]]).encode())
    return digest.hexdigest()


def run(url: str, records: int, seed: int, profile: Path | None, digest: bool) -> None:
    bodies = data.generate(records, seed).first
    store, tenant = server.prepare(url, with_source=True)
    new_id = ids.new_id
    if digest:
        new_id = normalize.new_id = _ids(seed)  # type: ignore[attr-defined]  # and actor ids
    stored = _ingest(store, tenant, bodies, new_id)
    if url.startswith("sqlite"):
        server.checkpoint(url)

    gc.collect()
    gc.freeze()  # as headwater.cli._tune_gc does for `headwater worker`
    gc.set_threshold(50_000, 20, 100)
    worker = Worker(store, worker_id="bench-worker")
    profiler = cProfile.Profile() if profile else None
    ticks = _backend_ticks(url)
    cpu, wall = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    batches = 0
    while worker.run_once():
        batches += 1
    if profiler:
        profiler.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    after = _backend_ticks(url)
    events = store.source_counts(tenant.org_id, tenant.source_id or "").events

    print(f"{store.backend}: {batches} batches, {stored} records, {events} events")
    print(f"  worker CPU   {cpu * 1e6 / stored:8.1f} µs/record  ({cpu:.2f} s)")
    if ticks is not None and after is not None:
        server_cpu = (after - ticks) / os.sysconf("SC_CLK_TCK")
        print(f"  server CPU   {server_cpu * 1e6 / stored:8.1f} µs/record  ({server_cpu:.2f} s)")
    print(f"  wall         {stored / wall:8.0f} records/s  ({wall:.2f} s)")
    if digest:
        print(f"  digest       {_digest(store, tenant.org_id)}")
    store.close()
    if profiler and profile:
        profiler.dump_stats(profile)
        pstats.Stats(str(profile)).sort_stats("tottime").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a PostgreSQL server to create a database on")
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=20260610)
    parser.add_argument("--profile", type=Path, help="write a cProfile of normalization here")
    parser.add_argument("--digest", action="store_true", help="deterministic ids, print a hash")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        databases = server.Databases(args.database_url, Path(workdir))
        try:
            run(databases.new("normalize"), args.records, args.seed, args.profile, args.digest)
        finally:
            databases.drop_all()


if __name__ == "__main__":
    main()
