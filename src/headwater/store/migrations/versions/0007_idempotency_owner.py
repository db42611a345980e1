"""Idempotency claims name the server instance that holds them.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-01

A claim (a request with an Idempotency-Key still running) used to block its key for a
one-minute lease even when its process had died. With the owner recorded, a retry can
see that the owner is gone (store/claimants.py) and run at once. Rows written before
this column existed have no owner and keep the lease rule.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None

SQLITE = ["ALTER TABLE idempotency_keys ADD COLUMN owner TEXT"]
POSTGRES = ["ALTER TABLE idempotency_keys ADD COLUMN owner text"]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in SQLITE if dialect == "sqlite" else POSTGRES:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("Headwater migrations are forward-only; restore a backup instead.")
