"""Graceful shutdown (issue 6): SIGTERM lets in-flight work finish, then the process exits."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

import httpx

from headwater.core import apikeys
from headwater.core.models import BatchStatus
from headwater.store import open_store
from tests.conftest import SEED_PAYLOADS
from tests.live.conftest import Server, start_worker
from tests.live.test_worker_crash import _setup


def _raw_request(port: int, path: str, token: str, body: bytes) -> tuple[socket.socket, bytes]:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    return sock, head


def test_sigterm_finishes_the_request_in_flight_then_exits(
    database_url: str, tmp_path: Path
) -> None:
    server = Server(database_url).start(tmp_path)
    token = server.create_key()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    source_id = httpx.post(
        f"{server.base_url}/v1/sources", json={"name": "CRM"}, headers=headers
    ).json()["data"]["id"]
    body = json.dumps({"sourceId": source_id, "records": SEED_PAYLOADS}).encode()
    sock, head = _raw_request(server.port, "/v1/ingest", token, body)
    try:
        sock.sendall(head + body[:40])  # the request is in flight: headers read, body pending
        time.sleep(0.3)
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        # no new connections are taken once shutdown began
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{server.base_url}/healthz", timeout=1)
            except httpx.TransportError:
                break
            assert time.monotonic() < deadline, "still accepting connections after SIGTERM"
            time.sleep(0.1)
        sock.sendall(body[40:])
        response = sock.recv(65536)
        assert response.startswith(b"HTTP/1.1 202"), response[:200]
        # uvicorn re-raises SIGTERM after its graceful shutdown: exit by that signal is clean
        assert server.process.wait(30) in (0, -signal.SIGTERM)
    finally:
        sock.close()
        server.stop()
    store = open_store(database_url)
    try:
        key = store.find_api_key(apikeys.token_hash(token))
        assert key is not None
        assert store.list_heads(key.org_id, source_id, None, 10, 0).total == 2
    finally:
        store.close()


def test_sigterm_lets_the_worker_finish_its_batch(database_url: str, tmp_path: Path) -> None:
    store = open_store(database_url)
    try:
        org_id, batch_id = _setup(store)
        worker = start_worker(database_url, tmp_path / "worker.log", lease=60)
        deadline = time.monotonic() + 30
        while store.get_batch(org_id, batch_id).status is not BatchStatus.PROCESSING:  # type: ignore[union-attr]
            assert time.monotonic() < deadline
            time.sleep(0.002)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(60) == 0
        batch = store.get_batch(org_id, batch_id)
        assert batch is not None
        assert batch.status is BatchStatus.DONE  # finished, not abandoned
        assert batch.attempts == 1
    finally:
        store.close()
