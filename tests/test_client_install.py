"""The client installs alone: without the `server` extra, no server library comes along,
the client commands run, and a server command says what to install (docs/dependencies.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from headwater.cli import SERVER_MODULES

ROOT = Path(__file__).resolve().parent.parent
#: the `server` extra's distributions (normalized names), none of which a client may pull in
SERVER_DISTRIBUTIONS = frozenset(
    {"starlette", "uvicorn", "uvloop", "httptools", "uuid-utils", "alembic", "sqlalchemy"}
    | {"psycopg", "psycopg-binary", "psycopg-pool", "prometheus-client", "mako"}
)
CLIENT_MODULES = (
    "headwater.cli",
    "headwater.client",
    "headwater.importer",
    "headwater.singer.target",
)


def _uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("uv is needed to build the client-only install")
        pytest.skip("uv not found")
    return found


def _normalized(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def test_client_modules_import_nothing_of_the_server() -> None:
    """`headwater ingest` and `target-headwater` load neither the service's libraries nor
    its modules (the CLI used to load the metrics registry for every command)."""
    script = (
        f"import sys\nfor m in {CLIENT_MODULES!r}: __import__(m)\n"
        "print('\\n'.join(sorted(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    server = [m for m in loaded if m.partition(".")[0] in SERVER_MODULES]
    assert not server
    ours = {m for m in loaded if m.startswith("headwater.")}
    assert not {m for m in ours if m.startswith(("headwater.api", "headwater.store"))}
    assert not ours & {"headwater.observability", "headwater.worker", "headwater.ids"}


def test_locked_client_closure_has_no_server_library() -> None:
    """What `pip install headwater` resolves to, as locked (no extra, no dev group)."""
    exported = subprocess.run(
        [_uv(), "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names = {
        _normalized(line.split("==")[0])
        for line in exported.splitlines()
        if line and not line.startswith(("#", " "))
    }
    assert {"httpx", "msgspec", "click"} <= names
    assert not names & SERVER_DISTRIBUTIONS


@pytest.mark.slow
def test_client_only_install(tmp_path: Path) -> None:
    """Install the package from this checkout into a fresh virtual environment, without
    the server extra (from uv's cache when it has every wheel, else from the index)."""
    uv = _uv()
    venv = tmp_path / "venv"
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": str(venv)}
    env.pop("UV_PROJECT_ENVIRONMENT", None)
    subprocess.run(
        [uv, "venv", "--quiet", "--python", sys.executable, str(venv)], env=env, check=True
    )
    python = venv / "bin" / "python"
    install = [uv, "pip", "install", "--quiet", "--python", str(python), str(ROOT)]
    if subprocess.run([*install, "--offline"], env=env, capture_output=True).returncode != 0:
        subprocess.run(install, env=env, check=True)

    installed = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m\n"
         "for d in m.distributions(): print(d.metadata['Name'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()  # fmt: skip
    names = {_normalized(n) for n in installed}
    assert "headwater" in names
    assert not names & SERVER_DISTRIBUTIONS, sorted(names)

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(venv / "bin" / argv[0]), *argv[1:]],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={k: v for k, v in env.items() if not k.startswith("HEADWATER_")},
            timeout=60,
        )

    for argv in (("headwater", "ingest", "--help"), ("target-headwater", "--help")):
        done = run(*argv)
        assert done.returncode == 0, done.stderr
        assert "usage" in done.stdout.lower()
    assert run("headwater", "--help").returncode == 0

    for command in (["serve"], ["worker"], ["migrate"], ["keys", "create", "--org", "acme"]):
        done = run("headwater", *command)
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert "pip install 'headwater[server]'" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert not list(tmp_path.glob("*.db")), "a server command ran without the server"
