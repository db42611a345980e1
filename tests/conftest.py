"""Shared fixtures. Every storage-touching test runs against each backend in BACKENDS.

PostgreSQL tests use the real server at HEADWATER_TEST_PG (default
postgresql://postgres@127.0.0.1:5432/test): each test gets a fresh database cloned
from a migrated template. Without a reachable server they are skipped with a loud
warning, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from starlette.testclient import TestClient

from headwater import keys
from headwater.api.app import create_app
from headwater.config import Settings
from headwater.store import Store, migrate, open_store
from headwater.worker import Worker

for _variable in [
    v for v in os.environ if v.startswith("HEADWATER_") and not v.startswith("HEADWATER_TEST_")
]:
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

BACKENDS = ["sqlite", "postgres"]
PG_URL = os.environ.get("HEADWATER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
_TEMPLATE = f"headwater_test_template_{os.getpid()}"  # concurrent runs must not collide


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every storage-touching test per backend; `@pytest.mark.backends("sqlite")` narrows."""
    if "backend" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("backends")
        metafunc.parametrize("backend", marker.args if marker else BACKENDS, scope="session")


def _pg_admin() -> psycopg.Connection[Any]:
    return psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)


def _pg_url(database: str) -> str:
    return PG_URL.rsplit("/", 1)[0] + "/" + database


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per run; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    with sqlite3.connect(path) as connection:  # fold the WAL into the file before copying
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("PRAGMA journal_mode=DELETE")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str | None]:
    """A database migrated once per run, cloned for every PostgreSQL test."""
    try:
        admin = _pg_admin()
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL at {PG_URL} is unreachable ({exc}); its tests are SKIPPED"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true requires PostgreSQL: {message}", pytrace=False)
        warnings.warn(message, stacklevel=1)
        _PG_MISSING.append(message)
        yield None
        return
    with admin:
        admin.execute(f"DROP DATABASE IF EXISTS {_TEMPLATE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {_TEMPLATE}")
    migrate.upgrade(_pg_url(_TEMPLATE))
    yield _TEMPLATE
    with _pg_admin() as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {_TEMPLATE} WITH (FORCE)")


_PG_MISSING: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for message in _PG_MISSING[:1]:
        terminalreporter.section("PostgreSQL MISSING", sep="!", red=True, bold=True)
        terminalreporter.line(message, red=True, bold=True)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if backend == "sqlite":
        path = tmp_path / "headwater.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    if template is None:
        pytest.skip("PostgreSQL unreachable (see the warning in the summary)")
    name = f"headwater_test_{uuid.uuid4().hex[:16]}"
    with _pg_admin() as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    yield _pg_url(name)
    with _pg_admin() as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = open_store(database_url)
    yield opened
    opened.close()


@pytest.fixture
def client(store: Store, database_url: str) -> Iterator[TestClient]:
    # No embedded normalizer: tests run it explicitly (`normalize_all`), so batch states
    # change only when a test says so.
    app = create_app(Settings(database_url=database_url, embedded_worker=False), store=store)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def normalize_all(store: Store) -> Callable[[], int]:
    """Run a normalizer until no batch is due; returns how many batches it took."""

    def run() -> int:
        worker = Worker(store, worker_id="test-worker")
        count = 0
        while worker.run_once():
            count += 1
        return count

    return run


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
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer ")
    return dict(body["error"])


@pytest.fixture(autouse=True)
def _no_unraisable_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        yield
