"""The worker loop: claim a due batch or discovery run, do it, mark it done or retry it.

The database is the queue. A claim is one statement (`claim_batch`): it takes the
oldest batch that is queued, or processing with an expired lease (its worker died),
and leases it for `lease_seconds`. A worker killed at any point loses nothing: its
transaction rolls back, the lease runs out, and another claim takes the batch again;
event ids are deterministic and inserted at most once.

Discovery runs (`libraries`, spec §10.1) wait in a queue of the same shape and are
claimed, leased, retried and failed the same way. The worker alternates which queue it
looks at first, so neither starves the other; when both are empty it starts a run for
each organisation with new events whose last run is older than `discover_interval`.
"""

from __future__ import annotations

import logging
import threading
import uuid

from headwater import discover, normalize
from headwater.config import DEFAULTS
from headwater.core import retry
from headwater.core.knowledge import DiscoverParameters, LibraryOrigin, new_library
from headwater.core.models import BatchKind
from headwater.ids import new_id, now_micros
from headwater.observability import Metrics
from headwater.store.base import Store

log = logging.getLogger("headwater.worker")


class Worker:
    def __init__(
        self,
        store: Store,
        *,
        worker_id: str | None = None,
        poll_interval: float = DEFAULTS.poll_interval,
        lease_seconds: float = DEFAULTS.lease_seconds,
        max_attempts: int = retry.MAX_ATTEMPTS,
        metrics: Metrics | None = None,
        discover_interval: float = 0.0,
        discover_check_seconds: float = 5.0,
    ) -> None:
        self.store = store
        self.id = worker_id or f"worker-{uuid.uuid4().hex[:12]}"
        self.poll_interval = poll_interval
        self.lease_micros = int(lease_seconds * 1_000_000)
        self.max_attempts = max_attempts
        self._wake = threading.Event()
        self.metrics = metrics
        #: seconds between an organisation's scheduled discovery runs; 0 = none
        self.discover_interval_micros = int(discover_interval * 1_000_000)
        self.discover_check_micros = int(discover_check_seconds * 1_000_000)
        self._next_check = 0
        self._discovery_first = False

    def wake(self) -> None:
        """Look for work now instead of at the next poll (new batches were queued)."""
        self._wake.set()

    def run_once(self) -> bool:
        """Process at most one batch or discovery run; False when nothing was due."""
        if self._discovery_first:
            busy = self.run_discovery_once() or self.run_batch_once()
        else:
            busy = self.run_batch_once() or self.run_discovery_once()
        return busy or self.schedule_discovery()

    def run_batch_once(self) -> bool:
        now = now_micros()
        with self.store.write() as tx:
            claimed = tx.claim_batch(self.id, now, now + self.lease_micros)
        if claimed is None:
            return False
        self._discovery_first = True
        if self.metrics is not None:
            self.metrics.claims.inc()
        if claimed.attempts > self.max_attempts:
            # A batch that keeps killing its worker (the lease expired every time).
            with self.store.write() as tx:
                tx.fail_batch(
                    claimed.id, self.id, "MAX_ATTEMPTS", "normalization never finished", now
                )
            self._count_failure(retried=False)
            return True
        try:
            if claimed.kind is BatchKind.RENORMALIZE:
                normalize.renormalize_source(self.store, claimed, self.id, self.lease_micros)
            else:
                normalize.normalize_batch(self.store, claimed, self.id)
        except normalize.LeaseLost:
            log.warning("lease on batch %s lost; another worker has it", claimed.id)
        except Exception as exc:
            log.exception("normalizing batch %s failed (attempt %d)", claimed.id, claimed.attempts)
            message = f"{type(exc).__name__}: {exc}"[:500]
            with self.store.write() as tx:
                if retry.should_retry(claimed.attempts, self.max_attempts):
                    run_after = now_micros() + retry.retry_delay(claimed.attempts)
                    tx.retry_batch(claimed.id, self.id, run_after, "NORMALIZATION_FAILED", message)
                    retried = True
                else:
                    tx.fail_batch(
                        claimed.id, self.id, "NORMALIZATION_FAILED", message, now_micros()
                    )
                    retried = False
            self._count_failure(retried)
        return True

    def _count_failure(self, retried: bool) -> None:
        if self.metrics is not None:
            (self.metrics.retries if retried else self.metrics.failures).inc()

    def run_discovery_once(self, library_id: str | None = None) -> bool:
        """Run at most one due discovery run (`library_id`: that one only)."""
        now = now_micros()
        with self.store.write() as tx:
            claimed = tx.claim_library(self.id, now, now + self.lease_micros, library_id)
        if claimed is None:
            return False
        self._discovery_first = False
        if claimed.attempts > self.max_attempts:
            with self.store.write() as tx:
                tx.fail_library(
                    claimed.id, self.id, "MAX_ATTEMPTS", "discovery never finished", now
                )
            return True
        try:
            discover.run_discovery(self.store, claimed, self.id, self.lease_micros)
        except normalize.LeaseLost:
            log.warning("lease on discovery run %s lost; another worker has it", claimed.id)
        except Exception as exc:
            log.exception("discovery run %s failed (attempt %d)", claimed.id, claimed.attempts)
            message = f"{type(exc).__name__}: {exc}"[:500]
            with self.store.write() as tx:
                if retry.should_retry(claimed.attempts, self.max_attempts):
                    run_after = now_micros() + retry.retry_delay(claimed.attempts)
                    tx.retry_library(claimed.id, self.id, run_after, "DISCOVERY_FAILED", message)
                else:
                    tx.fail_library(claimed.id, self.id, "DISCOVERY_FAILED", message, now_micros())
        return True

    def schedule_discovery(self) -> bool:
        """Queue a run for each organisation with events newer than its last finished
        run and no run queued, running or started within the interval (spec §10.1)."""
        if self.discover_interval_micros <= 0:
            return False
        now = now_micros()
        if now < self._next_check:
            return False
        self._next_check = now + self.discover_check_micros
        with self.store.write() as tx:
            tx.lock_discovery_schedule()
            due = tx.due_for_discovery(now - self.discover_interval_micros, 100)
            for org_id in due:
                tx.insert_library(
                    new_library(new_id(), org_id, DiscoverParameters(), LibraryOrigin.SCHEDULE, now)
                )
        if due:
            log.info("scheduled discovery runs for %d organisation(s)", len(due))
        return bool(due)

    def run(self, stop: threading.Event) -> None:
        """Loop until `stop` is set; a batch in progress is finished first."""
        log.info("worker %s started", self.id)
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception:
                log.exception("worker %s: storage error; retrying", self.id)
                busy = False
            if not busy:
                self._wake.wait(self.poll_interval)
                self._wake.clear()
        log.info("worker %s stopped", self.id)
