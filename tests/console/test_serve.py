"""`headwater serve` serves the console by default; the flag and the variable turn it off."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.live.conftest import Server


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize("how", ["default", "flag", "environment"])
def test_serve_console_switch(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    server = Server(database_url, extra_args=["--no-console"] if how == "flag" else [])
    if how == "environment":
        monkeypatch.setenv("HEADWATER_CONSOLE", "false")
    server.start(tmp_path)
    try:
        console = httpx.get(f"{server.base_url}/console/sign-in")
        root = httpx.get(f"{server.base_url}/")
        if how == "default":
            assert console.status_code == 200
            assert "text/html" in console.headers["content-type"]
            assert root.status_code == 307 and root.headers["location"] == "/console/"
            css = httpx.get(f"{server.base_url}/console/static/console.css")
            assert css.status_code == 200 and "text/css" in css.headers["content-type"]
        else:
            assert console.status_code == 404
            assert console.json()["error"]["code"] == "NOT_FOUND"
            assert root.status_code == 404
        assert httpx.get(f"{server.base_url}/healthz").status_code == 200
    finally:
        server.stop()
