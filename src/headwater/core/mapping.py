"""Mappings: which payload fields name actors, are status-like, are assignments (spec §6.3, §6.4).

`Mapping.default()` is the spec's default mapping. A source's `mappings` document
overrides it per entity type; `parse_mappings` validates such a document (400 on
write). `fingerprint` identifies a mapping so that event ids change exactly when the
rules that produced them do.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
from collections.abc import Mapping as AnyMapping
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

#: bump when the default rules change meaning, so re-normalized events get new ids
#: (v2: the default `ignoreFields`; docs/mappings.md, "Changing the default mapping")
DEFAULT_RULES_VERSION = "default-v2"

#: Fields that only say "this record changed" (a last-modified time, a sync tool's
#: bookkeeping): a version that differs only in them is no change worth an event, and
#: they are left out of `<type>_updated`'s `changes`. A source's `ignoreFields` replaces
#: this list, like every list of a mapping; `[]` reports them again.
DEFAULT_IGNORE_FIELDS = (
    "updated_at",
    "updatedAt",
    "modified_at",
    "modifiedAt",
    "last_modified",
    "lastModified",
    "last_modified_at",
    "lastModifiedAt",
    "LastModifiedDate",
    "SystemModstamp",
    "_sdc_batched_at",
    "_sdc_extracted_at",
    "_sdc_received_at",
    "_sdc_sequence",
    "_sdc_table_version",
)

FieldName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
ActionName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.\-]{1,100}$")]
FieldList = Annotated[list[FieldName], msgspec.Meta(max_length=100)]

_MOVED_TO_BY = re.compile(r"movedTo([A-Z0-9][A-Za-z0-9_]*)By")
_CHANGED_BY = re.compile(r"([a-z][A-Za-z0-9_]*)ChangedBy")
_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,100}")  #: entity types and action names
_UNKNOWN_FIELD = re.compile(r"Object contains unknown field `(.*)`")
#: the default actions an `actions` key can rename (without `<type>_`): field names in them
#: are snake_case (`snake`), so any other key could never match an action
_ACTION_KEY = re.compile(r"created|updated|deleted|[a-z0-9_.\-]*_(?:changed|assigned)")


class MappingSpec(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One entity type's overrides; every field is optional (documented in docs/mappings.md)."""

    statusFields: FieldList | None = None
    assignmentFields: FieldList | None = None
    createdByFields: FieldList | None = None
    updatedByFields: FieldList | None = None
    fallbackActorFields: FieldList | None = None
    ignoreFields: FieldList | None = None
    nameFields: FieldList | None = None
    actions: dict[ActionName, ActionName] | None = None


class InvalidMappings(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def parse_mappings(
    document: AnyMapping[str, Any], *, strict: bool = True
) -> dict[str, MappingSpec]:
    """Validate a source's `mappings` object: {entityType: MappingSpec}.

    `InvalidMappings.field` names the offending place, e.g. `mappings.deal.statusFields[1]`,
    `mappings.deal.actions.created` or `mappings.deal.bogus` (an unknown key). msgspec
    renders dict keys and values as `[...]`, so entity types and `actions` entries are
    checked here, one at a time, to name them.
    """
    if not isinstance(document, AnyMapping):
        raise InvalidMappings("mappings", "Expected `object`")
    parsed: dict[str, MappingSpec] = {}
    for entity_type, spec in document.items():
        where = f"mappings.{entity_type}"
        if not isinstance(entity_type, str) or not _NAME.fullmatch(entity_type):
            raise InvalidMappings(where, f"Expected an entity type matching '{_NAME.pattern}'")
        actions = spec.get("actions") if isinstance(spec, AnyMapping) else None
        if isinstance(actions, AnyMapping):
            for suffix, action in actions.items():
                if not isinstance(suffix, str) or not _NAME.fullmatch(suffix):
                    raise InvalidMappings(
                        f"{where}.actions.{suffix}",
                        f"Expected an action key matching '{_NAME.pattern}'",
                    )
                if strict and not _ACTION_KEY.fullmatch(suffix):
                    raise InvalidMappings(
                        f"{where}.actions.{suffix}",
                        "Unknown action: expected created, updated, deleted, <field>_changed or "
                        "<field>_assigned (the field in snake_case, e.g. assigned_to_assigned)",
                    )
                if not isinstance(action, str) or not _NAME.fullmatch(action):
                    raise InvalidMappings(
                        f"{where}.actions.{suffix}",
                        f"Expected an action name matching '{_NAME.pattern}'",
                    )
        try:
            parsed[entity_type] = msgspec.convert(spec, type=MappingSpec)
        except msgspec.ValidationError as exc:
            message, _, path = str(exc).partition(" - at `")
            field = where + path.rstrip("`").removeprefix("$")
            unknown = _UNKNOWN_FIELD.fullmatch(message)
            if unknown:
                field += f".{unknown.group(1)}"
            raise InvalidMappings(field, message) from None
    return parsed


@dataclass(frozen=True, slots=True)
class Mapping:
    """The effective rules for one entity type."""

    status_fields: frozenset[str]
    assignment_fields: tuple[str, ...]
    created_by_fields: tuple[str, ...]
    updated_by_fields: tuple[str, ...]
    fallback_actor_fields: tuple[str, ...]
    ignore_fields: frozenset[str]
    name_fields: tuple[str, ...]
    actions: dict[str, str]
    fingerprint: str
    #: per phase ("created", "changed", "deleted"): the keys naming who acted, in the order
    #: they are tried (derived from the fields above)
    actor_keys: dict[str, tuple[str, ...]] = dataclasses.field(compare=False, repr=False)

    @classmethod
    def default(cls) -> Mapping:
        return cls.build(MappingSpec())

    @classmethod
    def build(cls, spec: MappingSpec) -> Mapping:
        canonical = msgspec.json.encode(spec, order="sorted")
        fingerprint = hashlib.sha256(DEFAULT_RULES_VERSION.encode() + b"\x00" + canonical)
        created_by = tuple(
            spec.createdByFields
            if spec.createdByFields is not None
            else ("createdBy", "author", "sender")
        )
        updated_by = tuple(
            spec.updatedByFields
            if spec.updatedByFields is not None
            else ("updatedBy", "modifiedBy", "lastModifiedBy")
        )
        fallback = tuple(
            spec.fallbackActorFields if spec.fallbackActorFields is not None else ("owner",)
        )
        return cls(
            status_fields=frozenset(
                spec.statusFields
                if spec.statusFields is not None
                else ("stage", "status", "state", "phase", "priority")
            ),
            # without repeats: each assignment field gives at most one event per version
            assignment_fields=tuple(
                dict.fromkeys(
                    spec.assignmentFields
                    if spec.assignmentFields is not None
                    else ("owner", "assignee", "assignedTo")
                )
            ),
            created_by_fields=created_by,
            updated_by_fields=updated_by,
            fallback_actor_fields=fallback,
            ignore_fields=frozenset(
                spec.ignoreFields if spec.ignoreFields is not None else DEFAULT_IGNORE_FIELDS
            ),
            name_fields=tuple(
                spec.nameFields
                if spec.nameFields is not None
                else ("name", "title", "subject", "displayName", "fullName")
            ),
            actions=dict(spec.actions or {}),
            fingerprint=fingerprint.hexdigest()[:32],
            actor_keys={
                "created": created_by + fallback,
                "changed": updated_by + fallback,
                "deleted": ("deletedBy", *updated_by, *fallback),
            },
        )

    def is_actor_key(self, field: str) -> bool:
        """Fields that name who did something; they are never reported as changes."""
        return (
            field in self.created_by_fields
            or field in self.updated_by_fields
            or field == "deletedBy"
            or _MOVED_TO_BY.fullmatch(field) is not None
            or _CHANGED_BY.fullmatch(field) is not None
        )

    def attributed_fields(self, payload: AnyMapping[str, Any]) -> dict[str, str]:
        """{field: its movedTo<Field>By key} for every such key in the payload."""
        found = {}
        for key in [k for k in payload if k.startswith("movedTo")]:
            match = _MOVED_TO_BY.fullmatch(key)
            if match:
                name = match.group(1)
                found[name[0].lower() + name[1:]] = key
        return found

    def action(self, entity_type: str, suffix: str) -> str:
        """`<type>_<suffix>` unless the mapping renames it (keys are the suffix)."""
        return self.actions.get(suffix, f"{entity_type}_{suffix}")


def mappings_for(document: AnyMapping[str, Any] | None) -> dict[str, Mapping]:
    """A source's mapping per entity type (entity types not listed use the default)."""
    if not document:
        return {}
    return {
        # not strict: a document stored before action keys were checked may rename an action
        # that never occurs; that entry just renames nothing
        entity_type: Mapping.build(spec)
        for entity_type, spec in parse_mappings(document, strict=False).items()
    }


@functools.lru_cache(maxsize=4096)
def snake(field: str) -> str:
    """`assignedTo` -> `assigned_to`, for action names.

    A payload's field names can hold anything; in an action name, characters other than
    letters, digits, `.`, `-` and `_` become `_`, and the name is cut to 100 characters.
    """
    snaked = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", field).lower()
    return re.sub(r"[^a-z0-9_.\-]", "_", snaked)[:100]
