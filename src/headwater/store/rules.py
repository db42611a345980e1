"""Rules, reviews and memories (spec §10.2, §10.3): their SQL, with the full-text parts
per dialect (SQLite FTS5, PostgreSQL `tsvector`; migration 0009).

`RuleReads` joins the store classes, `RuleWriteTx` their write transactions. A library's
rules are read together with the organisation's memories (library `MEMORY_LIBRARY`).
Rejected rules are listed (a reviewer filters them) but never searched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec

from headwater.core.rules import (
    MEMORY_LIBRARY,
    Rule,
    RuleDetail,
    RuleFilter,
    StoredRule,
)
from headwater.store.base import Page

RULE_COLUMNS = (
    "r.library_id, r.id, r.org_id, r.kind, r.type, r.process_id, r.applies_at_step, "
    "r.description, r.confidence, r.frequency, r.review_status, r.created_at, r.updated_at"
)
_WIDTH = RULE_COLUMNS.count(",") + 1
#: the rules a library shows: its own and the organisation's memories, never rejected
_VISIBLE = "r.org_id = %s AND r.library_id IN (%s, %s)"
#: CROSS JOIN: SQLite then always reads the index first (a plain join let the planner scan
#: every rule and probe the index per rule, ~1,000x slower; docs/PERFORMANCE.md)
SQLITE_SEARCH = (
    f"SELECT {RULE_COLUMNS}, -bm25(rules_fts) FROM rules_fts "
    f"CROSS JOIN rules r ON r.rowid = rules_fts.rowid WHERE rules_fts MATCH %s AND {_VISIBLE} "
    "AND r.review_status <> 'rejected' ORDER BY bm25(rules_fts), r.id LIMIT %s"
)
SQLITE_SEARCH_COUNT = (
    "SELECT count(*) FROM rules_fts CROSS JOIN rules r ON r.rowid = rules_fts.rowid "
    f"WHERE rules_fts MATCH %s AND {_VISIBLE} AND r.review_status <> 'rejected'"
)
POSTGRES_SEARCH = (
    f"SELECT {RULE_COLUMNS}, ts_rank(r.search, q) FROM rules r, to_tsquery('english', %s) q "
    f"WHERE r.search @@ q AND {_VISIBLE} AND r.review_status <> 'rejected' "
    f"ORDER BY {_WIDTH + 1} DESC, r.id LIMIT %s"
)
POSTGRES_SEARCH_COUNT = (
    "SELECT count(*) FROM rules r, to_tsquery('english', %s) q "
    f"WHERE r.search @@ q AND {_VISIBLE} AND r.review_status <> 'rejected'"
)

_detail = msgspec.json.Decoder(RuleDetail).decode
_encode = msgspec.json.encode

Run = Callable[[str, Sequence[Any]], list[Any]]


def stored_rule(row: Sequence[Any], detail: bytes | None = None) -> StoredRule:
    return StoredRule(
        library_id=str(row[0]),
        id=str(row[1]),
        org_id=str(row[2]),
        kind=row[3],
        type=row[4],
        process_id=row[5],
        applies_at_step=row[6],
        description=row[7],
        confidence=float(row[8]),
        frequency=int(row[9]),
        review_status=row[10],
        created_at=int(row[11]),
        updated_at=int(row[12]),
        detail=_detail(detail) if detail is not None else None,
    )


def _libraries(library_id: str | None) -> tuple[str, str]:
    return (library_id or MEMORY_LIBRARY, MEMORY_LIBRARY)


def find_rule(run: Run, org_id: str, rule_id: str, library_id: str | None) -> StoredRule | None:
    """The rule with its detail: its row in `library_id` (or a memory), else its row in
    the newest library that has it (a rule the active library no longer finds)."""
    preferred = library_id or MEMORY_LIBRARY
    found = run(
        f"SELECT {RULE_COLUMNS}, r.detail FROM rules r WHERE r.org_id = %s AND r.id = %s "
        "ORDER BY CASE WHEN r.library_id IN (%s, %s) THEN 0 ELSE 1 END, r.library_id DESC "
        "LIMIT 1",
        (org_id, rule_id, preferred, MEMORY_LIBRARY),
    )
    return stored_rule(found[0], bytes(found[0][_WIDTH])) if found else None


class RuleReads:
    backend: str

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def list_rules(
        self, org_id: str, filters: RuleFilter, limit: int, offset: int
    ) -> Page[StoredRule]:
        where, params = [_VISIBLE], [org_id, *_libraries(filters.library_id)]
        if filters.review_status is not None:
            where.append("r.review_status = %s")
            params.append(filters.review_status)
        if filters.process_id is not None:
            where.append("r.process_id = %s")
            params.append(filters.process_id)
        if filters.search is not None:
            where.append("lower(r.description) LIKE %s ESCAPE '!'")
            escaped = filters.search.lower().translate({ord(c): "!" + c for c in "!%_"})
            params.append(f"%{escaped}%")
        clause = " AND ".join(where)
        found = self._query(
            f"SELECT {RULE_COLUMNS} FROM rules r WHERE {clause} "
            "ORDER BY r.confidence DESC, r.frequency DESC, r.id LIMIT %s OFFSET %s",
            (*params, limit, offset),
        )
        total = self._query(f"SELECT count(*) FROM rules r WHERE {clause}", params)
        return Page([stored_rule(r) for r in found], int(total[0][0]))

    def get_rule(self, org_id: str, rule_id: str, library_id: str | None) -> StoredRule | None:
        return find_rule(self._query, org_id, rule_id, library_id)

    def search_rules(
        self, org_id: str, library_id: str | None, query: str, limit: int
    ) -> tuple[list[tuple[StoredRule, float]], int]:
        """Full-text matches of `query` (the dialect's own syntax, built by
        `core.search`), best first, with their number."""
        if self.backend == "sqlite":
            sql, count = SQLITE_SEARCH, SQLITE_SEARCH_COUNT
        else:
            sql, count = POSTGRES_SEARCH, POSTGRES_SEARCH_COUNT
        params = (query, org_id, *_libraries(library_id))
        found = self._query(sql, (*params, limit))
        total = self._query(count, params)
        return [(stored_rule(r), float(r[_WIDTH])) for r in found], int(total[0][0])

    def rules_at_steps(
        self,
        org_id: str,
        library_id: str | None,
        process_id: str,
        steps: Sequence[str],
        limit: int,
    ) -> tuple[list[StoredRule], int]:
        """A process's searchable rules (at `steps`, when given), most confident first."""
        where = f"{_VISIBLE} AND r.review_status <> 'rejected' AND r.process_id = %s"
        params: list[Any] = [org_id, *_libraries(library_id), process_id]
        if steps:
            where += f" AND r.applies_at_step IN ({', '.join(['%s'] * len(steps))})"
            params += steps
        found = self._query(
            f"SELECT {RULE_COLUMNS} FROM rules r WHERE {where} "
            "ORDER BY r.confidence DESC, r.frequency DESC, r.id LIMIT %s",
            (*params, limit),
        )
        total = self._query(f"SELECT count(*) FROM rules r WHERE {where}", params)
        return [stored_rule(r) for r in found], int(total[0][0])


class RuleWriteTx:
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        raise NotImplementedError

    def _executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    def _rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return list(self._execute(sql, params).fetchall())

    def insert_rules(self, org_id: str, library_id: str, rules: Sequence[Rule], now: int) -> None:
        """A library's rules, with the organisation's reviews applied and each rule's
        `createdAt` kept from the active library when it found the rule too. Call it
        before `complete_library` makes this library the active one."""
        reviews = {
            str(r[0]): (r[1], r[2], int(r[3]))
            for r in self._rows(
                "SELECT rule_id, review_status, description, updated_at FROM rule_reviews "
                "WHERE org_id = %s",
                (org_id,),
            )
        }
        first_seen = {
            str(r[0]): int(r[1])
            for r in self._rows(
                "SELECT r.id, r.created_at FROM rules r JOIN libraries l ON l.id = r.library_id "
                "WHERE l.org_id = %s AND l.active = %s AND r.org_id = %s",
                (org_id, True, org_id),
            )
        }
        rows = []
        for rule in rules:
            status, description, reviewed = reviews.get(rule.id, ("inferred", None, now))
            created = first_seen.get(rule.id, now)
            detail = _encode(RuleDetail(rule.condition, rule.evidence))
            rows.append(
                (library_id, rule.id, org_id, "deterministic", rule.type, rule.process_id,
                 rule.applies_at_step, description or rule.description, rule.description,
                 rule.confidence, rule.frequency, status, detail, created, max(created, reviewed))
            )  # fmt: skip
        self._executemany(
            "INSERT INTO rules (library_id, id, org_id, kind, type, process_id, "
            "applies_at_step, description, generated_description, confidence, frequency, "
            "review_status, detail, created_at, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )

    def insert_memory(self, rule: StoredRule) -> None:
        assert rule.detail is not None
        self._execute(
            "INSERT INTO rules (library_id, id, org_id, kind, type, process_id, "
            "applies_at_step, description, generated_description, confidence, frequency, "
            "review_status, detail, created_at, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (MEMORY_LIBRARY, rule.id, rule.org_id, rule.kind, rule.type, rule.process_id,
             rule.applies_at_step, rule.description, rule.description, rule.confidence,
             rule.frequency, rule.review_status, _encode(rule.detail), rule.created_at,
             rule.updated_at),
        )  # fmt: skip

    def get_rule(self, org_id: str, rule_id: str, library_id: str | None) -> StoredRule | None:
        return find_rule(self._rows, org_id, rule_id, library_id)

    def review_rule(
        self,
        org_id: str,
        rule_id: str,
        status: str,
        description: str | None,
        key_id: str,
        now: int,
    ) -> None:
        """Record a review and apply it to every stored copy of the rule. `inferred`
        withdraws the review (a memory goes back to `confirmed`); a status without a
        description keeps the text an earlier review gave."""
        if status == "inferred":
            self._execute(
                "DELETE FROM rule_reviews WHERE org_id = %s AND rule_id = %s", (org_id, rule_id)
            )
            self._execute(
                "UPDATE rules SET review_status = CASE WHEN kind = 'human' THEN 'confirmed' "
                "ELSE 'inferred' END, description = generated_description, updated_at = %s "
                "WHERE org_id = %s AND id = %s",
                (now, org_id, rule_id),
            )
            return
        self._execute(
            "INSERT INTO rule_reviews (org_id, rule_id, review_status, description, key_id, "
            "updated_at) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (org_id, rule_id) DO "
            "UPDATE SET review_status = excluded.review_status, "
            "description = coalesce(excluded.description, rule_reviews.description), "
            "key_id = excluded.key_id, updated_at = excluded.updated_at",
            (org_id, rule_id, status, description, key_id, now),
        )
        self._execute(
            "UPDATE rules SET review_status = %s, description = coalesce((SELECT description "
            "FROM rule_reviews WHERE org_id = %s AND rule_id = %s), generated_description), "
            "updated_at = %s WHERE org_id = %s AND id = %s",
            (status, org_id, rule_id, now, org_id, rule_id),
        )
