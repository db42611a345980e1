"""The console: server-side sessions, and the indexes its pages read through.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

A session row maps the SHA-256 of an opaque random session id (the cookie) to the API
key that signed in; the key itself is looked up on every request, so revoking it ends
its sessions at once. The cookie never holds the token.

Indexes, each for a page that must answer in well under 100 ms with 1M records stored:
- `batches_by_org_time` covers the overview's totals and its ingest chart (per-minute
  sums of the outcome counters): an index-only range, never the batch rows' receipts;
- `batches_source_totals` does the same for one source's page (a batch row also holds
  its receipt, ~30 KB for 500 records: summing 2,000 rows read 60 MB);
- `batches_by_org_status` pages batches filtered by status, newest first, and counts
  the queued / processing / error ones;
- `actors_merged` finds the placeholders merged into an actor (rare, so tiny).
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_COMMON = [
    """CREATE TABLE console_sessions (
        id_hash {blob} PRIMARY KEY,
        org_id {uuid} NOT NULL,
        key_id {uuid} NOT NULL REFERENCES api_keys (id),
        csrf_token TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
    )""",
    "CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at)",
    "CREATE INDEX batches_by_org_time ON batches "
    "(org_id, created_at, kind, created, superseded, unchanged, stale, rejected)",
    "CREATE INDEX batches_source_totals ON batches "
    "(source_id, kind, org_id, created_at, created, superseded, unchanged, stale, rejected)",
    "CREATE INDEX batches_by_org_status ON batches (org_id, status, id)",
    "CREATE INDEX actors_merged ON actors (merged_into) WHERE merged_into IS NOT NULL",
]

SQLITE = [s.format(uuid="TEXT", blob="BLOB") for s in _COMMON]
POSTGRES = [s.format(uuid="uuid", blob="bytea") for s in _COMMON]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in SQLITE if dialect == "sqlite" else POSTGRES:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("Headwater migrations are forward-only; restore a backup instead.")
