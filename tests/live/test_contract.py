"""The OpenAPI document matches the live server (issue 6), checked by schemathesis.

A server per backend, with an organisation, a source and an ingested batch so that some
generated requests find real data. Every generated request must get a documented
status, the documented content type, a body that validates against the documented
schema (the error envelope included), and never a 5xx.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import PG_URL, SEED_PAYLOADS, _pg_url
from tests.live.conftest import Server

MIN_CALLS_PER_BACKEND = 1000
EXAMPLES = int(os.environ.get("HEADWATER_TEST_CONTRACT_EXAMPLES", "80"))


@pytest.fixture(scope="module")
def live(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, str]]:
    folder = tmp_path_factory.mktemp(f"contract-{backend}")
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'contract.db'}"
    else:
        template = request.getfixturevalue("pg_template")
        if template is None:
            pytest.skip("PostgreSQL unreachable")
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            name = f"headwater_contract_{os.getpid()}"
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
        url = _pg_url(name)
    server = Server(url).start(folder)
    token = server.create_key()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    source = httpx.post(f"{server.base_url}/v1/sources", json={"name": "CRM"}, headers=headers)
    source_id = source.json()["data"]["id"]
    ingested = httpx.post(
        f"{server.base_url}/v1/ingest",
        json={"sourceId": source_id, "records": SEED_PAYLOADS},
        headers=headers,
    )
    assert ingested.status_code == 202
    yield server, token
    server.stop()
    if backend != "sqlite":
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.mark.timeout(900)
def test_server_matches_its_openapi_document(live: tuple[Server, str], backend: str) -> None:
    server, token = live
    document = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    operations = [result.ok() for result in document.get_all_operations()]
    assert len(operations) >= 20
    calls: dict[str, int] = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
        def check(case: Any) -> None:
            label = case.operation.label
            calls[label] = calls.get(label, 0) + 1
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

        check()
    assert set(calls) == {o.label for o in operations}  # every endpoint was exercised
    assert sum(calls.values()) >= MIN_CALLS_PER_BACKEND, calls


def test_the_document_is_openapi_3_1(live: tuple[Server, str]) -> None:
    server, _ = live
    document = httpx.get(f"{server.base_url}/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    assert {"/v1/ingest", "/v1/sources", "/v1/events", "/v1/keys"} <= set(document["paths"])
    assert httpx.get(f"{server.base_url}/docs").headers["content-type"].startswith("text/html")
    json.dumps(document)  # serializable as is
