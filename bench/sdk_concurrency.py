"""The SDK's bulk path against a real server: `ingest_all` at several concurrencies.

    PYTHONPATH=. uv run python -m bench.sdk_concurrency [--records 20000] [--rounds 2]
        [--concurrency 1 4] [--database-url postgresql://…]

Starts `headwater serve --no-worker` (ingest alone, so the normalizer's share of the
machine does not blur the comparison), then loads the benchmark's first-load records
(`bench/data.py`, as one record's JSON text each) through `HeadwaterClient.ingest_all`
into a fresh source per run, alternating the concurrencies round after round so that
each compared pair ran within the same minute. Prints records/s per run and the ratio of
each concurrency's best run to concurrency 1's best.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import msgspec

from bench import data, server
from headwater.client import HeadwaterClient


class _Body(msgspec.Struct):
    records: list[msgspec.Raw]


_records = msgspec.json.Decoder(_Body)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sdk_concurrency", description=__doc__)
    parser.add_argument("--database-url", help="PostgreSQL server (default: a SQLite file)")
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--seed", type=int, default=20260610)
    args = parser.parse_args(argv)

    dataset = data.generate(args.records, args.seed)
    texts = [bytes(r) for body in dataset.first for r in _records.decode(body).records]
    print(f"{len(texts):,} records; load average {server.loadavg():.1f} at the start")
    with tempfile.TemporaryDirectory(prefix="headwater-sdk-") as workdir:
        databases = server.Databases(args.database_url, Path(workdir))
        service = None
        try:
            url = databases.new("sdk")
            store, tenant = server.prepare(url, with_source=False)
            store.close()
            service = server.Service(url, Path(workdir), "sdk", worker_mode="none").start()
            best: dict[int, float] = {}
            with HeadwaterClient(tenant.token, f"http://127.0.0.1:{service.port}") as client:
                for round_ in range(args.rounds):
                    for concurrency in args.concurrency:
                        source_id = service.create_source(tenant.token, f"r{round_}-{concurrency}")
                        started = time.perf_counter()
                        result = client.ingest_all(
                            source_id, texts, outcomes=False, concurrency=concurrency
                        )
                        seconds = time.perf_counter() - started
                        assert result.accepted == len(texts), result
                        rate = len(texts) / seconds
                        best[concurrency] = max(best.get(concurrency, 0.0), rate)
                        print(
                            f"round {round_ + 1} concurrency {concurrency:>2}: {rate:>9,.0f} "
                            f"records/s (load {server.loadavg():.1f})"
                        )
            base = best[args.concurrency[0]]
            for concurrency, rate in best.items():
                print(f"best at {concurrency:>2}: {rate:>9,.0f} records/s, {rate / base:.2f}x")
        finally:
            if service is not None:
                service.stop()
            databases.drop_all()


if __name__ == "__main__":
    main()
