"""API key tokens and scopes (spec §2): formats and hashing, no storage."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from headwater.core.models import Scope

TOKEN_PREFIX = "sk_live_"
_TOKEN = re.compile(r"sk_live_[0-9a-f]{40}")


def token_from_random(random_bytes: bytes) -> str:
    """`sk_live_` + 40 lowercase hex characters from 160 random bits."""
    if len(random_bytes) != 20:
        raise ValueError("an API key needs exactly 160 random bits")
    return TOKEN_PREFIX + random_bytes.hex()


def well_formed(token: str) -> bool:
    return _TOKEN.fullmatch(token) is not None


def token_hash(token: str) -> bytes:
    """What is stored: SHA-256 of the token. Lookup is by this digest, so the timing of
    an index search reveals nothing an attacker can steer (they cannot choose digests)."""
    return hashlib.sha256(token.encode()).digest()


def display_prefix(token: str) -> str:
    """Enough to recognise a key in a list (`sk_live_3f9a`), far too little to use it."""
    return token[: len(TOKEN_PREFIX) + 4]


def parse_scopes(values: Iterable[str]) -> frozenset[Scope]:
    """Raise ValueError unless `values` names one or more known scopes."""
    names = [v.strip() for v in values if v.strip()]
    if not names:
        raise ValueError("at least one scope is required")
    known = {s.value for s in Scope}
    unknown = sorted(set(names) - known)
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; use {', '.join(sorted(known))}")
    return frozenset(Scope(n) for n in names)
