"""Issue #11 point 8: one record's history is read a page at a time.

A record with 2,000 versions must not come back whole: its version chain (in
`GET /v1/sources/{id}/records/{type}/{recordId}`) and its entity timeline take `limit` and
`offset` like every list (spec §1) and answer `meta.pagination`. Both backends.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from tests.api.helpers import assert_page, assert_success, ingest_ok, record
from tests.conftest import assert_error, bearer

pytestmark = pytest.mark.timeout(300)

VERSIONS = 2_000


def _time(i: int) -> str:
    return f"2026-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"


@pytest.fixture
def long_history(client: TestClient, token: str, source_id: str) -> str:
    """deal-1 with VERSIONS versions, each a later time and a new `n`."""
    for start in range(0, VERSIONS, 500):
        records = [
            record("deal-1", {"name": "Long", "n": i}, _time(i)) for i in range(start, start + 500)
        ]
        assert ingest_ok(client, token, source_id, records)["accepted"] == 500
    return source_id


def test_a_version_chain_is_paged(client: TestClient, token: str, long_history: str) -> None:
    path = f"/v1/sources/{long_history}/records/deal/deal-1"
    first = client.get(path, headers=bearer(token))
    data = assert_success(first)
    assert first.json()["meta"]["pagination"] == {"total": VERSIONS, "limit": 20, "offset": 0}
    assert len(data["versions"]) == 20
    # the documented shape is kept: the head and the record's identity come with every page
    assert data["recordId"] == "deal-1"
    assert data["head"]["sourceUpdatedAt"] == _time(VERSIONS - 1)
    assert [v["sourceUpdatedAt"] for v in data["versions"]] == [_time(i) for i in range(20)]

    last = client.get(path, params={"limit": 100, "offset": VERSIONS - 30}, headers=bearer(token))
    data = assert_success(last)
    assert last.json()["meta"]["pagination"] == {
        "total": VERSIONS,
        "limit": 100,
        "offset": VERSIONS - 30,
    }
    assert [v["sourceUpdatedAt"] for v in data["versions"]] == [
        _time(i) for i in range(VERSIONS - 30, VERSIONS)
    ]
    assert data["versions"][-1]["id"] == data["head"]["versionId"]

    beyond = assert_success(client.get(path, params={"offset": VERSIONS}, headers=bearer(token)))
    assert beyond["versions"] == []
    for bad in ({"limit": 101}, {"limit": 0}, {"offset": -1}, {"limit": "all"}):
        error = assert_error(client.get(path, params=bad, headers=bearer(token)), 400,
                             "VALIDATION_ERROR")  # fmt: skip
        assert error["details"][0]["field"] in bad


def test_a_timeline_is_paged(
    client: TestClient,
    token: str,
    long_history: str,
    normalize_all: Callable[[], int],
) -> None:
    normalize_all()
    path = f"/v1/entities/{long_history}/deal/deal-1/timeline"
    items = assert_page(client.get(path, headers=bearer(token)), total=VERSIONS)
    assert len(items) == 20
    assert items[0]["action"] == "deal_created"
    assert items[0]["stateBefore"] is None
    assert [i["stateAfter"]["n"] for i in items] == list(range(20))

    response = client.get(path, params={"limit": 100, "offset": 1_990}, headers=bearer(token))
    items = assert_page(response, total=VERSIONS, limit=100, offset=1_990)
    assert [i["timestamp"] for i in items] == [_time(i) for i in range(1_990, VERSIONS)]
    assert all(i["action"] == "deal_updated" for i in items)
    # the state before each event is the version before it, across page boundaries
    assert [(i["stateBefore"]["n"], i["stateAfter"]["n"]) for i in items] == [
        (n - 1, n) for n in range(1_990, VERSIONS)
    ]
    error = assert_error(client.get(path, params={"limit": 500}, headers=bearer(token)), 400,
                         "VALIDATION_ERROR")  # fmt: skip
    assert error["details"][0]["field"] == "limit"


def test_an_unknown_record_is_still_404(client: TestClient, token: str, source_id: str) -> None:
    ingest_ok(client, token, source_id, [record("deal-1")])
    for path in (
        f"/v1/sources/{source_id}/records/deal/nope",
        f"/v1/entities/{source_id}/deal/nope/timeline",
    ):
        assert_error(client.get(path, headers=bearer(token)), 404, "NOT_FOUND")
    # a record without events yet has an empty first page, not a 404
    response = client.get(f"/v1/entities/{source_id}/deal/deal-1/timeline", headers=bearer(token))
    assert assert_page(response, total=0) == []
