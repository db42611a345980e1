"""Fresh ids and the clock: the only sources of non-determinism, kept at the shell."""

from __future__ import annotations

import time

import uuid_utils


def new_id() -> str:
    """A time-ordered UUIDv7: keeps index inserts local."""
    return str(uuid_utils.uuid7())


def now_micros() -> int:
    return time.time_ns() // 1000
