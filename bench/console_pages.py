"""Server time of every console page with many records stored (docs/PERFORMANCE.md).

    PYTHONPATH=. uv run python -m bench.console_pages --records 1000000 [--workdir DIR]

Fills a store like `bench.ingest_profile --preload` (records, versions, one `done` batch
per 500-record body), re-normalizes the source in-process so every record has its
events and actors, then asks for each page through the ASGI app in-process (no network)
and reports the median and worst of `--repeat` requests per page, in milliseconds.
With `--workdir`, an existing filled database there is reused.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from starlette.testclient import TestClient

from bench import data, limit, server
from headwater import jobs
from headwater.api.app import create_app
from headwater.config import Settings
from headwater.store import open_store
from headwater.worker import Worker


def fill(url: str, records: int, seed: int) -> str:
    store, tenant = server.prepare(url, with_source=True)
    assert tenant.source_id is not None
    started = time.perf_counter()
    filled = limit.preload(
        store, tenant.org_id, tenant.source_id, data.preload_bodies(records, seed)
    )
    print(f"stored {filled.records:,} records in {time.perf_counter() - started:.0f} s", flush=True)
    with store.write() as tx:
        jobs.queue_renormalize(tx, tenant.org_id, tenant.source_id)
    started = time.perf_counter()
    worker = Worker(store, worker_id="bench")
    while worker.run_once():
        pass
    print(f"normalized in {time.perf_counter() - started:.0f} s", flush=True)
    store.close()
    server.checkpoint(url)
    return tenant.token


def measure(url: str, token: str, repeat: int) -> None:
    store = open_store(url)
    app = create_app(Settings(database_url=url, embedded_worker=False), store=store)
    with TestClient(app) as client:
        form = client.get("/console/sign-in").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf is not None
        client.post("/console/sign-in", data={"csrf": csrf.group(1), "token": token})
        source = re.findall(
            r"/console/sources/([0-9a-f-]{36})", client.get("/console/sources").text
        )[0]
        batch = re.findall(
            r"/console/batches/([0-9a-f-]{36})", client.get("/console/batches").text
        )[0]
        heads = client.get(f"/console/records?sourceId={source}").text
        record = re.findall(r'href="(/console/record\?[^"]+)"', heads)[0].replace("&amp;", "&")
        event = re.findall(r"/console/events/([0-9a-f-]{36})", client.get("/console/events").text)[
            0
        ]
        actor = re.findall(r"/console/actors/([0-9a-f-]{36})", client.get("/console/actors").text)[
            0
        ]
        version = re.findall(r"/console/versions/([0-9a-f-]{36})", heads)[0]
        pages = {
            "overview": "/console/",
            "sources": "/console/sources",
            "source": f"/console/sources/{source}",
            "batches": "/console/batches",
            "batches, status=error": "/console/batches?status=error",
            "batch": f"/console/batches/{batch}",
            "records of a source": f"/console/records?sourceId={source}",
            "record": record,
            "version": f"/console/versions/{version}",
            "payload bytes": f"/console/versions/{version}/payload",
            "events": "/console/events",
            "events, entityType=deal": "/console/events?entityType=deal",
            "events, action=deal_created": "/console/events?"
            + urlencode({"action": "deal_created"}),
            "event": f"/console/events/{event}",
            "actors": "/console/actors",
            "actors, search": "/console/actors?q=smith",
            "actor": f"/console/actors/{actor}",
            "keys": "/console/keys",
        }
        print(f"{'page':32} {'median ms':>10} {'max ms':>8}")
        for name, path in pages.items():
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (path, response.status_code)
            print(f"{name:32} {statistics.median(times):10.1f} {max(times):8.1f}", flush=True)
    store.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20260610)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="headwater-console-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{workdir / 'console.db'}"
    token_file = workdir / "token"
    if not token_file.exists():
        token_file.write_text(fill(url, args.records, args.seed))
    measure(url, token_file.read_text(), args.repeat)


if __name__ == "__main__":
    sys.exit(main())
