"""Database URLs: `sqlite:///relative.db`, `sqlite:////absolute.db`, `postgresql://…`."""

from __future__ import annotations

from typing import Literal


def backend_of(database_url: str) -> Literal["sqlite", "postgresql"]:
    if database_url.startswith("sqlite:"):
        return "sqlite"
    if database_url.startswith(("postgresql:", "postgres:", "postgresql+psycopg:")):
        return "postgresql"
    raise ValueError(
        f"unsupported database URL (use sqlite:///… or postgresql://…): {database_url!r}"
    )


def sqlite_path(database_url: str) -> str:
    path = database_url.removeprefix("sqlite://")
    if not path.startswith("/") or path == "/":
        raise ValueError("a SQLite URL names a file: sqlite:///relative.db or sqlite:////abs.db")
    return path[1:]


def sqlalchemy_url(database_url: str) -> str:
    if backend_of(database_url) == "sqlite":
        return database_url
    _scheme, _, rest = database_url.partition("://")
    return f"postgresql+psycopg://{rest}"


def libpq_url(database_url: str) -> str:
    _scheme, _, rest = database_url.partition("://")
    return f"postgresql://{rest}"
