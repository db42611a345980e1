"""Figures from a driver run, and the tables printed at the end."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def percentile(values: Sequence[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def phase_figures(run: dict[str, Any]) -> dict[str, Any]:
    """Throughput, latency, normalization and lag of one driver run."""
    batches = run["batches"]
    records = sum(b["accepted"] + b["deduplicated"] + b["rejected"] for b in batches)
    size = sum(b["bytes"] for b in batches)
    first_sent = min((b["sent"] for b in batches), default=0.0)
    last_received = max((b["received"] for b in batches), default=0.0)
    seconds = last_received - first_sent
    latencies = [(b["received"] - b["sent"]) * 1000 for b in batches]

    normalized = [b for b in batches if b["accepted"] and b["completedAt"] is not None]
    records_normalized = sum(b["recordsCreated"] or 0 for b in normalized)
    events = sum(b["eventsCreated"] or 0 for b in normalized)
    busy = sum(b["completedAt"] - b["startedAt"] for b in normalized if b["startedAt"])
    if normalized:
        span = max(b["completedAt"] for b in normalized) - min(
            b["startedAt"] or b["completedAt"] for b in normalized
        )
    else:
        span = 0.0
    lags = [b["completedAt"] - b["receivedWall"] for b in normalized]
    not_done = [b for b in batches if b["finalStatus"] != "done"]
    first_sent_wall = min((b["sentWall"] for b in batches), default=0.0)
    finished = max(
        [b["receivedWall"] for b in batches] + [b["completedAt"] for b in normalized],
        default=first_sent_wall,
    )
    peak_queue = max((s["queued"] + s["processing"] for s in run["samples"]), default=0)

    return {
        "batches": len(batches),
        "records": records,
        "bytes": size,
        "accepted": sum(b["accepted"] for b in batches),
        "deduplicated": sum(b["deduplicated"] for b in batches),
        "rejected": sum(b["rejected"] for b in batches),
        "ingestSeconds": _round(seconds, 3),
        "recordsPerSecond": _round(records / seconds if seconds else None),
        "mbPerSecond": _round(size / seconds / 1e6 if seconds else None, 2),
        "latencyMs": {
            "p50": _round(percentile(latencies, 50), 2),
            "p95": _round(percentile(latencies, 95), 2),
            "p99": _round(percentile(latencies, 99), 2),
            "max": _round(max(latencies, default=None), 2),
        },
        "normalization": {
            "batches": len(normalized),
            "records": records_normalized,
            "events": events,
            #: while the worker was inside a batch (its capacity under this load)
            "busySeconds": _round(busy, 3),
            "recordsPerSecondBusy": _round(records_normalized / busy if busy else None),
            "eventsPerSecondBusy": _round(events / busy if busy else None),
            #: from the first batch started to the last completed (bounded by ingest)
            "spanSeconds": _round(span, 3),
            "recordsPerSecondSpan": _round(records_normalized / span if span else None),
            "eventsPerSecondSpan": _round(events / span if span else None),
        },
        "lagSeconds": {
            "p50": _round(percentile(lags, 50), 3),
            "p99": _round(percentile(lags, 99), 3),
            "max": _round(max(lags, default=None), 3),
        },
        "peakQueueDepth": peak_queue,
        "endToEndSeconds": _round(finished - first_sent_wall, 3),
        "notDone": len(not_done),
        "errors": run["errorCount"],
        "retries": run["retries"],
        "errorSamples": run["errors"],
        "driverCpuSeconds": _round(run["driverCpuSeconds"], 3),
    }


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float | int):
        return f"{value:,.{digits}f}"
    return str(value)


def _mb(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f}"


def table(results: dict[str, Any]) -> str:
    """The compact summary printed at the end of a run."""
    lines = []
    header = (
        f"{'phase':<10} {'records':>9} {'rec/s':>9} {'MB/s':>7} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'p99 ms':>7} {'norm r/s':>9} {'events/s':>9} {'lag p50':>8} {'lag p99':>8} "
        f"{'srv MiB':>8} {'wkr MiB':>8} {'limit r/s':>10} {'ratio':>6}"
    )
    lines += [header, "-" * len(header)]
    for name, phase in results["phases"].items():
        figures = phase["figures"]
        norm = figures["normalization"]
        limit = phase.get("limit") or {}
        ratio = phase.get("ratioToLimit")
        lines.append(
            f"{name:<10} {figures['records']:>9,} {_fmt(figures['recordsPerSecond']):>9} "
            f"{_fmt(figures['mbPerSecond'], 1):>7} {_fmt(figures['latencyMs']['p50'], 1):>7} "
            f"{_fmt(figures['latencyMs']['p95'], 1):>7} {_fmt(figures['latencyMs']['p99'], 1):>7} "
            f"{_fmt(norm['recordsPerSecondBusy']):>9} {_fmt(norm['eventsPerSecondBusy']):>9} "
            f"{_fmt(figures['lagSeconds']['p50'], 2):>8} {_fmt(figures['lagSeconds']['p99'], 2):>8} "
            f"{_mb(phase['rss'].get('serverPeak')):>8} {_mb(phase['rss'].get('workerPeak')):>8} "
            f"{_fmt(limit.get('recordsPerSecond')):>10} {_fmt(ratio, 2):>6}"
        )
    lines.append("")
    for name, phase in results["phases"].items():
        figures = phase["figures"]
        norm = figures["normalization"]
        text = (
            f"{name}: ingest {_fmt(figures['recordsPerSecond'])} records/s "
            f"({_fmt(figures['mbPerSecond'], 1)} MB/s) over {figures['batches']} batches; "
            f"normalization {_fmt(norm['recordsPerSecondBusy'])} records/s, "
            f"{_fmt(norm['eventsPerSecondBusy'])} events/s while busy "
            f"({_fmt(norm['recordsPerSecondSpan'])} records/s over its span)"
        )
        limit = phase.get("limit")
        if limit:
            text += (
                f"; limit {_fmt(limit['recordsPerSecond'])} records/s, "
                f"service/limit {_fmt(phase.get('ratioToLimit'), 2)}"
            )
        cpu = phase.get("cpu", {})
        if cpu.get("serverMicrosPerRecord") is not None:
            text += f"; server CPU {_fmt(cpu['serverMicrosPerRecord'], 1)} µs/record"
        if cpu.get("workerMicrosPerNormalizedRecord") is not None:
            text += (
                f", worker {_fmt(cpu['workerMicrosPerNormalizedRecord'], 1)} µs/normalized record"
            )
        if figures["errors"] or figures["notDone"]:
            text += f"; {figures['errors']} errors, {figures['notDone']} batches not done"
        lines.append(text)
    if results.get("preload"):
        preload = results["preload"]
        lines.append(
            f"preload: {preload['records']:,} records stored in {preload['seconds']:.1f} s "
            f"({_fmt(preload['recordsPerSecond'])} records/s, fast in-process path)"
        )
    growth = results.get("preloadRatio")
    if growth is not None:
        lines.append(f"first load with the preloaded store / empty store: {growth:.2f}")
    return "\n".join(lines)
