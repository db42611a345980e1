"""The README's two commands stay true: `scripts/serve` starts a server that takes the seed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import httpx
import pytest

from tests.conftest import SEED_PAYLOADS
from tests.live.conftest import Server, free_port

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


def _sh_blocks(section: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    assert f"\n## {section}\n" in text
    part = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", part, re.S)


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.backends("sqlite")
def test_try_it_runs_as_written_in_a_second_shell(tmp_path: Path) -> None:
    """The README's walk-through, pasted into a fresh shell in a checkout where
    `scripts/serve` runs: the commands are found, the key lands in the server's database,
    the idempotent replay and the deduplication answer as described, and the checkout
    gets no files of the examples."""
    checkout = tmp_path / "checkout"
    (checkout / ".venv").mkdir(parents=True)
    venv_bin = Path(sys.executable).parent
    (checkout / ".venv" / "bin").symlink_to(venv_bin)  # what scripts/serve's `uv sync` makes
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    server = Server(f"sqlite:///{checkout / 'headwater.db'}").start(tmp_path)
    (try_it,) = _sh_blocks("Try it")
    (import_files,) = [b for b in _sh_blocks("Client side") if "headwater ingest" in b]
    script = (try_it + import_files).replace("http://127.0.0.1:8000", server.base_url)
    path = [p for p in os.environ["PATH"].split(":") if Path(p) != venv_bin]  # not found yet
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEADWATER_", "VIRTUAL_ENV"))}
    env |= {"PATH": ":".join(path), "TMPDIR": str(scratch)}
    try:
        done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=checkout,
                              env=env, capture_output=True, text=True, timeout=100,
                              check=False)  # fmt: skip
    finally:
        server.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"database: SQLite {checkout / 'headwater.db'}" in done.stderr
    assert "warning" not in done.stderr  # the key went into the server's database

    first, replayed, deduplicated, *rest = _json_lines(done.stdout)
    assert (first["data"]["accepted"], first["data"]["deduplicated"]) == (2, 0)
    assert first["data"]["status"] == "queued"
    assert re.search(r"^idempotent-replayed: true\r?$", done.stdout, re.M | re.I)
    assert replayed == first  # the same key: the first answer, byte for byte the same data
    assert deduplicated["data"]["batchId"] != first["data"]["batchId"]
    assert (deduplicated["data"]["accepted"], deduplicated["data"]["deduplicated"]) == (0, 2)
    events, batch = rest[:5], rest[5]
    assert sorted(e["action"] for e in events) == sorted(
        ["deal_created", "deal_created", "deal_stage_changed", "deal_owner_assigned",
         "deal_owner_assigned"]
    )  # fmt: skip
    (stage,) = [e for e in events if e["action"] == "deal_stage_changed"]
    assert stage["actor"]["email"] == "jane.smith@acme.com"
    assert batch["data"]["batchId"] == first["data"]["batchId"]
    assert batch["data"]["status"] == "done"
    assert (batch["data"]["recordsCreated"], batch["data"]["eventsCreated"]) == (2, 5)
    assert "contacts.csv: 2 records in" in done.stdout
    assert "Nothing new: all 2 records were already stored" in done.stdout
    assert len(rest[6:]) == 3  # `events tail --max-events 3`

    # the examples wrote into the scratch folder, never into the checkout
    assert [p.name for p in scratch.rglob("contacts.csv")] == ["contacts.csv"]
    left = sorted(p.name for p in checkout.iterdir())
    assert all(name == ".venv" or name.startswith("headwater.db") for name in left), left


def test_the_command_table_lists_every_command() -> None:
    from headwater.cli import main

    def paths(group: click.Group, prefix: str) -> list[str]:
        found = []
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                if command.invoke_without_command:  # `headwater rules` runs on its own too
                    found.append(f"{prefix} {name}")
                found += paths(command, f"{prefix} {name}")
            else:
                found.append(f"{prefix} {name}")
        return found

    text = (ROOT / "README.md").read_text()
    table = text.split("\n## Commands\n", 1)[1].strip().split("\n\n", 1)[0]
    listed = re.findall(r"^\| `([a-z][a-z-]*(?: [a-z][a-z-]*)*)", table, re.M)
    commands = paths(main, "headwater")
    assert sorted(commands) == sorted(c for c in listed if c.startswith("headwater"))
    assert "target-headwater" in listed


def test_try_it_fails_clearly_without_the_commands_or_the_server(tmp_path: Path) -> None:
    """Pasted where `headwater` is not found and no server listens, each step says what is
    wrong (`command not found`, curl's connection error) instead of a JSON traceback."""
    (try_it,) = _sh_blocks("Try it")
    script = try_it.replace("$PWD/.venv/bin", "$PWD/missing").replace(
        "http://127.0.0.1:8000", f"http://127.0.0.1:{free_port()}"
    )
    venv_bin = Path(sys.executable).parent
    path = [p for p in os.environ["PATH"].split(":") if Path(p) != venv_bin]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEADWATER_", "VIRTUAL_ENV"))}
    env |= {"PATH": ":".join(path), "TMPDIR": str(tmp_path), "HOME": str(tmp_path)}
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert "headwater: command not found" in done.stderr
    assert "Failed to connect" in done.stderr
    assert "Traceback" not in done.stderr, done.stderr
