"""The two lookups the ingest transaction makes, on both backends: the heads of a batch's
records, and which exact (record, content, sourceUpdatedAt) versions are already stored."""

from __future__ import annotations

import hashlib

from headwater.core.models import Head, Outcome, PlannedVersion, RecordKey, ValidRecord
from headwater.ids import new_id
from headwater.store.base import Store

ORG = "01900000-0000-7000-8000-0000000000a1"
SOURCE = "01900000-0000-7000-8000-0000000000a2"
OTHER_SOURCE = "01900000-0000-7000-8000-0000000000a3"


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def _store(store: Store, source_id: str, rows: list[tuple[RecordKey, str, int]]) -> list[str]:
    """Store one version per (key, content, time); the last of each key becomes its head."""
    versions = [
        PlannedVersion(
            new_id(),
            ValidRecord(index, key, updated_at, b"{}", _digest(content), False),
            Outcome.CREATED,
            None,
        )
        for index, (key, content, updated_at) in enumerate(rows)
    ]
    heads = {
        v.record.key: Head(v.version_id, v.record.content_hash, v.record.source_updated_at, False)
        for v in versions
    }
    with store.write() as tx:
        tx.insert_versions(ORG, source_id, new_id(), versions, 1)
        tx.upsert_heads(ORG, source_id, heads)
    return [v.version_id for v in versions]


def test_find_versions_matches_exact_identities_only(store: Store) -> None:
    deal, ticket = RecordKey("deal", "r-1"), RecordKey("ticket", "r-1")
    many = [RecordKey("contact", f"c-{i}") for i in range(450)]  # more than one chunk
    ids = _store(
        store,
        SOURCE,
        [(deal, "a", 10), (deal, "b", 20), (ticket, "a", 10)]
        + [(key, f"c{i}", i) for i, key in enumerate(many)],
    )
    _store(store, OTHER_SOURCE, [(deal, "c", 30)])
    asked = [
        (deal, _digest("a"), 10),  # stored
        (deal, _digest("b"), 20),  # stored
        (deal, _digest("a"), 20),  # content of one version, time of the other
        (deal, _digest("c"), 30),  # stored, but in another source
        (ticket, _digest("b"), 20),  # another entity type's version
        (RecordKey("deal", "r-2"), _digest("a"), 10),  # no such record
        *[(key, _digest(f"c{i}"), i) for i, key in enumerate(many)],
        *[(key, _digest(f"c{i}"), i + 1) for i, key in enumerate(many)],
    ]
    with store.write() as tx:
        found = tx.find_versions(SOURCE, asked)
        assert tx.find_versions(SOURCE, []) == {}
    assert found == {
        (deal, _digest("a"), 10): ids[0],
        (deal, _digest("b"), 20): ids[1],
        **{(key, _digest(f"c{i}"), i): ids[3 + i] for i, key in enumerate(many)},
    }


def test_load_heads_returns_the_heads_of_the_keys_asked_for(store: Store) -> None:
    deal, ticket = RecordKey("deal", "r-1"), RecordKey("ticket", "r-1")
    ids = _store(store, SOURCE, [(deal, "a", 10), (deal, "b", 20), (ticket, "a", 10)])
    _store(store, OTHER_SOURCE, [(RecordKey("deal", "r-9"), "x", 1)])
    with store.write() as tx:
        heads = tx.load_heads(SOURCE, {deal, ticket, RecordKey("deal", "r-9")})
        assert tx.load_heads(SOURCE, set()) == {}
    assert heads == {
        deal: Head(ids[1], _digest("b"), 20, False),
        ticket: Head(ids[2], _digest("a"), 10, False),
    }
