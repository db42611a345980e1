"""How a failing batch is retried: exponential backoff, then `error` (spec §6.1)."""

from __future__ import annotations

MAX_ATTEMPTS = 5
BASE_DELAY_MICROS = 1_000_000
MAX_DELAY_MICROS = 300 * 1_000_000


def retry_delay(attempt: int) -> int:
    """Microseconds to wait after failed attempt number `attempt` (1-based): 1 s, 2 s, 4 s…"""
    return int(min(BASE_DELAY_MICROS * 2 ** (max(attempt, 1) - 1), MAX_DELAY_MICROS))


def should_retry(attempt: int, max_attempts: int = MAX_ATTEMPTS) -> bool:
    return attempt < max_attempts
