"""Spec §7: the event feed (`after=<cursor>`) and the filtered, offset-paginated listing."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from headwater.api.routes.events import decode_cursor
from headwater.store import Store
from headwater.worker import Worker
from tests.conftest import SEED_PAYLOADS, assert_error, bearer
from tests.normalize.helpers import (
    MISSING_UUID,
    all_events,
    create_source,
    follow_feed,
    get,
    ingest,
    ok,
    rec,
)


def _deals(prefix: str, count: int, at: str = "2026-06-10T10:00:00Z") -> list[dict[str, Any]]:
    return [
        rec(f"{prefix}-{i}", {"name": f"{prefix} {i}", "owner": "o@acme.com"}, at)
        for i in range(count)
    ]


def _page(client: TestClient, token: str, **params: Any) -> tuple[list[Any], dict[str, Any]]:
    response = client.get("/v1/events", params=params, headers=bearer(token))
    return ok(response), response.json()["meta"]


def test_the_feed_from_the_beginning_is_in_commit_order(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    # the second batch carries older source times: the feed is in commit order regardless
    ingest(client, token, source_id, _deals("b1", 3, "2026-06-12T00:00:00Z"))
    normalize_all()
    ingest(client, token, source_id, _deals("b2", 3, "2026-06-01T00:00:00Z"))
    normalize_all()

    items, meta = _page(client, token, after="")
    assert len(items) == 12
    assert [e["entity"]["id"][:2] for e in items] == ["b1"] * 6 + ["b2"] * 6
    assert meta["hasMore"] is False
    assert isinstance(meta["nextCursor"], str)
    assert "pagination" not in meta
    # the last cursor answers nothing new, and keeps its place
    rest, rest_meta = _page(client, token, after=meta["nextCursor"])
    assert (rest, rest_meta["hasMore"]) == ([], False)
    assert rest_meta["nextCursor"] == meta["nextCursor"]
    # the offset listing is by source time instead
    assert [e["entity"]["id"][:2] for e in all_events(client, token)] == ["b2"] * 6 + ["b1"] * 6


def test_following_the_cursor_sees_every_event_exactly_once(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    ingest(client, token, source_id, SEED_PAYLOADS)
    normalize_all()
    seen: list[str] = []
    cursor = ""
    for round_ in range(8):
        items, meta = _page(client, token, after=cursor, limit=2)
        assert len(items) <= 2
        if len(items) < 2:
            assert meta["hasMore"] is False
        seen += [e["id"] for e in items]
        cursor = meta["nextCursor"]
        # more events arrive between pages
        ingest(client, token, source_id, _deals(f"r{round_}", 2))
        normalize_all()
    drained, _ = follow_feed(client, token, cursor, limit=2)
    seen += [e["id"] for e in drained]

    everything = [e["id"] for e in all_events(client, token)]
    assert len(everything) == 5 + 8 * 4
    assert len(seen) == len(set(seen))
    assert set(seen) == set(everything)
    # a fresh follower sees the same order
    assert [e["id"] for e in follow_feed(client, token, limit=7)[0]] == seen


def test_the_feed_honours_filters(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> None:
    other = create_source(client, token, "other")
    ingest(client, token, source_id, SEED_PAYLOADS)
    ingest(client, token, other, _deals("x", 2))
    ingest(client, token, source_id, _deals("y", 2))
    normalize_all()
    followed, _ = follow_feed(client, token, limit=3, sourceId=source_id, action="deal_created")
    assert [e["entity"]["id"] for e in followed] == ["deal-4471", "deal-4472", "y-0", "y-1"]


@pytest.mark.slow
def test_a_follower_racing_concurrent_ingests_sees_each_event_once_in_order(
    client: TestClient, token: str, store: Store
) -> None:
    sources = [create_source(client, token, f"writer {n}") for n in range(2)]
    writers_done = threading.Event()
    failures: list[BaseException] = []

    def write(n: int) -> None:
        try:
            worker = Worker(store, worker_id=f"writer-{n}")
            for round_ in range(10):
                ingest(client, token, sources[n], _deals(f"w{n}-{round_}", 2))
                while worker.run_once():
                    pass
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    seen: list[dict[str, Any]] = []
    positions: list[int] = []

    def follow() -> None:
        cursor = ""
        try:
            while True:
                done = writers_done.is_set()  # read before the page: then a drained page is final
                items, meta = _page(client, token, after=cursor, limit=3)
                seen.extend(items)
                cursor = meta["nextCursor"]
                if items:
                    positions.append(decode_cursor(cursor))
                if done and not meta["hasMore"]:
                    return
        except BaseException as exc:
            failures.append(exc)

    writers = [threading.Thread(target=write, args=(n,)) for n in range(2)]
    follower = threading.Thread(target=follow)
    follower.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(timeout=60)
    writers_done.set()
    follower.join(timeout=60)
    assert not failures, failures
    assert not follower.is_alive()

    ids = [e["id"] for e in seen]
    everything = all_events(client, token)
    assert len(everything) == 2 * 10 * 2 * 2  # created + owner assigned per record
    assert len(ids) == len(set(ids)), "an event was delivered twice"
    assert set(ids) == {e["id"] for e in everything}, "an event was missed"
    assert positions == sorted(set(positions)), "feed positions must strictly increase"
    # the order is stable: a later follower sees exactly the same sequence
    assert [e["id"] for e in follow_feed(client, token)[0]] == ids


INVALID_CURSORS = [
    "nonsense!",
    "djE6",  # "v1:" without a position
    base64.urlsafe_b64encode(b"v2:5").decode(),
    base64.urlsafe_b64encode(b"v1:-5").decode(),
    base64.urlsafe_b64encode(b"v1:abc").decode(),
    "\u00e9",
]


def test_an_invalid_cursor_is_a_validation_error(client: TestClient, token: str) -> None:
    for cursor in INVALID_CURSORS:
        response = client.get("/v1/events", params={"after": cursor}, headers=bearer(token))
        error = assert_error(response, 400, "VALIDATION_ERROR")
        assert [d["field"] for d in error["details"]] == ["after"], cursor


# -- filters and offset pagination ---------------------------------------------------


@pytest.fixture
def scene(
    client: TestClient, token: str, source_id: str, normalize_all: Callable[[], int]
) -> dict[str, Any]:
    """Two sources, two entity types, three people, four days, one tombstone."""
    other = create_source(client, token, "other")
    ingest(
        client,
        token,
        source_id,
        [
            rec("deal-1", {"name": "D1", "createdBy": "ann@acme.com"}, "2026-06-01T09:00:00Z"),
            rec(
                "c-1",
                {"name": "C1", "createdBy": "bob@acme.com"},
                "2026-06-02T09:00:00Z",
                "contact",
            ),
            rec("deal-2", {"name": "D2", "createdBy": "bob@acme.com"}, "2026-06-03T09:00:00Z"),
        ],
    )
    ingest(
        client,
        token,
        other,
        [rec("deal-1", {"name": "Other D1", "createdBy": "cat@acme.com"}, "2026-06-04T09:00:00Z")],
    )
    ingest(
        client,
        token,
        source_id,
        [
            rec(
                "deal-2",
                {"name": "D2", "stage": "won", "updatedBy": "ann@acme.com"},
                "2026-06-05T09:00:00Z",
            ),
            rec("c-1", None, "2026-06-06T09:00:00Z", "contact", deleted=True),
        ],
    )
    normalize_all()
    everything = all_events(client, token, includeDeleted="true")
    assert len(everything) == 6
    actors = {a["email"]: a["id"] for a in get(client, token, "/v1/actors")}
    return {"source": source_id, "other": other, "actors": actors, "all": everything}


def _keys(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["entity"]["id"], e["action"]) for e in events]


def test_filters_narrow_the_listing(client: TestClient, token: str, scene: dict[str, Any]) -> None:
    def listed(**params: Any) -> list[tuple[str, str]]:
        return _keys(all_events(client, token, **params))

    assert listed() == [
        ("deal-1", "deal_created"),
        ("deal-2", "deal_created"),
        ("deal-1", "deal_created"),
        ("deal-2", "deal_stage_changed"),
        ("c-1", "contact_deleted"),
    ]
    assert len(listed(includeDeleted="true")) == 6
    assert listed(includeDeleted="true", entityType="contact") == [
        ("c-1", "contact_created"),
        ("c-1", "contact_deleted"),
    ]
    assert listed(includeDeleted="false", entityType="contact") == [("c-1", "contact_deleted")]
    assert listed(sourceId=scene["other"]) == [("deal-1", "deal_created")]
    assert {e["sourceId"] for e in all_events(client, token, sourceId=scene["source"])} == {
        scene["source"]
    }
    assert len(listed(sourceId=scene["source"])) == 4
    assert listed(entityId="deal-1") == [("deal-1", "deal_created")] * 2
    assert listed(entityId="deal-1", sourceId=scene["source"]) == [("deal-1", "deal_created")]
    assert listed(entityId="nope") == []
    assert listed(action="deal_stage_changed") == [("deal-2", "deal_stage_changed")]
    assert listed(action="deal_created", entityId="deal-2") == [("deal-2", "deal_created")]

    ann = scene["actors"]["ann@acme.com"]
    assert listed(actorId=ann) == [("deal-1", "deal_created"), ("deal-2", "deal_stage_changed")]
    assert {e["actor"]["id"] for e in all_events(client, token, actorId=ann)} == {ann}
    assert listed(actorId=scene["actors"]["bob@acme.com"], includeDeleted="true") == [
        ("c-1", "contact_created"),
        ("deal-2", "deal_created"),
    ]
    assert listed(actorId=MISSING_UUID) == []
    assert listed(sourceId=MISSING_UUID) == []


def test_time_filters_apply_to_the_source_timestamp(
    client: TestClient, token: str, scene: dict[str, Any]
) -> None:
    def times(**params: Any) -> list[str]:
        return [
            e["timestamp"][:10] for e in all_events(client, token, includeDeleted="true", **params)
        ]

    assert times(**{"from": "2026-06-03T09:00:00Z"}) == [
        "2026-06-03",
        "2026-06-04",
        "2026-06-05",
        "2026-06-06",
    ]  # `from` is inclusive
    assert times(to="2026-06-02T12:00:00Z") == ["2026-06-01", "2026-06-02"]
    assert times(**{"from": "2026-06-02T00:00:00Z", "to": "2026-06-04T00:00:00Z"}) == [
        "2026-06-02",
        "2026-06-03",
    ]
    # another time zone is the same instant
    assert times(**{"from": "2026-06-05T11:00:00+02:00"}) == ["2026-06-05", "2026-06-06"]
    assert times(**{"from": "2026-06-07T00:00:00Z"}) == []


def test_offset_pagination_of_the_listing(
    client: TestClient, token: str, scene: dict[str, Any]
) -> None:
    full = scene["all"]
    seen: list[dict[str, Any]] = []
    for offset in range(0, 8, 3):
        response = client.get(
            "/v1/events",
            params={"includeDeleted": "true", "limit": 3, "offset": offset},
            headers=bearer(token),
        )
        page = ok(response)
        assert response.json()["meta"]["pagination"] == {"total": 6, "limit": 3, "offset": offset}
        assert page == full[offset : offset + 3]
        seen += page
    assert seen == full
    response = client.get("/v1/events", params={"entityType": "contact"}, headers=bearer(token))
    assert response.json()["meta"]["pagination"] == {"total": 1, "limit": 20, "offset": 0}
    assert [e["timestamp"] for e in full] == sorted(e["timestamp"] for e in full)


def test_another_organisation_sees_none_of_the_events(
    client: TestClient, make_key: Callable[..., str], scene: dict[str, Any]
) -> None:
    stranger = make_key("globex")
    assert all_events(client, stranger, includeDeleted="true") == []
    assert all_events(client, stranger, sourceId=scene["source"]) == []
    assert follow_feed(client, stranger)[0] == []
    for event in scene["all"]:
        response = client.get(f"/v1/events/{event['id']}", headers=bearer(stranger))
        assert_error(response, 404, "NOT_FOUND")


INVALID_FILTERS = [
    ("sourceId", "not-a-uuid"),
    ("actorId", "42"),
    ("from", "yesterday"),
    ("from", "2026-06-01"),
    ("to", "2026-06-01T00:00:00"),  # no time zone
    ("includeDeleted", "yes"),
    ("limit", "0"),
    ("limit", "101"),
    ("offset", "-1"),
]


def test_invalid_filter_values_are_validation_errors(client: TestClient, token: str) -> None:
    for name, value in INVALID_FILTERS:
        for extra in ({}, {"after": ""}):
            response = client.get(
                "/v1/events", params={name: value, **extra}, headers=bearer(token)
            )
            error = assert_error(response, 400, "VALIDATION_ERROR")
            assert [d["field"] for d in error["details"]] == [name], (name, value)
