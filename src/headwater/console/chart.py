"""The overview's ingest chart as SVG geometry: pure, drawn by the server, no JavaScript.

`stacked_bars` turns per-bucket outcome counts into rectangles (one stack per bucket,
outcomes in a fixed order) and a few y-axis ticks; the template only writes them out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

OUTCOMES = ("created", "superseded", "unchanged", "stale", "rejected")


@dataclass(frozen=True, slots=True)
class Bar:
    outcome: str
    x: float
    y: float
    width: float
    height: float
    bucket: int
    count: int


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    ticks: list[tuple[float, str]]  #: (y, label) of the horizontal grid lines
    peak: int
    total: dict[str, int]


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5 x 10^n at or above `value` (an axis that reads well)."""
    if value <= 1:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def stacked_bars(
    points: Iterable[tuple[int, dict[str, int]]],
    buckets: int,
    width: int = 720,
    height: int = 160,
) -> Chart:
    """`points` are (bucket, {outcome: count}); buckets outside 0..buckets-1 are ignored."""
    by_bucket = {bucket: counts for bucket, counts in points if 0 <= bucket < buckets}
    total = {o: sum(c.get(o, 0) for c in by_bucket.values()) for o in OUTCOMES}
    peak = max((sum(c.get(o, 0) for o in OUTCOMES) for c in by_bucket.values()), default=0)
    top = nice_ceiling(peak)
    slot = width / buckets
    bar_width = max(slot * 0.8, 0.5)
    bars = []
    for bucket, counts in sorted(by_bucket.items()):
        base = float(height)
        for outcome in OUTCOMES:
            count = counts.get(outcome, 0)
            if count <= 0:
                continue
            h = count / top * height
            base -= h
            bars.append(Bar(outcome, bucket * slot, base, bar_width, h, bucket, count))
    ticks = [(round(height - height * f, 2), _label(top * f)) for f in (0.0, 0.5, 1.0)]
    return Chart(width, height, bars, ticks, peak, total)


def _label(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"
