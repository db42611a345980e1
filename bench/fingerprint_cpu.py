"""CPU time of validation on a replay, with and without the heads' raw fingerprints.

    PYTHONPATH=. uv run python -m bench.fingerprint_cpu [--records 10000] [--database-url URL]

Stores the benchmark's first load in-process, then validates the same bodies again
(every record unchanged) and the 10 %-changed bodies: `ingest.validate` alone (every
payload canonicalized) and with `store.known_payloads` (a payload whose bytes are its
head's skips canonicalization), plus the lookup's own share. Process CPU time (user +
system), best of 5 passes, in µs per record: steadier than wall time on a shared machine.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench import data, server
from headwater import ingest
from headwater.core.models import RecordKey
from headwater.ids import new_id, now_micros


def _cpu(records: int, bodies: list[bytes], validate: Callable[[bytes], Any]) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for body in bodies:
            validate(body)
        best = min(best, time.process_time() - started)
    return best / records * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fingerprint_cpu", description=__doc__)
    parser.add_argument("--database-url", help="PostgreSQL server (default: a SQLite file)")
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20260610)
    args = parser.parse_args(argv)
    dataset = data.generate(args.records, args.seed)
    with tempfile.TemporaryDirectory(prefix="headwater-fingerprint-") as workdir:
        databases = server.Databases(args.database_url, Path(workdir))
        try:
            url = databases.new("fingerprint")
            store, tenant = server.prepare(url, with_source=True)
            assert tenant.source_id is not None
            first = [data.with_source(b, tenant.source_id) for b in dataset.first]
            changed = [data.with_source(b, tenant.source_id) for b in dataset.replay10]
            for body in first:
                request = ingest.validate(body)
                with store.write() as tx:
                    ingest.apply(tx, tenant.org_id, request, new_id(), now_micros(), new_id)
            records = sum(body.count(b'"recordId"') for body in first)
            gc.collect()
            gc.freeze()
            gc.set_threshold(50_000, 20, 100)  # as `headwater serve` runs
            spent = [0.0]

            def known(source_id: str, keys: Sequence[RecordKey]) -> Any:
                started = time.process_time()
                try:
                    return store.known_payloads(tenant.org_id, source_id, keys)
                finally:
                    spent[0] += time.process_time() - started

            print(f"{databases.backend}, {records:,} records, load {server.loadavg():.1f}")
            for name, bodies in (("replay", first), ("replay10", changed)):
                slow = _cpu(records, bodies, ingest.validate)
                spent[0] = 0.0
                fast = _cpu(records, bodies, lambda b: ingest.validate(b, known))
                lookup = spent[0] / 5 / records * 1e6
                print(
                    f"{name:<9} canonicalize all {slow:6.1f} µs/record; with fingerprints "
                    f"{fast:6.1f} (of which the lookup ~{lookup:.1f})"
                )
            store.close()
        finally:
            databases.drop_all()


if __name__ == "__main__":
    main()
