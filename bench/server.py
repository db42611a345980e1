"""Databases, the service's processes, and what /proc says about them."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from headwater import keys as key_service
from headwater.core.models import Source, SourceStatus
from headwater.ids import new_id, now_micros
from headwater.store import migrate, open_store
from headwater.store.base import Store

# -- databases ---------------------------------------------------------------------


class Databases:
    """Fresh databases for one run: SQLite files in `workdir`, or PostgreSQL databases
    created on the server of `admin_url` (its role needs CREATEDB) and dropped at the end."""

    def __init__(self, admin_url: str | None, workdir: Path) -> None:
        self.admin_url = admin_url
        self.workdir = workdir
        self.created: list[str] = []
        self.tag = uuid.uuid4().hex[:8]

    @property
    def backend(self) -> str:
        return "postgresql" if self.admin_url else "sqlite"

    def new(self, name: str) -> str:
        if self.admin_url is None:
            path = (self.workdir / f"{name}.db").resolve()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            self.created.append(str(path))
            return f"sqlite:///{path}"
        import psycopg

        database = f"headwater_bench_{self.tag}_{name}"
        with psycopg.connect(_libpq(self.admin_url), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{database}"')
        self.created.append(database)
        parts = urlsplit(self.admin_url)
        return urlunsplit(parts._replace(path=f"/{database}"))

    def drop_all(self) -> None:
        if self.admin_url is None:
            for path in self.created:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
            return
        import psycopg

        with psycopg.connect(_libpq(self.admin_url), autocommit=True) as connection:
            for database in self.created:
                connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        self.created.clear()

    def size_bytes(self, url: str) -> int | None:
        if url.startswith("sqlite"):
            path = url.removeprefix("sqlite:///")
            return sum(os.path.getsize(p) for p in (path, f"{path}-wal") if os.path.exists(p))
        import psycopg

        with psycopg.connect(_libpq(url)) as connection:
            row = connection.execute("SELECT pg_database_size(current_database())").fetchone()
        return int(row[0]) if row else None

    def settings(self) -> dict[str, str]:
        """PostgreSQL settings that change the figures (autovacuum keeps planner statistics)."""
        if self.admin_url is None:
            return {}
        import psycopg

        names = ("server_version", "autovacuum", "synchronous_commit", "shared_buffers",
                 "max_wal_size", "default_toast_compression")  # fmt: skip
        with psycopg.connect(_libpq(self.admin_url)) as connection:
            return {
                name: str(connection.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
                for name in names
            }


def _libpq(url: str) -> str:
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


@dataclass(frozen=True, slots=True)
class Tenant:
    org_id: str
    token: str
    source_id: str | None = None


def prepare(url: str, with_source: bool) -> tuple[Store, Tenant]:
    """Migrate, create an organisation with an all-scopes key (and a source), in-process."""
    migrate.upgrade(url)
    store = open_store(url)
    with store.write() as tx:
        organisation, _, token = key_service.issue_for_organisation(
            tx, "bench", "bench", ["ingest", "read", "admin"]
        )
        source_id = None
        if with_source:
            source_id = new_id()
            now = now_micros()
            tx.insert_source(
                Source(
                    id=source_id,
                    org_id=organisation.id,
                    type="custom_api",
                    name="limit",
                    status=SourceStatus.ACTIVE,
                    entity_types=(),
                    description=None,
                    mappings=None,
                    created_at=now,
                    updated_at=now,
                )
            )
    return store, Tenant(organisation.id, token, source_id)


def checkpoint(url: str) -> None:
    """After a bulk fill, SQLite folds the WAL back into the file. PostgreSQL is left as is:
    its planner statistics are whatever the server's autovacuum made of the fill (recorded
    in the results as `postgresql.autovacuum`)."""
    if url.startswith("sqlite"):
        import sqlite3

        database = sqlite3.connect(url.removeprefix("sqlite:///"))
        database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        database.close()


# -- processes ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """`headwater serve` (and, unless embedded, one `headwater worker`) as processes."""

    url: str
    logdir: Path
    name: str
    #: "process": a `headwater worker` beside `serve --no-worker`; "embedded": `serve`
    #: with its normalizer thread; "none": `serve --no-worker` alone
    worker_mode: str = "process"
    port: int = field(default_factory=free_port)
    server: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None

    def _spawn(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        with (self.logdir / log).open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "headwater", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def start(self) -> Service:
        serve = ["serve", "--port", str(self.port), "--database-url", self.url]
        if self.worker_mode != "embedded":
            serve.append("--no-worker")
        self.server = self._spawn(serve, f"{self.name}-serve.log")
        deadline = time.monotonic() + 60
        while True:
            if self.server.poll() is not None:
                raise RuntimeError(f"server exited; see {self.logdir / self.name}-serve.log")
            try:
                status, _ = request(self.port, "GET", "/healthz", timeout=1)
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start; see {self.logdir}")
            time.sleep(0.05)
        if self.worker_mode == "process":
            log = self.logdir / f"{self.name}-worker.log"
            self.worker = self._spawn(["worker", "--database-url", self.url], log.name)
            # the phase starts only once the worker polls (its imports take a second or two)
            while b"started" not in log.read_bytes():
                if self.worker.poll() is not None:
                    raise RuntimeError(f"worker exited; see {log}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"worker did not start; see {log}")
                time.sleep(0.05)
        return self

    def stop(self) -> None:
        for process in (self.worker, self.server):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (self.worker, self.server):
            if process is None:
                continue
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    @property
    def pids(self) -> dict[str, int]:
        found = {}
        if self.server is not None:
            found["server"] = self.server.pid
        if self.worker is not None:
            found["worker"] = self.worker.pid
        return found

    def create_source(self, token: str, name: str = "bench") -> str:
        status, body = request(
            self.port,
            "POST",
            "/v1/sources",
            json.dumps({"name": name}).encode(),
            token,
        )
        if status != 201 and status != 200:
            raise RuntimeError(f"POST /v1/sources answered {status}: {body[:300]!r}")
        return str(json.loads(body)["data"]["id"])


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    token: str | None = None,
    timeout: float = 30,
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# -- /proc -------------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of `pid`, in bytes."""
    found: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                name, _, value = line.partition(":")
                if name in ("VmRSS", "VmHWM"):
                    found[name] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return found


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def loadavg() -> float:
    try:
        with open("/proc/loadavg") as load:
            return float(load.read().split()[0])
    except OSError:
        return 0.0


def calibrate() -> float:
    """Seconds one core takes for a fixed pure-Python loop (best of 3). Compare it across
    runs: a larger value means other load squeezed this run's figures (see also each
    phase's `loadAverage`)."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        sum(range(5_000_000))
        best = min(best, time.perf_counter() - started)
    return round(best, 4)


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = 0
    try:
        with open("/proc/meminfo") as meminfo:
            memory = int(meminfo.readline().split()[1]) * 1024
    except OSError:
        pass
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "memoryBytes": memory,
        "python": sys.version.split()[0],
        "platform": sys.platform,
        "kernel": os.uname().release,
        "loadAverage": loadavg(),
        "calibrationSeconds": calibrate(),
    }


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
