"""Discovery runs, libraries and processes (spec §9.2, §10.1): the SQL both backends share.

`KnowledgeReads` joins the store classes, `KnowledgeWriteTx` their write transactions
(`%s` placeholders, as in `sql.py`). A library row is also its run's place in the queue:
it is claimed, leased, retried and failed exactly like a batch (`sql.py`'s queue), so a
killed worker's run is claimed again when its lease runs out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from headwater.core.knowledge import (
    ClaimedLibrary,
    DiscoverParameters,
    Library,
    LibraryOrigin,
    ProcessRow,
)
from headwater.core.models import BatchStatus, Organisation
from headwater.store.base import Page

LIBRARY_COLUMNS = (
    "id, org_id, status, active, origin, parameters, processes, rules, events_read, attempts, "
    "error_code, error_message, created_at, started_at, completed_at"
)
#: a process without its detail (lists), and with it
PROCESS_COLUMNS = (
    "p.library_id, p.scope, p.process_id, p.entity_type, p.step_field, p.cases, p.events, "
    "l.completed_at"
)
CASE_EVENT_COLUMNS = (
    "e.id, e.entity_type, e.entity_id, e.timestamp, e.seq, e.action, e.actor_id, "
    "e.record_version_id, e.changes"
)
#: one keyset page of a source's non-deleted events in case order: one range of the index
#: events_by_entity (source_id, entity_type, entity_id, timestamp, seq), migration 0008
CASE_EVENTS_AFTER = (
    f"SELECT {CASE_EVENT_COLUMNS} FROM events e WHERE e.source_id = %s "
    "AND (e.entity_type, e.entity_id, e.timestamp, e.seq) > (%s, %s, %s, %s) "
    "AND e.org_id = %s AND e.deleted = %s "
    "ORDER BY e.entity_type, e.entity_id, e.timestamp, e.seq LIMIT %s"
)
#: organisations with events newer than their last finished run, and no run queued,
#: running, or started within the interval (the worker's own start, spec §10.1)
DUE_FOR_DISCOVERY = (
    "SELECT f.org_id FROM feed_positions f WHERE f.last_seq > coalesce("
    "(SELECT max(l.feed_seq) FROM libraries l WHERE l.org_id = f.org_id), 0) "
    "AND NOT EXISTS (SELECT 1 FROM libraries l WHERE l.org_id = f.org_id "
    "AND (l.status IN ('queued', 'processing') OR l.created_at > %s)) "
    "ORDER BY f.org_id LIMIT %s"
)

_parameters = msgspec.json.Decoder(DiscoverParameters).decode
_encode = msgspec.json.encode


class CaseEventRow(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """An event as discovery reads it (`CASE_EVENT_COLUMNS`, in order)."""

    id: str
    entity_type: str
    entity_id: str
    timestamp: int
    seq: int
    action: str
    actor_id: str | None
    version_id: str
    changes: bytes


#: the key before every event's (no entity type is "")
CASE_START = ("", "", -(2**62), -1)


def case_event(r: Sequence[Any]) -> CaseEventRow:
    return CaseEventRow(
        str(r[0]), r[1], r[2], r[3], r[4], r[5],
        str(r[6]) if r[6] is not None else None, str(r[7]), bytes(r[8]),
    )  # fmt: skip


def library(row: Sequence[Any]) -> Library:
    return Library(
        id=str(row[0]),
        org_id=str(row[1]),
        status=BatchStatus(row[2]),
        active=bool(row[3]),
        origin=LibraryOrigin(row[4]),
        parameters=_parameters(row[5]),
        processes=row[6],
        rules=row[7],
        events_read=row[8],
        attempts=row[9],
        error_code=row[10],
        error_message=row[11],
        created_at=row[12],
        started_at=row[13],
        completed_at=row[14],
    )


def process_row(row: Sequence[Any], detail: bytes = b"") -> ProcessRow:
    return ProcessRow(
        library_id=str(row[0]),
        scope=row[1],
        process_id=row[2],
        entity_type=row[3],
        step_field=row[4],
        cases=row[5],
        events=row[6],
        detail=detail,
        updated_at=row[7] or 0,
    )


class KnowledgeReads:
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def get_library(self, org_id: str, library_id: str) -> Library | None:
        found = self._query(
            f"SELECT {LIBRARY_COLUMNS} FROM libraries WHERE id = %s AND org_id = %s",
            (library_id, org_id),
        )
        return library(found[0]) if found else None

    def list_libraries(self, org_id: str, limit: int, offset: int) -> Page[Library]:
        found = self._query(
            f"SELECT {LIBRARY_COLUMNS} FROM libraries WHERE org_id = %s "
            "ORDER BY id DESC LIMIT %s OFFSET %s",
            (org_id, limit, offset),
        )
        total = self._query("SELECT count(*) FROM libraries WHERE org_id = %s", (org_id,))
        return Page([library(r) for r in found], int(total[0][0]))

    def active_library_id(self, org_id: str) -> str | None:
        found = self._query(
            "SELECT id FROM libraries WHERE org_id = %s AND active = %s", (org_id, True)
        )
        return str(found[0][0]) if found else None

    def list_processes(
        self, org_id: str, library_id: str, scope: str, limit: int, offset: int
    ) -> Page[ProcessRow]:
        where = "p.library_id = %s AND p.scope = %s AND p.org_id = %s"
        params = (library_id, scope, org_id)
        found = self._query(
            f"SELECT {PROCESS_COLUMNS} FROM processes p JOIN libraries l ON l.id = p.library_id "
            f"WHERE {where} ORDER BY p.process_id LIMIT %s OFFSET %s",
            (*params, limit, offset),
        )
        total = self._query(f"SELECT count(*) FROM processes p WHERE {where}", params)
        return Page([process_row(r) for r in found], int(total[0][0]))

    def get_process(
        self, org_id: str, library_id: str, scope: str, process_id: str
    ) -> ProcessRow | None:
        found = self._query(
            f"SELECT {PROCESS_COLUMNS}, p.detail FROM processes p "
            "JOIN libraries l ON l.id = p.library_id WHERE p.library_id = %s AND p.scope = %s "
            "AND p.process_id = %s AND p.org_id = %s",
            (library_id, scope, process_id, org_id),
        )
        return process_row(found[0], bytes(found[0][8])) if found else None

    def find_organisations(self, name: str | None = None) -> list[Organisation]:
        """Every organisation, or the one named `name`."""
        sql, params = "SELECT id, name, created_at FROM organisations", list[str]()
        if name is not None:
            sql, params = sql + " WHERE name = %s", [name]
        return [
            Organisation(str(r[0]), r[1], r[2]) for r in self._query(sql + " ORDER BY name", params)
        ]

    def feed_position(self, org_id: str) -> int:
        """The organisation's last handed-out feed position (0 before any event)."""
        found = self._query("SELECT last_seq FROM feed_positions WHERE org_id = %s", (org_id,))
        return int(found[0][0]) if found else 0

    def case_events(
        self,
        org_id: str,
        source_id: str,
        after: tuple[str, str, int, int] | None,
        limit: int,
    ) -> list[CaseEventRow]:
        """A source's non-deleted events in (entity type, entity id, timestamp, seq) order,
        `limit` at a time after the key `after` (keyset pagination)."""
        start = after if after is not None else CASE_START
        return [
            case_event(r)
            for r in self._query(CASE_EVENTS_AFTER, (source_id, *start, org_id, False, limit))
        ]


class KnowledgeWriteTx:
    skip_locked = ""

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        raise NotImplementedError

    def _executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    def lock_discovery_schedule(self) -> None:
        """Keep two workers from starting the same organisation's run at once (SQLite's
        single writer already does; PostgreSQL takes a transaction-scoped advisory lock)."""

    def insert_library(self, lib: Library) -> None:
        self._execute(
            "INSERT INTO libraries (id, org_id, status, active, origin, parameters, attempts, "
            "run_after, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                lib.id,
                lib.org_id,
                lib.status.value,
                lib.active,
                lib.origin,
                _encode(lib.parameters).decode(),
                lib.attempts,
                lib.created_at,
                lib.created_at,
            ),
        )

    def due_for_discovery(self, started_before: int, limit: int) -> list[str]:
        return [str(r[0]) for r in self._execute(DUE_FOR_DISCOVERY, (started_before, limit))]

    def claim_library(
        self, worker_id: str, now: int, lease_until: int, library_id: str | None = None
    ) -> ClaimedLibrary | None:
        """Take the oldest due run (or `library_id`, if due): queued, or processing with
        an expired lease (`run_after` is the lease's end while processing)."""
        only, params = "", [worker_id, lease_until, lease_until, now, now]
        if library_id is not None:
            only = "AND id = %s "
            params.append(library_id)
        row = self._execute(
            "UPDATE libraries SET status = 'processing', worker_id = %s, attempts = attempts + 1, "
            "lease_until = %s, run_after = %s, started_at = coalesce(started_at, %s) "
            "WHERE id = (SELECT id FROM libraries WHERE status IN ('queued', 'processing') "
            f"AND run_after <= %s {only}ORDER BY run_after, id LIMIT 1{self.skip_locked}) "
            "RETURNING id, org_id, attempts, parameters",
            params,
        ).fetchone()
        if row is None:
            return None
        return ClaimedLibrary(str(row[0]), str(row[1]), row[2], _parameters(row[3]))

    def extend_library_lease(self, library_id: str, worker_id: str, until: int) -> bool:
        cursor = self._execute(
            "UPDATE libraries SET lease_until = %s, run_after = %s "
            "WHERE id = %s AND worker_id = %s AND status = 'processing'",
            (until, until, library_id, worker_id),
        )
        return bool(cursor.rowcount == 1)

    def insert_processes(self, org_id: str, processes: Sequence[ProcessRow]) -> None:
        self._executemany(
            "INSERT INTO processes (library_id, scope, process_id, org_id, entity_type, "
            "step_field, cases, events, detail) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (p.library_id, p.scope, p.process_id, org_id, p.entity_type, p.step_field,
                 p.cases, p.events, p.detail)
                for p in processes
            ],
        )  # fmt: skip

    def complete_library(
        self,
        library_id: str,
        org_id: str,
        worker_id: str,
        counts: tuple[int, int, int],
        feed_seq: int,
        now: int,
    ) -> bool:
        """Mark done and make it the organisation's active library, only if this worker
        still holds the lease. `counts` = (processes, rules, events read)."""
        processes, rules, events_read = counts
        cursor = self._execute(
            "UPDATE libraries SET status = 'done', processes = %s, rules = %s, events_read = %s, "
            "feed_seq = %s, completed_at = %s, lease_until = NULL, error_code = NULL, "
            "error_message = NULL WHERE id = %s AND worker_id = %s AND status = 'processing'",
            (processes, rules, events_read, feed_seq, now, library_id, worker_id),
        )
        if cursor.rowcount != 1:
            return False
        # two statements: the partial unique index libraries_active allows one at a time
        self._execute(
            "UPDATE libraries SET active = %s WHERE org_id = %s AND active = %s",
            (False, org_id, True),
        )
        self._execute("UPDATE libraries SET active = %s WHERE id = %s", (True, library_id))
        return True

    def retry_library(
        self, library_id: str, worker_id: str, run_after: int, code: str, message: str
    ) -> None:
        self._execute(
            "UPDATE libraries SET status = 'queued', run_after = %s, lease_until = NULL, "
            "error_code = %s, error_message = %s "
            "WHERE id = %s AND worker_id = %s AND status = 'processing'",
            (run_after, code, message, library_id, worker_id),
        )

    def fail_library(
        self, library_id: str, worker_id: str, code: str, message: str, now: int
    ) -> None:
        self._execute(
            "UPDATE libraries SET status = 'error', lease_until = NULL, error_code = %s, "
            "error_message = %s, completed_at = %s "
            "WHERE id = %s AND worker_id = %s AND status = 'processing'",
            (code, message, now, library_id, worker_id),
        )
