"""Rules (spec §10.2), their reviews, memories (§10.3), and the full-text index over them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

`rules` holds each library's rules (`library_id` = the run) and the organisation's
memories, which belong to every library: their `library_id` is the nil UUID
(`MEMORY_LIBRARY`). `description` is what a reader sees and searches (a review's text
when a person changed it), `generated_description` the text discovery wrote. Reviews
live in `rule_reviews`, keyed by the stable rule id rather than by library, so a
discovery run copies them onto the rules it finds again.

Full text: SQLite keeps an FTS5 index over `rules.description` (external content,
kept in step by triggers; Porter stemming over unicode61 tokens); PostgreSQL a
generated `tsvector` column ('english') with a GIN index.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_COMMON = [
    """CREATE TABLE rules (
        library_id {uuid} NOT NULL,
        id {uuid} NOT NULL,
        org_id {uuid} NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('deterministic', 'human')),
        type TEXT NOT NULL,
        process_id TEXT,
        applies_at_step TEXT,
        description TEXT NOT NULL,
        generated_description TEXT NOT NULL,
        confidence {real} NOT NULL,
        frequency BIGINT NOT NULL,
        review_status TEXT NOT NULL
            CHECK (review_status IN ('inferred', 'confirmed', 'rejected', 'modified')),
        detail {blob} NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (library_id, id)
    )""",
    # by id alone: an index led by org_id tempts SQLite's planner (no statistics) to read
    # every rule of the organisation for queries that filter on library and step
    "CREATE INDEX rules_by_id ON rules (id)",
    "CREATE INDEX rules_by_step ON rules (library_id, process_id, applies_at_step)",
    """CREATE TABLE rule_reviews (
        org_id {uuid} NOT NULL,
        rule_id {uuid} NOT NULL,
        review_status TEXT NOT NULL,
        description TEXT,
        key_id {uuid},
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (org_id, rule_id)
    )""",
]

SQLITE = [s.format(uuid="TEXT", real="REAL", blob="BLOB") for s in _COMMON] + [
    "CREATE VIRTUAL TABLE rules_fts USING fts5(description, content='rules', "
    "content_rowid='rowid', tokenize='porter unicode61')",
    "CREATE TRIGGER rules_fts_insert AFTER INSERT ON rules BEGIN "
    "INSERT INTO rules_fts (rowid, description) VALUES (new.rowid, new.description); END",
    "CREATE TRIGGER rules_fts_delete AFTER DELETE ON rules BEGIN "
    "INSERT INTO rules_fts (rules_fts, rowid, description) "
    "VALUES ('delete', old.rowid, old.description); END",
    "CREATE TRIGGER rules_fts_update AFTER UPDATE OF description ON rules BEGIN "
    "INSERT INTO rules_fts (rules_fts, rowid, description) "
    "VALUES ('delete', old.rowid, old.description); "
    "INSERT INTO rules_fts (rowid, description) VALUES (new.rowid, new.description); END",
]
POSTGRES = [s.format(uuid="uuid", real="double precision", blob="bytea") for s in _COMMON] + [
    "ALTER TABLE rules ADD COLUMN search tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english', description)) STORED",
    "CREATE INDEX rules_search ON rules USING GIN (search)",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in SQLITE if dialect == "sqlite" else POSTGRES:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("Headwater migrations are forward-only; restore a backup instead.")
