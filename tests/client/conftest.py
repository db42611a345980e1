"""Fixtures for the client-side tests: real `headwater serve` processes reached over HTTP.

Starting a server (and migrating its database) is the slow part, so the tests of this
folder share their servers: one per backend and set of `serve` arguments, each with a
database of its own; each test gets a source of its own on them.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from headwater.client import HeadwaterClient
from tests.conftest import _pg_admin, _pg_url
from tests.live.conftest import Server


@dataclass
class Live:
    """A running server, an admin key of its organisation, and a fresh source."""

    server: Server
    token: str
    org_id: str
    source_id: str

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def database_url(self) -> str:
        return self.server.database_url

    def client(self, **options: Any) -> HeadwaterClient:
        return HeadwaterClient(self.token, self.base_url, **options)

    def http(self) -> httpx.Client:
        """A plain HTTP client, to check what the SDK reports against the raw API."""
        return httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )

    def new_source(self, name: str = "client tests") -> str:
        with self.http() as http:
            response = http.post("/v1/sources", json={"name": name})
        assert response.status_code == 201, response.text
        return str(response.json()["data"]["id"])


@dataclass
class _Running:
    server: Server
    key: dict[str, str]


@dataclass
class _Pool:
    servers: dict[tuple[str, ...], _Running]
    databases: list[str]  #: PostgreSQL databases to drop at the end


StartLive = Callable[..., Live]


@pytest.fixture(scope="session")
def _pool(backend: str) -> Iterator[_Pool]:
    pool = _Pool({}, [])
    yield pool
    for running in pool.servers.values():
        running.server.stop()
    if pool.databases:
        with _pg_admin() as admin:
            for name in pool.databases:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _new_database(
    pool: _Pool,
    backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> str:
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("client") / "headwater.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    template = request.getfixturevalue("pg_template")
    if template is None:
        pytest.skip("PostgreSQL unreachable (see the warning in the summary)")
    name = f"headwater_client_{uuid.uuid4().hex[:16]}"
    with _pg_admin() as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    pool.databases.append(name)
    return _pg_url(name)


@pytest.fixture
def start_live(
    backend: str,
    _pool: _Pool,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> StartLive:
    """start_live(*serve_args) -> Live: the shared server started with those arguments
    (one per backend and distinct arguments, each with its own database), and a new
    source on it."""

    def start(*extra_args: str) -> Live:
        running = _pool.servers.get(extra_args)
        if running is None:
            url = _new_database(_pool, backend, tmp_path_factory, request)
            server = Server(url, extra_args=list(extra_args))
            server.start(tmp_path_factory.mktemp("serve"))
            running = _pool.servers[extra_args] = _Running(server, server.create_key())
        live = Live(running.server, running.key["token"], running.key["orgId"], "")
        live.source_id = live.new_source()
        return live

    return start


@pytest.fixture
def live(start_live: StartLive) -> Live:
    """A server with its embedded normalizer."""
    return start_live()


@pytest.fixture
def live_loader(start_live: StartLive) -> Live:
    """A server without a normalizer: ingest only, as fast as the server takes it."""
    return start_live("--no-worker")


def deal(i: int, stage: str = "new", at: str = "2026-06-10T14:03:00Z") -> dict[str, Any]:
    return {
        "recordId": f"deal-{i}",
        "entityType": "deal",
        "sourceUpdatedAt": at,
        "payload": {"name": f"Deal {i}", "stage": stage, "amount": i},
    }
