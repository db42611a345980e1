"""The normalizer loop: claim a due batch, normalize it, mark it done or retry it.

The database is the queue. A claim is one statement (`claim_batch`): it takes the
oldest batch that is queued, or processing with an expired lease (its worker died),
and leases it for `lease_seconds`. A worker killed at any point loses nothing: its
transaction rolls back, the lease runs out, and another claim takes the batch again;
event ids are deterministic and inserted at most once.
"""

from __future__ import annotations

import logging
import threading
import uuid

from headwater import normalize
from headwater.config import DEFAULTS
from headwater.core import retry
from headwater.core.models import BatchKind
from headwater.ids import now_micros
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
    ) -> None:
        self.store = store
        self.id = worker_id or f"worker-{uuid.uuid4().hex[:12]}"
        self.poll_interval = poll_interval
        self.lease_micros = int(lease_seconds * 1_000_000)
        self.max_attempts = max_attempts
        self._wake = threading.Event()
        self.metrics = metrics

    def wake(self) -> None:
        """Look for work now instead of at the next poll (new batches were queued)."""
        self._wake.set()

    def run_once(self) -> bool:
        """Process at most one batch; False when nothing was due."""
        now = now_micros()
        with self.store.write() as tx:
            claimed = tx.claim_batch(self.id, now, now + self.lease_micros)
        if claimed is None:
            return False
        if self.metrics is not None:
            self.metrics.claims.inc()
        if claimed.attempts > self.max_attempts:
            # A batch that keeps killing its worker (the lease expired every time).
            with self.store.write() as tx:
                tx.fail_batch(
                    claimed.id, self.id, "MAX_ATTEMPTS", "normalization never finished", now
                )
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
                else:
                    tx.fail_batch(
                        claimed.id, self.id, "NORMALIZATION_FAILED", message, now_micros()
                    )
        return True

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
