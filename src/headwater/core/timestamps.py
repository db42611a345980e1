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
    text = text.upper().replace(" ", "T", 1)
    if "." in text:
        # Python accepts up to 6 fractional digits reliably: truncate the rest.
        head, _, rest = text.partition(".")
        digits = re.match(r"\d+", rest)
        assert digits is not None
        frac = digits.group(0)
        text = f"{head}.{frac[:6].ljust(6, '0')}{rest[len(frac) :]}"
    try:
        return to_micros(datetime.fromisoformat(text))
    except OverflowError as exc:  # e.g. 0001-01-01T00:00:00+01:00 falls before year 1
        raise ValueError("date-time out of range") from exc


def format_micros(micros: int) -> str:
    """Format UTC microseconds as RFC 3339 with a `Z`; fractional seconds only when non-zero."""
    moment = _EPOCH + timedelta(microseconds=micros)
    # not strftime("%Y"): glibc does not zero-pad years before 1000 ("999-05-01")
    base = f"{moment.year:04d}-" + moment.strftime("%m-%dT%H:%M:%S")
    if moment.microsecond:
        base += f".{moment.microsecond:06d}".rstrip("0")
    return base + "Z"


def to_micros(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
