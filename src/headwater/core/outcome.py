"""Where dedup and out-of-order protection are decided (spec §4.3).

`decide_outcome` judges one record against its record's head; `plan_ingest` applies a
whole request in `(sourceUpdatedAt, index)` order, letting each record see the head
left by the ones before it. The ingest shell loads the heads, calls `plan_ingest`, and
writes what the plan says, all in one transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from msgspec.structs import replace

from headwater.core.models import (
    Head,
    Outcome,
    PlannedVersion,
    RecordKey,
    RecordResult,
    Rejection,
    ValidRecord,
)

#: identifies one stored version of a record: (key, content hash, sourceUpdatedAt)
VersionIdentity = tuple[RecordKey, bytes, int]


def decide_outcome(head: Head | None, record: ValidRecord, already_stored: bool) -> Outcome:
    """The outcome of applying `record` to a record whose current head is `head`.

    `already_stored` tells whether a version with the same content and the same
    `sourceUpdatedAt` exists in the record's chain (a replay of history).
    """
    if head is None:
        return Outcome.CREATED
    if record.content_hash == head.content_hash or already_stored:
        return Outcome.UNCHANGED
    if record.source_updated_at >= head.source_updated_at:
        return Outcome.SUPERSEDED
    return Outcome.STALE


@dataclass(frozen=True, slots=True)
class IngestPlan:
    versions: list[PlannedVersion]  #: to insert, in application order
    #: the final head of every record whose head changed (a new version, or a later
    #: `sourceUpdatedAt` confirming the same content)
    heads: dict[RecordKey, Head]
    results: list[RecordResult]  #: one per record of the request, in request order
    counts: dict[Outcome, int] = field(default_factory=dict)
    #: heads left as they are but for the raw fingerprint of bytes this request proved
    #: to have their content (a re-send spelled differently, or a head stored without
    #: one): writing it lets the next re-send of those bytes skip canonicalization
    fingerprints: dict[RecordKey, Head] = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        return (
            self.counts[Outcome.CREATED]
            + self.counts[Outcome.SUPERSEDED]
            + self.counts[Outcome.STALE]
        )

    @property
    def deduplicated(self) -> int:
        return self.counts[Outcome.UNCHANGED]


def versions_to_check(
    records: Iterable[ValidRecord], heads: Mapping[RecordKey, Head]
) -> list[VersionIdentity]:
    """Version identities whose existence in storage `plan_ingest` needs to know.

    A record without a head has no stored versions. A record that differs from its head
    may repeat an older stored version. A record equal to its head is unchanged, unless
    another record of the same key in this request moves the head first (an equal-time
    supersede): such keys are looked up whatever their content.
    """
    records = list(records)
    seen = Counter(r.key for r in records)
    return [
        (record.key, record.content_hash, record.source_updated_at)
        for record in records
        if (head := heads.get(record.key)) is not None
        and (head.content_hash != record.content_hash or seen[record.key] > 1)
    ]


def plan_ingest(
    records: Iterable[ValidRecord],
    rejections: Iterable[Rejection],
    heads: Mapping[RecordKey, Head],
    stored_versions: Mapping[VersionIdentity, str],
    new_version_id: Callable[[], str],
) -> IngestPlan:
    """Decide every record of one request.

    `heads` holds the current head of each record in the request that has one;
    `stored_versions` maps identities from `versions_to_check` that exist to their
    version id. `new_version_id` mints ids for the versions to store.
    """
    current = dict(heads)
    known = dict(stored_versions)
    versions: list[PlannedVersion] = []
    new_heads: dict[RecordKey, Head] = {}
    fingerprints: dict[RecordKey, Head] = {}
    counts = dict.fromkeys(Outcome, 0)
    results: list[RecordResult] = [
        RecordResult(r.index, r.entity_type, r.record_id, None, None, r.code, r.message)
        for r in rejections
    ]

    for record in sorted(records, key=lambda r: (r.source_updated_at, r.index)):
        key = record.key
        head = current.get(key)
        identity = (key, record.content_hash, record.source_updated_at)
        existing = known.get(identity)
        outcome = decide_outcome(head, record, existing is not None)
        counts[outcome] += 1

        if outcome is Outcome.UNCHANGED:
            same_as_head = head is not None and head.content_hash == record.content_hash
            matched = head.version_id if head is not None and same_as_head else existing
            if (
                head is not None
                and same_as_head
                and record.source_updated_at > head.source_updated_at
            ):
                # The source confirmed the head's content at a later time: remember that
                # time (nothing new is stored), so an update older than it is stale.
                head = replace(
                    head,
                    source_updated_at=record.source_updated_at,
                    raw_fingerprint=record.raw_fingerprint or head.raw_fingerprint,
                )
                current[key] = new_heads[key] = head
            elif (
                head is not None
                and same_as_head
                and record.raw_fingerprint
                and record.raw_fingerprint != head.raw_fingerprint
            ):
                head = current[key] = replace(head, raw_fingerprint=record.raw_fingerprint)
                (new_heads if key in new_heads else fingerprints)[key] = head
            results.append(
                RecordResult(record.index, key.entity_type, key.record_id, outcome, matched)
            )
            continue

        version_id = new_version_id()
        previous = head.version_id if head is not None and outcome is Outcome.SUPERSEDED else None
        versions.append(PlannedVersion(version_id, record, outcome, previous))
        known[identity] = version_id
        if outcome is not Outcome.STALE:
            head = Head(
                version_id,
                record.content_hash,
                record.source_updated_at,
                record.deleted,
                record.raw_fingerprint,
            )
            current[key] = head
            new_heads[key] = head
        results.append(
            RecordResult(record.index, key.entity_type, key.record_id, outcome, version_id)
        )

    results.sort(key=lambda r: r.index)
    return IngestPlan(
        versions=versions,
        heads=new_heads,
        results=results,
        counts=counts,
        fingerprints={k: h for k, h in fingerprints.items() if k not in new_heads},
    )
