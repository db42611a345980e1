"""Shared fixtures. Every storage-touching test runs against each backend in BACKENDS.

PostgreSQL tests use the real server at HEADWATER_TEST_PG (default
postgresql://postgres@127.0.0.1:5432/test): each test gets a fresh database cloned
from a migrated template. Without a reachable server they are skipped with a loud
warning, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from headwater import keys
from headwater.api.app import create_app
from headwater.config import Settings
from headwater.store import Store, migrate, open_store

for _variable in [v for v in os.environ if v.startswith("HEADWATER_") and v != "HEADWATER_TEST_PG"]:
    del os.environ[_variable]  # a developer's shell must not leak into the tests

SEED_PAYLOADS = [
    {
        "recordId": "deal-4471",
        "entityType": "deal",
        "sourceUpdatedAt": "2026-06-10T14:03:00Z",
        "payload": {
            "name": "Acme Corp renewal",
            "stage": "negotiation",
            "amount": 42000,
            "owner": "jane.smith@acme.com",
            "movedToStageBy": "jane.smith@acme.com",
        },
    },
    {
        "recordId": "deal-4472",
        "entityType": "deal",
        "sourceUpdatedAt": "2026-06-10T15:21:00Z",
        "payload": {
            "name": "Northwind expansion",
            "stage": "closed_won",
            "amount": 12500,
            "owner": "mark.lee@acme.com",
        },
    },
]

BACKENDS = ["sqlite"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", BACKENDS, scope="session")


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'headwater.db'}"
        migrate.upgrade(url)
        return url
    raise AssertionError(f"unknown backend {backend}")


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = open_store(database_url)
    yield opened
    opened.close()


@pytest.fixture
def client(store: Store, database_url: str) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=database_url), store=store)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


MakeKey = Callable[..., str]


@pytest.fixture
def make_key(store: Store) -> MakeKey:
    """make_key(org="acme", scopes="ingest,read,admin") -> a bearer token."""

    def make(org: str = "acme", scopes: str = "ingest,read,admin", label: str = "test") -> str:
        with store.write() as tx:
            _, _, token = keys.issue_for_organisation(tx, org, label, scopes.split(","))
        return token

    return make


@pytest.fixture
def token(make_key: MakeKey) -> str:
    return make_key()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def source_id(client: TestClient, token: str) -> str:
    response = client.post("/v1/sources", json={"name": "CRM"}, headers=bearer(token))
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def ingest_body(source_id: str, records: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"sourceId": source_id, "records": SEED_PAYLOADS if records is None else records}


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The documented error envelope, with a request id equal to the header."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert body["meta"]["requestId"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return dict(body["error"])


@pytest.fixture(autouse=True)
def _no_unraisable_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        yield
