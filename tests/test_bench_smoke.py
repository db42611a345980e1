"""The benchmark (bench/, docs/PERFORMANCE.md) still runs: `python -m bench --quick`.

A smoke run on SQLite with a small data set: real server and worker processes, the HTTP
driver, the limit pipeline and the memory phase. It checks that every phase completes
and reports its figures, not the figures themselves (CI machines vary).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmark_runs(tmp_path: Path) -> None:
    results_file = tmp_path / "bench.json"
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(results_file),
         "--workdir", str(tmp_path / "work")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-4000:]

    for phase in ("first", "replay", "replay10", "memory"):
        assert any(
            line.startswith(f"{phase}: ingest ") and "records/s" in line
            for line in completed.stdout.splitlines()
        ), output[-4000:]
    assert "service/limit" in completed.stdout

    results = json.loads(results_file.read_text())
    phases = results["phases"]
    assert set(phases) == {"first", "replay", "replay10", "memory"}
    first, replay, replay10 = phases["first"], phases["replay"], phases["replay10"]
    records = results["data"]["records"]
    assert first["figures"]["records"] == records
    # the first load stores everything; the replay stores nothing; 10 % changed comes back
    assert first["figures"]["accepted"] == records
    assert replay["figures"]["deduplicated"] == records
    assert 0.05 * records < replay10["figures"]["accepted"] < 0.15 * records
    assert first["figures"]["normalization"]["events"] > 0
    assert first["ratioToLimit"] > 0
    assert phases["memory"]["rss"]["serverPeak"] > 0
    for phase in phases.values():
        assert phase["figures"]["errors"] == 0
        assert phase["figures"]["notDone"] == 0


def _run_module(module: str, *args: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-m", module, "--records", "1000", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-4000:]
    return completed.stdout


def test_ingest_profile_runs() -> None:
    """`python -m bench.ingest_profile`: every stage is reported for both loads."""
    lines = _run_module("bench.ingest_profile").splitlines()
    header = next(line for line in lines if line.startswith("µs per record"))
    loads = header.split()[3:]  # the columns after "µs per record"
    assert loads[:2] == ["first", "replay"], header
    table = {
        line.split("  ")[0].strip(): dict(zip(loads, line.split()[-len(loads) :], strict=True))
        for line in lines
        if "  " in line and not line.startswith("µs per record")
    }
    for stage in ("validate", "load_heads", "insert_versions", "commit", "total"):
        assert stage in table, lines
    inserted = {load: float(value) for load, value in table["insert_versions"].items()}
    assert inserted["first"] > 0 and inserted["replay"] == 0.0  # a replay stores no version
    assert any(line.startswith("records/s") for line in lines), lines


def test_normalize_profile_runs() -> None:
    """`python -m bench.normalize_profile --digest`: every batch normalized, events written."""
    output = _run_module("bench.normalize_profile", "--digest")
    assert "2 batches, 1000 records" in output, output
    assert "worker CPU" in output, output
