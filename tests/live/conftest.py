"""Servers started as real processes with the `headwater` command, reached over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

HEADWATER = [sys.executable, "-m", "headwater"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    database_url: str
    port: int = field(default_factory=free_port)
    command: list[str] = field(default_factory=lambda: [*HEADWATER, "serve"])
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log_dir: Path) -> Server:
        self.log = log_dir / f"serve-{self.port}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    *self.command,
                    "--port",
                    str(self.port),
                    "--database-url",
                    self.database_url,
                    *self.extra_args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,  # so stop() reaches wrapper scripts' children too
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not start: {self.log.read_text()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def create_key(self, org: str = "acme", scopes: str = "ingest,read,admin") -> dict[str, str]:
        output = subprocess.run(
            [*HEADWATER, "keys", "create", "--org", org, "--scopes", scopes, "--json",
             "--database-url", self.database_url],
            check=True, capture_output=True,
        ).stdout  # fmt: skip
        return dict(json.loads(output))


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    running = Server(database_url).start(tmp_path)
    yield running
    running.stop()


def start_worker(database_url: str, log: Path, lease: float = 1.5) -> subprocess.Popen[bytes]:
    """A standalone `headwater worker` process with a short lease, logging to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [*HEADWATER, "worker", "--database-url", database_url,
             "--lease", str(lease), "--poll-interval", "0.05"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
