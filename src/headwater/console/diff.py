"""The difference between two versions of a record: top-level fields, pure."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

_MISSING = object()


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    kind: str  #: "added", "removed" or "changed"
    before: str | None  #: the JSON text of the old value
    after: str | None


def _text(value: Any) -> str | None:
    return None if value is _MISSING else json.dumps(value, ensure_ascii=False, sort_keys=True)


def decode(payload: bytes) -> dict[str, Any]:
    """A stored payload as an object (ingest only stores JSON objects)."""
    try:
        value = json.loads(payload)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def field_changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[FieldChange]:
    """Each top-level field added, removed or changed, in the newer version's key order
    then the removed ones; equal values (by JSON value, not text) are not changes."""
    old = before or {}
    changes = []
    for name in [*after, *(k for k in old if k not in after)]:
        a, b = old.get(name, _MISSING), after.get(name, _MISSING)
        if a is not _MISSING and b is not _MISSING and a == b and type(a) is type(b):
            continue
        kind = "added" if a is _MISSING else "removed" if b is _MISSING else "changed"
        changes.append(FieldChange(name, kind, _text(a), _text(b)))
    return changes
