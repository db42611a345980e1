"""10,000 mutated ingest bodies against a live server (issue 6).

Each must be answered with a documented status and the error envelope (never a 5xx),
the server must stay up, and the records stored before the fuzzing must be unchanged
byte for byte. Seeded: a failure names the case number to replay.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from headwater.core import apikeys
from headwater.core.models import RecordKey
from headwater.store import open_store
from tests.live.conftest import Server

CASES = int(os.environ.get("HEADWATER_TEST_FUZZ_CASES", "10000"))
MiB = 1024 * 1024
DOCUMENTED = {202, 400, 404, 409, 413, 415, 422}
ERROR_CODES = {
    "VALIDATION_ERROR", "NOT_FOUND", "SOURCE_NOT_ACTIVE", "IDEMPOTENCY_KEY_IN_USE",
    "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "IDEMPOTENCY_KEY_REUSED",
}  # fmt: skip


def _template(source_id: str, rng: random.Random) -> dict[str, object]:
    return {
        "sourceId": source_id,
        "records": [
            {
                "recordId": f"fuzz-{rng.randrange(50)}",
                "entityType": rng.choice(["deal", "contact", "ticket"]),
                "sourceUpdatedAt": f"2026-06-{rng.randrange(1, 28):02d}T10:00:00Z",
                "payload": {
                    "name": rng.choice(["Acme", "Zoë", "北京", "x"]),
                    "amount": rng.randrange(10**6),
                    "owner": "jane.smith@acme.com",
                    "tags": ["a", {"b": [1, 2.5, None, True]}],
                },
            }
            for _ in range(rng.randrange(1, 6))
        ],
    }


def _mutations(rng: random.Random) -> list[Callable[[bytes], bytes]]:
    def truncate(body: bytes) -> bytes:
        return body[: rng.randrange(len(body))]

    def flip(body: bytes) -> bytes:
        data = bytearray(body)
        for _ in range(rng.randrange(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)

    def insert(body: bytes) -> bytes:
        snippet = rng.choice(
            [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\\ud800", b'"\\udc00"', b"NaN", b"Infinity",
             b"-", b"1e400", b"99999999999999999999999", b",", b"}", b"]", b"{", b'"', b"\x00",
             b"null", b'"a":1,', b"\\", b"\\u00"]
        )  # fmt: skip
        at = rng.randrange(len(body))
        return body[:at] + snippet + body[at:]

    def nest(body: bytes) -> bytes:
        depth = rng.choice([100, 1000, 5000, 100_000])
        return body.replace(
            b'"tags":', b'"tags":' + b"[" * depth + b"1" + b"]" * depth + b',"t2":', 1
        )

    def duplicate(body: bytes) -> bytes:
        return body.replace(b'"amount":', b'"amount":1,"amount":', 1)

    def wrong_type(body: bytes) -> bytes:
        try:
            value = json.loads(body)
            record = value["records"][0]
        except (ValueError, KeyError, IndexError, TypeError, RecursionError):
            return body  # an earlier mutation already broke it
        field = rng.choice(["recordId", "entityType", "sourceUpdatedAt", "payload", "deleted"])
        record[field] = rng.choice([1, 1.5, None, True, [], {}, "", "x" * 300, {"a": 1}])
        if rng.random() < 0.2:
            value[rng.choice(["sourceId", "records"])] = rng.choice([1, None, "x", {}, []])
        return json.dumps(value).encode()

    def huge_string(body: bytes) -> bytes:
        size = MiB + 10 if rng.random() < 0.1 else 50_000
        return body.replace(b'"Acme"', b'"' + b"a" * size + b'"', 1).replace(
            b'"x"', b'"' + b"b" * size + b'"', 1
        )

    def unknown_field(body: bytes) -> bytes:
        return body.replace(b'"recordId"', b'"sourceUpdatedOn":"x","recordId"', 1)

    def not_an_object(body: bytes) -> bytes:
        return rng.choice([b"[]", b"1", b'"x"', b"null", b"", b" ", b"{}", b'{"records": []}'])

    return [
        truncate,
        flip,
        insert,
        nest,
        duplicate,
        wrong_type,
        huge_string,
        unknown_field,
        not_an_object,
    ]


def _oversized(source_id: str) -> bytes:
    record = {"recordId": "big", "entityType": "deal", "sourceUpdatedAt": "2026-06-01T00:00:00Z",
              "payload": {"blob": "z" * (900 * 1024)}}  # fmt: skip
    return json.dumps({"sourceId": source_id, "records": [record] * 12}).encode()  # > 10 MiB


def _baseline(source_id: str) -> bytes:
    """Hand-written JSON whose spacing, escapes and number forms must survive byte for byte."""
    records = ",".join(
        f'{{"recordId": "keep-{i}", "entityType": "deal", "sourceUpdatedAt": '
        f'"2026-06-10T14:03:00Z", "payload": {{"n" : {i}, "name":"K\\u00e9ep",  "x": 1.0}}}}'
        for i in range(20)
    )
    return f'{{"sourceId": "{source_id}", "records": [{records}]}}'.encode()


def _chunks(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), 256 * 1024):
        yield body[start : start + 256 * 1024]


def _check(response: httpx.Response, case: int) -> None:
    assert response.status_code in DOCUMENTED, (case, response.status_code, response.text[:300])
    body = response.json()
    assert body["meta"]["requestId"] == response.headers["x-request-id"], case
    if response.status_code != 202:
        assert body["success"] is False, case
        assert body["error"]["code"] in ERROR_CODES, (case, body)


@pytest.mark.timeout(600)
def test_fuzzed_ingest_bodies(database_url: str, tmp_path: Path) -> None:
    server = Server(database_url).start(tmp_path)
    try:
        token = server.create_key()["token"]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as client:
            keep = client.post("/v1/sources", json={"name": "kept"}).json()["data"]["id"]
            target = client.post("/v1/sources", json={"name": "fuzzed"}).json()["data"]["id"]
            baseline_body = _baseline(keep)
            assert client.post("/v1/ingest", content=baseline_body).status_code == 202
            store = open_store(database_url)
            try:
                org_id = store.find_api_key(apikeys.token_hash(token)).org_id  # type: ignore[union-attr]
                before = {v.id: v for v in store.source_versions(org_id, keep)}
                keys = [RecordKey("deal", f"keep-{i}") for i in range(20)]
                with store.write() as tx:
                    heads_before = tx.load_heads(keep, keys)
            finally:
                store.close()

            rng = random.Random(20261126)
            mutations = _mutations(rng)
            bodies = []
            for _ in range(CASES):
                body = json.dumps(_template(target, rng)).encode()
                for mutate in rng.sample(mutations, rng.choice([1, 1, 2])):
                    body = mutate(body) or b" "
                bodies.append(body)

            def send(case: int) -> None:
                _check(client.post("/v1/ingest", content=bodies[case]), case)

            with ThreadPoolExecutor(4) as pool:  # the server sees concurrent hostile traffic too
                list(pool.map(send, range(CASES)))

            big = _oversized(target)
            assert len(big) > 10 * MiB
            _check(client.post("/v1/ingest", content=big), -1)  # with Content-Length
            _check(client.post("/v1/ingest", content=_chunks(big)), -2)  # chunked, no length
            response = client.post("/v1/ingest", content=_chunks(big))
            assert response.status_code == 413
            assert client.get("/healthz").status_code == 200
        assert server.process is not None
        assert server.process.poll() is None  # still up

        store = open_store(database_url)
        try:
            after = {v.id: v for v in store.source_versions(org_id, keep)}
            with store.write() as tx:
                assert tx.load_heads(keep, keys) == heads_before
        finally:
            store.close()
        assert after.keys() == before.keys()
        for version_id, version in before.items():
            assert after[version_id].payload == version.payload
        assert b'{"n" : 3, "name":"K\\u00e9ep",  "x": 1.0}' in {v.payload for v in after.values()}
    finally:
        server.stop()
