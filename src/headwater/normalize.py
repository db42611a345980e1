"""The normalization shell: stored versions in, events, actors and feed positions out.

Events are derived (`core.events.events_for`) outside any transaction. The write
transaction then takes the organisation's feed lock (`lock_feed`), so that within it
the tombstone times it reads are final, actors resolve without races, and feed
positions are handed out in commit order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import msgspec

from headwater.core.actors import Changes, Directory, fold_name
from headwater.core.events import EventDraft, VersionView, events_for
from headwater.core.mapping import Mapping, mappings_for
from headwater.core.models import AliasKind, ClaimedBatch, EventRow, Outcome, RecordVersion
from headwater.ids import new_id, now_micros
from headwater.store.base import Store, WriteTx

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode
_DEFAULT = Mapping.default()


class LeaseLost(Exception):
    """Another worker took the batch over (our lease ran out); our work is rolled back."""


def normalize_batch(store: Store, claimed: ClaimedBatch, worker_id: str) -> int:
    """Write the events of one ingest batch and mark it done; returns the event count."""
    org_id = claimed.org_id
    ids = store.batch_version_ids(org_id, claimed.id) or []
    versions = store.get_versions(org_id, ids)
    previous_ids = [v.previous_version_id for v in versions.values() if v.previous_version_id]
    previous = store.get_versions(org_id, previous_ids)
    drafts = derive(store, org_id, claimed.source_id, list(versions.values()), previous)

    with store.write() as tx:
        tx.lock_feed(org_id)
        drafts = _apply_tombstones(tx, claimed.source_id, drafts)
        _write_events(tx, org_id, claimed.source_id, versions, drafts)
        for version in versions.values():
            if version.deleted and version.outcome is not Outcome.STALE:
                tx.soft_delete_events(claimed.source_id, version.key, version.source_updated_at)
        if not tx.complete_batch(claimed.id, worker_id, len(versions), len(drafts), now_micros()):
            raise LeaseLost(claimed.id)
    return len(drafts)


#: records per renormalization step: bounds memory and the length of each transaction
RENORMALIZE_RECORDS = 1_000


def renormalize_source(
    store: Store,
    claimed: ClaimedBatch,
    worker_id: str,
    lease_micros: int,
    step_records: int | None = None,
) -> int:
    """Rebuild a source's events from its stored versions with the current mappings.

    Event ids are deterministic, so events that come out the same are kept as they are
    (same feed position, same createdAt); events no longer produced are removed. The
    source is rebuilt `step_records` records at a time (a record's events depend on its
    own chain only), one transaction per step, each renewing the lease and the batch's
    progress, so a large source neither lives in memory at once nor outlasts the lease.
    A crash midway leaves finished steps in place; the retry redoes them as no-ops.
    """
    org_id, source_id = claimed.org_id, claimed.source_id
    total = store.source_counts(org_id, source_id).versions
    done = events = 0
    after = None
    step = step_records or RENORMALIZE_RECORDS
    while keys := store.source_record_keys(org_id, source_id, after, step):
        chain = store.versions_between(org_id, source_id, keys[0], keys[-1])
        versions = {v.id: v for v in chain}
        drafts = derive(store, org_id, source_id, chain, versions)
        with store.write() as tx:
            if not tx.extend_lease(claimed.id, worker_id, now_micros() + lease_micros):
                raise LeaseLost(claimed.id)
            tx.lock_feed(org_id)
            drafts = _apply_tombstones(tx, source_id, drafts)
            existing = tx.event_ids_between(source_id, keys[0], keys[-1])
            tx.delete_events(sorted(existing - {d.id for d in drafts}))
            fresh = [d for d in drafts if d.id not in existing]
            _write_events(tx, org_id, source_id, versions, fresh)
            done += len(chain)
            tx.set_progress(claimed.id, done, max(total, done))
        events += len(drafts)
        after = keys[-1]
    with store.write() as tx:
        tx.set_progress(claimed.id, done, done)
        if not tx.complete_batch(claimed.id, worker_id, 0, events, now_micros()):
            raise LeaseLost(claimed.id)
    return events


def derive(
    store: Store,
    org_id: str,
    source_id: str,
    versions: Iterable[RecordVersion],
    previous: dict[str, RecordVersion],
) -> list[EventDraft]:
    """The events of `versions`, each diffed against the version it superseded."""
    source = store.get_source(org_id, source_id)
    mappings = mappings_for(source.mappings if source else None)
    drafts: list[EventDraft] = []
    for version in sorted(versions, key=lambda v: (v.source_updated_at, v.batch_index, v.id)):
        before = previous.get(version.previous_version_id) if version.previous_version_id else None
        drafts += events_for(
            _view(version),
            _view(before) if before is not None else None,
            mappings.get(version.key.entity_type, _DEFAULT),
        )
    return drafts


def _view(version: RecordVersion) -> VersionView:
    payload = _decode(version.payload)
    return VersionView(
        version_id=version.id,
        key=version.key,
        source_updated_at=version.source_updated_at,
        deleted=version.deleted,
        outcome=version.outcome,
        payload=payload if isinstance(payload, dict) else {},
    )


def _apply_tombstones(tx: WriteTx, source_id: str, drafts: list[EventDraft]) -> list[EventDraft]:
    """Soft-delete drafts older than their record's latest tombstone (read under the lock)."""
    tombstones = tx.latest_tombstones(source_id, {d.key for d in drafts})
    return [
        dataclasses.replace(d, deleted=True)
        if d.key in tombstones and d.timestamp < tombstones[d.key]
        else d
        for d in drafts
    ]


def _write_events(
    tx: WriteTx,
    org_id: str,
    source_id: str,
    versions: dict[str, RecordVersion],
    drafts: Sequence[EventDraft],
) -> None:
    if not drafts:
        return
    now = now_micros()
    refs = [d.actor for d in drafts if d.actor is not None]
    directory = Directory(
        tx.load_actors(
            org_id,
            (r.email for r in refs if r.email),
            (fold_name(r.name) for r in refs if r.name),
        )
    )
    changes = Changes()
    actor_ids = [
        directory.resolve(d.actor, new_id, changes) if d.actor is not None else None for d in drafts
    ]
    tx.apply_actor_changes(org_id, changes, now)
    aliases: list[tuple[str, str, str]] = []
    for draft, actor_id in zip(drafts, actor_ids, strict=True):
        if draft.actor is not None and actor_id is not None:
            actor_id = _canonical(directory, actor_id)
            if draft.actor.email:
                aliases.append((actor_id, AliasKind.EMAIL.value, draft.actor.email))
            if draft.actor.name:
                aliases.append((actor_id, AliasKind.NAME.value, draft.actor.name))
    tx.add_aliases(org_id, aliases)

    first = tx.next_seqs(org_id, len(drafts))
    tx.insert_events(
        [
            EventRow(
                id=draft.id,
                org_id=org_id,
                source_id=source_id,
                batch_id=versions[draft.version_id].batch_id,
                record_version_id=draft.version_id,
                action=draft.action,
                actor_id=_canonical(directory, actor_id) if actor_id else None,
                key=draft.key,
                entity_name=draft.entity_name,
                timestamp=draft.timestamp,
                changes=_encode(draft.changes),
                deleted=draft.deleted,
                created_at=now,
                seq=first + offset,
            )
            for offset, (draft, actor_id) in enumerate(zip(drafts, actor_ids, strict=True))
        ]
    )


def _canonical(directory: Directory, actor_id: str) -> str:
    """Follow a merge made later in the same batch."""
    actor = directory.by_id[actor_id]
    return actor.merged_into or actor.id
