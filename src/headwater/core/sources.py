"""Source request bodies (spec §3) and how a patch changes a source; pure."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal

import msgspec

from headwater.core.models import Source, SourceStatus

EntityType = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.\-]{1,100}$")]
# NUL is refused: PostgreSQL text cannot hold it.
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern="^[^\x00]*$")]
Description = Annotated[str, msgspec.Meta(max_length=2000, pattern="^[^\x00]*$")]
#: entity types and their rules are checked by `mapping.parse_mappings`, which names the
#: offending entity type in its error (msgspec would report dict keys as `[...]`)
Mappings = dict[str, Any]


class CreateSource(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    entityTypes: list[EntityType] = msgspec.field(default_factory=list)
    description: Description | None = None
    mappings: Mappings | None = None


class PatchSource(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    entityTypes: list[EntityType] | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType | None = msgspec.UNSET
    mappings: Mappings | msgspec.UnsetType | None = msgspec.UNSET
    status: Literal["active", "paused", "archived"] | msgspec.UnsetType = msgspec.UNSET


def new_source(body: CreateSource, source_id: str, org_id: str, now: int) -> Source:
    return Source(
        id=source_id,
        org_id=org_id,
        type="custom_api",
        name=body.name,
        status=SourceStatus.ACTIVE,
        entity_types=tuple(dict.fromkeys(body.entityTypes)),
        description=body.description,
        mappings=body.mappings,
        created_at=now,
        updated_at=now,
    )


def patched(source: Source, patch: PatchSource, now: int) -> Source:
    changes: dict[str, Any] = {}
    if not isinstance(patch.name, msgspec.UnsetType):
        changes["name"] = patch.name
    if not isinstance(patch.entityTypes, msgspec.UnsetType):
        changes["entity_types"] = tuple(dict.fromkeys(patch.entityTypes))
    if not isinstance(patch.description, msgspec.UnsetType):
        changes["description"] = patch.description
    if not isinstance(patch.mappings, msgspec.UnsetType):
        changes["mappings"] = patch.mappings
    if not isinstance(patch.status, msgspec.UnsetType):
        changes["status"] = SourceStatus(patch.status)
    if not changes:
        return source
    return replace(source, updated_at=now, **changes)


def blank_name(name: object) -> bool:
    return isinstance(name, str) and not name.strip()
