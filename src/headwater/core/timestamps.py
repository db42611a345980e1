"""RFC 3339 timestamps <-> integer microseconds since the epoch (UTC).

Stored times are integers so that ordering is exact and cheap in both databases.
Precision beyond microseconds is truncated (documented in docs/decisions.md).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# RFC 3339 §5.6 date-time: full-date "T" full-time, a time zone is mandatory. The shape
# is matched loosely (any two digits per field) so that a wrong value can be named.
_SHAPE = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})(?:[Tt ](?P<time>\d{2}:\d{2}(?::\d{2})?)(?P<fraction>\.\d+)?"
    r"(?P<zone>[Zz]|[+-]\d{2}:\d{2})?)?",
    re.ASCII,
)


# The strict form, tried first: what every valid timestamp matches (the hot path).
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)",
    re.ASCII,
)


def parse_rfc3339(text: str) -> int:
    """Parse an RFC 3339 date-time with a time zone into UTC microseconds.

    Raises ValueError whose message says what is wrong (no zone, date only, an impossible
    date, a leap second, out of range); the message completes "sourceUpdatedAt ...".
    """
    if _RFC3339.fullmatch(text):
        try:
            # CPython >= 3.11 reads any number of fractional digits and truncates them to
            # microseconds.
            micros = to_micros(datetime.fromisoformat(text.upper()))
        except ValueError:
            _diagnose(text)
            raise ValueError("is not a valid date-time") from None
        if _MIN_MICROS <= micros <= _MAX_MICROS:  # not e.g. 0001-01-01T00:00:00+01:00
            return micros
        raise ValueError(_OUT_OF_RANGE)
    _diagnose(text)
    raise ValueError("must be an RFC 3339 date-time")  # _diagnose found nothing more precise


def _diagnose(text: str) -> None:
    """Raise the ValueError that says what is wrong with `text` (off the hot path)."""
    match = _SHAPE.fullmatch(text)
    if match is None:
        raise ValueError(
            f"must be an RFC 3339 date-time such as 2026-06-10T14:03:00Z; {_quote(text)} is not one"
        )
    time, zone = match.group("time"), match.group("zone")
    if time is None:
        raise ValueError("must be a date-time with a time of day and a time zone, not a date")
    if len(time) == 5:
        raise ValueError("must have seconds (hh:mm:ss)")
    if zone is None:
        raise ValueError("must have a time zone: 'Z' or an offset such as +02:00")
    hour, minute, second = (int(part) for part in time.split(":"))
    if second == 60:
        # RFC 3339 allows a leap second, but no timestamp type here can hold one (documented
        # in docs/decisions.md): refused rather than silently moved to the next second.
        raise ValueError("is a leap second (:60), which is not supported; use :59")
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"has an impossible time of day: {time}")
    if zone not in ("Z", "z"):
        zone_hours, zone_minutes = int(zone[1:3]), int(zone[4:6])
        if zone_hours > 23 or zone_minutes > 59:
            raise ValueError(f"has an impossible time zone offset: {zone}")
    if match.group("date").startswith("0000"):
        raise ValueError(_OUT_OF_RANGE)
    try:
        datetime.fromisoformat(text.upper())
    except ValueError:
        raise ValueError(f"has an impossible date: {match.group('date')}") from None


_OUT_OF_RANGE = "is out of range: it must fall between 0001-01-01 and 9999-12-31 in UTC"


def _quote(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "…")


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
