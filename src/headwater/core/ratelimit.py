"""Per-key rate limiting: a token bucket, decided purely (spec §8).

A bucket holds up to `burst` tokens and refills at `rate` tokens per second; each
request takes one. The stores keep buckets (in memory for SQLite's single process, in
a table for PostgreSQL so the limit holds across API processes) and call `take`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bucket:
    tokens: float
    updated_at: int  #: microseconds


def take(bucket: Bucket | None, now: int, rate: float, burst: float) -> tuple[Bucket, int | None]:
    """Spend one token. Returns the new bucket and, when refused, whole seconds to wait."""
    if bucket is None:
        bucket = Bucket(burst, now)
    tokens = min(burst, bucket.tokens + max(0, now - bucket.updated_at) * rate / 1_000_000)
    if tokens >= 1:
        return Bucket(tokens - 1, now), None
    return Bucket(tokens, now), max(1, math.ceil((1 - tokens) / rate))
