"""Normalization: events with a feed sequence, actors and their aliases, batch kinds.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

`events.seq` orders the feed per organisation. It is taken from `feed_positions` by an
UPDATE whose row lock is held until commit, so event-writing transactions of one
organisation commit in `seq` order and a cursor never skips a late commit.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_COMMON = [
    """CREATE TABLE feed_positions (
        org_id {uuid} PRIMARY KEY,
        last_seq BIGINT NOT NULL
    )""",
    """CREATE TABLE actors (
        id {uuid} PRIMARY KEY,
        org_id {uuid} NOT NULL,
        email TEXT,
        name TEXT,
        folded_name TEXT,
        placeholder {bool} NOT NULL,
        merged_into {uuid},
        created_at BIGINT NOT NULL
    )""",
    "CREATE UNIQUE INDEX actors_by_email ON actors (org_id, email) WHERE email IS NOT NULL",
    "CREATE INDEX actors_by_name ON actors (org_id, folded_name)",
    """CREATE TABLE actor_aliases (
        org_id {uuid} NOT NULL,
        actor_id {uuid} NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('email', 'name')),
        value TEXT NOT NULL,
        PRIMARY KEY (org_id, actor_id, kind, value)
    )""",
    """CREATE TABLE events (
        id {uuid} PRIMARY KEY,
        org_id {uuid} NOT NULL,
        seq BIGINT NOT NULL,
        source_id {uuid} NOT NULL,
        batch_id {uuid} NOT NULL,
        record_version_id {uuid} NOT NULL,
        action TEXT NOT NULL,
        actor_id {uuid},
        entity_type TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        entity_name TEXT,
        timestamp BIGINT NOT NULL,
        changes {blob} NOT NULL,
        deleted {bool} NOT NULL,
        created_at BIGINT NOT NULL
    )""",
    "CREATE UNIQUE INDEX events_feed ON events (org_id, seq)",
    "CREATE INDEX events_by_time ON events (org_id, timestamp, seq)",
    "CREATE INDEX events_by_entity ON events (source_id, entity_type, entity_id, timestamp)",
    "CREATE INDEX events_by_version ON events (record_version_id)",
    "CREATE INDEX events_by_actor ON events (org_id, actor_id)",
    "ALTER TABLE batches ADD COLUMN kind TEXT NOT NULL DEFAULT 'ingest'",
    "ALTER TABLE batches ADD COLUMN progress_done INTEGER",
    "ALTER TABLE batches ADD COLUMN progress_total INTEGER",
]

SQLITE = [s.format(uuid="TEXT", bool="INTEGER", blob="BLOB") for s in _COMMON]
POSTGRES = [s.format(uuid="uuid", bool="boolean", blob="bytea") for s in _COMMON]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in SQLITE if dialect == "sqlite" else POSTGRES:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("Headwater migrations are forward-only; restore a backup instead.")
