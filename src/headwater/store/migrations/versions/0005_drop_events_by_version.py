"""Drop the index events_by_version: no query looks events up by their record version.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26

Events are found by id, feed position, time, entity and actor (the other indexes of
0002). Every index on `events` is written once per event by the normalizer, and this one
was never read.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: the same statement in both dialects
SQLITE = POSTGRES = ["DROP INDEX IF EXISTS events_by_version"]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in SQLITE if dialect == "sqlite" else POSTGRES:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("Headwater migrations are forward-only; restore a backup instead.")
