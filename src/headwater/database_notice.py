"""Which database a command uses, said on stderr before it opens (and maybe creates) it.

`headwater keys create` with the default URL would otherwise create a new, empty
`./headwater.db` in whatever directory it runs from, and issue a key the server (started
elsewhere, or with another `--database-url`) has never heard of. stderr keeps `--json`
stdout parseable.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

import click

from headwater.store.urls import backend_of, sqlite_path


def describe(database_url: str) -> str:
    """A SQLite URL as its absolute file path; a PostgreSQL URL without its password."""
    if backend_of(database_url) == "sqlite":
        return f"SQLite {os.path.abspath(sqlite_path(database_url))}"
    parts = urlsplit(database_url)
    if parts.password is not None:
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        parts = parts._replace(netloc=f"{parts.username}:***@{host}{port}")
    return f"PostgreSQL {urlunsplit(parts)}"


def is_new(database_url: str) -> bool:
    """True when opening the database creates it (SQLite) or its schema (PostgreSQL)."""
    if backend_of(database_url) == "sqlite":
        path = sqlite_path(database_url)
        return not os.path.exists(path) or os.path.getsize(path) == 0
    from headwater.store import migrate

    return migrate.current_revision(database_url) is None


def announce(database_url: str) -> None:
    """Name the database on stderr; warn when this command is about to create it."""
    where = describe(database_url)
    click.echo(f"database: {where}", err=True)
    if is_new(database_url):
        click.echo(
            f"warning: {where} is new: creating an empty database. A server using another "
            "database will not see what this command writes; pass the server's "
            "--database-url (or set HEADWATER_DATABASE_URL).",
            err=True,
        )
