"""Spec §4: POST /v1/ingest — outcomes, ordering, per-record checks, verbatim storage."""

from __future__ import annotations

import copy
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.testclient import TestClient

from headwater.core.models import Outcome, RecordKey
from headwater.store import Store
from tests.api.helpers import (
    assert_success,
    batch_records,
    heads,
    ingest,
    ingest_ok,
    is_rfc3339_z,
    is_uuid,
    org_id_of,
    post_raw,
    record,
    source_counts,
)
from tests.conftest import SEED_PAYLOADS, bearer, ingest_body

DEAL_4471 = ("deal", "deal-4471")


def _seed() -> list[dict[str, Any]]:
    return copy.deepcopy(SEED_PAYLOADS)


def _outcomes(client: TestClient, token: str, batch_id: str) -> list[str]:
    return [r["outcome"] for r in batch_records(client, token, batch_id, limit=100)]


def _payload_of(client: TestClient, token: str, store: Store, batch_id: str) -> list[bytes]:
    """The stored bytes of each version a batch points at, in request order."""
    org_id = org_id_of(store, token)
    found = []
    for result in batch_records(client, token, batch_id, limit=100):
        version = store.get_version(org_id, result["versionId"])
        assert version is not None
        found.append(version.payload)
    return found


# -- the seed example, end to end -------------------------------------------------


def test_seed_example_is_accepted_as_documented(
    client: TestClient, token: str, source_id: str
) -> None:
    response = client.post("/v1/ingest", json=ingest_body(source_id), headers=bearer(token))
    assert response.headers["content-type"].startswith("application/json")
    data = assert_success(response, 202)
    assert set(data) >= {
        "batchId",
        "sourceId",
        "status",
        "accepted",
        "deduplicated",
        "rejected",
        "createdAt",
    }
    assert is_uuid(data["batchId"])
    assert data["sourceId"] == source_id
    assert data["status"] == "queued"
    assert (data["accepted"], data["deduplicated"], data["rejected"]) == (2, 0, [])
    assert is_rfc3339_z(data["createdAt"])
    assert _outcomes(client, token, data["batchId"]) == ["created", "created"]


def test_seed_example_sent_again_is_deduplicated_and_stores_nothing(
    client: TestClient, token: str, source_id: str, store: Store
) -> None:
    first = ingest_ok(client, token, source_id, _seed())
    again = ingest_ok(client, token, source_id, _seed())
    assert again["batchId"] != first["batchId"]
    assert (again["accepted"], again["deduplicated"], again["rejected"]) == (0, 2, [])
    assert again["status"] == "done"
    originals = batch_records(client, token, first["batchId"])
    repeats = batch_records(client, token, again["batchId"])
    assert [r["outcome"] for r in repeats] == ["unchanged", "unchanged"]
    # the unchanged records point at the versions stored the first time
    assert [r["versionId"] for r in repeats] == [r["versionId"] for r in originals]
    version = store.get_version(org_id_of(store, token), originals[0]["versionId"])
    assert version is not None
    assert version.batch_id == first["batchId"]
    assert source_counts(client, token, source_id)["versions"] == 2

    # other key order and whitespace are the same content
    reordered = _seed()[:1]
    reordered[0]["payload"] = dict(reversed(list(reordered[0]["payload"].items())))
    body = json.dumps(ingest_body(source_id, reordered), indent=3)
    data = assert_success(post_raw(client, token, body), 202)
    assert (data["accepted"], data["deduplicated"]) == (0, 1)


def test_one_amount_changed_supersedes_one(
    client: TestClient, token: str, source_id: str, store: Store
) -> None:
    first = ingest_ok(client, token, source_id, _seed())
    changed = _seed()
    changed[0]["payload"]["amount"] = 45000
    data = ingest_ok(client, token, source_id, changed)
    assert (data["accepted"], data["deduplicated"]) == (1, 1)
    assert data["status"] == "queued"
    results = batch_records(client, token, data["batchId"])
    assert [r["outcome"] for r in results] == ["superseded", "unchanged"]

    head = heads(store, source_id, DEAL_4471)[RecordKey(*DEAL_4471)]
    assert head.version_id == results[0]["versionId"]
    version = store.get_version(org_id_of(store, token), head.version_id)
    assert version is not None
    assert version.outcome is Outcome.SUPERSEDED
    first_results = batch_records(client, token, first["batchId"])
    assert version.previous_version_id == first_results[0]["versionId"]
    assert json.loads(version.payload)["amount"] == 45000


def test_changed_content_with_older_timestamp_is_stale_and_head_stays(
    client: TestClient, token: str, source_id: str, store: Store
) -> None:
    first = ingest_ok(client, token, source_id, _seed())
    head_before = heads(store, source_id, DEAL_4471)[RecordKey(*DEAL_4471)]
    assert head_before.version_id == batch_records(client, token, first["batchId"])[0]["versionId"]

    late = _seed()[:1]
    late[0]["payload"]["stage"] = "prospecting"
    late[0]["sourceUpdatedAt"] = "2026-06-09T09:00:00Z"  # older than the head
    data = ingest_ok(client, token, source_id, late)
    assert (data["accepted"], data["deduplicated"], data["rejected"]) == (1, 0, [])
    [result] = batch_records(client, token, data["batchId"])
    assert result["outcome"] == "stale"
    assert is_uuid(result["versionId"])

    head_after = heads(store, source_id, DEAL_4471)[RecordKey(*DEAL_4471)]
    assert head_after == head_before
    # stored verbatim for provenance, but not the head
    org_id = org_id_of(store, token)
    stale = store.get_version(org_id, result["versionId"])
    assert stale is not None
    assert stale.outcome is Outcome.STALE
    assert json.loads(stale.payload)["stage"] == "prospecting"
    head_version = store.get_version(org_id, head_after.version_id)
    assert head_version is not None
    assert json.loads(head_version.payload)["stage"] == "negotiation"
    counts = source_counts(client, token, source_id)
    assert (counts["records"], counts["versions"]) == (2, 3)

    # the same stale version sent again is a no-op
    again = ingest_ok(client, token, source_id, late)
    assert (again["accepted"], again["deduplicated"]) == (0, 1)
    assert source_counts(client, token, source_id)["versions"] == 3
    assert heads(store, source_id, DEAL_4471)[RecordKey(*DEAL_4471)] == head_before


def test_newer_timestamp_same_content_is_unchanged(
    client: TestClient, token: str, source_id: str, store: Store
) -> None:
    ingest_ok(client, token, source_id, _seed())
    head_before = heads(store, source_id, DEAL_4471)[RecordKey(*DEAL_4471)]
    newer = _seed()[:1]
    newer[0]["sourceUpdatedAt"] = "2027-01-01T00:00:00Z"
    data = ingest_ok(client, token, source_id, newer)
    assert (data["accepted"], data["deduplicated"], data["status"]) == (0, 1, "done")
    head_after = heads(store, source_id, DEAL_4471)[RecordKey(*DEAL_4471)]
    assert head_after.version_id == head_before.version_id
    assert head_after.content_hash == head_before.content_hash
    assert source_counts(client, token, source_id)["versions"] == 2


def test_unchanged_resend_with_newer_time_moves_the_heads_time(
    client: TestClient, token: str, source_id: str
) -> None:
    """The source said at 2027-01-01 that the record was unchanged, so a change stamped
    between the stored version and that time is older than what the source last said:
    stale (docs/decisions.md, "What "unchanged" means")."""
    ingest_ok(client, token, source_id, _seed()[:1])  # 2026-06-10T14:03:00Z
    newer = _seed()[:1]
    newer[0]["sourceUpdatedAt"] = "2027-01-01T00:00:00Z"
    assert ingest_ok(client, token, source_id, newer)["deduplicated"] == 1
    path = f"/v1/sources/{source_id}/records/deal/deal-4471"
    head = assert_success(client.get(path, headers=bearer(token)))
    assert head["head"]["sourceUpdatedAt"] == "2027-01-01T00:00:00Z"
    between = _seed()[:1]
    between[0]["sourceUpdatedAt"] = "2026-09-01T00:00:00Z"
    between[0]["payload"] = {**between[0]["payload"], "amount": 1}
    data = ingest_ok(client, token, source_id, between)
    assert _outcomes(client, token, data["batchId"]) == ["stale"]
    later = _seed()[:1]
    later[0]["sourceUpdatedAt"] = "2027-02-01T00:00:00Z"
    later[0]["payload"] = {**later[0]["payload"], "amount": 2}
    data = ingest_ok(client, token, source_id, later)
    assert _outcomes(client, token, data["batchId"]) == ["superseded"]


def test_timestamps_decide_between_superseded_and_stale_in_utc(
    client: TestClient, token: str, source_id: str
) -> None:
    def outcome(record_id: str, value: int, updated_at: str) -> str:
        data = ingest_ok(client, token, source_id, [record(record_id, {"v": value}, updated_at)])
        [result] = _outcomes(client, token, data["batchId"])
        return result

    assert outcome("a", 1, "2026-06-10T14:03:00Z") == "created"
    # 15:00+02:00 is 13:00Z: older than the head, although "15:00" > "14:03" as text
    assert outcome("a", 2, "2026-06-10T15:00:00+02:00") == "stale"
    # 09:30-05:00 is 14:30Z: newer, although "09:30" < "14:03" as text
    assert outcome("a", 3, "2026-06-10T09:30:00-05:00") == "superseded"
    # the same instant written with another offset, same content: unchanged
    assert outcome("a", 3, "2026-06-10T16:30:00+02:00") == "unchanged"
    # the same timestamp as the head with new content: superseded
    assert outcome("a", 4, "2026-06-10T14:30:00Z") == "superseded"
    # fractional seconds count
    assert outcome("b", 1, "2026-06-10T14:03:00.5Z") == "created"
    assert outcome("b", 2, "2026-06-10T14:03:00.25Z") == "stale"
    assert outcome("b", 3, "2026-06-10T14:03:00.500001Z") == "superseded"


# -- record identity --------------------------------------------------------------


def test_same_record_id_in_two_entity_types_are_two_records(
    client: TestClient, token: str, source_id: str
) -> None:
    records = [
        record("123", {"name": "Big deal"}, entity_type="deal"),
        record("123", {"name": "Jane"}, entity_type="contact"),
    ]
    data = ingest_ok(client, token, source_id, records)
    assert (data["accepted"], data["deduplicated"]) == (2, 0)
    assert _outcomes(client, token, data["batchId"]) == ["created", "created"]
    assert source_counts(client, token, source_id)["records"] == 2
    # changing one does not touch the other
    data = ingest_ok(
        client, token, source_id, [record("123", {"name": "Janet"}, entity_type="contact")]
    )
    assert _outcomes(client, token, data["batchId"]) == ["superseded"]
    data = ingest_ok(
        client, token, source_id, [record("123", {"name": "Big deal"}, entity_type="deal")]
    )
    assert _outcomes(client, token, data["batchId"]) == ["unchanged"]


def test_record_identity_is_exact_and_per_source(
    client: TestClient, token: str, source_id: str
) -> None:
    odd = [
        "abc",
        "ABC",
        "abc ",
        " abc",
        "a/b?c#d",
        "名前",
        "emoji-😀",
        "x" * 255,
        "🙂" * 255,  # 255 characters, 1020 bytes
        "'; DROP TABLE x; --",
        "%2F",
    ]
    data = ingest_ok(client, token, source_id, [record(r) for r in odd])
    assert (data["accepted"], data["rejected"]) == (len(odd), [])
    results = batch_records(client, token, data["batchId"])
    assert [r["recordId"] for r in results] == odd
    assert source_counts(client, token, source_id)["records"] == len(odd)

    other = assert_success(
        client.post("/v1/sources", json={"name": "Other"}, headers=bearer(token)), 201
    )["id"]
    data = ingest_ok(client, token, other, [record(r) for r in odd])
    assert (data["accepted"], data["deduplicated"]) == (len(odd), 0)


# -- ordering inside one request --------------------------------------------------


def test_versions_in_one_request_apply_in_timestamp_order(
    client: TestClient, token: str, source_id: str, store: Store
) -> None:
    records = [
        record("d", {"stage": "won"}, "2026-06-10T12:00:00Z"),  # newest, first
        record("d", {"stage": "new"}, "2026-06-10T10:00:00Z"),  # oldest
        record("d", {"stage": "qualified"}, "2026-06-10T11:00:00Z"),
    ]
    data = ingest_ok(client, token, source_id, records)
    assert (data["accepted"], data["deduplicated"]) == (3, 0)
    results = batch_records(client, token, data["batchId"])
    assert [r["index"] for r in results] == [0, 1, 2]
    assert [r["outcome"] for r in results] == ["superseded", "created", "superseded"]
    head = heads(store, source_id, ("deal", "d"))[RecordKey("deal", "d")]
    assert head.version_id == results[0]["versionId"]
    version = store.get_version(org_id_of(store, token), head.version_id)
    assert version is not None
    assert json.loads(version.payload) == {"stage": "won"}
    assert version.previous_version_id == results[2]["versionId"]

    # an older version after a newer one, against an existing head
    records = [
        record("d", {"stage": "lost"}, "2026-06-10T13:00:00Z"),
        record("d", {"stage": "early"}, "2026-06-10T09:00:00Z"),
    ]
    data = ingest_ok(client, token, source_id, records)
    assert _outcomes(client, token, data["batchId"]) == ["superseded", "stale"]
    assert data["accepted"] == 2


def test_versions_with_equal_timestamps_apply_in_index_order(
    client: TestClient, token: str, source_id: str, store: Store
) -> None:
    records = [record("d", {"v": 1}), record("d", {"v": 2}), record("d", {"v": 3})]
    data = ingest_ok(client, token, source_id, records)
    results = batch_records(client, token, data["batchId"])
    assert [r["outcome"] for r in results] == ["created", "superseded", "superseded"]
    head = heads(store, source_id, ("deal", "d"))[RecordKey("deal", "d")]
    assert head.version_id == results[2]["versionId"]

    # the very same record twice in one request: the second is deduplicated
    data = ingest_ok(client, token, source_id, [record("e"), record("e")])
    assert (data["accepted"], data["deduplicated"]) == (1, 1)
    results = batch_records(client, token, data["batchId"])
    assert [r["outcome"] for r in results] == ["created", "unchanged"]
    assert results[0]["versionId"] == results[1]["versionId"]


def test_replaying_an_exact_stored_version_is_unchanged(
    client: TestClient, token: str, source_id: str, store: Store
) -> None:
    """Spec §4.3: unchanged when "this exact version was already stored" (same content,
    same sourceUpdatedAt), even if it is no longer the head (docs/decisions.md)."""
    records = [record("d", {"v": 1}), record("d", {"v": 2}), record("d", {"v": 1})]
    data = ingest_ok(client, token, source_id, records)
    results = batch_records(client, token, data["batchId"])
    assert [r["outcome"] for r in results] == ["created", "superseded", "unchanged"]
    assert results[2]["versionId"] == results[0]["versionId"]
    head = heads(store, source_id, ("deal", "d"))[RecordKey("deal", "d")]
    assert head.version_id == results[1]["versionId"]
    # the same history replayed in a later request changes nothing either
    again = ingest_ok(client, token, source_id, records)
    assert (again["accepted"], again["deduplicated"]) == (0, 3)
    assert heads(store, source_id, ("deal", "d"))[RecordKey("deal", "d")] == head


# -- per-record rejections --------------------------------------------------------


BAD_RECORDS: list[tuple[dict[str, Any], str]] = [
    (record(""), "INVALID_RECORD_ID"),
    (record("x" * 256), "INVALID_RECORD_ID"),
    (record("a\nb"), "INVALID_RECORD_ID"),
    (record("a\x00b"), "INVALID_RECORD_ID"),
    (record("tab\there"), "INVALID_RECORD_ID"),
    (record("del\x7f"), "INVALID_RECORD_ID"),
    (record("c1\x85"), "INVALID_RECORD_ID"),
    ({**record(), "recordId": 123}, "INVALID_RECORD_ID"),
    ({**record(), "recordId": None}, "INVALID_RECORD_ID"),
    ({k: v for k, v in record().items() if k != "recordId"}, "INVALID_RECORD_ID"),
    (record(entity_type=""), "INVALID_ENTITY_TYPE"),
    (record(entity_type="deal type"), "INVALID_ENTITY_TYPE"),
    (record(entity_type="deal/x"), "INVALID_ENTITY_TYPE"),
    (record(entity_type="ü"), "INVALID_ENTITY_TYPE"),
    (record(entity_type="d" * 101), "INVALID_ENTITY_TYPE"),
    ({**record(), "entityType": 5}, "INVALID_ENTITY_TYPE"),
    ({k: v for k, v in record().items() if k != "entityType"}, "INVALID_ENTITY_TYPE"),
    ({**record(), "payload": []}, "INVALID_PAYLOAD"),
    ({**record(), "payload": "text"}, "INVALID_PAYLOAD"),
    ({**record(), "payload": 1}, "INVALID_PAYLOAD"),
    ({**record(), "payload": None}, "INVALID_PAYLOAD"),
    ({k: v for k, v in record().items() if k != "payload"}, "INVALID_PAYLOAD"),
    (record(updated_at="2026-06-10"), "INVALID_TIMESTAMP"),
    (record(updated_at="2026-06-10T14:03:00"), "INVALID_TIMESTAMP"),
    (record(updated_at="2026-13-10T14:03:00Z"), "INVALID_TIMESTAMP"),
    (record(updated_at="2026-02-30T14:03:00Z"), "INVALID_TIMESTAMP"),
    (record(updated_at="yesterday"), "INVALID_TIMESTAMP"),
    (record(updated_at=""), "INVALID_TIMESTAMP"),
    ({**record(), "sourceUpdatedAt": 1781100180}, "INVALID_TIMESTAMP"),
    ({k: v for k, v in record().items() if k != "sourceUpdatedAt"}, "INVALID_TIMESTAMP"),
    ({**record(), "payload": {"blob": "x" * (1024 * 1024)}}, "RECORD_TOO_LARGE"),
    ({**record(), "sourceUpdatedOn": "2026-06-10T14:03:00Z"}, "UNKNOWN_FIELD"),
    ({**record(), "extra": 1}, "UNKNOWN_FIELD"),
]


def test_each_rejection_code_is_reported_while_others_proceed(
    client: TestClient, token: str, source_id: str
) -> None:
    good = [record(f"good-{i}", {"i": i}) for i in range(len(BAD_RECORDS) + 1)]
    records: list[dict[str, Any]] = []
    for i, (bad, _) in enumerate(BAD_RECORDS):
        records += [good[i], bad]
    records.append(good[-1])
    data = ingest_ok(client, token, source_id, records)

    expected = {2 * i + 1: code for i, (_, code) in enumerate(BAD_RECORDS)}
    rejected = data["rejected"]
    assert [r["index"] for r in rejected] == sorted(expected)
    for item in rejected:
        assert set(item) == {"index", "recordId", "entityType", "code", "message"}
        assert item["code"] == expected[item["index"]], (records[item["index"]], item)
        assert isinstance(item["message"], str)
        assert item["message"]
        # recordId and entityType as sent (any JSON value for recordId)
        assert item["recordId"] == records[item["index"]].get("recordId")
        sent_type = records[item["index"]].get("entityType")
        assert item["entityType"] == (sent_type if isinstance(sent_type, str) else None)
    assert {r["code"] for r in rejected} == {
        "INVALID_RECORD_ID",
        "INVALID_ENTITY_TYPE",
        "INVALID_PAYLOAD",
        "INVALID_TIMESTAMP",
        "RECORD_TOO_LARGE",
        "UNKNOWN_FIELD",
    }
    typo = next(r for r in rejected if r["code"] == "UNKNOWN_FIELD")
    assert "sourceUpdatedOn" in typo["message"]
    assert data["accepted"] == len(good)
    assert data["accepted"] + data["deduplicated"] + len(rejected) == len(records)
    assert data["status"] == "queued"
    assert source_counts(client, token, source_id)["records"] == len(good)


def test_boundary_values_are_accepted(client: TestClient, token: str, source_id: str) -> None:
    filler = 1024 * 1024 - len('{"blob":""}')
    records = [
        record("mib", {"blob": "x" * filler}),  # payload JSON text of exactly 1 MiB
        *[
            record(f"type-{i}", entity_type=t)
            for i, t in enumerate(["d" * 100, "deal.v2-x_Y", "1", "A.b-C_d"])
        ],
        record("r" * 255),
        record("empty-payload", {}),
    ]
    # an unknown field at the request level is ignored (docs/decisions.md)
    body = {**ingest_body(source_id, records), "dryRun": True}
    data = assert_success(client.post("/v1/ingest", json=body, headers=bearer(token)), 202)
    assert (data["accepted"], data["rejected"]) == (len(records), [])


def test_timestamp_forms(client: TestClient, token: str, source_id: str) -> None:
    accepted = [
        "2026-06-10T14:03:00Z",
        "2026-06-10t14:03:00z",
        "2026-06-10 14:03:00Z",
        "2026-06-10T14:03:00.123456789Z",
        "2026-06-10T14:03:00+00:00",
        "2026-06-10T23:59:59-23:59",
        "1970-01-01T00:00:00Z",
        "1900-02-28T12:00:00+01:00",
        "2400-02-29T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
    ]
    refused = [
        "2026-06-10T14:03Z",  # no seconds
        "2026-06-10T14:03:00+0200",  # offset without colon
        "2026-06-10T14:03:00.Z",
        "2026-06-10T24:00:00Z",
        "2026-06-10T14:03:60Z",  # leap second (documented: rejected)
        " 2026-06-10T14:03:00Z",
        "2026-06-10T14:03:00Z\n",
        "2026-06-10T14:03:00+24:00",
        "2025-02-29T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "２０２６-06-10T14:03:00Z",  # full-width digits
        "2026-06-10T14:03:00 UTC",
    ]
    # out of range once converted to UTC: refusing or accepting is fine, failing is not
    extreme = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "99999-01-01T00:00:00Z"]
    forms = accepted + refused + extreme
    data = ingest_ok(
        client, token, source_id, [record(f"t{i}", updated_at=f) for i, f in enumerate(forms)]
    )
    rejected = {r["index"]: r["code"] for r in data["rejected"]}
    assert set(rejected.values()) <= {"INVALID_TIMESTAMP"}
    for i, form in enumerate(forms):
        if form in accepted:
            assert i not in rejected, form
        elif form in refused:
            assert i in rejected, form


def test_record_that_is_not_an_object_is_rejected_alone(
    client: TestClient, token: str, source_id: str
) -> None:
    records: list[Any] = [record("ok"), "text", 5, None, [record()]]
    data = ingest_ok(client, token, source_id, records)
    assert data["accepted"] == 1
    assert [r["index"] for r in data["rejected"]] == [1, 2, 3, 4]
    for item in data["rejected"]:
        assert item["recordId"] is None
        # OPEN: no code of §4.2 names this case; the service adds INVALID_RECORD
        # (docs/decisions.md, spec §1 "add new codes only where none fits")
        assert item["code"].isupper()
        assert item["message"]


def test_all_records_rejected_is_done_with_nothing_accepted(
    client: TestClient, token: str, source_id: str
) -> None:
    records = [record(""), record(entity_type="bad type"), {**record(), "typo": 1}]
    data = ingest_ok(client, token, source_id, records)
    assert (data["status"], data["accepted"], data["deduplicated"]) == ("done", 0, 0)
    assert [r["code"] for r in data["rejected"]] == [
        "INVALID_RECORD_ID",
        "INVALID_ENTITY_TYPE",
        "UNKNOWN_FIELD",
    ]
    batch = assert_success(client.get(f"/v1/ingest/{data['batchId']}", headers=bearer(token)))
    assert batch["status"] == "done"
    assert source_counts(client, token, source_id)["versions"] == 0


def test_counts_always_add_up(client: TestClient, token: str, source_id: str) -> None:
    ingest_ok(client, token, source_id, [record("a", {"v": 1}), record("b", {"v": 1})])
    records = [
        record("a", {"v": 1}),  # unchanged
        record("b", {"v": 2}),  # superseded
        record("c", {"v": 1}),  # created
        record("a", {"v": 0}, "2020-01-01T00:00:00Z"),  # stale
        record(""),  # rejected
    ]
    data = ingest_ok(client, token, source_id, records)
    assert (data["accepted"], data["deduplicated"], len(data["rejected"])) == (3, 1, 1)
    assert data["accepted"] + data["deduplicated"] + len(data["rejected"]) == len(records)
    assert _outcomes(client, token, data["batchId"]) == [
        "unchanged",
        "superseded",
        "created",
        "stale",
        "rejected",
    ]


# -- tombstones -------------------------------------------------------------------


def test_tombstones(client: TestClient, token: str, source_id: str, store: Store) -> None:
    ingest_ok(client, token, source_id, [*_seed(), record("d")])
    tombstone = _seed()[:1]
    tombstone[0]["deleted"] = True
    tombstone[0]["sourceUpdatedAt"] = "2026-06-11T00:00:00Z"
    data = ingest_ok(client, token, source_id, tombstone)
    assert (data["accepted"], data["rejected"]) == (1, [])
    assert _outcomes(client, token, data["batchId"]) == ["superseded"]  # same payload, deleted
    head = heads(store, source_id, DEAL_4471)[RecordKey(*DEAL_4471)]
    assert head.deleted is True
    again = ingest_ok(client, token, source_id, tombstone)
    assert (again["accepted"], again["deduplicated"]) == (0, 1)

    # a tombstone may omit its payload (docs/decisions.md)
    bare = record("d", updated_at="2026-06-11T00:00:00Z", deleted=True)
    del bare["payload"]
    data = ingest_ok(client, token, source_id, [bare])
    assert (data["accepted"], data["rejected"]) == (1, [])
    assert heads(store, source_id, ("deal", "d"))[RecordKey("deal", "d")].deleted is True

    # "deleted": false is the same as absent
    ingest_ok(client, token, source_id, [record("g")])
    data = ingest_ok(client, token, source_id, [record("g", deleted=False)])
    assert (data["accepted"], data["deduplicated"]) == (0, 1)
    # and anything else than a boolean is refused
    data = ingest_ok(client, token, source_id, [record("e", deleted="yes"), record("f", deleted=1)])
    assert data["accepted"] == 0
    assert [(r["index"], r["recordId"]) for r in data["rejected"]] == [(0, "e"), (1, "f")]
    assert all("deleted" in r["message"] for r in data["rejected"])


# -- verbatim storage -------------------------------------------------------------

ODD_PAYLOAD = (
    '{ "zeta" :1.0,"alpha":  1e3 ,\n\t"neg": -0, "big" : 12345678901234567890,'
    ' "bigger":99999999999999999999, "esc": "caf\\u00e9 \\u2603 \\ud83d\\ude00 \\/ \\"q\\"",'
    ' "raw": "café ☃", "nested": { "b" : [ 1 , 2.50 , 1E-7 ], "a" : null } ,"t":true }'
)


def _raw_body(source_id: str, payload: str, record_id: str = "odd-1") -> str:
    return (
        '{"sourceId": "' + source_id + '", "records": [ {"recordId": "' + record_id + '",'
        ' "entityType": "deal", "sourceUpdatedAt": "2026-06-10T14:03:00Z",'
        ' "payload":' + payload + "} ]}"
    )


def test_payload_is_stored_byte_for_byte(
    client: TestClient, token: str, source_id: str, store: Store
) -> None:
    body = _raw_body(source_id, ODD_PAYLOAD)
    assert ODD_PAYLOAD in body
    data = assert_success(post_raw(client, token, body), 202)
    assert (data["accepted"], data["rejected"]) == (1, [])
    assert _payload_of(client, token, store, data["batchId"]) == [ODD_PAYLOAD.encode()]


def test_same_content_with_other_spacing_key_order_and_escapes_is_deduplicated(
    client: TestClient, token: str, source_id: str
) -> None:
    assert_success(post_raw(client, token, _raw_body(source_id, ODD_PAYLOAD)), 202)
    same = (
        '{"t":true,"nested":{"a":null,"b":[1,2.50,1E-7]},"raw":"caf\\u00e9 \\u2603",'
        '"esc":"café ☃ 😀 / \\u0022q\\u0022","bigger":99999999999999999999,'
        '"big":12345678901234567890,"neg":-0,"alpha":1e3,"zeta":1.0}'
    )
    data = assert_success(post_raw(client, token, _raw_body(source_id, same)), 202)
    assert (data["accepted"], data["deduplicated"]) == (0, 1)
    assert source_counts(client, token, source_id)["versions"] == 1


def test_content_differences_are_never_lost(
    client: TestClient, token: str, source_id: str, store: Store
) -> None:
    """99999999999999999999 and 100000000000000000000 are the same double, NFC and NFD
    are different strings: each pair must stay different content."""
    pairs = [
        ('{"n": 99999999999999999999}', '{"n": 100000000000000000000}'),
        ('{"n": 99999999999999999999}', '{"n": 99999999999999999998}'),
        ('{"n": 12345678901234567890}', '{"n": 12345678901234567891}'),
        ('{"s": "caf\\u00e9"}', '{"s": "cafe\\u0301"}'),
        ('{"n": 1}', '{"n": 1.0}'),  # documented: integer vs float stay distinct
        ('{"a": null}', "{}"),
        ('{"l": [1, 2]}', '{"l": [2, 1]}'),
    ]
    for i, (first, second) in enumerate(pairs):
        record_id = f"pair-{i}"
        assert_success(post_raw(client, token, _raw_body(source_id, first, record_id)), 202)
        data = assert_success(post_raw(client, token, _raw_body(source_id, second, record_id)), 202)
        assert _outcomes(client, token, data["batchId"]) == ["superseded"], (first, second)
        assert _payload_of(client, token, store, data["batchId"]) == [second.encode()]


def test_each_payload_keeps_its_own_exact_bytes(
    client: TestClient, token: str, source_id: str, store: Store
) -> None:
    payloads = [
        '{"a":1}',
        '{ "a" : 2 }',
        '{\n  "b": [1,\n 2]\n}',
        '{"x":"}\\"{"}',
        '{"name": "Zoë ☃ 名前 😀"}',
        '{"s": "a\\u0000b\\u001fc"}',
    ]
    records = ", ".join(
        '{"recordId": "r' + str(i) + '", "entityType": "deal",'
        ' "sourceUpdatedAt": "2026-06-10T14:03:00Z", "payload": ' + p + "}"
        for i, p in enumerate(payloads)
    )
    # the payload is not the last field, with whitespace around it
    records += (
        ', {"payload" : \n\t { "a" : [ 1 ,2 ] } \r\n , "recordId": "ws",'
        ' "entityType": "deal", "sourceUpdatedAt": "2026-06-10T14:03:00Z"}'
    )
    body = '{"records": [' + records + '], "sourceId": "' + source_id + '"}'
    data = assert_success(post_raw(client, token, body.encode("utf-8")), 202)
    assert data["rejected"] == []
    expected = [p.encode("utf-8") for p in [*payloads, '{ "a" : [ 1 ,2 ] }']]
    assert _payload_of(client, token, store, data["batchId"]) == expected


# -- concurrency ------------------------------------------------------------------


def test_concurrent_ingests_of_the_same_records_create_each_once(
    client: TestClient, token: str, source_id: str
) -> None:
    records = [record(f"r{i}", {"i": i}) for i in range(20)]
    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(lambda _: ingest(client, token, source_id, records), range(5)))
    acks = [assert_success(r, 202) for r in results]
    assert sum(a["accepted"] for a in acks) == 20
    assert sum(a["deduplicated"] for a in acks) == 80
    counts = source_counts(client, token, source_id)
    assert (counts["records"], counts["versions"], counts["batches"]) == (20, 20, 5)
