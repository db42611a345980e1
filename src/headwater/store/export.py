"""The reads behind the exports (spec §9.1): events a page at a time, by keyset, never OFFSET.

Every read of one export is bounded by the feed position (`seq`) the export started at,
so events committed while it streams do not appear halfway through (the feed lock hands
out `seq` in commit order). The SQL is the same in both dialects (row-value comparisons;
the indexes of migration 0002 serve them: `events_by_time` and `events_by_entity`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from headwater.core.models import ActorView, EventFilter, StoredEvent
from headwater.store.shared import EVENT_SELECT, stored_event
from headwater.store.shared import _event_where as event_where  # shared with the event list

#: where the by-entity pass resumes: the last event's (source, type, id, timestamp, seq)
EntityCursor = tuple[str, str, str, int, int]


class ExportReads:
    #: how the by-entity pass names the events table: SQLite's planner prefers the
    #: (org_id, seq) index for `org_id = ? AND seq <= ?` and then sorts every remaining
    #: row on each page (quadratic); `sqlite.py` pins `events_by_entity` instead
    events_by_entity = "events e"
    #: and SQLite, told `entity_type = ?`, then sorts every remaining row on each page
    #: (measured: ~5x slower per page, growing with the log); a unary `+` keeps the term
    #: out of the planner's ordering logic (it is still checked on every row)
    entity_type_term = "e.entity_type"

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def feed_high_water(self, org_id: str) -> int:
        """The organisation's last feed position (0 before its first event)."""
        found = self._query("SELECT max(seq) FROM events WHERE org_id = %s", (org_id,))
        return int(found[0][0] or 0)

    def export_count(self, org_id: str, filters: EventFilter, max_seq: int) -> int:
        where, params = event_where(org_id, filters)
        found = self._query(
            f"SELECT count(*) FROM events e WHERE {where} AND e.seq <= %s", [*params, max_seq]
        )
        return int(found[0][0])

    def export_events_by_time(
        self,
        org_id: str,
        filters: EventFilter,
        max_seq: int,
        after: tuple[int, int] | None,
        limit: int,
    ) -> list[StoredEvent]:
        """Events in (timestamp, seq) order, after the (timestamp, seq) of the last page."""
        where, params = event_where(org_id, filters)
        params.append(max_seq)
        keyset = ""
        if after is not None:
            keyset = " AND (e.timestamp, e.seq) > (%s, %s)"
            params.extend(after)
        found = self._query(
            f"{EVENT_SELECT} WHERE {where} AND e.seq <= %s{keyset} "
            "ORDER BY e.timestamp, e.seq LIMIT %s",
            [*params, limit],
        )
        return [stored_event(r) for r in found]

    def export_events_by_entity(
        self,
        org_id: str,
        filters: EventFilter,
        max_seq: int,
        after: EntityCursor | None,
        limit: int,
    ) -> list[StoredEvent]:
        """Events grouped by entity (source, type, recordId), each entity's in time order."""
        where, params = event_where(org_id, filters)
        where = where.replace("e.entity_type = %s", f"{self.entity_type_term} = %s")
        params.append(max_seq)
        keyset = ""
        if after is not None:
            # Not a five-column `>`: PostgreSQL estimates a row comparison by its first
            # column, and `source_id > <the only source>` looks like no rows at all (then it
            # sorts the rest of the log on every page). `>=` on the index's four columns,
            # minus the ties already sent, estimates right and is one index range.
            keyset = (
                " AND (e.source_id, e.entity_type, e.entity_id, e.timestamp) >= (%s, %s, %s, %s)"
                " AND NOT (e.source_id = %s AND e.entity_type = %s AND e.entity_id = %s"
                " AND e.timestamp = %s AND e.seq <= %s)"
            )
            params.extend(after[:4])
            params.extend(after)
        found = self._query(
            EVENT_SELECT.replace("FROM events e", f"FROM {self.events_by_entity}")
            + f" WHERE {where} AND e.seq <= %s{keyset} "
            "ORDER BY e.source_id, e.entity_type, e.entity_id, e.timestamp, e.seq LIMIT %s",
            [*params, limit],
        )
        return [stored_event(r) for r in found]

    def export_actors(
        self,
        org_id: str,
        filters: EventFilter,
        max_seq: int,
        after: str | None,
        limit: int,
    ) -> list[ActorView]:
        """The canonical actors of the exported events, by id (events point at canonical
        actors: a merge re-points them)."""
        where, params = event_where(org_id, filters)
        keyset = ""
        tail: list[Any] = []
        if after is not None:
            keyset = " AND a.id > %s"
            tail.append(after)
        found = self._query(
            "SELECT a.id, a.email, a.name, a.placeholder FROM actors a WHERE a.org_id = %s "
            f"AND a.merged_into IS NULL{keyset} AND EXISTS (SELECT 1 FROM events e "
            f"WHERE {where} AND e.actor_id = a.id AND e.seq <= %s) ORDER BY a.id LIMIT %s",
            [org_id, *tail, *params, max_seq, limit],
        )
        return [ActorView(str(r[0]), r[1], r[2], bool(r[3])) for r in found]
