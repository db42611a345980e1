"""Token buckets for per-key rate limiting, shared by every API process (PostgreSQL).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

SQLite keeps its buckets in memory (one API process per database file); the table
exists in both dialects so that the schemas stay alike.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

STATEMENTS = [
    """CREATE TABLE rate_limits (
        key_id {uuid} PRIMARY KEY,
        tokens DOUBLE PRECISION NOT NULL,
        updated_at BIGINT NOT NULL
    )""",
]


def upgrade() -> None:
    uuid = "TEXT" if op.get_bind().dialect.name == "sqlite" else "uuid"
    for statement in STATEMENTS:
        op.execute(statement.format(uuid=uuid))


def downgrade() -> None:
    raise NotImplementedError("Headwater migrations are forward-only; restore a backup instead.")
