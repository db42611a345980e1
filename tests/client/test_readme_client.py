"""The README's "Client side" examples run as written against a live server."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from headwater.singer.target import Config
from tests.client.conftest import Live

# the tests of this folder share their servers (conftest.py): keep them on one xdist worker
pytestmark = pytest.mark.xdist_group("client")

README = Path(__file__).resolve().parents[2] / "README.md"


def _section() -> str:
    text = README.read_text()
    assert "\n## Client side\n" in text
    return text.split("\n## Client side\n", 1)[1].split("\n## ", 1)[0]


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", _section(), re.S)


@pytest.mark.backends("sqlite")
def test_the_sdk_example_runs(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    (example,) = _blocks("python")
    monkeypatch.setenv("HEADWATER_URL", live.base_url)
    monkeypatch.setenv("HEADWATER_API_KEY", live.token)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(example, "README.md", "exec"), {})
    lines = printed.getvalue().splitlines()
    assert lines[0].startswith("{'created': 2000, 'superseded': 0, 'unchanged': 0")
    assert lines[1:4] == [
        "deal_created deal-0 jane.smith@acme.com",
        "deal_owner_assigned deal-0 jane.smith@acme.com",
        "deal_created deal-1 jane.smith@acme.com",
    ]
    assert lines[4].startswith("404 NOT_FOUND ")


@pytest.mark.backends("sqlite")
def test_the_file_import_example_runs(live: Live, tmp_path: Path) -> None:
    blocks = _blocks("sh")
    (example,) = [b for b in blocks if "headwater ingest" in b]
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "HEADWATER_URL": live.base_url, "HEADWATER_API_KEY": live.token,
           "SOURCE": live.source_id, "PATH": f"{bin_dir}:{os.environ['PATH']}"}  # fmt: skip
    done = subprocess.run(["bash", "-e", "-c", example], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "contacts.csv: 2 records in" in done.stdout
    assert re.search(r"^  created\s+2$", done.stdout, re.M)
    assert "Nothing new: all 2 records were already stored" in done.stdout


def test_the_singer_example_names_real_config_keys() -> None:
    (example,) = [b for b in _blocks("sh") if "target-headwater" in b]
    keys = set(re.findall(r'"(\w+)":', example))
    assert keys <= {"base_url", "api_key", "source_id", "entity_types", "public-deals"} | set(
        Config.__dataclass_fields__
    )
    assert {"base_url", "api_key", "source_id"} <= keys
