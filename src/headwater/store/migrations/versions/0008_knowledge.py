"""Discovery runs and libraries (spec §10.1), their processes (§9.2), and the case index.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

A `libraries` row is both a discovery run and the library it writes: it waits in the
same kind of database queue as a batch (status, attempts, run_after, lease), and once
`done` its `processes` rows are the library's content. At most one library per
organisation is `active` (a partial unique index). `processes.scope` is '' for the
organisation-wide process of an entity type, or a source id for the same process
narrowed to one source (the `sourceId` filter).

`events_by_entity` gains `seq` as its last column: discovery reads a source's events in
(entity type, entity id, timestamp, seq) keyset pages, and every earlier reader of the
index (timelines, renormalize, soft deletes) uses a prefix of it, so the wider index
replaces the old one instead of adding a second write per event.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_COMMON = [
    """CREATE TABLE libraries (
        id {uuid} PRIMARY KEY,
        org_id {uuid} NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('queued', 'processing', 'done', 'error')),
        active {bool} NOT NULL,
        origin TEXT NOT NULL CHECK (origin IN ('request', 'schedule')),
        parameters TEXT NOT NULL,
        processes INTEGER,
        rules INTEGER,
        events_read BIGINT,
        feed_seq BIGINT,
        attempts INTEGER NOT NULL DEFAULT 0,
        run_after BIGINT NOT NULL,
        lease_until BIGINT,
        worker_id TEXT,
        error_code TEXT,
        error_message TEXT,
        created_at BIGINT NOT NULL,
        started_at BIGINT,
        completed_at BIGINT
    )""",
    "CREATE INDEX libraries_by_org ON libraries (org_id, id)",
    "CREATE INDEX libraries_queue ON libraries (run_after) "
    "WHERE status IN ('queued', 'processing')",
    "CREATE UNIQUE INDEX libraries_active ON libraries (org_id) WHERE active",
    """CREATE TABLE processes (
        library_id {uuid} NOT NULL,
        scope TEXT NOT NULL,
        process_id TEXT NOT NULL,
        org_id {uuid} NOT NULL,
        entity_type TEXT NOT NULL,
        step_field TEXT,
        cases INTEGER NOT NULL,
        events BIGINT NOT NULL,
        detail {blob} NOT NULL,
        PRIMARY KEY (library_id, scope, process_id)
    )""",
    "DROP INDEX IF EXISTS events_by_entity",
    "CREATE INDEX events_by_entity ON events (source_id, entity_type, entity_id, timestamp, seq)",
]

SQLITE = [s.format(uuid="TEXT", bool="INTEGER", blob="BLOB") for s in _COMMON]
POSTGRES = [s.format(uuid="uuid", bool="boolean", blob="bytea") for s in _COMMON]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in SQLITE if dialect == "sqlite" else POSTGRES:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("Headwater migrations are forward-only; restore a backup instead.")
