"""Record heads keep the raw fingerprint of payload bytes proven to have their content.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01

`record_heads.raw_fingerprint` is SHA-256 of the deleted flag and the payload bytes as
sent (`core.canonical.raw_fingerprint`), for bytes whose canonical content hash is the
head's `content_hash`. A re-sync that sends those very bytes again takes the head's
content hash instead of parsing and canonicalizing the payload (docs/PERFORMANCE.md).
Existing heads start without one (NULL): the first re-send of a record fills it in, so
the second is fast; nothing has to be rewritten now.
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SQLITE = ["ALTER TABLE record_heads ADD COLUMN raw_fingerprint BLOB"]
POSTGRES = ["ALTER TABLE record_heads ADD COLUMN raw_fingerprint bytea"]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in SQLITE if dialect == "sqlite" else POSTGRES:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("Headwater migrations are forward-only; restore a backup instead.")
