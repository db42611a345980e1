"""Prometheus metrics and structured JSON logs (spec §8).

`Metrics` owns one registry per app (tests build many apps). Counters are kept in the
process; queue depth, batches by status and normalization lag are read from the
database at scrape time, so they describe the whole fleet, not one process.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from typing import Any

import msgspec
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from headwater.core.models import BatchStatus
from headwater.ids import now_micros
from headwater.store.base import Store

# Counters and histograms would also export a `<name>_created` series per label set: a Unix
# timestamp that dashboards summing `headwater_*` read as a count. Off for every metric this
# process creates from here on (a process-wide switch of prometheus_client).
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus_client

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _QueueCollector(Collector):
    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts, oldest = self.store.queue_stats()
        batches = GaugeMetricFamily("headwater_batches", "Batches by status.", labels=["status"])
        for status in BatchStatus:
            batches.add_metric([status.value], counts.get(status, 0))
        yield batches
        yield GaugeMetricFamily(
            "headwater_queue_depth",
            "Batches waiting for or in normalization (queued + processing).",
            value=counts.get(BatchStatus.QUEUED, 0) + counts.get(BatchStatus.PROCESSING, 0),
        )
        lag = max(0, now_micros() - oldest) / 1e6 if oldest is not None else 0.0
        yield GaugeMetricFamily(
            "headwater_normalization_lag_seconds",
            "Age of the oldest batch not yet normalized (0 when the queue is empty).",
            value=lag,
        )


class Metrics:
    def __init__(self, store: Store | None = None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "headwater_http_requests",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "headwater_http_request_duration_seconds",
            "HTTP request latency by route.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.records = Counter(
            "headwater_records", "Ingested records by outcome.", ["outcome"], registry=self.registry
        )
        self.claims = Counter(
            "headwater_worker_claims",
            "Batches claimed by this process's normalizer.",
            registry=self.registry,
        )
        self.retries = Counter(
            "headwater_worker_retries", "Batches sent back for a retry.", registry=self.registry
        )
        self.failures = Counter(
            "headwater_worker_failures", "Batches that ended in error.", registry=self.registry
        )
        self._watching = False
        if store is not None:
            self.watch(store)

    def watch(self, store: Store) -> None:
        """Report the queue of `store` at every scrape (once per registry)."""
        if not self._watching:
            self.registry.register(_QueueCollector(store))
            self._watching = True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; fields passed as `extra={"fields": {...}}` are merged in."""

    _encode = msgspec.json.Encoder().encode

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return self._encode(line).decode()


def configure_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
