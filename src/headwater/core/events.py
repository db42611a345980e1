"""Where events are derived (spec §6.2, §6.3): one stored version in, its events out.

`events_for` is pure and deterministic: the same version, previous version and mapping
always give the same events with the same ids, so re-normalizing repeats exactly what
incremental processing did.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping as AnyMapping
from dataclasses import dataclass
from typing import Any

import msgspec

from headwater.core.actors import ActorRef, parse_actor
from headwater.core.mapping import Mapping, snake
from headwater.core.models import Outcome, RecordKey

_canonical = msgspec.json.Encoder(order="sorted").encode
MAX_ENTITY_NAME = 500


@dataclass(frozen=True, slots=True)
class VersionView:
    """What normalization needs to know about one stored version."""

    version_id: str
    key: RecordKey
    source_updated_at: int
    deleted: bool
    outcome: Outcome
    payload: AnyMapping[str, Any]


class Change(msgspec.Struct, frozen=True, rename={"before": "from", "after": "to"}):
    """One field's change; encodes as `{"field", "from", "to"}`, as stored in events."""

    field: str
    before: Any
    after: Any

    def as_json(self) -> dict[str, Any]:
        return {"field": self.field, "from": self.before, "to": self.after}


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event before its actor is resolved to a canonical actor id."""

    id: str
    action: str
    actor: ActorRef | None
    key: RecordKey
    entity_name: str | None
    timestamp: int
    changes: tuple[Change, ...]
    version_id: str
    deleted: bool


def event_id(version_id: str, fingerprint: str, action: str, field: str) -> str:
    """A UUID (version 8, RFC 9562) named by the version, mapping and event kind."""
    h = hashlib.sha256(f"{version_id}\x00{fingerprint}\x00{action}\x00{field}".encode()).hexdigest()
    # the first 16 bytes, with the version nibble set to 8 and the variant bits to 10
    return f"{h[:8]}-{h[8:12]}-8{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


#: hex digit -> the same digit with its two high bits set to 10 (the RFC 9562 variant)
_VARIANT = {f"{n:x}": f"{0x8 | (n & 0x3):x}" for n in range(16)}


def events_for(
    version: VersionView,
    previous: VersionView | None,
    mapping: Mapping,
    tombstoned_after: int | None = None,
) -> list[EventDraft]:
    """The events one version produces.

    `previous` is the head this version superseded (None for a first version).
    `tombstoned_after` is the time of the record's latest tombstone, if any: events
    older than it are soft-deleted.
    """
    if version.outcome is Outcome.STALE:
        return []
    builder = _Builder(version, mapping, tombstoned_after)
    if version.deleted:
        fallback = previous.payload if previous is not None else {}
        builder.add("deleted", "", builder.actor(None, "deleted"), (), name_from=fallback)
    elif previous is None or previous.deleted:
        _creation(builder)
    else:
        _changes(builder, previous.payload)
    return builder.events


def _creation(b: _Builder) -> None:
    payload = b.version.payload
    b.add("created", "", b.actor(None, "created"), ())
    attributed = b.mapping.attributed_fields(payload)
    for field in sorted(attributed):
        if field in b.mapping.ignore_fields or field in b.mapping.assignment_fields:
            continue  # an attributed assignment gives its `_assigned` event, as in `_changes`
        change = Change(field, None, payload.get(field))
        b.add(f"{snake(field)}_changed", field, b.actor(field, "created"), (change,))
    for field in b.mapping.assignment_fields:
        if payload.get(field) is not None and field not in b.mapping.ignore_fields:
            change = Change(field, None, payload[field])
            b.add(f"{snake(field)}_assigned", field, b.actor(field, "created"), (change,))


def _changes(b: _Builder, before: AnyMapping[str, Any]) -> None:
    after = b.version.payload
    mapping = b.mapping
    attributed = mapping.attributed_fields(after)
    other: list[Change] = []
    for field in sorted(set(before) | set(after)):
        old, new = before.get(field), after.get(field)
        if field in before and field in after and _same(old, new):
            continue
        if field in mapping.ignore_fields or mapping.is_actor_key(field):
            continue
        change = Change(field, old, new)
        if field in mapping.assignment_fields:
            b.add(f"{snake(field)}_assigned", field, b.actor(field, "changed"), (change,))
        elif field in mapping.status_fields or field in attributed:
            b.add(f"{snake(field)}_changed", field, b.actor(field, "changed"), (change,))
        else:
            other.append(change)
    if other:
        b.add("updated", "", b.actor(None, "changed"), tuple(other))


def _same(old: Any, new: Any) -> bool:
    """Equal JSON values (1 and 1.0, or true and 1, are not); strings need no encoding."""
    if type(old) is str and type(new) is str:
        return old == new
    return _canonical(old) == _canonical(new)


class _Builder:
    def __init__(
        self, version: VersionView, mapping: Mapping, tombstoned_after: int | None
    ) -> None:
        self.version = version
        self.mapping = mapping
        self.deleted = tombstoned_after is not None and version.source_updated_at < tombstoned_after
        self.events: list[EventDraft] = []
        self.name = self._name(version.payload)

    def actor(self, field: str | None, phase: str) -> ActorRef | None:
        """First present: the field's own key, then the phase's keys, then the fallback."""
        payload = self.version.payload
        keys = self.mapping.actor_keys[phase]
        if field is not None:
            keys = _field_actor_keys(field) + keys
        for key in keys:
            value = payload.get(key)
            if value is not None:
                ref = parse_actor(value)
                if ref is not None:
                    return ref
        return None

    def add(
        self,
        suffix: str,
        field: str,
        actor: ActorRef | None,
        changes: tuple[Change, ...],
        name_from: AnyMapping[str, Any] | None = None,
    ) -> None:
        version = self.version
        action = self.mapping.action(version.key.entity_type, suffix)
        self.events.append(
            EventDraft(
                id=event_id(version.version_id, self.mapping.fingerprint, action, field),
                action=action,
                actor=actor,
                key=version.key,
                entity_name=self.name or (self._name(name_from) if name_from else None),
                timestamp=version.source_updated_at,
                changes=changes,
                version_id=version.version_id,
                deleted=self.deleted,
            )
        )

    def _name(self, payload: AnyMapping[str, Any]) -> str | None:
        for field in self.mapping.name_fields:
            value = payload.get(field)
            if isinstance(value, str) and value.strip():
                # NUL cannot be stored in a PostgreSQL text column; names are display text.
                return value.replace("\x00", "")[:MAX_ENTITY_NAME]
        return None


@functools.lru_cache(maxsize=4096)
def _field_actor_keys(field: str) -> tuple[str, ...]:
    """The payload keys naming who changed `field` itself."""
    return (f"movedTo{field[0].upper()}{field[1:]}By", f"{field}ChangedBy")
