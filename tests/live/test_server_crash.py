"""SIGKILL the server at random moments during 100 ingests (issue 6).

Each request carries its own recordIds and Idempotency-Key. After the run, every
request is all-or-nothing: a 202 means all its records and its batch are stored; a
request that got no answer left either nothing at all, or (killed between commit and
response) its complete batch, which a retry with the same key then replays.
"""

from __future__ import annotations

import os
import random
import signal
import threading
from pathlib import Path

import httpx

from headwater.core import apikeys
from headwater.core.models import RecordKey
from headwater.store import open_store
from tests.live.conftest import Server

REQUESTS = 100
RECORDS = 300


def _body(source_id: str, request: int) -> dict[str, object]:
    return {
        "sourceId": source_id,
        "records": [
            {
                "recordId": f"r{request}-{i}",
                "entityType": "deal",
                "sourceUpdatedAt": "2026-06-10T14:03:00Z",
                "payload": {"name": f"Deal {request}/{i}", "stage": "open", "notes": "n" * 300},
            }
            for i in range(RECORDS)
        ],
    }


def test_sigkill_during_ingests_leaves_no_half_written_batch(
    database_url: str, tmp_path: Path
) -> None:
    server = Server(database_url).start(tmp_path)
    token = server.create_key()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    source_id = httpx.post(
        f"{server.base_url}/v1/sources", json={"name": "CRM"}, headers=headers
    ).json()["data"]["id"]
    rng = random.Random(20260610)
    answers: dict[int, str | None] = {}  # request -> batchId of its 202, or None
    kills = 0
    try:
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as client:
            for request in range(REQUESTS):
                killer = None
                if rng.random() < 0.08:
                    assert server.process is not None
                    pid = server.process.pid
                    killer = threading.Timer(
                        rng.uniform(0.0, 0.03), os.killpg, (pid, signal.SIGKILL)
                    )
                    killer.start()
                try:
                    response = client.post(
                        "/v1/ingest",
                        json=_body(source_id, request),
                        headers={"Idempotency-Key": f"k{request}"},
                    )
                    assert response.status_code == 202, response.text
                    answers[request] = response.json()["data"]["batchId"]
                except httpx.TransportError:
                    answers[request] = None
                if killer is not None:
                    killer.join()
                    kills += 1
                    server.process.wait()  # type: ignore[union-attr]
                    server = Server(database_url, port=server.port).start(tmp_path)
        assert kills >= 4
        assert list(answers.values()).count(None) >= 2, "no kill landed mid-request"

        store = open_store(database_url)
        try:
            key = store.find_api_key(apikeys.token_hash(token))
            assert key is not None
            unanswered_but_stored = []
            for request, batch_id in answers.items():
                keys = [RecordKey("deal", f"r{request}-{i}") for i in range(RECORDS)]
                with store.write() as tx:
                    stored = len(tx.load_heads(source_id, keys))
                assert stored in (0, RECORDS), (
                    f"request {request}: {stored} of {RECORDS} records stored"
                )
                if batch_id is not None:
                    assert stored == RECORDS
                    batch = store.get_batch(key.org_id, batch_id)
                    assert batch is not None
                    assert batch.accepted == RECORDS
                elif stored:
                    unanswered_but_stored.append(request)
        finally:
            store.close()

        # Killed after commit, before the response: the retry replays the stored batch.
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as client:
            for request in unanswered_but_stored:
                replay = client.post(
                    "/v1/ingest",
                    json=_body(source_id, request),
                    headers={"Idempotency-Key": f"k{request}"},
                )
                assert replay.status_code == 202
                assert replay.headers.get("idempotent-replayed") == "true"
                assert replay.json()["data"]["accepted"] == RECORDS
    finally:
        server.stop()
