"""The knowledge-query benchmark (bench/rules_query.py, docs/PERFORMANCE.md) still runs:
a few hundred rules on SQLite, one round. Checks that it reports, not what it measures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_rules_query_benchmark_runs() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.rules_query", "--rules", "400", "--processes", "4", "--noise", "100",
         "--rounds", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["rules"] == 400 and result["backend"] == "sqlite"
    assert set(result["queries"]) == {
        "who sets closed won", "negotiation", "after qualified deals move to proposal",
        "how long does review take", "jane smith", "reached only after approval", "zebra",
        "median days p90"}  # fmt: skip
    assert result["queries"]["zebra"]["total"] == 0
    assert result["overall"]["medianMs"] > 0
