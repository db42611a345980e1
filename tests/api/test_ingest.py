"""Spec §4: POST /v1/ingest — outcomes, ordering, per-record checks, verbatim storage."""

from __future__ import annotations

import copy
import json
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


# -- the seed example, end to end -------------------------------------------------


def test_seed_example_is_accepted_as_documented(
    client: TestClient, token: str, source_id: str
) -> None:
    response = client.post("/v1/ingest", json=ingest_body(source_id), headers=bearer(token))
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


def test_seed_example_sent_again_is_deduplicated(
    client: TestClient, token: str, source_id: str
) -> None:
    first = ingest_ok(client, token, source_id, _seed())
    again = ingest_ok(client, token, source_id, _seed())
    assert again["batchId"] != first["batchId"]
    assert (again["accepted"], again["deduplicated"], again["rejected"]) == (0, 2, [])
    assert again["status"] == "done"
    assert _outcomes(client, token, again["batchId"]) == ["unchanged", "unchanged"]
    assert source_counts(client, token, source_id)["versions"] == 2


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


def test_stale_version_sent_again_is_unchanged(
    client: TestClient, token: str, source_id: str
) -> None:
    ingest_ok(client, token, source_id, _seed())
    late = _seed()[:1]
    late[0]["payload"]["stage"] = "prospecting"
    late[0]["sourceUpdatedAt"] = "2026-06-09T09:00:00Z"
    assert ingest_ok(client, token, source_id, late)["accepted"] == 1
    again = ingest_ok(client, token, source_id, late)
    assert (again["accepted"], again["deduplicated"]) == (0, 1)
    assert source_counts(client, token, source_id)["versions"] == 3


def test_same_timestamp_with_new_content_supersedes(
    client: TestClient, token: str, source_id: str
) -> None:
    ingest_ok(client, token, source_id, _seed())
    same_time = _seed()[:1]
    same_time[0]["payload"]["stage"] = "won"
    data = ingest_ok(client, token, source_id, same_time)
    assert _outcomes(client, token, data["batchId"]) == ["superseded"]


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


def test_reordered_keys_and_whitespace_are_unchanged(
    client: TestClient, token: str, source_id: str
) -> None:
    ingest_ok(client, token, source_id, _seed())
    reordered = _seed()[:1]
    reordered[0]["payload"] = dict(reversed(list(reordered[0]["payload"].items())))
    body = json.dumps(ingest_body(source_id, reordered), indent=3)
    data = assert_success(post_raw(client, token, body), 202)
    assert (data["accepted"], data["deduplicated"]) == (0, 1)


def test_timestamps_are_compared_in_utc(client: TestClient, token: str, source_id: str) -> None:
    ingest_ok(client, token, source_id, [record("d", {"v": 1}, "2026-06-10T14:03:00Z")])
    # 15:00+02:00 is 13:00Z: older than the head, although "15:00" > "14:03" as text
    older = ingest_ok(
        client, token, source_id, [record("d", {"v": 2}, "2026-06-10T15:00:00+02:00")]
    )
    assert _outcomes(client, token, older["batchId"]) == ["stale"]
    # 09:30-05:00 is 14:30Z: newer, although "09:30" < "14:03" as text
    newer = ingest_ok(
        client, token, source_id, [record("d", {"v": 3}, "2026-06-10T09:30:00-05:00")]
    )
    assert _outcomes(client, token, newer["batchId"]) == ["superseded"]


def test_same_instant_in_another_offset_with_same_content_is_unchanged(
    client: TestClient, token: str, source_id: str
) -> None:
    ingest_ok(client, token, source_id, [record("d", {"v": 1}, "2026-06-10T14:03:00Z")])
    again = ingest_ok(
        client, token, source_id, [record("d", {"v": 1}, "2026-06-10T16:03:00+02:00")]
    )
    assert (again["accepted"], again["deduplicated"]) == (0, 1)


def test_fractional_seconds_order_records(client: TestClient, token: str, source_id: str) -> None:
    ingest_ok(client, token, source_id, [record("d", {"v": 1}, "2026-06-10T14:03:00.5Z")])
    older = ingest_ok(client, token, source_id, [record("d", {"v": 2}, "2026-06-10T14:03:00.25Z")])
    assert _outcomes(client, token, older["batchId"]) == ["stale"]


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


def test_same_record_in_two_sources_are_two_records(
    client: TestClient, token: str, source_id: str
) -> None:
    other = assert_success(
        client.post("/v1/sources", json={"name": "Other"}, headers=bearer(token)), 201
    )["id"]
    ingest_ok(client, token, source_id, _seed())
    data = ingest_ok(client, token, other, _seed())
    assert (data["accepted"], data["deduplicated"]) == (2, 0)


def test_record_ids_are_case_and_space_sensitive(
    client: TestClient, token: str, source_id: str
) -> None:
    records = [record("abc"), record("ABC"), record("abc "), record(" abc")]
    data = ingest_ok(client, token, source_id, records)
    assert data["accepted"] == 4
    assert source_counts(client, token, source_id)["records"] == 4


def test_record_id_may_hold_any_printable_character(
    client: TestClient, token: str, source_id: str
) -> None:
    odd = ["a/b?c#d", "名前", "emoji-😀", "x" * 255, "🙂" * 255, "'; DROP TABLE x; --", "%2F"]
    data = ingest_ok(client, token, source_id, [record(r) for r in odd])
    assert (data["accepted"], data["rejected"]) == (len(odd), [])
    results = batch_records(client, token, data["batchId"])
    assert [r["recordId"] for r in results] == odd


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


def test_versions_with_equal_timestamps_apply_in_index_order(
    client: TestClient, token: str, source_id: str, store: Store
) -> None:
    records = [record("d", {"v": 1}), record("d", {"v": 2}), record("d", {"v": 3})]
    data = ingest_ok(client, token, source_id, records)
    results = batch_records(client, token, data["batchId"])
    assert [r["outcome"] for r in results] == ["created", "superseded", "superseded"]
    head = heads(store, source_id, ("deal", "d"))[RecordKey("deal", "d")]
    assert head.version_id == results[2]["versionId"]


def test_replaying_an_exact_stored_version_is_unchanged(
    client: TestClient, token: str, source_id: str, store: Store
) -> None:
    """Spec §4.3: unchanged when "this exact version was already stored" (same content,
    same sourceUpdatedAt), even if it is no longer the head."""
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


def test_duplicate_record_in_one_request_is_deduplicated(
    client: TestClient, token: str, source_id: str
) -> None:
    data = ingest_ok(client, token, source_id, [record("d"), record("d")])
    assert (data["accepted"], data["deduplicated"]) == (1, 1)
    results = batch_records(client, token, data["batchId"])
    assert [r["outcome"] for r in results] == ["created", "unchanged"]
    assert results[0]["versionId"] == results[1]["versionId"]


def test_older_version_after_newer_in_one_request_is_stale(
    client: TestClient, token: str, source_id: str
) -> None:
    ingest_ok(client, token, source_id, [record("d", {"v": 0}, "2026-06-10T11:00:00Z")])
    records = [
        record("d", {"v": 2}, "2026-06-10T12:00:00Z"),
        record("d", {"v": 1}, "2026-06-10T10:00:00Z"),
    ]
    data = ingest_ok(client, token, source_id, records)
    assert _outcomes(client, token, data["batchId"]) == ["superseded", "stale"]
    assert data["accepted"] == 2


# -- per-record rejections --------------------------------------------------------


BAD_RECORDS: list[tuple[dict[str, Any], str]] = [
    (record(""), "INVALID_RECORD_ID"),
    (record("x" * 256), "INVALID_RECORD_ID"),
    (record("a\nb"), "INVALID_RECORD_ID"),
    (record("a\x00b"), "INVALID_RECORD_ID"),
    (record("tab\there"), "INVALID_RECORD_ID"),
    (record("del\x7f"), "INVALID_RECORD_ID"),
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
        assert set(item) == {"index", "recordId", "code", "message"}
        assert item["code"] == expected[item["index"]], (records[item["index"]], item)
        assert isinstance(item["message"], str)
        assert item["message"]
        sent = records[item["index"]].get("recordId")
        assert item["recordId"] == (sent if isinstance(sent, str) else None)
    assert {r["code"] for r in rejected} == {
        "INVALID_RECORD_ID",
        "INVALID_ENTITY_TYPE",
        "INVALID_PAYLOAD",
        "INVALID_TIMESTAMP",
        "RECORD_TOO_LARGE",
        "UNKNOWN_FIELD",
    }
    assert data["accepted"] == len(good)
    assert data["accepted"] + data["deduplicated"] + len(rejected) == len(records)
    assert data["status"] == "queued"
    assert source_counts(client, token, source_id)["records"] == len(good)


def test_rejected_record_message_names_the_unknown_field(
    client: TestClient, token: str, source_id: str
) -> None:
    data = ingest_ok(client, token, source_id, [{**record(), "sourceUpdatedOn": "x"}])
    assert "sourceUpdatedOn" in data["rejected"][0]["message"]


def test_payload_of_exactly_1_mib_is_accepted(
    client: TestClient, token: str, source_id: str
) -> None:
    filler = 1024 * 1024 - len('{"blob":""}')
    data = ingest_ok(client, token, source_id, [record(payload={"blob": "x" * filler})])
    assert (data["accepted"], data["rejected"]) == (1, [])


def test_record_that_is_not_an_object_is_rejected_alone(
    client: TestClient, token: str, source_id: str
) -> None:
    records: list[Any] = [record("ok"), "text", 5, None, [record()]]
    data = ingest_ok(client, token, source_id, records)
    assert data["accepted"] == 1
    assert [r["index"] for r in data["rejected"]] == [1, 2, 3, 4]
    for item in data["rejected"]:
        assert item["recordId"] is None
        # no code of §4.2 names this case; the service adds one (spec: "only where none fits")
        assert item["code"].isupper()


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


def test_tombstone_is_accepted_and_supersedes(
    client: TestClient, token: str, source_id: str, store: Store
) -> None:
    ingest_ok(client, token, source_id, _seed())
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


def test_tombstone_may_omit_the_payload(client: TestClient, token: str, source_id: str) -> None:
    ingest_ok(client, token, source_id, [record("d")])
    tombstone = {k: v for k, v in record("d", updated_at="2026-06-11T00:00:00Z").items()}
    del tombstone["payload"]
    data = ingest_ok(client, token, source_id, [{**tombstone, "deleted": True}])
    assert (data["accepted"], data["rejected"]) == (1, [])


def test_deleted_false_is_the_same_as_absent(
    client: TestClient, token: str, source_id: str
) -> None:
    ingest_ok(client, token, source_id, [record("d")])
    data = ingest_ok(client, token, source_id, [record("d", deleted=False)])
    assert (data["accepted"], data["deduplicated"]) == (0, 1)


def test_deleted_must_be_a_boolean(client: TestClient, token: str, source_id: str) -> None:
    data = ingest_ok(client, token, source_id, [record("d", deleted="yes"), record("e")])
    assert data["accepted"] == 1
    [rejection] = data["rejected"]
    assert rejection["index"] == 0
    assert rejection["recordId"] == "d"
    assert "deleted" in rejection["message"]


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
    [result] = batch_records(client, token, data["batchId"])
    version = store.get_version(org_id_of(store, token), result["versionId"])
    assert version is not None
    assert version.payload == ODD_PAYLOAD.encode()


def test_same_content_with_other_spacing_key_order_and_escapes_is_deduplicated(
    client: TestClient, token: str, source_id: str, store: Store
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


def test_twenty_digit_integers_are_not_rounded(
    client: TestClient, token: str, source_id: str, store: Store
) -> None:
    """99999999999999999999 and 100000000000000000000 are the same double: content must
    still be told apart."""
    first = '{"n": 99999999999999999999}'
    assert_success(post_raw(client, token, _raw_body(source_id, first)), 202)
    for other in ['{"n": 100000000000000000000}', '{"n": 99999999999999999998}']:
        data = assert_success(post_raw(client, token, _raw_body(source_id, other)), 202)
        assert _outcomes(client, token, data["batchId"]) == ["superseded"], other
        [result] = batch_records(client, token, data["batchId"])
        stored = store.get_version(org_id_of(store, token), result["versionId"])
        assert stored is not None
        assert stored.payload == other.encode()


def test_distinct_strings_are_distinct_content(
    client: TestClient, token: str, source_id: str
) -> None:
    assert_success(post_raw(client, token, _raw_body(source_id, '{"s": "caf\\u00e9"}')), 202)
    data = assert_success(
        post_raw(client, token, _raw_body(source_id, '{"s": "cafe\\u0301"}')), 202
    )
    # NFC and NFD spellings are different strings; no Unicode normalization happens
    assert _outcomes(client, token, data["batchId"]) == ["superseded"]


def test_each_payload_of_a_request_keeps_its_own_bytes(
    client: TestClient, token: str, source_id: str, store: Store
) -> None:
    payloads = ['{"a":1}', '{ "a" : 2 }', '{\n  "b": [1,\n 2]\n}', '{"x":"}\\"{"}']
    records = ", ".join(
        '{"recordId": "r' + str(i) + '", "entityType": "deal",'
        ' "sourceUpdatedAt": "2026-06-10T14:03:00Z", "payload": ' + p + "}"
        for i, p in enumerate(payloads)
    )
    body = '{"records": [' + records + '], "sourceId": "' + source_id + '"}'
    data = assert_success(post_raw(client, token, body), 202)
    results = batch_records(client, token, data["batchId"])
    org_id = org_id_of(store, token)
    for result, payload in zip(results, payloads, strict=True):
        version = store.get_version(org_id, result["versionId"])
        assert version is not None
        assert version.payload == payload.encode()


def test_payload_with_non_ascii_utf8_is_stored_verbatim(
    client: TestClient, token: str, source_id: str, store: Store
) -> None:
    payload = '{"name": "Zoë ☃ 名前 😀"}'
    data = assert_success(post_raw(client, token, _raw_body(source_id, payload).encode()), 202)
    [result] = batch_records(client, token, data["batchId"])
    version = store.get_version(org_id_of(store, token), result["versionId"])
    assert version is not None
    assert version.payload == payload.encode("utf-8")


def test_nothing_is_stored_for_unchanged_records(
    client: TestClient, token: str, source_id: str, store: Store
) -> None:
    first = ingest_ok(client, token, source_id, [record("d")])
    again = ingest_ok(client, token, source_id, [record("d")])
    [original] = batch_records(client, token, first["batchId"])
    [unchanged] = batch_records(client, token, again["batchId"])
    assert unchanged["outcome"] == "unchanged"
    assert unchanged["versionId"] == original["versionId"]
    version = store.get_version(org_id_of(store, token), original["versionId"])
    assert version is not None
    assert version.batch_id == first["batchId"]


def test_ingest_response_is_json_with_the_right_type(
    client: TestClient, token: str, source_id: str
) -> None:
    response = ingest(client, token, source_id, _seed())
    assert response.headers["content-type"].startswith("application/json")
    assert response.status_code == 202


# -- field formats ----------------------------------------------------------------


def test_accepted_timestamp_forms(client: TestClient, token: str, source_id: str) -> None:
    forms = [
        "2026-06-10T14:03:00Z",
        "2026-06-10t14:03:00z",
        "2026-06-10 14:03:00Z",
        "2026-06-10T14:03:00.123456789Z",
        "2026-06-10T14:03:00+00:00",
        "2026-06-10T23:59:59-23:59",
        "1970-01-01T00:00:00Z",
        "1900-02-28T12:00:00+01:00",
        "2400-02-29T00:00:00Z",
    ]
    records = [record(f"t{i}", updated_at=form) for i, form in enumerate(forms)]
    data = ingest_ok(client, token, source_id, records)
    assert (data["accepted"], data["rejected"]) == (len(forms), [])


def test_rejected_timestamp_forms(client: TestClient, token: str, source_id: str) -> None:
    forms = [
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
    records = [record(f"t{i}", updated_at=form) for i, form in enumerate(forms)]
    data = ingest_ok(client, token, source_id, records)
    assert data["accepted"] == 0
    assert [(r["index"], r["code"]) for r in data["rejected"]] == [
        (i, "INVALID_TIMESTAMP") for i in range(len(forms))
    ]


def test_extreme_timestamps_never_fail_the_request(
    client: TestClient, token: str, source_id: str
) -> None:
    forms = [
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
        "99999-01-01T00:00:00Z",
    ]
    records = [record(f"t{i}", updated_at=form) for i, form in enumerate(forms)]
    data = ingest_ok(client, token, source_id, records)
    assert data["accepted"] + len(data["rejected"]) == len(forms)
    assert {r["code"] for r in data["rejected"]} <= {"INVALID_TIMESTAMP"}
    assert 0 not in {r["index"] for r in data["rejected"]}
    assert 2 not in {r["index"] for r in data["rejected"]}


def test_entity_type_boundaries(client: TestClient, token: str, source_id: str) -> None:
    good = ["d" * 100, "deal.v2-x_Y", "1", "A.b-C_d"]
    data = ingest_ok(client, token, source_id, [record(entity_type=t) for t in good])
    assert (data["accepted"], data["rejected"]) == (len(good), [])


def test_record_id_with_c1_control_character_is_rejected(
    client: TestClient, token: str, source_id: str
) -> None:
    data = ingest_ok(client, token, source_id, [record("a\x85b"), record("ok")])
    assert [(r["index"], r["code"]) for r in data["rejected"]] == [(0, "INVALID_RECORD_ID")]


def test_unknown_top_level_field_is_ignored(client: TestClient, token: str, source_id: str) -> None:
    # documented decision (docs/decisions.md): forward compatibility at the request level
    response = client.post(
        "/v1/ingest",
        json={**ingest_body(source_id), "dryRun": True},
        headers=bearer(token),
    )
    assert assert_success(response, 202)["accepted"] == 2


# -- concurrency ------------------------------------------------------------------


def test_concurrent_ingests_of_the_same_records_create_each_once(
    client: TestClient, token: str, source_id: str, store: Store
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    records = [record(f"r{i}", {"i": i}) for i in range(20)]
    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(lambda _: ingest(client, token, source_id, records), range(5)))
    acks = [assert_success(r, 202) for r in results]
    assert sum(a["accepted"] for a in acks) == 20
    assert sum(a["deduplicated"] for a in acks) == 80
    counts = source_counts(client, token, source_id)
    assert (counts["records"], counts["versions"], counts["batches"]) == (20, 20, 5)
