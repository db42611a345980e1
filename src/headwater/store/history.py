"""One record's history, a page at a time: its version chain and its entity's events.

Both lists grow with every change a source reports, so they are read with `limit` and
`offset` like every other list (spec §1): a record with thousands of versions never comes
back whole. SQL both backends run unchanged; a mixin over the store's `_query`/`_count`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from headwater.core.models import RecordKey, RecordVersion, StoredEvent
from headwater.store import rows
from headwater.store.base import Page
from headwater.store.shared import EVENT_SELECT, stored_event

_RECORD = "org_id = %s AND source_id = %s AND entity_type = %s AND record_id = %s"
_ENTITY = "e.org_id = %s AND e.source_id = %s AND e.entity_type = %s AND e.entity_id = %s"


class HistoryReads:
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def _count(self, sql: str, params: Sequence[Any]) -> int:
        raise NotImplementedError

    def record_versions_page(
        self, org_id: str, source_id: str, key: RecordKey, limit: int, offset: int
    ) -> Page[RecordVersion]:
        """A page of the record's version chain, oldest first (`sourceUpdatedAt`, id)."""
        params = (org_id, source_id, key.entity_type, key.record_id)
        found = self._query(
            f"SELECT {rows.VERSION_COLUMNS} FROM record_versions WHERE {_RECORD} "
            "ORDER BY source_updated_at, id LIMIT %s OFFSET %s",
            (*params, limit, offset),
        )
        total = self._count(f"SELECT count(*) FROM record_versions WHERE {_RECORD}", params)
        return Page([rows.version(row) for row in found], total)

    def entity_events_page(
        self, org_id: str, source_id: str, key: RecordKey, limit: int, offset: int
    ) -> Page[StoredEvent]:
        """A page of the entity's events in time order (`timestamp`, feed position)."""
        params = (org_id, source_id, key.entity_type, key.record_id)
        found = self._query(
            f"{EVENT_SELECT} WHERE {_ENTITY} ORDER BY e.timestamp, e.seq LIMIT %s OFFSET %s",
            (*params, limit, offset),
        )
        total = self._count(f"SELECT count(*) FROM events e WHERE {_ENTITY}", params)
        return Page([stored_event(r) for r in found], total)
