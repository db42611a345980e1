"""The console's pure parts: the ingest chart's geometry and the version diff."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from headwater.console import chart, diff

counts = st.fixed_dictionaries({o: st.integers(0, 10_000) for o in chart.OUTCOMES})


@given(st.integers(0, 10**12))
def test_nice_ceiling_is_the_next_1_2_5_step(value: int) -> None:
    top = chart.nice_ceiling(value)
    assert top >= value
    digits = str(top).rstrip("0")
    assert digits in {"1", "2", "5"}
    assert top < 2.5 * max(value, 1)


@given(st.dictionaries(st.integers(0, 59), counts, max_size=60))
def test_stacks_fit_the_chart_and_keep_their_proportions(points: dict[int, dict[str, int]]) -> None:
    drawn = chart.stacked_bars(points.items(), buckets=60, width=600, height=100)
    for bar in drawn.bars:
        assert 0 <= bar.x < 600 and bar.height > 0
        assert bar.y >= -0.01 and bar.y + bar.height <= 100.01
    for bucket, values in points.items():
        stack = [b for b in drawn.bars if b.bucket == bucket]
        assert sum(b.count for b in stack) == sum(values.values())
        assert [b.outcome for b in stack] == [o for o in chart.OUTCOMES if values[o] > 0]
    assert drawn.total == {o: sum(v[o] for v in points.values()) for o in chart.OUTCOMES}


def test_buckets_outside_the_window_are_left_out() -> None:
    drawn = chart.stacked_bars([(-1, {"created": 5}), (60, {"created": 5})], buckets=60)
    assert drawn.bars == [] and drawn.peak == 0


def test_field_changes_name_added_removed_and_changed_fields() -> None:
    before = {"stage": "lead", "amount": 1, "gone": True, "same": [1, 2]}
    after = {"stage": "won", "amount": 1.0, "same": [1, 2], "new": None}
    changes = {c.field: c for c in diff.field_changes(before, after)}
    assert set(changes) == {"stage", "amount", "gone", "new"}
    assert (changes["stage"].before, changes["stage"].after) == ('"lead"', '"won"')
    assert changes["amount"].kind == "changed"  # 1 and 1.0 are different JSON texts
    assert changes["gone"].kind == "removed" and changes["gone"].after is None
    assert changes["new"].kind == "added" and changes["new"].after == "null"


@given(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=8))
def test_a_version_does_not_differ_from_itself(payload: dict[str, object]) -> None:
    assert diff.field_changes(payload, dict(payload)) == []
