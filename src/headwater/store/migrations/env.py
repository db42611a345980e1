"""Alembic environment: runs Headwater's migrations on the connection it is handed.

Migrations are plain SQL per dialect (see versions/); SQLAlchemy is used here only
to give Alembic a connection. `headwater.store.migrate` is the entry point.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

config = context.config


def run_migrations_online() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Many API and worker processes may start at once: migrate one at a time.
            connection.execute(text("SELECT pg_advisory_lock(7214432001)"))
            connection.commit()
        context.configure(connection=connection, transaction_per_migration=True)
        try:
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_unlock(7214432001)"))
                connection.commit()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Headwater migrations run online only: use `headwater migrate`.")
run_migrations_online()
