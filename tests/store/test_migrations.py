"""Migrations: a fresh database reaches the head; an older one upgrades in place."""

from __future__ import annotations

import subprocess
import sys

from alembic import command
from alembic.script import ScriptDirectory

from headwater.store import migrate, open_store


def test_fresh_database_is_at_head(database_url: str) -> None:
    assert migrate.current_revision(database_url) == migrate.head_revision()
    store = open_store(database_url)
    try:
        assert store.schema_revision() == migrate.head_revision()
    finally:
        store.close()


def test_upgrade_is_idempotent_and_keeps_data(database_url: str) -> None:
    store = open_store(database_url)
    try:
        with store.write() as tx:
            organisation = tx.ensure_organisation("acme", "01900000-0000-7000-8000-000000000001", 1)
    finally:
        store.close()
    migrate.upgrade(database_url)
    store = open_store(database_url)
    try:
        with store.write() as tx:
            again = tx.ensure_organisation("acme", "01900000-0000-7000-8000-000000000002", 2)
    finally:
        store.close()
    assert again == organisation


def test_every_revision_upgrades_in_place_to_head(tmp_path: object) -> None:
    """Walk the chain one revision at a time, as successive releases would."""
    url = f"sqlite:///{tmp_path}/walk.db"
    config = migrate.alembic_config(url)
    revisions = [r.revision for r in ScriptDirectory.from_config(config).walk_revisions()]
    for revision in reversed(revisions):
        command.upgrade(config, revision)
        assert migrate.current_revision(url) == revision
    assert migrate.current_revision(url) == migrate.head_revision()


def test_migrate_command(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    result = subprocess.run(
        [sys.executable, "-m", "headwater", "migrate", "--database-url", url],
        capture_output=True,
        text=True,
        check=True,
    )
    assert migrate.head_revision() in result.stdout
    assert migrate.current_revision(url) == migrate.head_revision()
