"""The HTTP load generator, run as its own process: `python -m bench.driver CONFIG.json`.

It reads the pre-encoded bodies from a file into memory before timing starts, then
`clients` threads, each with one keep-alive connection (`http.client`, stdlib: a client
costs ~0.1-0.3 ms of CPU per 500-record POST, mostly in the kernel), send the bodies in
order as fast as the server answers. While they run, a monitor thread counts queued and
processing batches (`GET /v1/ingest?status=...`) every `poll_interval` seconds. After
the last POST it waits for the queue to drain, then reads every batch once
(`GET /v1/ingest/{batchId}`) for its `startedAt`, `completedAt`, `recordsCreated` and
`eventsCreated`. The result goes to `out` as JSON.

Wall-clock times (`time.time()`) are comparable with the server's `completedAt`: both
processes read the same clock.
"""

from __future__ import annotations

import gc
import http.client
import itertools
import json
import os
import resource
import sys
import threading
import time
from datetime import datetime
from typing import Any

RETRYABLE = {429, 503}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time `pid` has used so far (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def read_bodies(path: str) -> list[bytes]:
    bodies = []
    with open(path, "rb") as source:
        data = source.read()
    offset = 0
    while offset < len(data):
        size = int.from_bytes(data[offset : offset + 8], "big")
        offset += 8
        bodies.append(data[offset : offset + size])
        offset += size
    return bodies


def write_bodies(path: str, bodies: list[bytes]) -> None:
    with open(path, "wb") as out:
        for body in bodies:
            out.write(len(body).to_bytes(8, "big"))
            out.write(body)


def _seconds(text: str | None) -> float | None:
    if text is None:
        return None
    return datetime.fromisoformat(text).timestamp()


class Client:
    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        for attempt in range(2):
            try:
                self.connection.request(method, path, body=body, headers=self.headers)
                response = self.connection.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, ConnectionError):
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
                if attempt:
                    raise
        raise AssertionError("unreachable")


def run(config: dict[str, Any]) -> dict[str, Any]:
    port, token = int(config["port"]), str(config["token"])
    bodies = read_bodies(config["bodies"])
    clients = int(config["clients"])
    #: seconds between queue polls while the clients send, then while the queue drains
    #: (each poll costs the server two list queries: keep them rare under load)
    poll_interval = float(config.get("poll_interval", 1.0))
    drain_interval = float(config.get("drain_interval", 0.2))
    pids: dict[str, int] = config.get("pids", {})
    drain_timeout = float(config.get("drain_timeout", 900))
    gc.collect()
    gc.freeze()

    results: list[dict[str, Any] | None] = [None] * len(bodies)
    counter = itertools.count()
    errors: list[str] = []
    retries = [0]
    start = threading.Barrier(clients + 1)

    def client() -> None:
        session = Client(port, token)
        start.wait()
        while True:
            index = next(counter)
            if index >= len(bodies):
                return
            body = bodies[index]
            for _ in range(50):
                sent_wall = time.time()
                sent = time.perf_counter()
                status, answer = session.call("POST", "/v1/ingest", body)
                received = time.perf_counter()
                received_wall = time.time()
                if status not in RETRYABLE:
                    break
                retries[0] += 1
                time.sleep(0.05)
            if status != 202:
                errors.append(f"POST /v1/ingest -> {status}: {answer[:200]!r}")
                continue
            data = json.loads(answer)["data"]
            results[index] = {
                "index": index,
                "bytes": len(body),
                "sent": sent,
                "received": received,
                "sentWall": sent_wall,
                "receivedWall": received_wall,
                "batchId": data["batchId"],
                "status": data["status"],
                "accepted": data["accepted"],
                "deduplicated": data["deduplicated"],
                "rejected": len(data["rejected"]),
            }

    samples: list[dict[str, float]] = []
    stop_monitor = threading.Event()
    ingest_done = threading.Event()
    monitor_client = Client(port, token)

    def queue_depth() -> tuple[int, int]:
        counts = []
        for status in ("queued", "processing"):
            code, answer = monitor_client.call("GET", f"/v1/ingest?status={status}&limit=1")
            if code != 200:
                raise RuntimeError(f"GET /v1/ingest?status={status} -> {code}: {answer[:200]!r}")
            counts.append(int(json.loads(answer)["meta"]["pagination"]["total"]))
        return counts[0], counts[1]

    def monitor() -> None:
        while not stop_monitor.is_set():
            queued, processing = queue_depth()
            samples.append({"t": time.time(), "queued": queued, "processing": processing})
            if ingest_done.is_set():
                stop_monitor.wait(drain_interval)
            else:
                ingest_done.wait(poll_interval)

    threads = [threading.Thread(target=client, name=f"client-{i}") for i in range(clients)]
    for thread in threads:
        thread.start()
    watcher = threading.Thread(target=monitor, name="monitor")
    watcher.start()
    started_wall = time.time()
    cpu_start = {role: cpu_seconds(pid) for role, pid in pids.items()}
    start.wait()
    for thread in threads:
        thread.join()
    ingest_done_wall = time.time()
    cpu_ingest = {role: cpu_seconds(pid) - cpu_start[role] for role, pid in pids.items()}
    ingest_done.set()

    # wait for normalization to finish (the monitor keeps sampling meanwhile)
    drained_wall = None
    deadline = time.monotonic() + (drain_timeout if config.get("drain", True) else 0)
    while time.monotonic() < deadline:
        if samples and samples[-1]["t"] > ingest_done_wall:
            last = samples[-1]
            if last["queued"] == 0 and last["processing"] == 0:
                drained_wall = last["t"]
                break
        time.sleep(drain_interval / 2)
    stop_monitor.set()
    watcher.join()
    cpu_drained = {role: cpu_seconds(pid) - cpu_start[role] for role, pid in pids.items()}

    batches = []
    reader = Client(port, token)
    for result in results:
        if result is None:
            continue
        code, answer = reader.call("GET", f"/v1/ingest/{result['batchId']}")
        if code != 200:
            errors.append(f"GET /v1/ingest/{{id}} -> {code}")
            continue
        data = json.loads(answer)["data"]
        batches.append(
            {
                **result,
                "finalStatus": data["status"],
                "createdAt": _seconds(data.get("createdAt")),
                "startedAt": _seconds(data.get("startedAt")),
                "completedAt": _seconds(data.get("completedAt")),
                "recordsCreated": data.get("recordsCreated"),
                "eventsCreated": data.get("eventsCreated"),
            }
        )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "clients": clients,
        "bodies": len(bodies),
        "startedWall": started_wall,
        "ingestDoneWall": ingest_done_wall,
        "drainedWall": drained_wall,
        "batches": batches,
        "samples": samples,
        "errors": errors[:20],
        "errorCount": len(errors),
        "retries": retries[0],
        "driverCpuSeconds": usage.ru_utime + usage.ru_stime,
        #: CPU seconds of the server / worker while the clients sent, and until drained
        "cpuIngest": cpu_ingest,
        "cpuDrained": cpu_drained,
    }


def main() -> None:
    with open(sys.argv[1]) as source:
        config = json.load(source)
    result = run(config)
    with open(config["out"], "w") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main()
