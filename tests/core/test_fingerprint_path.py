"""The fast path for re-sent payloads: bytes whose raw fingerprint a head keeps take the
head's content hash instead of being canonicalized. It must give exactly the results of
the slow path (every payload canonicalized), and skip no check a payload must pass."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater.core import canonical
from headwater.core.models import RecordKey, Rejection, ValidRecord
from headwater.core.validation import (
    MAX_PAYLOAD_BYTES,
    Known,
    RequestInvalid,
    check_record,
    parse_request,
)

SOURCE_ID = "0190f5e2-7c1a-7b3e-8f00-1234567890ab"
TS = "2026-06-10T14:03:00Z"

json_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8),
)  # fmt: skip
json_values = st.recursive(
    json_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)
#: payload texts: valid objects in several spellings, and what validation refuses
payload_texts = st.one_of(
    st.builds(
        lambda value, indent, ascii_, sort: json.dumps(
            value, indent=indent, ensure_ascii=ascii_, sort_keys=sort
        ).encode(),
        st.dictionaries(st.text(max_size=6), json_values, max_size=4),
        st.sampled_from([None, 2]),
        st.booleans(),
        st.booleans(),
    ),
    st.sampled_from(
        [
            b'{"a":1,"a":2}',  # duplicate key
            b'{"a":{"b":1,"b":1}}',  # duplicate key, nested
            b'{"a\\u003a":1,"a:":2}',  # duplicate key spelled with an escaped colon
            b"[1,2]",  # not an object
            b'{"n":1e400}',  # out of range
            b"{}",
            b'{"b":2,"a":1}',
            b'{"a":1,"b":2}',
        ]
    ),
)
records = st.lists(
    st.tuples(
        st.sampled_from(["d1", "d2", "d3", "d4"]),  # few keys: heads get hit
        payload_texts,
        st.booleans(),  # deleted
        st.sampled_from([TS, "2026-06-11T00:00:00Z", "not a time"]),
    ),
    min_size=1,
    max_size=40,
)


def body_of(items: Sequence[tuple[str, bytes, bool, str]]) -> bytes:
    parts = [
        b'{"recordId":' + json.dumps(rid).encode() + b',"entityType":"deal","sourceUpdatedAt":'
        + json.dumps(ts).encode() + (b',"deleted":true' if deleted else b"")
        + b',"payload":' + payload + b"}"
        for rid, payload, deleted, ts in items
    ]  # fmt: skip
    return b'{"sourceId":"' + SOURCE_ID.encode() + b'","records":[' + b",".join(parts) + b"]}"


def heads_of(results: Sequence[ValidRecord | Rejection]) -> dict[RecordKey, Known]:
    """What storage would keep after storing these results: for each record, the
    fingerprint and content hash of a valid version of it (the last one here)."""
    found: dict[RecordKey, Known] = {}
    for result in results:
        if isinstance(result, ValidRecord):
            found[result.key] = (result.raw_fingerprint, result.content_hash)
    return found


def parse(body: bytes, lookup: Lookup | None = None) -> Any:
    """`parse_request`'s result, or the refusal of the whole request (bad UTF-8)."""
    try:
        return parse_request(body, lookup)
    except RequestInvalid as exc:
        return ("refused", str(exc), exc.details)


class Lookup:
    def __init__(self, known: Mapping[RecordKey, Known]) -> None:
        self.known = known
        self.asked: list[list[RecordKey]] = []

    def __call__(self, source_id: str, keys: Sequence[RecordKey]) -> dict[RecordKey, Known]:
        assert source_id == SOURCE_ID
        self.asked.append(list(keys))
        return {k: self.known[k] for k in keys if k in self.known}


@settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(records, records, st.data())
def test_fast_and_slow_paths_give_the_same_results(
    history: list[Any], later: list[Any], data: st.DataObject
) -> None:
    """Store `history` (slow path), then send `later`, some of whose records re-send
    history's bytes exactly: with the heads' fingerprints or without, the same results."""
    history_result = parse(body_of(history))
    stored = history_result[1] if isinstance(history_result, tuple) else []
    # re-send some of history's payload bytes under the same key and flag
    reused = data.draw(st.lists(st.sampled_from(history), max_size=10))
    request = later + reused
    body = body_of(data.draw(st.permutations(request)))

    slow = parse(body)
    fast = parse(body, Lookup(heads_of(stored)))
    assert fast == slow


def test_bytes_identical_to_the_heads_skip_canonicalization() -> None:
    payload = b'{"stage": "won",  "amount": 1}'
    fingerprint = canonical.raw_fingerprint(payload, False)
    marker = b"m" * 32  # not a real hash: shows which path was taken
    result = check_record(0, "d1", "deal", TS, payload, False, None, (fingerprint, marker))
    assert isinstance(result, ValidRecord)
    assert (result.content_hash, result.raw_fingerprint) == (marker, fingerprint)
    # a different deleted flag is a different fingerprint: canonicalized as always
    other = check_record(0, "d1", "deal", TS, payload, True, None, (fingerprint, marker))
    assert isinstance(other, ValidRecord) and other.content_hash != marker


def test_checks_other_than_the_payloads_content_still_run_on_the_fast_path() -> None:
    payload = b'{"a":1}'
    known = (canonical.raw_fingerprint(payload, False), b"m" * 32)
    for args, code in [
        (("", "deal", TS), "INVALID_RECORD_ID"),
        (("d1", "bad type!", TS), "INVALID_ENTITY_TYPE"),
        (("d1", "deal", "yesterday"), "INVALID_TIMESTAMP"),
    ]:
        result = check_record(0, *args, payload, False, None, known)
        assert isinstance(result, Rejection) and result.code == code


def test_an_oversized_payload_is_refused_even_if_its_fingerprint_were_known() -> None:
    payload = b'{"x":"' + b"x" * MAX_PAYLOAD_BYTES + b'"}'
    known = (canonical.raw_fingerprint(payload, False), b"m" * 32)
    result = check_record(0, "d1", "deal", TS, payload, False, None, known)
    assert isinstance(result, Rejection) and result.code == "RECORD_TOO_LARGE"


def test_refused_payloads_never_become_known_so_they_stay_refused() -> None:
    """Only valid records carry a fingerprint into storage (`heads_of` / plan_ingest),
    so bytes refused once are canonicalized, and refused, every time."""
    hostile = [b'{"a":1,"a":2}', b'{"a":{"b":1,"b":1}}', b"[1]", b'{"n":1e400}']
    body = body_of([("d1", p, False, TS) for p in hostile])
    _, first = parse_request(body)
    assert all(isinstance(r, Rejection) for r in first)
    assert heads_of(first) == {}
    _, again = parse_request(body, Lookup(heads_of(first)))
    assert again == first
    # bytes that are not UTF-8, lone surrogates, malformed JSON: the whole request is
    # refused, with or without fingerprints
    for payload in (b'{"a":"\xff"}', b'{"a":"\\ud800"}', b'{"a":1'):
        bad = body_of([("d1", payload, False, TS)])
        assert parse(bad) == parse(bad, Lookup({})) and parse(bad)[0] == "refused"


def test_a_request_without_resent_bytes_asks_for_a_sample_of_keys_only() -> None:
    items = [(f"r{i}", b'{"a":1}', False, TS) for i in range(100)]
    lookup = Lookup({})
    parse_request(body_of(items), lookup)  # a first load: no heads
    assert len(lookup.asked) == 1 and len(lookup.asked[0]) == 8
    _, stored = parse_request(body_of(items))
    changed = [(rid, b'{"a":2}', deleted, ts) for rid, _, deleted, ts in items]
    lookup = Lookup(heads_of(stored))
    parse_request(body_of(changed), lookup)  # heads exist, but every payload changed
    assert [len(keys) for keys in lookup.asked] == [8]
    # once a sampled payload is its head's very bytes, every key is asked for
    lookup = Lookup(heads_of(stored))
    _, again = parse_request(body_of(items), lookup)
    assert [len(keys) for keys in lookup.asked] == [8, 100]
    assert again == stored
