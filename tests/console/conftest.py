"""Browser tests: Debian's Chromium driven by Playwright against a real `headwater serve`.

The browser is the system's (`chromium`, installed by `.ci/run` with apt-get; Playwright's
own browser download is never used). Without it these tests are skipped (the skip reason
says why), except under CI=true, where that is a failure. One server per backend serves a test
module; each test makes its own organisation, so tests do not see each other's data.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import _pg_admin, _pg_url
from tests.live.conftest import Server

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "console-screenshots"


def chromium_path() -> str | None:
    return os.environ.get("HEADWATER_TEST_CHROMIUM") or shutil.which("chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per module, stopped when the module's tests are done: between its sync
    calls Playwright marks its event loop as running in this thread, so while it lives any
    later test's `asyncio.run` (the async SDK's tests) would be refused."""
    executable = chromium_path()
    if executable is None:
        message = "Chromium is not installed (apt-get install chromium); browser tests SKIPPED"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true requires the browser: {message}", pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    launched = playwright.chromium.launch(executable_path=executable)
    yield launched
    launched.close()
    playwright.stop()


@pytest.fixture(scope="module")
def console_server(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Server]:
    """A `headwater serve` (console on, embedded worker) on a fresh database."""
    folder = tmp_path_factory.mktemp(f"console-{backend}")
    name = None
    if backend == "sqlite":
        path = folder / "headwater.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        template = request.getfixturevalue("pg_template")
        if template is None:
            pytest.skip("PostgreSQL unreachable (see the warning in the summary)")
        name = f"headwater_test_{uuid.uuid4().hex[:16]}"
        with _pg_admin() as admin:
            admin.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
        url = _pg_url(name)
    server = Server(url).start(folder)
    yield server
    server.stop()
    if name is not None:
        with _pg_admin() as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@dataclass
class Org:
    """An organisation on the console server with an admin token and one source."""

    server: Server
    token: str
    key_id: str
    source_id: str = ""
    batches: list[str] = field(default_factory=list)

    @property
    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.server.base_url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )

    def key(self, scopes: str, label: str = "test key") -> str:
        with self.api as api:
            response = api.post("/v1/keys", json={"label": label, "scopes": scopes.split(",")})
        assert response.status_code == 201, response.text
        return str(response.json()["data"]["token"])

    def ingest_raw(self, body: bytes) -> str:
        with self.api as api:
            response = api.post(
                "/v1/ingest", content=body, headers={"Content-Type": "application/json"}
            )
        assert response.status_code == 202, response.text
        batch_id = str(response.json()["data"]["batchId"])
        self.batches.append(batch_id)
        return batch_id

    def wait_done(self) -> None:
        with self.api as api:
            for batch_id in self.batches:
                for _ in range(200):
                    status = api.get(f"/v1/ingest/{batch_id}").json()["data"]["status"]
                    if status == "done":
                        break
                    import time

                    time.sleep(0.05)
                else:
                    raise AssertionError(f"batch {batch_id} did not finish")


def make_org(server: Server, source_name: str = "CRM") -> Org:
    created = server.create_key(org=f"org-{uuid.uuid4().hex[:10]}")
    org = Org(server, created["token"], created.get("id", ""))
    with org.api as api:
        response = api.post("/v1/sources", json={"name": source_name, "entityTypes": ["deal"]})
    assert response.status_code == 201, response.text
    org.source_id = str(response.json()["data"]["id"])
    return org


@dataclass
class Browsing:
    """A fresh browser context (its own cookies) that records every request it makes,
    every dialog a page opened and every console error (CSP violations among them)."""

    page: Any
    base_url: str
    backend: str
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def goto(self, path: str) -> Any:
        return self.page.goto(self.base_url + path)

    def sign_in(self, token: str) -> None:
        self.goto("/console/sign-in")
        self.page.fill("#token", token)
        self.page.click("button[type=submit]")
        self.page.wait_for_url("**/console/")

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}-{self.backend}.png"), full_page=True)


@pytest.fixture
def browsing(browser: Any, console_server: Server, backend: str) -> Iterator[Browsing]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    seen = Browsing(page, console_server.base_url, backend)
    context.on("request", lambda r: seen.requests.append(r.url))
    page.on("dialog", lambda d: (seen.dialogs.append(d.message), d.dismiss()))
    page.on("console", lambda m: seen.errors.append(m.text) if m.type == "error" else None)
    yield seen
    context.close()
    # no request leaves the server's origin: no CDN, no font, no beacon
    foreign = [u for u in seen.requests if not u.startswith(seen.base_url + "/")]
    assert foreign == [], foreign
    assert seen.dialogs == [], seen.dialogs
    assert [e for e in seen.errors if "Content Security Policy" in e] == []
