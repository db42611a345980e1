"""`python -m bench.rules_query`: the knowledge query with 100,000 rules stored.

Stores `--rules` rules (default 100,000) of one organisation's active library, spread
over `--processes` processes (default 40) with 12 steps each, worded like discovery's
four kinds over a vocabulary of step names and actors (seed 20260610), plus `--noise`
rules (default 10,000) in a second organisation, which the index must skip. Then it sends each
query of `QUERIES` through the app in-process (Starlette TestClient: authentication,
validation, both searches, ranking, JSON) `--rounds` times after a warm-up, and prints
the median and p95 per query and over all. Not a test: nothing here asserts a time.

    uv run python -m bench.rules_query                      # SQLite in a temporary file
    uv run python -m bench.rules_query --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec
import psycopg
from starlette.testclient import TestClient

from bench.server import machine
from headwater import keys
from headwater.api.app import create_app
from headwater.config import Settings
from headwater.core.knowledge import DiscoverParameters, ProcessRow, new_library, process_id
from headwater.core.process import Process, StepStat
from headwater.core.rules import Evidence, Rule, human_duration, plural, rule_id
from headwater.store import migrate, open_store
from headwater.store.base import Store

QUERIES = [
    "who sets closed won",
    "negotiation",
    "after qualified deals move to proposal",
    "how long does review take",
    "jane smith",
    "reached only after approval",
    "zebra",
    "median days p90",
]
WORDS = [
    "lead", "qualified", "proposal", "negotiation", "closed_won", "closed_lost", "review",
    "approval", "onboarding", "shipped", "invoiced", "paid", "escalated", "resolved", "triage",
    "backlog", "in_progress", "blocked", "done", "cancelled", "draft", "submitted", "signed",
    "renewal", "churned", "trial", "active", "suspended", "archived", "pending", "scheduled",
    "assigned", "waiting", "verified", "rejected", "returned", "refunded", "picked", "packed",
]  # fmt: skip
ENTITIES = ["deal", "ticket", "order", "contract", "invoice", "lead", "case", "task", "project",
            "account"]  # fmt: skip


def _rules(org_id: str, count: int, processes: int, rng: random.Random) -> tuple[
        list[ProcessRow], list[Rule]]:  # fmt: skip
    rows, found = [], []
    steps_of = {}
    for n in range(processes):
        entity = f"{ENTITIES[n % len(ENTITIES)]}{n // len(ENTITIES) or ''}"
        steps = rng.sample(WORDS, 12)
        steps_of[entity] = steps
        detail = Process(0, 0, tuple(StepStat(s, 1, None) for s in steps), (), (), (), ())
        rows.append(ProcessRow("", "", process_id(entity), entity, "stage", 1, 1,
                               msgspec.json.encode(detail)))  # fmt: skip
    actors = [f"{rng.choice(['jane', 'mark', 'ana', 'li', 'omar'])}.{n}@acme.com"
              for n in range(500)]  # fmt: skip
    evidence = Evidence(10, 9, 1, (), ())
    for i in range(count):
        entity = rows[i % processes].entity_type
        a, b = rng.sample(steps_of[entity], 2)
        noun, kind = plural(entity), i % 4
        if kind == 0:
            text = f"{b} is reached only after {a} ({rng.randint(5, 900)} of 1000 {noun})"
        elif kind == 1:
            text = (
                f"after {a}, {noun} move to {b} ({rng.randint(5, 900)} of 1000 {noun} leaving {a})"
            )
        elif kind == 2:
            median = rng.randint(60, 10**6) * 1_000_000
            text = (f"{a} → {b} takes a median of {human_duration(median)} "
                    f"(p90 {human_duration(3 * median)}; 90 of 100 {noun} within it)")  # fmt: skip
        else:
            text = f"{b} is set by {rng.choice(actors)} in {rng.randint(80, 100)}% of entries"
        identity = {"type": "bench", "n": i}
        found.append(Rule(rule_id(org_id, process_id(entity), identity), process_id(entity),
                          "transition", b, text, rng.random(), rng.randint(5, 1000),
                          {"kind": "deterministic", **identity}, evidence))  # fmt: skip
    return rows, found


def _fill(store: Store, org: str, count: int, processes: int, rng: random.Random) -> str:
    with store.write() as tx:
        organisation, _, token = keys.issue_for_organisation(tx, org, "bench", ["read"])
    org_id = organisation.id
    now = time.time_ns() // 1000
    library = new_library(str(uuid.uuid4()), org_id, DiscoverParameters(), "request", now)
    rows, rules = _rules(org_id, count, processes, rng)
    with store.write() as tx:
        tx.insert_library(library)
        claimed = tx.claim_library("bench", now, now + 10**9, library.id)
        assert claimed is not None
        tx.insert_processes(org_id, [dataclasses.replace(r, library_id=library.id)
                                     for r in rows])  # fmt: skip
        for start in range(0, len(rules), 10_000):
            tx.insert_rules(org_id, library.id, rules[start : start + 10_000], now)
        assert tx.complete_library(library.id, org_id, "bench", (len(rows), len(rules), 0), 0, now)
    return token


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="PostgreSQL admin URL (default: SQLite file)")
    parser.add_argument("--rules", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=40)
    parser.add_argument("--noise", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--seed", type=int, default=20260610)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="rules-bench-")
    admin_url, database = args.database_url, f"headwater_bench_rules_{uuid.uuid4().hex[:8]}"
    if admin_url:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {database}")
        url = admin_url.rsplit("/", 1)[0] + "/" + database
    else:
        url = f"sqlite:///{Path(work) / 'rules.db'}"
    try:
        migrate.upgrade(url)
        store = open_store(url)
        started = time.perf_counter()
        token = _fill(store, "bench", args.rules, args.processes, rng)
        _fill(store, "noise", args.noise, args.processes, rng)
        if store.backend != "sqlite":  # the test server runs without autovacuum
            with store.write() as tx:
                tx._execute("ANALYZE rules")  # type: ignore[attr-defined]
        loaded = time.perf_counter() - started
        app = create_app(Settings(database_url=url, embedded_worker=False), store=store)
        figures: dict[str, Any] = {}
        with TestClient(app) as client:
            headers = {"Authorization": f"Bearer {token}"}
            for q in QUERIES:
                client.get("/v1/knowledge/query", params={"q": q}, headers=headers)  # warm-up
            every = []
            for q in QUERIES:
                times, total = [], 0
                for _ in range(args.rounds):
                    t0 = time.perf_counter()
                    response = client.get("/v1/knowledge/query", params={"q": q, "topK": 10},
                                          headers=headers)  # fmt: skip
                    times.append((time.perf_counter() - t0) * 1000)
                    assert response.status_code == 200, response.text
                    total = response.json()["meta"]["total"]
                times.sort()
                every += times
                figures[q] = {"medianMs": round(statistics.median(times), 2),
                              "p95Ms": round(times[int(0.95 * (len(times) - 1))], 2),
                              "total": total}  # fmt: skip
            every.sort()
        store.close()
        result = {
            "backend": "sqlite" if not admin_url else "postgresql",
            "rules": args.rules, "noiseRules": args.noise, "loadSeconds": round(loaded, 1),
            "overall": {"medianMs": round(statistics.median(every), 2),
                        "p95Ms": round(every[int(0.95 * (len(every) - 1))], 2)},
            "queries": figures, "machine": machine(), "command": " ".join(sys.argv),
        }  # fmt: skip
        print(json.dumps(result, indent=2, ensure_ascii=False))
    finally:
        if admin_url:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


if __name__ == "__main__":
    main()
