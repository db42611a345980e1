"""The README's two commands stay true: `scripts/serve` starts a server that takes the seed."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import SEED_PAYLOADS
from tests.live.conftest import Server

ROOT = Path(__file__).resolve().parents[2]


def test_readme_names_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "scripts/serve" in readme
    assert "scripts/test" in readme
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.backends("sqlite")
def test_scripts_serve_accepts_the_seed_example(database_url: str, tmp_path: Path) -> None:
    server = Server(database_url, command=[str(ROOT / "scripts" / "serve")]).start(tmp_path)
    try:
        token = server.create_key()["token"]
        with httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        ) as client:
            source = client.post("/v1/sources", json={"name": "CRM"}).json()["data"]["id"]
            response = client.post(
                "/v1/ingest", json={"sourceId": source, "records": SEED_PAYLOADS}
            )
            assert response.status_code == 202, response.text
            assert response.json()["data"]["accepted"] == 2
    finally:
        server.stop()
