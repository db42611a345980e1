"""core/idempotency.decide: what a request with a key does, given the stored claim."""

from __future__ import annotations

from headwater.core.idempotency import LEASE_MICROS, Decision, StoredKey, decide

NOW = 1_000_000_000
HASH = b"h" * 32


def _running(owner: str | None, locked_until: int = NOW + LEASE_MICROS) -> StoredKey:
    return StoredKey(HASH, None, None, locked_until, NOW - 1, owner)


def test_a_running_claim_is_in_use_while_its_owner_lives_and_its_lease_runs() -> None:
    assert decide(_running("a"), HASH, NOW, owner_alive=True) is Decision.IN_USE
    assert decide(_running("a", NOW - 1), HASH, NOW, owner_alive=True) is Decision.CLAIM


def test_a_claim_whose_owner_died_is_taken_over_at_once() -> None:
    assert decide(_running("a"), HASH, NOW, owner_alive=False) is Decision.CLAIM
    # another body is still refused: the key was used for another request
    assert decide(_running("a"), b"x" * 32, NOW, owner_alive=False) is Decision.MISMATCH


def test_a_claim_without_an_owner_keeps_the_lease_rule() -> None:
    """Rows written before claims named their owner."""
    assert decide(_running(None), HASH, NOW, owner_alive=False) is Decision.IN_USE
    assert decide(_running(None, NOW - 1), HASH, NOW, owner_alive=False) is Decision.CLAIM


def test_a_finished_request_replays_whatever_its_owner() -> None:
    done = StoredKey(HASH, 202, b"{}", NOW, NOW - 1, None)
    assert decide(done, HASH, NOW, owner_alive=False) is Decision.REPLAY
