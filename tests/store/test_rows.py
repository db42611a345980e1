"""`rows.Columns`: one declared select list, read by name."""

from __future__ import annotations

import pytest

from headwater.store import rows, shared


def test_columns_name_their_positions() -> None:
    columns = rows.Columns("id", "e.seq", "payload")
    assert columns.sql == "id, e.seq, payload"
    assert (columns.id, columns.e_seq, columns.payload) == (0, 1, 2)
    with pytest.raises(AttributeError, match="no column 'seq'"):
        _ = columns.seq


@pytest.mark.parametrize(
    "columns",
    [rows.API_KEY, rows.SOURCE, rows.BATCH, rows.VERSION, rows.HEAD, rows.ACTOR, shared.EVENT],
)
def test_declared_lists_have_distinct_names(columns: rows.Columns) -> None:
    attributes = [name.replace(".", "_") for name in columns.names]
    assert len(set(attributes)) == len(attributes)
    assert [getattr(columns, a) for a in attributes] == list(range(len(attributes)))
