"""The per-key rate limit holds across API processes (issue 6): on PostgreSQL the bucket is
a row every process updates; two stores stand in for two processes."""

from __future__ import annotations

import pytest

from headwater.core import ratelimit
from headwater.store import open_store


@pytest.mark.backends("postgres")
def test_two_processes_share_one_bucket(database_url: str) -> None:
    first, second = open_store(database_url), open_store(database_url)
    try:
        key = "01900000-0000-7000-8000-0000000000aa"
        now = 1_000_000_000
        answers = [
            (first if i % 2 else second).take_token(key, now, rate=1.0, burst=4.0) for i in range(6)
        ]
        assert answers[:4] == [None] * 4  # the burst, spent alternately by both
        assert answers[4:] == [1, 1]  # then both refuse: one bucket, not two
        assert first.take_token(key, now + 1_000_000, rate=1.0, burst=4.0) is None  # refilled
    finally:
        first.close()
        second.close()


def test_token_bucket_rules() -> None:
    bucket, wait = ratelimit.take(None, 0, rate=2.0, burst=2.0)
    assert (bucket.tokens, wait) == (1.0, None)
    bucket, wait = ratelimit.take(bucket, 0, rate=2.0, burst=2.0)
    assert wait is None
    bucket, wait = ratelimit.take(bucket, 0, rate=2.0, burst=2.0)
    assert wait == 1  # half a second rounds up to a whole Retry-After second
    bucket, wait = ratelimit.take(bucket, 500_000, rate=2.0, burst=2.0)
    assert wait is None  # one token back after 0.5 s at 2/s
    bucket, _ = ratelimit.take(bucket, 10**12, rate=2.0, burst=2.0)
    assert bucket.tokens == 1.0  # never more than the burst
