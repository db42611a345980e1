"""Spec §9.1: the OCEL 2.0 and XES exports, read back by pm4py (the field's reference
library) as an independent oracle, and compared with what the event API says."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from headwater.api.routes import export as export_routes
from tests.conftest import SEED_PAYLOADS, assert_error, bearer
from tests.normalize.helpers import MISSING_UUID, all_events, create_source, get, ingest, rec

pm4py = pytest.importorskip("pm4py")

T1, T2, T3, T4 = (f"2026-06-1{d}T10:00:00Z" for d in range(1, 5))


def _export(client: TestClient, token: str, kind: str, path: Path, **params: Any) -> Path:
    response = client.get(f"/v1/export/{kind}", params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"]
    path.write_bytes(response.content)
    # the progress contract: the first X-Export-Events newlines end the events
    assert response.content.count(b"\n") >= int(response.headers["x-export-events"])
    return path


def _load(client: TestClient, token: str, kind: str, tmp_path: Path, **params: Any) -> Any:
    name = "log.json" if kind == "ocel" else "log.xes"
    path = _export(client, token, kind, tmp_path / name, **params)
    if kind == "ocel":
        return pm4py.read_ocel2_json(str(path))
    return pm4py.read_xes(str(path))


def _history(client: TestClient, token: str, source_id: str) -> None:
    """The seed's deals, then deal-4471 moves stage and gets a new owner, a renamed,
    updated and finally deleted deal-4472, and a ticket."""
    ingest(client, token, source_id, SEED_PAYLOADS)
    ingest(
        client,
        token,
        source_id,
        [
            rec("deal-4471", {"name": "Acme Corp renewal", "stage": "closed_won",
                              "amount": 42000, "owner": "ann@acme.com",
                              "movedToStageBy": "jane.smith@acme.com"}, T1),
            rec("deal-4472", {"name": "Northwind (big)", "stage": "closed_won",
                              "amount": 99, "owner": "mark.lee@acme.com"}, T1),
            rec("t-1", {"subject": "Printer", "status": "open", "author": "Bob"}, T2, "ticket"),
        ],
    )  # fmt: skip
    ingest(client, token, source_id, [rec("deal-4472", None, T3, deleted=True)])


def _entities(events: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(e["sourceId"], e["entity"]["type"], e["entity"]["id"]) for e in events}


def _actors(events: list[dict[str, Any]]) -> set[str]:
    return {e["actor"]["id"] for e in events if e["actor"] is not None}


@pytest.mark.parametrize("include_deleted", ["false", "true"])
def test_ocel_is_read_by_pm4py_and_agrees_with_the_event_api(
    client: TestClient,
    token: str,
    source_id: str,
    normalize_all: Callable[[], int],
    tmp_path: Path,
    include_deleted: str,
) -> None:
    _history(client, token, source_id)
    normalize_all()
    events = all_events(client, token, includeDeleted=include_deleted)
    ocel = _load(client, token, "ocel", tmp_path, includeDeleted=include_deleted)

    assert len(ocel.events) == len(events)
    assert set(ocel.events["ocel:eid"]) == {e["id"] for e in events}
    by_id = {e["id"]: e for e in events}
    for _, row in ocel.events.iterrows():
        event = by_id[row["ocel:eid"]]
        assert row["ocel:activity"] == event["action"]
        assert row["ocel:timestamp"].isoformat().replace("+00:00", "Z") == event["timestamp"]
    entity_ids = {f"{s}/{t}/{quote(r, safe='')}" for s, t, r in _entities(events)}
    actor_ids = _actors(events)
    objects = dict(zip(ocel.objects["ocel:oid"], ocel.objects["ocel:type"], strict=True))
    assert set(objects) == entity_ids | actor_ids
    assert len(objects) == len(entity_ids) + len(actor_ids)
    assert {objects[a] for a in actor_ids} == {"actor"}
    # every event is related to its entity, and to its actor when it has one
    relations = ocel.relations
    for event in events:
        mine = relations[relations["ocel:eid"] == event["id"]]
        qualifiers = dict(zip(mine["ocel:qualifier"], mine["ocel:oid"], strict=True))
        entity = event["entity"]
        assert qualifiers["entity"] == f"{event['sourceId']}/{entity['type']}/{entity['id']}"
        assert qualifiers.get("actor") == (event["actor"] or {}).get("id")


def test_ocel_object_attributes_are_time_stamped_by_the_events_that_set_them(
    client: TestClient,
    token: str,
    source_id: str,
    normalize_all: Callable[[], int],
    tmp_path: Path,
) -> None:
    _history(client, token, source_id)
    normalize_all()
    path = _export(client, token, "ocel", tmp_path / "log.json", includeDeleted="true")
    document = json.loads(path.read_bytes())
    objects = {o["id"]: o for o in document["objects"]}
    deal = objects[f"{source_id}/deal/deal-4471"]
    assert deal["type"] == "deal"
    stamped = [(a["name"], a["value"], a["time"]) for a in deal["attributes"]]
    assert stamped == [
        ("name", "Acme Corp renewal", "2026-06-10T14:03:00Z"),
        ("owner", "jane.smith@acme.com", "2026-06-10T14:03:00Z"),
        ("stage", "negotiation", "2026-06-10T14:03:00Z"),
        ("owner", "ann@acme.com", T1),
        ("stage", "closed_won", T1),
    ]
    other = [(a["name"], a["value"]) for a in objects[f"{source_id}/deal/deal-4472"]["attributes"]]
    # the rename is an attribute change; the amount (a `deal_updated` change) is not one
    assert other[:3] == [
        ("name", "Northwind expansion"),
        ("owner", "mark.lee@acme.com"),
        ("stage", "closed_won"),
    ]  # the first values come from the created version's payload
    assert ("name", "Northwind (big)") in other
    assert all(name != "amount" for name, _ in other)
    # pm4py sees the first value as the object's and the later ones as changes
    ocel = pm4py.read_ocel2_json(str(path))
    changes = ocel.object_changes
    mine = changes[changes["ocel:oid"] == f"{source_id}/deal/deal-4471"]
    assert sorted(mine["ocel:field"]) == ["owner", "stage"]
    # declared types cover every attribute written
    declared = {t["name"]: {a["name"] for a in t["attributes"]} for t in document["objectTypes"]}
    assert declared["deal"] >= {"name", "stage", "owner"}
    assert declared["actor"] >= {"email", "placeholder"}
    event_types = {t["name"]: {a["name"] for a in t["attributes"]} for t in document["eventTypes"]}
    assert event_types["deal_updated"] == {"amount", "name"}
    assert event_types["deal_created"] == set()


def test_xes_is_read_by_pm4py_with_one_trace_per_entity(
    client: TestClient,
    token: str,
    source_id: str,
    normalize_all: Callable[[], int],
    tmp_path: Path,
) -> None:
    _history(client, token, source_id)
    normalize_all()
    events = all_events(client, token, entityType="deal")
    log = _load(client, token, "xes", tmp_path, entityType="deal")
    assert len(log) == len(events)
    assert set(log["identity:id"]) == {e["id"] for e in events}
    cases = {f"{s}/{t}/{r}" for s, t, r in _entities(events)}
    assert set(log["case:concept:name"]) == cases
    assert set(log["case:entityType"]) == {"deal"}
    by_id = {e["id"]: e for e in events}
    for _, row in log.iterrows():
        event = by_id[row["identity:id"]]
        assert row["concept:name"] == event["action"]
        assert row["time:timestamp"].isoformat().replace("+00:00", "Z") == event["timestamp"]
        actor = event["actor"]
        expected = (actor["email"] or actor["name"]) if actor else None
        resource = row.get("org:resource")
        assert (resource if isinstance(resource, str) else None) == expected
    # within a trace, time order
    for _, trace in log.groupby("case:concept:name"):
        assert list(trace["time:timestamp"]) == sorted(trace["time:timestamp"])


@pytest.mark.parametrize("kind", ["ocel", "xes"])
def test_pages_split_entities_anywhere_and_nothing_is_lost(
    client: TestClient,
    token: str,
    source_id: str,
    normalize_all: Callable[[], int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    _history(client, token, source_id)
    normalize_all()
    whole = _export(client, token, kind, tmp_path / "whole", includeDeleted="true").read_bytes()
    for size in (1, 2, 3):
        monkeypatch.setattr(export_routes, "PAGE", size)
        paged = _export(client, token, kind, tmp_path / f"p{size}", includeDeleted="true")
        assert paged.read_bytes() == whole


def test_filters_narrow_both_exports_like_the_event_list(
    client: TestClient,
    token: str,
    source_id: str,
    normalize_all: Callable[[], int],
    tmp_path: Path,
) -> None:
    _history(client, token, source_id)
    other = create_source(client, token, "Helpdesk")
    ingest(client, token, other, [rec("deal-4471", {"name": "same id"}, T4)])
    normalize_all()
    cases: list[dict[str, str]] = [
        {},
        {"sourceId": source_id},
        {"sourceId": other},
        {"entityType": "ticket"},
        {"entityType": "nothing"},
        {"from": T1, "to": T3},
        {"from": T1, "includeDeleted": "true"},
    ]
    for params in cases:
        events = all_events(client, token, **params)
        response = client.get("/v1/export/ocel", params=params, headers=bearer(token))
        assert int(response.headers["x-export-events"]) == len(events), params
        document = response.json()
        assert sorted(e["id"] for e in document["events"]) == sorted(e["id"] for e in events)
        object_count = len(_entities(events)) + len(_actors(events))
        assert len(document["objects"]) == object_count, params
        xes = client.get("/v1/export/xes", params=params, headers=bearer(token))
        assert xes.content.count(b"<event>") == len(events)
        assert xes.content.count(b"<trace>") == len(_entities(events))
    # the same recordId in two sources: two objects, and each keeps its id across exports
    ids = [o["id"] for o in client.get("/v1/export/ocel", headers=bearer(token)).json()["objects"]]
    assert f"{source_id}/deal/deal-4471" in ids and f"{other}/deal/deal-4471" in ids
    again = client.get("/v1/export/ocel", headers=bearer(token)).json()["objects"]
    assert [o["id"] for o in again] == ids


def test_an_empty_log_is_a_valid_log(
    client: TestClient, token: str, source_id: str, tmp_path: Path
) -> None:
    # (pm4py itself cannot load a log without events, so the document is checked here)
    ocel = client.get("/v1/export/ocel", headers=bearer(token))
    assert ocel.headers["content-type"].startswith("application/json")
    assert ocel.json() == {"events": [], "objects": [], "objectTypes": [], "eventTypes": []}
    xes = client.get("/v1/export/xes", headers=bearer(token))
    assert xes.headers["content-type"].startswith("application/xml")
    assert xes.headers["x-export-events"] == "0"
    assert b"<trace>" not in xes.content and xes.content.endswith(b"</log>\n")


HOSTILE = "a\x00b\x01c\x1f <&\"'> \t\n\r \ud7ff\ue000 😀 ]]> \x7f\x85\u2028\u2029 end"


def test_any_payload_text_stays_well_formed_in_both_formats(
    client: TestClient,
    token: str,
    source_id: str,
    normalize_all: Callable[[], int],
    tmp_path: Path,
) -> None:
    record_id = "id/with?odd&chars <>\"' 😀"
    hostile = HOSTILE.replace("\x00", "")  # JSON text may hold \u0000; see the assert below
    ingest(
        client,
        token,
        source_id,
        [
            rec(record_id, {"name": hostile, "stage": HOSTILE, "owner": {"name": hostile}}, T1,
                "weird.type-1"),
            rec(record_id, {"name": hostile, "stage": "x", "nested": {"k": HOSTILE}}, T2,
                "weird.type-1"),
        ],
    )  # fmt: skip
    normalize_all()
    events = all_events(client, token)
    assert len(events) > 3
    ocel_path = _export(client, token, "ocel", tmp_path / "log.json")
    ocel = pm4py.read_ocel2_json(str(ocel_path))
    assert len(ocel.events) == len(events)
    document = json.loads(ocel_path.read_bytes())
    stage = [a for o in document["objects"] for a in o["attributes"] if a["name"] == "stage"]
    assert stage[0]["value"] == HOSTILE  # JSON carries every character verbatim
    log = _load(client, token, "xes", tmp_path)
    assert len(log) == len(events)
    case = set(log["case:concept:name"])
    assert case == {f"{source_id}/weird.type-1/{quote(record_id, safe='')}"}
    assert set(log["case:recordId"]) == {record_id}
    resources = {r for r in log["org:resource"] if isinstance(r, str)}
    # characters XML 1.0 cannot carry become U+FFFD; tab, newline and CR survive
    assert resources == {hostile.replace("\x01", "\ufffd").replace("\x1f", "\ufffd")}


def test_bad_filters_answer_400_and_other_sources_404(
    client: TestClient, token: str, make_key: Any, source_id: str
) -> None:
    for kind in ("ocel", "xes"):
        path = f"/v1/export/{kind}"
        for params, field in [
            ({"sourceId": "nope"}, "sourceId"),
            ({"from": "yesterday"}, "from"),
            ({"to": "2026-06-12"}, "to"),
            ({"includeDeleted": "maybe"}, "includeDeleted"),
            ({"from": T2, "to": T1}, "to"),
        ]:
            body = assert_error(
                client.get(path, params=params, headers=bearer(token)), 400, "VALIDATION_ERROR"
            )
            assert body["details"][0]["field"] == field
        assert_error(
            client.get(path, params={"sourceId": MISSING_UUID}, headers=bearer(token)),
            404,
            "NOT_FOUND",
        )
        stranger = make_key(org="globex")
        assert_error(
            client.get(path, params={"sourceId": source_id}, headers=bearer(stranger)),
            404,
            "NOT_FOUND",
        )
        assert_error(client.get(path), 401, "MISSING_AUTH_HEADER")
        ingest_only = make_key(scopes="ingest")
        assert_error(client.get(path, headers=bearer(ingest_only)), 403, "INSUFFICIENT_SCOPE")


def test_another_organisations_export_holds_none_of_this_ones_data(
    client: TestClient,
    token: str,
    make_key: Any,
    source_id: str,
    normalize_all: Callable[[], int],
) -> None:
    _history(client, token, source_id)
    stranger = make_key(org="globex")
    theirs = create_source(client, stranger, "Theirs")
    ingest(client, stranger, theirs, [rec("g-1", {"name": "Globex deal", "owner": "x@g.io"}, T1)])
    normalize_all()
    mine = {e["id"] for e in all_events(client, token, includeDeleted="true")}
    for params in ({}, {"includeDeleted": "true"}):
        ocel = client.get("/v1/export/ocel", params=params, headers=bearer(stranger))
        text = ocel.content
        assert source_id.encode() not in text and b"acme.com" not in text
        document = ocel.json()
        assert not mine & {e["id"] for e in document["events"]}
        assert {o["id"] for o in document["objects"] if o["type"] != "actor"} == {
            f"{theirs}/deal/g-1"
        }
        xes = client.get("/v1/export/xes", params=params, headers=bearer(stranger)).content
        assert source_id.encode() not in xes and b"acme.com" not in xes
        assert xes.count(b"<event>") == len(get(client, stranger, "/v1/events", **params))
