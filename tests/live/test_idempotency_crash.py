"""A claim on an Idempotency-Key ends with the process that holds it (spec §5).

A server is SIGKILLed while a request with a key is in flight: claimed, its work held up
by a lock the test holds. Restarted, the server runs the client's retry with the same
key and body at once, with no 409 `IDEMPOTENCY_KEY_IN_USE` for the rest of the claim's
one-minute lease.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
from pathlib import Path
from typing import Any

import httpx
import psycopg

from headwater.core.models import RecordKey
from headwater.ids import now_micros
from headwater.store.postgres import record_lock_id
from headwater.store.urls import libpq_url, sqlite_path
from tests.live.conftest import Server

RECORDS = 500  # the most one request may carry, so its work takes a while
ATTEMPTS = 10
CLAIM = "SELECT response_status, locked_until, owner FROM idempotency_keys WHERE key = "


def _body(source_id: str, attempt: int) -> dict[str, Any]:
    return {
        "sourceId": source_id,
        "records": [
            {
                "recordId": f"a{attempt}-{i}",
                "entityType": "deal",
                "sourceUpdatedAt": "2026-06-10T14:03:00Z",
                "payload": {"name": f"Deal {i}", "notes": "n" * 2000},
            }
            for i in range(RECORDS)
        ],
    }


class Database:
    """The test's own connection: reads the claim, and holds up the request's work."""

    def __init__(self, database_url: str) -> None:
        self.sqlite = database_url.startswith("sqlite")
        self.connection: Any = (
            sqlite3.connect(sqlite_path(database_url), isolation_level=None, timeout=60)
            if self.sqlite
            else psycopg.connect(libpq_url(database_url), autocommit=True)
        )

    def claim(self, key: str) -> tuple[int | None, int, str | None] | None:
        mark = "?" if self.sqlite else "%s"
        row = self.connection.execute(CLAIM + mark, (key,)).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def block_records(self, source_id: str, attempt: int) -> None:
        """PostgreSQL: the advisory lock the ingest takes on its first record."""
        lock = record_lock_id(source_id, RecordKey("deal", f"a{attempt}-0"))
        self.connection.execute("SELECT pg_advisory_lock(%s)", (lock,))

    def block_writes(self) -> None:
        """SQLite: the one write lock (waits for a write in progress to commit)."""
        self.connection.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        if self.sqlite:
            if self.connection.in_transaction:
                self.connection.execute("ROLLBACK")
        else:
            self.connection.execute("SELECT pg_advisory_unlock_all()")


def test_a_retry_after_a_crash_runs_at_once(database_url: str, tmp_path: Path) -> None:
    server = Server(database_url).start(tmp_path)
    headers = {"Authorization": f"Bearer {server.create_key()['token']}"}
    source_id = httpx.post(
        f"{server.base_url}/v1/sources", json={"name": "CRM"}, headers=headers
    ).json()["data"]["id"]
    database = Database(database_url)

    def post(body: dict[str, Any], key: str) -> httpx.Response:
        return httpx.post(
            f"{server.base_url}/v1/ingest",
            json=body,
            headers={**headers, "Idempotency-Key": key},
            timeout=60,
        )

    try:
        for attempt in range(ATTEMPTS):
            key, body = f"crash-{attempt}", _body(source_id, attempt)
            outcome: list[Any] = []

            def send(
                body: dict[str, Any] = body, key: str = key, outcome: list[Any] = outcome
            ) -> None:
                try:
                    outcome.append(post(body, key))
                except httpx.TransportError as exc:
                    outcome.append(exc)

            if not database.sqlite:
                database.block_records(source_id, attempt)  # held up for certain
            thread = threading.Thread(target=send)
            thread.start()
            while database.claim(key) is None and thread.is_alive():
                pass
            if database.sqlite:
                database.block_writes()  # held up unless its work got the lock first
            claim = database.claim(key)
            if claim is None or claim[0] is not None:
                database.release()
                thread.join()
                continue  # it finished before it could be held up: try again
            assert claim[2] is not None  # the claim names the instance that holds it
            assert server.process is not None
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()
            thread.join()
            database.release()
            assert isinstance(outcome[0], httpx.TransportError)  # it died with the server
            after = database.claim(key)
            assert after is not None
            assert after[0] is None  # the claim is left behind, its lease still running

            server = Server(database_url, port=server.port).start(tmp_path)
            retry = post(body, key)
            assert now_micros() < after[1]  # taken over before the lease ran out
            assert retry.status_code == 202, retry.text
            assert "idempotent-replayed" not in retry.headers
            assert retry.json()["data"]["accepted"] == RECORDS
            replay = post(body, key)
            assert replay.headers["idempotent-replayed"] == "true"
            assert replay.content == retry.content
            return
        raise AssertionError(f"no request could be held up in {ATTEMPTS} attempts")
    finally:
        database.release()
        database.connection.close()
        server.stop()
