"""Where one ingest's time goes, stage by stage, in one process (no HTTP, no threads).

    PYTHONPATH=. uv run python -m bench.ingest_profile                  # SQLite, 20k records
    PYTHONPATH=. uv run python -m bench.ingest_profile \\
        --database-url postgresql://postgres@127.0.0.1:5432/postgres     # a fresh database there
    ... --preload 1000000            # first store that many other records (bench/limit.py)

The bodies of `bench/data.py` go through exactly what `POST /v1/ingest` runs:
`ingest.validate`, then `ingest.apply` inside one `store.write()` transaction, first into an
empty store, then again (the replay: every record unchanged), then (`--replay10`) with 10 %
of the records changed. `known_payloads` is the read of the heads' raw fingerprints that lets a
re-sent payload skip canonicalization (`--no-fast-path`: not read, every payload
canonicalized, as before). Each store call inside the
transaction is timed through a wrapper; "plan and the rest" is what `apply` spends between
them (`core.outcome`, building the batch); "commit" is leaving the transaction. Figures are
wall-clock microseconds per record of one uncontended request after another: the floor the
service's concurrent figures (`python -m bench`) are compared with.
"""

from __future__ import annotations

import argparse
import collections
import gc
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import data, limit, server
from headwater import ingest
from headwater.ids import new_id, now_micros
from headwater.store.base import Store, WriteTx

STAGES = (
    "known_payloads", "validate", "get_source", "lock_records", "load_heads", "find_versions",
    "plan and the rest", "insert_versions", "upsert_heads", "insert_batch", "commit",
)  # fmt: skip


#: the stages that are not store calls inside the transaction
_NOT_TX_CALLS = {"known_payloads", "validate", "plan and the rest", "commit"}


class _TimedTx:
    """Forwards to a WriteTx, adding each call's wall time to `totals[method name]`."""

    def __init__(self, tx: WriteTx, totals: collections.Counter[str]) -> None:
        self._tx = tx
        self._totals = totals

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._tx, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self._totals[name] += time.perf_counter() - started

        return timed


def run_phase(
    store: Store, org_id: str, bodies: list[bytes], fast_path: bool = True
) -> collections.Counter[str]:
    totals: collections.Counter[str] = collections.Counter()

    def known(source_id: str, keys: Any) -> Any:
        """The route's lookup (`store.known_payloads`), timed as its own stage."""
        started = time.perf_counter()
        try:
            return store.known_payloads(org_id, source_id, keys)
        finally:
            totals["known_payloads"] += time.perf_counter() - started

    for body in bodies:
        started = time.perf_counter()
        looked_up = totals["known_payloads"]
        request = ingest.validate(body, known if fast_path else None)
        validated = time.perf_counter()
        totals["validate"] += validated - started - (totals["known_payloads"] - looked_up)
        with store.write() as tx:
            calls_before = sum(v for k, v in totals.items() if k not in _NOT_TX_CALLS)
            begun = time.perf_counter()
            ingest.apply(_TimedTx(tx, totals), org_id, request, new_id(), now_micros(), new_id)  # type: ignore[arg-type]
            applied = time.perf_counter()
            calls = sum(v for k, v in totals.items() if k not in _NOT_TX_CALLS) - calls_before
            totals["plan and the rest"] += (applied - begun) - calls
        totals["commit"] += time.perf_counter() - applied
    return totals


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_profile", description=__doc__)
    parser.add_argument("--database-url", help="PostgreSQL server (default: a SQLite file)")
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=20260610)
    parser.add_argument("--preload", type=int, default=0, help="records stored beforehand")
    parser.add_argument(
        "--replay10", action="store_true", help="a third phase: 10 %% of the records changed"
    )
    parser.add_argument(
        "--no-fast-path",
        action="store_true",
        help="validate without the heads' raw fingerprints (every payload canonicalized)",
    )
    args = parser.parse_args(argv)

    dataset = data.generate(args.records, args.seed)
    with tempfile.TemporaryDirectory(prefix="headwater-ingest-profile-") as workdir:
        databases = server.Databases(args.database_url, Path(workdir))
        try:
            url = databases.new("ingest_profile")
            store, tenant = server.prepare(url, with_source=True)
            assert tenant.source_id is not None
            bodies = [data.with_source(body, tenant.source_id) for body in dataset.first]
            if args.preload:
                preload = data.preload_bodies(args.preload, args.seed)
                filled = limit.preload(store, tenant.org_id, tenant.source_id, preload)
                server.checkpoint(url)
                print(f"preloaded {filled.records:,} records in {filled.seconds:.0f} s")
            records = sum(body.count(b'"recordId"') for body in bodies)
            gc.collect()
            gc.freeze()
            gc.set_threshold(50_000, 20, 100)  # as `headwater serve` runs
            print(f"{databases.backend}: {records:,} records in {len(bodies)} bodies of 500")
            fast = not args.no_fast_path
            phases = {
                "first": run_phase(store, tenant.org_id, bodies, fast),
                "replay": run_phase(store, tenant.org_id, bodies, fast),
            }
            if args.replay10:
                changed = [data.with_source(b, tenant.source_id) for b in dataset.replay10]
                phases["replay10"] = run_phase(store, tenant.org_id, changed, fast)
            _report(phases, records)
            store.close()
        finally:
            databases.drop_all()


def _report(phases: dict[str, collections.Counter[str]], records: int) -> None:
    per_record: Callable[[float], str] = lambda seconds: f"{seconds / records * 1e6:8.1f}"  # noqa: E731
    print(f"{'µs per record':<20}" + "".join(f"{name:>10}" for name in phases))
    for stage in STAGES:
        print(f"{stage:<20}" + "".join(f"{per_record(t[stage]):>10}" for t in phases.values()))
    totals = {name: sum(t.values()) for name, t in phases.items()}
    print(f"{'total':<20}" + "".join(f"{per_record(s):>10}" for s in totals.values()))
    print(f"{'records/s':<20}" + "".join(f"{records / s:>10,.0f}" for s in totals.values()))


if __name__ == "__main__":
    main()
