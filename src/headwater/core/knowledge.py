"""Discovery runs and libraries (spec §10.1): plain values and the run's parameters."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

import msgspec

from headwater.core.models import BatchStatus

#: the discovery algorithm and its version (named by rules' provenance, spec §10.2)
ALGORITHM = "headwater-discovery-v1"


class LibraryOrigin(StrEnum):
    """Who started a discovery run (`libraries.origin`)."""

    REQUEST = "request"  #: POST /v1/knowledge/discover or `headwater discover`
    SCHEDULE = "schedule"  #: a worker's own start (spec §10.1)


class DiscoverParameters(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The body of POST /v1/knowledge/discover; every field is optional."""

    #: cases a rule needs before it is emitted
    minSupport: Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000)] = 5
    #: the fraction a rule needs, where it is one
    minConfidence: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.8
    #: variants listed per process, most frequent first
    topVariants: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20


@dataclass(frozen=True, slots=True)
class Library:
    """A discovery run and the library version it writes (one row: `libraries`)."""

    id: str
    org_id: str
    status: BatchStatus
    active: bool
    origin: LibraryOrigin
    parameters: DiscoverParameters
    processes: int | None
    rules: int | None
    events_read: int | None
    attempts: int
    error_code: str | None
    error_message: str | None
    created_at: int
    started_at: int | None
    completed_at: int | None


@dataclass(frozen=True, slots=True)
class ClaimedLibrary:
    """A run a worker holds the lease on."""

    id: str
    org_id: str
    attempts: int
    parameters: DiscoverParameters


@dataclass(frozen=True, slots=True)
class ProcessRow:
    """One stored process of a library. `scope` is "" (all sources) or a source id;
    `detail` is the encoded `core.process.Process`."""

    library_id: str
    scope: str
    process_id: str
    entity_type: str
    step_field: str | None
    cases: int
    events: int
    detail: bytes
    updated_at: int = 0  #: the library's completion time (filled in when read)


def process_id(entity_type: str) -> str:
    return f"{entity_type}-lifecycle"


def process_name(entity_type: str) -> str:
    return f"{entity_type} lifecycle"


def new_library(
    library_id: str, org_id: str, parameters: DiscoverParameters, origin: LibraryOrigin, now: int
) -> Library:
    return Library(
        id=library_id,
        org_id=org_id,
        status=BatchStatus.QUEUED,
        active=False,
        origin=origin,
        parameters=parameters,
        processes=None,
        rules=None,
        events_read=None,
        attempts=0,
        error_code=None,
        error_message=None,
        created_at=now,
        started_at=None,
        completed_at=None,
    )
