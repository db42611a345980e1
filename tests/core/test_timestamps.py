"""Unit and property tests for headwater.core.timestamps (RFC 3339 <-> UTC microseconds)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.core.timestamps import format_micros, parse_rfc3339, to_micros

#: property tests: no per-example deadline (CI machines vary)
PROPERTY = settings(deadline=None)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z in microseconds
MIN_MICROS = to_micros(datetime(1, 1, 1, tzinfo=UTC))
MAX_MICROS = to_micros(datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC))


def micros(*args: int) -> int:
    """Microseconds since the epoch of a UTC datetime built from `args`."""
    return to_micros(datetime(*args, tzinfo=UTC))  # type: ignore[misc]


# --------------------------------------------------------------------------- parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("2026-06-10T14:03:00Z", micros(2026, 6, 10, 14, 3, 0)),
        ("2026-06-12T16:24:11Z", micros(2026, 6, 12, 16, 24, 11)),
        # offsets are normalized to UTC
        ("2026-06-10T16:03:00+02:00", micros(2026, 6, 10, 14, 3, 0)),
        ("2026-06-10T09:03:00-05:00", micros(2026, 6, 10, 14, 3, 0)),
        ("2026-06-10T19:33:00+05:30", micros(2026, 6, 10, 14, 3, 0)),
        ("2026-06-10T14:03:00+00:00", micros(2026, 6, 10, 14, 3, 0)),
        ("2026-06-10T14:03:00-00:00", micros(2026, 6, 10, 14, 3, 0)),
        ("2026-01-01T00:30:00+01:00", micros(2025, 12, 31, 23, 30, 0)),
        # fractional seconds
        ("2026-06-10T14:03:00.5Z", micros(2026, 6, 10, 14, 3, 0) + 500_000),
        ("2026-06-10T14:03:00.123Z", micros(2026, 6, 10, 14, 3, 0) + 123_000),
        ("2026-06-10T14:03:00.123456Z", micros(2026, 6, 10, 14, 3, 0) + 123_456),
        ("2026-06-10T14:03:00.000001Z", micros(2026, 6, 10, 14, 3, 0) + 1),
        ("2026-06-10T14:03:00.0Z", micros(2026, 6, 10, 14, 3, 0)),
        # more than 6 digits: truncated, never rounded
        ("2026-06-10T14:03:00.1234567Z", micros(2026, 6, 10, 14, 3, 0) + 123_456),
        ("2026-06-10T14:03:00.999999999Z", micros(2026, 6, 10, 14, 3, 0) + 999_999),
        ("2026-06-10T14:03:00.123456789123456789Z", micros(2026, 6, 10, 14, 3, 0) + 123_456),
        ("2026-06-10T16:03:00.9999999+02:00", micros(2026, 6, 10, 14, 3, 0) + 999_999),
        # lower-case separators (RFC 3339 §5.6 note) and the space separator
        ("2026-06-10t14:03:00z", micros(2026, 6, 10, 14, 3, 0)),
        ("2026-06-10t14:03:00.25z", micros(2026, 6, 10, 14, 3, 0) + 250_000),
        ("2026-06-10 14:03:00Z", micros(2026, 6, 10, 14, 3, 0)),
        # leap day, pre-epoch, and the extremes of the range
        ("2024-02-29T12:00:00Z", micros(2024, 2, 29, 12, 0, 0)),
        ("1969-12-31T23:59:59.999999Z", -1),
        ("0001-01-01T00:00:00Z", MIN_MICROS),
        ("9999-12-31T23:59:59.999999Z", MAX_MICROS),
        ("0001-01-01T00:59:00+00:59", MIN_MICROS),
        ("9999-12-31T23:00:00-00:59", MAX_MICROS - 999_999 - 59 * 1_000_000),
        ("2026-06-10T14:03:00+23:59", micros(2026, 6, 9, 14, 4, 0)),
        ("2026-06-10T14:03:00-23:59", micros(2026, 6, 11, 14, 2, 0)),
    ],
)
def test_parse_valid(text: str, expected: int) -> None:
    assert parse_rfc3339(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage",
        "now",
        "2026-06-10",  # date only
        "14:03:00Z",  # time only
        "2026-06-10T14:03:00",  # no zone
        "2026-06-10T14:03:00.123",  # no zone
        "2026-06-10T14:03Z",  # no seconds
        "2026-06-10T14:03:00+0200",  # offset without colon
        "2026-06-10T14:03:00+02",  # offset without minutes
        "2026-06-10T14:03:00 Z",
        "2026-06-10T14:03:00.Z",  # dot without digits
        "2026-06-10T14:03:00,5Z",  # comma fraction
        "2026-06-10T14:03:00ZZ",
        "2026-06-10T14:03:00Z ",  # trailing whitespace
        " 2026-06-10T14:03:00Z",  # leading whitespace
        "2026-06-10T14:03:00Z\n",  # trailing newline
        "2026-06-10X14:03:00Z",
        "2026-06-10TT14:03:00Z",
        "20260610T140300Z",  # ISO 8601 basic format
        "26-06-10T14:03:00Z",  # two-digit year
        "+2026-06-10T14:03:00Z",
        "2026-6-10T14:03:00Z",
        "2026-06-10T4:03:00Z",
        "2026-W24-3T14:03:00Z",  # week date
        "2026-161T14:03:00Z",  # ordinal date
        "1749564180",  # epoch seconds
        "2026-06-10T14:03:00UTC",
        "2026-06-10T14:03:00+02:00[Europe/Paris]",
        "２０２６-06-10T14:03:00Z",  # full-width digits
        "2026-06-10T14:03:00\x00Z",
        # out-of-range fields
        "2026-13-10T14:03:00Z",
        "2026-00-10T14:03:00Z",
        "2026-06-00T14:03:00Z",
        "2026-06-31T14:03:00Z",
        "2026-02-30T14:03:00Z",
        "2025-02-29T14:03:00Z",  # not a leap year
        "2026-06-10T24:00:00Z",
        "2026-06-10T25:03:00Z",
        "2026-06-10T14:60:00Z",
        "2026-06-10T14:03:61Z",
        "0000-01-01T00:00:00Z",  # year 0 is out of range
        "2026-06-10T14:03:00+24:00",
        "2026-06-10T14:03:00+99:00",
        "2026-06-10T14:03:00+05:60",  # offset minute out of range
        "2026-06-10T14:03:00+05:99",
        # in range locally but outside years 1..9999 once normalized to UTC
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
    ],
)
def test_parse_invalid(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_rfc3339(text)


def test_parse_invalid_message_mentions_time_zone() -> None:
    with pytest.raises(ValueError, match="time zone"):
        parse_rfc3339("2026-06-10T14:03:00")


def test_offsets_normalize_to_the_same_instant() -> None:
    spellings = [
        "2026-06-10T14:03:00Z",
        "2026-06-10T14:03:00z",
        "2026-06-10T14:03:00+00:00",
        "2026-06-10T15:03:00+01:00",
        "2026-06-11T00:03:00+10:00",
        "2026-06-10T02:03:00-12:00",
        "2026-06-10T14:03:00.000000000Z",
    ]
    assert len({parse_rfc3339(s) for s in spellings}) == 1


def test_truncation_does_not_carry_into_seconds() -> None:
    # 0.9999999 s truncates to 999999 µs; rounding would have moved to the next second
    assert (
        parse_rfc3339("2026-12-31T23:59:59.9999999Z") == micros(2026, 12, 31, 23, 59, 59) + 999_999
    )
    assert format_micros(parse_rfc3339("2026-12-31T23:59:59.9999999Z")) == (
        "2026-12-31T23:59:59.999999Z"
    )


# --------------------------------------------------------------------------- format


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "1970-01-01T00:00:00Z"),
        (1, "1970-01-01T00:00:00.000001Z"),
        (-1, "1969-12-31T23:59:59.999999Z"),
        (500_000, "1970-01-01T00:00:00.5Z"),
        (120_000, "1970-01-01T00:00:00.12Z"),
        (micros(2026, 6, 12, 16, 24, 11), "2026-06-12T16:24:11Z"),
        (micros(2026, 6, 12, 16, 24, 11) + 123_456, "2026-06-12T16:24:11.123456Z"),
        (MIN_MICROS, "0001-01-01T00:00:00Z"),
        (MAX_MICROS, "9999-12-31T23:59:59.999999Z"),
        (micros(999, 5, 1, 0, 0, 0), "0999-05-01T00:00:00Z"),
        (micros(12, 3, 4, 5, 6, 7), "0012-03-04T05:06:07Z"),
    ],
)
def test_format(value: int, expected: str) -> None:
    assert format_micros(value) == expected


def test_to_micros_normalizes_the_zone() -> None:
    moment = datetime(2026, 6, 10, 16, 3, tzinfo=timezone(timedelta(hours=2)))
    assert to_micros(moment) == micros(2026, 6, 10, 14, 3, 0)


# --------------------------------------------------------------------------- properties

micros_in_range = st.integers(min_value=MIN_MICROS, max_value=MAX_MICROS)
#: whole-minute offsets strictly inside (-24h, +24h), as RFC 3339 allows
offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59)


def with_offset(value: int, offset_minutes: int, fraction_digits: int) -> str | None:
    """`value` spelled in local time at the given offset, or None if outside years 1..9999."""
    zone = timezone(timedelta(minutes=offset_minutes))
    try:
        local = (EPOCH + timedelta(microseconds=value)).astimezone(zone)
    except OverflowError:
        return None
    if not 1 <= local.year <= 9999:
        return None
    text = local.strftime("%m-%dT%H:%M:%S")
    text = f"{local.year:04d}-{text}"
    if fraction_digits:
        text += "." + f"{local.microsecond:06d}".ljust(fraction_digits, "7")[:fraction_digits]
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


@PROPERTY
@given(micros_in_range)
def test_format_parse_round_trip(value: int) -> None:
    text = format_micros(value)
    assert parse_rfc3339(text) == value
    assert format_micros(parse_rfc3339(text)) == text


@PROPERTY
@given(micros_in_range)
def test_format_shape(value: int) -> None:
    text = format_micros(value)
    assert text.endswith("Z")
    assert len(text) == 20 or (22 <= len(text) <= 27)
    assert text[4] == "-" and text[10] == "T"
    assert not text.endswith(".Z")
    if "." in text:
        assert not text[:-1].endswith("0")


@PROPERTY
@given(micros_in_range, offsets, st.integers(min_value=0, max_value=12))
def test_any_offset_parses_to_the_same_instant(value: int, offset: int, digits: int) -> None:
    text = with_offset(value, offset, digits)
    if text is None:
        return
    # fewer than 6 fraction digits drop precision; more than 6 are truncated
    expected = value - value % 10 ** (6 - min(digits, 6))
    assert parse_rfc3339(text) == expected


@PROPERTY
@given(micros_in_range, micros_in_range, offsets, offsets)
def test_ordering_is_preserved_across_offsets(a: int, b: int, off_a: int, off_b: int) -> None:
    text_a, text_b = with_offset(a, off_a, 6), with_offset(b, off_b, 6)
    if text_a is None or text_b is None:
        return
    parsed_a, parsed_b = parse_rfc3339(text_a), parse_rfc3339(text_b)
    assert (parsed_a < parsed_b) == (a < b)
    assert (parsed_a == parsed_b) == (a == b)


@PROPERTY
@given(st.text(max_size=40))
def test_parse_raises_only_value_error(text: str) -> None:
    try:
        result = parse_rfc3339(text)
    except ValueError:
        return
    assert MIN_MICROS <= result <= MAX_MICROS
    assert text[:4].isascii() and text[:4].isdigit()
