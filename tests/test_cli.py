"""The `headwater` command line: keys create, errors, help."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from headwater.cli import main
from headwater.core import apikeys
from headwater.database_notice import describe
from headwater.store import open_store


def test_keys_create_json_creates_org_and_hashed_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "keys",
            "create",
            "--org",
            "acme",
            "--scopes",
            "ingest,read,admin",
            "--json",
            "--database-url",
            url,
        ],
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert set(created) >= {"token", "id", "orgId", "scopes"}
    assert apikeys.well_formed(created["token"])
    assert created["scopes"] == ["admin", "ingest", "read"]

    second = json.loads(
        runner.invoke(
            main,
            [
                "keys",
                "create",
                "--org",
                "acme",
                "--scopes",
                "read",
                "--json",
                "--database-url",
                url,
            ],
        ).stdout
    )
    assert second["orgId"] == created["orgId"]  # same organisation, a new key
    assert second["token"] != created["token"]

    store = open_store(url)
    try:
        key = store.find_api_key(apikeys.token_hash(created["token"]))
        assert key is not None
        assert key.org_id == created["orgId"]
        assert len(key.prefix) == 12
        assert created["token"].startswith(key.prefix)
    finally:
        store.close()
    assert created["token"].encode() not in (tmp_path / "cli.db").read_bytes()


def test_keys_create_refuses_unknown_scope(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    result = CliRunner().invoke(
        main,
        ["keys", "create", "--org", "acme", "--scopes", "ingest,superuser", "--database-url", url],
    )
    assert result.exit_code == 2
    assert "superuser" in result.output


def test_database_url_from_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    result = CliRunner().invoke(
        main, ["keys", "create", "--org", "o", "--json"], env={"HEADWATER_DATABASE_URL": url}
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "env.db").exists()


def test_help_names_every_command() -> None:
    output = CliRunner().invoke(main, ["--help"]).output
    for command in ("serve", "migrate", "keys"):
        assert command in output


def test_every_option_of_serve_and_worker_has_an_environment_variable() -> None:
    """Flags mirror `config.ENVIRONMENT`, and show the defaults `config.DEFAULTS` holds."""
    import click

    from headwater import cli, config

    variables: dict[str, object] = {}
    for command in (cli.serve, cli.worker):
        for param in command.params:
            assert isinstance(param, click.Option)
            assert param.envvar, f"{command.name} {param.opts} has no environment variable"
            variables[str(param.envvar)] = param.default
    assert set(variables) == set(config.ENVIRONMENT)
    for variable, field in config.ENVIRONMENT.items():
        assert variables[variable] == getattr(config.DEFAULTS, field), variable


def test_worker_settings_from_environment() -> None:
    from headwater.config import Settings

    settings = Settings.from_env({"HEADWATER_POLL_INTERVAL": "1.5", "HEADWATER_LEASE": "90"})
    assert (settings.poll_interval, settings.lease_seconds) == (1.5, 90.0)
    output = CliRunner().invoke(main, ["worker", "--help"]).output
    assert "HEADWATER_POLL_INTERVAL" in output
    assert "HEADWATER_LEASE" in output


def test_keys_create_names_its_database_and_warns_when_it_creates_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default URL is relative: in another directory it would be another, empty
    database. The command says which file it used (on stderr: --json stdout stays JSON)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HEADWATER_DATABASE_URL", raising=False)
    runner = CliRunner()
    first = runner.invoke(main, ["keys", "create", "--org", "acme", "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["token"]  # stdout is the JSON object alone
    where = f"SQLite {tmp_path / 'headwater.db'}"
    assert f"database: {where}" in first.stderr
    assert f"warning: {where} is new: creating an empty database" in first.stderr
    assert "--database-url" in first.stderr

    second = runner.invoke(main, ["keys", "create", "--org", "acme", "--json"])
    assert second.exit_code == 0, second.output
    assert f"database: {where}" in second.stderr
    assert "warning" not in second.stderr  # an existing database: no warning

    migrated = runner.invoke(main, ["migrate"])
    assert f"database: {where}" in migrated.stderr
    assert "warning" not in migrated.stderr


def test_migrate_warns_on_a_new_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = CliRunner().invoke(main, ["migrate", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert f"warning: SQLite {tmp_path / 'fresh.db'} is new" in result.stderr
    assert result.stdout.startswith("schema at ")


def test_a_postgresql_url_is_named_without_its_password() -> None:
    assert (
        describe("postgresql://app:s3cret@db.internal:5433/headwater")
        == "PostgreSQL postgresql://app:***@db.internal:5433/headwater"
    )
    assert describe("postgresql://postgres@127.0.0.1/test") == (
        "PostgreSQL postgresql://postgres@127.0.0.1/test"
    )
