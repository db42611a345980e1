"""RFC 3339 timestamps <-> integer microseconds since the epoch (UTC).

Stored times are integers so that ordering is exact and cheap in both databases.
Precision beyond microseconds is truncated (documented in docs/decisions.md).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# RFC 3339 §5.6 date-time: full-date "T" full-time, a time zone is mandatory.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)",
    re.ASCII,
)


def parse_rfc3339(text: str) -> int:
    """Parse an RFC 3339 date-time with a time zone into UTC microseconds.

    Raises ValueError for anything else (no zone, date only, out-of-range fields).
    """
    if not _RFC3339.fullmatch(text):
        raise ValueError("must be an RFC 3339 date-time with a time zone")
    # CPython >= 3.11 reads any number of fractional digits and truncates them to
    # microseconds; the regex above has already refused what RFC 3339 does not allow.
    micros = to_micros(datetime.fromisoformat(text.upper()))
    if not _MIN_MICROS <= micros <= _MAX_MICROS:  # e.g. 0001-01-01T00:00:00+01:00
        raise ValueError("date-time out of range")
    return micros


def to_micros(moment: datetime) -> int:
    delta = moment - _EPOCH  # aware datetimes subtract in UTC
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_MIN_MICROS = to_micros(datetime.min.replace(tzinfo=UTC))
_MAX_MICROS = to_micros(datetime.max.replace(tzinfo=UTC))


def format_micros(micros: int) -> str:
    """Format UTC microseconds as RFC 3339 with a `Z`; fractional seconds only when non-zero."""
    moment = _EPOCH + timedelta(microseconds=micros)
    # not strftime("%Y"): glibc does not zero-pad years before 1000 ("999-05-01")
    base = f"{moment.year:04d}-" + moment.strftime("%m-%dT%H:%M:%S")
    if moment.microsecond:
        base += f".{moment.microsecond:06d}".rstrip("0")
    return base + "Z"
