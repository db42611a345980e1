"""The console's reads and its session writes, shared by both backends (`%s` placeholders).

Every query here is bounded: keyset pages (`LIMIT`), sums over the covering index
`batches_by_org_time` (one small row per batch, never a record or an event), or counts
capped at `cap` rows. Migration 0010 creates the indexes; docs/PERFORMANCE.md has the
figures with 1M records stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from headwater.core.models import (
    ActorView,
    ApiKey,
    Batch,
    BatchStatus,
    EventFilter,
    HeadRow,
    Outcome,
    RecordKey,
    StoredEvent,
)
from headwater.store import rows
from headwater.store.shared import EVENT_SELECT, key_pair, stored_event
from headwater.store.shared import _event_where as event_where

#: a key's columns prefixed for the session join
_KEY_COLUMNS = ", ".join(f"k.{c.strip()}" for c in rows.API_KEY_COLUMNS.split(","))
_OUTCOME_SUMS = (
    "coalesce(sum(created), 0), coalesce(sum(superseded), 0), coalesce(sum(unchanged), 0), "
    "coalesce(sum(stale), 0), coalesce(sum(rejected), 0)"
)
#: entity types of a source, each found by one probe of record_heads' primary key
#: (a "skip scan": the number of probes is the number of types, not of records)
_ENTITY_TYPES = (
    "WITH RECURSIVE t(et) AS ("
    "SELECT min(entity_type) FROM record_heads WHERE source_id = %s "
    "UNION ALL SELECT (SELECT min(entity_type) FROM record_heads "
    "WHERE source_id = %s AND entity_type > t.et) FROM t WHERE t.et IS NOT NULL) "
    "SELECT et FROM t WHERE et IS NOT NULL LIMIT %s"
)


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A signed-in browser: the key it signed in with (read fresh) and its CSRF token."""

    key: ApiKey
    csrf_token: str
    expires_at: int


@dataclass(frozen=True, slots=True)
class OrgTotals:
    records: int  #: records created (each record's first version)
    versions: int  #: versions stored: created + superseded + stale
    batches: int
    events: int  #: counted up to the cap
    actors: int  #: counted up to the cap
    feed_positions: int  #: the highest feed position: events derived so far, ever


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """Records ingested in one time bucket, by outcome (rejected counted apart)."""

    bucket: int  #: 0-based bucket number from the series' start
    counts: dict[str, int]


def _outcomes(values: Sequence[Any]) -> dict[str, int]:
    names = [o.value for o in Outcome] + ["rejected"]
    return {name: int(v) for name, v in zip(names, values, strict=True)}


class ConsoleReads:
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    # -- sessions ----------------------------------------------------------------------

    def console_session(self, id_hash: bytes) -> ConsoleSession | None:
        found = self._query(
            f"SELECT s.csrf_token, s.expires_at, {_KEY_COLUMNS} FROM console_sessions s "
            "JOIN api_keys k ON k.id = s.key_id WHERE s.id_hash = %s",
            (id_hash,),
        )
        if not found:
            return None
        row = found[0]
        return ConsoleSession(rows.api_key(row[2:]), row[0], row[1])

    # -- overview ----------------------------------------------------------------------

    def org_totals(self, org_id: str, cap: int) -> OrgTotals:
        """Records and versions exactly (sums of the batches' counters, an index-only
        range); events and actors counted up to `cap` (a count of 2M events read 2.9 s),
        and the feed's highest position, which a page shows beyond the cap."""
        sums = self._query(
            "SELECT coalesce(sum(created), 0), coalesce(sum(created + superseded + stale), 0), "
            "count(*) FROM batches WHERE org_id = %s AND kind = 'ingest'",
            (org_id,),
        )[0]
        events = self.capped_count("SELECT 1 FROM events WHERE org_id = %s", (org_id,), cap)
        actors = self.capped_count(
            "SELECT 1 FROM actors WHERE org_id = %s AND merged_into IS NULL", (org_id,), cap
        )
        top = self._query("SELECT max(seq) FROM events WHERE org_id = %s", (org_id,))[0][0]
        return OrgTotals(int(sums[0]), int(sums[1]), int(sums[2]), events, actors, int(top or 0))

    def pending_batches(self, org_id: str) -> tuple[dict[BatchStatus, int], int | None]:
        """Queued, processing and failed batches, and the oldest not yet normalized."""
        counts = dict.fromkeys((BatchStatus.QUEUED, BatchStatus.PROCESSING, BatchStatus.ERROR), 0)
        for status in counts:
            counts[status] = int(
                self._query(
                    "SELECT count(*) FROM batches WHERE org_id = %s AND status = %s",
                    (org_id, status.value),
                )[0][0]
            )
        oldest = self._query(
            "SELECT min(created_at) FROM batches WHERE org_id = %s AND status IN "
            "('queued', 'processing')",
            (org_id,),
        )[0][0]
        return counts, oldest

    def ingest_series(
        self, org_id: str, since: int, bucket_micros: int, source_id: str | None = None
    ) -> list[SeriesPoint]:
        """Per-bucket sums of the batches' outcome counters from `since` on."""
        where, params = "org_id = %s AND created_at >= %s AND kind = 'ingest'", [org_id, since]
        if source_id is not None:
            where += " AND source_id = %s"
            params.append(source_id)
        found = self._query(
            f"SELECT (created_at - %s) / %s AS b, {_OUTCOME_SUMS} FROM batches "
            f"WHERE {where} GROUP BY b ORDER BY b",
            [since, bucket_micros, *params],
        )
        return [SeriesPoint(int(r[0]), _outcomes(r[1:])) for r in found]

    # -- sources -----------------------------------------------------------------------

    def source_totals(self, org_id: str, source_id: str) -> tuple[dict[str, int], int, int | None]:
        """Outcome sums, batch count and last ingest time of one source."""
        row = self._query(
            f"SELECT {_OUTCOME_SUMS}, count(*), max(created_at) FROM batches "
            "WHERE org_id = %s AND source_id = %s AND kind = 'ingest'",
            (org_id, source_id),
        )[0]
        return _outcomes(row[:5]), int(row[5]), row[6]

    def source_entity_types(self, source_id: str, limit: int, cap: int) -> list[tuple[str, int]]:
        """The source's entity types with their record counts, each count capped at `cap`
        (a count is a range of the primary key; the cap keeps a page's cost bounded)."""
        found = []
        for (entity_type,) in self._query(_ENTITY_TYPES, (source_id, source_id, limit)):
            count = self._query(
                "SELECT count(*) FROM (SELECT 1 FROM record_heads WHERE source_id = %s "
                "AND entity_type = %s LIMIT %s) AS c",
                (source_id, entity_type, cap),
            )[0][0]
            found.append((str(entity_type), int(count)))
        return found

    def capped_count(self, table_query: str, params: Sequence[Any], cap: int) -> int:
        return int(
            self._query(f"SELECT count(*) FROM ({table_query} LIMIT %s) AS c", [*params, cap])[0][0]
        )

    def source_event_count(self, org_id: str, source_id: str, cap: int) -> int:
        return self.capped_count(
            "SELECT 1 FROM events WHERE source_id = %s AND org_id = %s", (source_id, org_id), cap
        )

    # -- batches -----------------------------------------------------------------------

    def batches_before(
        self,
        org_id: str,
        source_id: str | None,
        status: BatchStatus | None,
        before_id: str | None,
        limit: int,
    ) -> list[Batch]:
        """Newest first, a keyset page: ids are UUIDv7, so id order is creation order."""
        where, params = ["org_id = %s"], [org_id]
        for column, value in (
            ("source_id", source_id),
            ("status", status.value if status else None),
        ):
            if value is not None:
                where.append(f"{column} = %s")
                params.append(value)
        if before_id is not None:
            where.append("id < %s")
            params.append(before_id)
        found = self._query(
            f"SELECT {rows.BATCH_COLUMNS} FROM batches WHERE {' AND '.join(where)} "
            "ORDER BY id DESC LIMIT %s",
            [*params, limit],
        )
        return [rows.batch(r) for r in found]

    # -- records -----------------------------------------------------------------------

    def heads_after(
        self,
        org_id: str,
        source_id: str,
        entity_type: str | None,
        after: RecordKey | None,
        limit: int,
    ) -> list[HeadRow]:
        where, params = ["org_id = %s", "source_id = %s"], [org_id, source_id]
        if entity_type is not None:
            where.append("entity_type = %s")
            params.append(entity_type)
        if after is not None:
            where.append("(entity_type, record_id) > (%s, %s)")
            params += key_pair(after)
        found = self._query(
            "SELECT entity_type, record_id, version_id, content_hash, source_updated_at, deleted "
            f"FROM record_heads WHERE {' AND '.join(where)} "
            "ORDER BY entity_type, record_id LIMIT %s",
            [*params, limit],
        )
        return [
            HeadRow(RecordKey(r[0], r[1]), str(r[2]), bytes(r[3]), r[4], bool(r[5])) for r in found
        ]

    def record_events(
        self, org_id: str, source_id: str, key: RecordKey, since: int | None = None
    ) -> list[StoredEvent]:
        """A record's events in time order, from `since` (a version's time) on: one range of
        `events_by_entity`. The caller has checked that the source is the organisation's;
        the organisation is compared after the index range, not in it (`e.org_id = ?` led
        SQLite, without statistics, to walk the organisation's whole `events_by_time`
        index: 6 s with 2M events)."""
        found = self._query(
            f"{EVENT_SELECT} WHERE e.source_id = %s AND e.entity_type = %s AND e.entity_id = %s "
            "AND e.timestamp >= %s ORDER BY e.timestamp, e.seq",
            (source_id, key.entity_type, key.record_id, since if since is not None else -(2**62)),
        )
        return [e for e in map(stored_event, found) if e.row.org_id == org_id]

    # -- events and actors ------------------------------------------------------------

    def events_before(
        self,
        org_id: str,
        filters: EventFilter,
        before_seq: int | None,
        limit: int,
        window: int | None = None,
    ) -> tuple[list[StoredEvent], int]:
        """The feed newest first, a keyset page on the feed position below `before_seq`.

        With `window`, only the `window` feed positions below `before_seq` are searched, so
        a filter that matches little costs a bounded walk of the feed index; returns the
        events and the lowest position searched (the next page starts below it)."""
        where, params = event_where(org_id, filters)
        if before_seq is None:
            top = self._query("SELECT max(seq) FROM events WHERE org_id = %s", (org_id,))[0][0]
            before_seq = int(top or 0) + 1
        where += " AND e.seq < %s"
        params.append(before_seq)
        floor = 0
        if window is not None:
            floor = max(before_seq - window, 0)
            where += " AND e.seq >= %s"
            params.append(floor)
        found = [
            stored_event(r)
            for r in self._query(
                f"{EVENT_SELECT} WHERE {where} ORDER BY e.seq DESC LIMIT %s", [*params, limit]
            )
        ]
        if len(found) == limit:
            floor = found[-1].row.seq
        return found, floor

    def actors_after(
        self, org_id: str, search: str | None, after_id: str | None, limit: int
    ) -> list[ActorView]:
        where, params = ["org_id = %s", "merged_into IS NULL"], [org_id]
        if search:
            where.append("(lower(email) LIKE %s OR folded_name LIKE %s)")
            pattern = "%" + search.lower().replace("\\", "").replace("%", "").replace("_", "") + "%"
            params += [pattern, pattern]
        if after_id is not None:
            where.append("id > %s")
            params.append(after_id)
        found = self._query(
            f"SELECT id, email, name, placeholder FROM actors WHERE {' AND '.join(where)} "
            "ORDER BY id LIMIT %s",
            [*params, limit],
        )
        return [ActorView(str(r[0]), r[1], r[2], bool(r[3])) for r in found]

    def merged_actors(self, org_id: str, actor_id: str) -> list[ActorView]:
        """The placeholders merged into `actor_id`."""
        found = self._query(
            "SELECT id, email, name, placeholder FROM actors WHERE merged_into = %s "
            "AND org_id = %s ORDER BY id LIMIT 100",
            (actor_id, org_id),
        )
        return [ActorView(str(r[0]), r[1], r[2], bool(r[3])) for r in found]


class ConsoleWriteTx:
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        raise NotImplementedError

    def insert_console_session(
        self, id_hash: bytes, key: ApiKey, csrf_token: str, now: int, expires_at: int
    ) -> None:
        self._execute(
            "INSERT INTO console_sessions (id_hash, org_id, key_id, csrf_token, created_at, "
            "expires_at) VALUES (%s, %s, %s, %s, %s, %s)",
            (id_hash, key.org_id, key.id, csrf_token, now, expires_at),
        )

    def delete_console_session(self, id_hash: bytes) -> None:
        self._execute("DELETE FROM console_sessions WHERE id_hash = %s", (id_hash,))

    def delete_expired_console_sessions(self, now: int) -> None:
        self._execute("DELETE FROM console_sessions WHERE expires_at <= %s", (now,))
