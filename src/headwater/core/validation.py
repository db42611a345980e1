"""Checks on an ingest request: the whole request (spec §4.1) and each record (§4.2).

Pure functions over bytes. The request envelope is decoded with each record kept as
raw JSON text, so the verbatim bytes of every payload survive to storage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import msgspec

from headwater.core import canonical, timestamps
from headwater.core.models import RecordKey, Rejection, ValidRecord

MAX_RECORDS = 500
MAX_PAYLOAD_BYTES = 1024 * 1024
MAX_RECORD_ID_CHARS = 255

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_ENTITY_TYPE = re.compile(r"[A-Za-z0-9_.\-]{1,100}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


class RequestInvalid(ValueError):
    """The whole request is refused (400 VALIDATION_ERROR); nothing is stored."""

    def __init__(self, message: str, details: list[FieldError]) -> None:
        super().__init__(message)
        self.details = details


class _Envelope(msgspec.Struct):
    sourceId: object = msgspec.UNSET
    records: list[msgspec.Raw] | msgspec.UnsetType = msgspec.UNSET


class _Record(msgspec.Struct, forbid_unknown_fields=True):
    recordId: object = msgspec.UNSET
    entityType: object = msgspec.UNSET
    sourceUpdatedAt: object = msgspec.UNSET
    payload: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    deleted: object = msgspec.UNSET


class _TypedRecord(msgspec.Struct, forbid_unknown_fields=True):
    recordId: str
    entityType: str
    sourceUpdatedAt: str
    payload: msgspec.Raw
    deleted: bool = False


class _TypedEnvelope(msgspec.Struct):
    sourceId: str
    records: list[_TypedRecord]


class _LenientRecord(msgspec.Struct):
    recordId: object = None


_envelope_decoder = msgspec.json.Decoder(_Envelope)
_record_decoder = msgspec.json.Decoder(_Record)
_lenient_decoder = msgspec.json.Decoder(_LenientRecord)
_typed_decoder = msgspec.json.Decoder(_TypedEnvelope)


def parse_uuid(text: object) -> str | None:
    """The canonical lower-case form of a UUID string, or None if it is not one."""
    if isinstance(text, str) and _UUID.fullmatch(text):
        return text.lower()
    return None


def parse_envelope(body: bytes) -> tuple[str, list[msgspec.Raw]]:
    """Decode `{"sourceId", "records"}`, keeping every record as raw JSON text."""
    try:
        envelope = _envelope_decoder.decode(body)
    except RecursionError:
        raise RequestInvalid(
            "Request body is nested too deeply.", [FieldError("body", "nesting too deep")]
        ) from None
    except msgspec.ValidationError as exc:
        field, message = _split_validation_error(exc)
        raise RequestInvalid("Request body is invalid.", [FieldError(field, message)]) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise RequestInvalid(
            "Request body is not valid JSON.", [FieldError("body", describe_json_error(body, exc))]
        ) from None

    errors: list[FieldError] = []
    source_id = parse_uuid(envelope.sourceId)
    if envelope.sourceId is msgspec.UNSET:
        errors.append(FieldError("sourceId", "is required"))
    elif source_id is None:
        errors.append(FieldError("sourceId", "must be a UUID"))
    if isinstance(envelope.records, msgspec.UnsetType):
        errors.append(FieldError("records", "is required"))
    elif not envelope.records:
        errors.append(FieldError("records", "must contain at least 1 record"))
    elif len(envelope.records) > MAX_RECORDS:
        errors.append(FieldError("records", f"must contain at most {MAX_RECORDS} records"))
    if errors or source_id is None or isinstance(envelope.records, msgspec.UnsetType):
        raise RequestInvalid("Request body is invalid.", errors)
    return source_id, envelope.records


def parse_request(body: bytes) -> tuple[str, list[ValidRecord | Rejection]]:
    """The whole request (raises RequestInvalid), then every record checked on its own.

    Fast path: a request whose records all have the documented types decodes in one
    typed pass. Anything else (a wrong type, an unknown field, a missing payload) goes
    through the lenient path, which decodes each record separately so that one bad
    record rejects that record alone with the precise reason.
    """
    try:
        typed = _typed_decoder.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        typed = None
    if typed is not None:
        source_id = parse_uuid(typed.sourceId)
        if source_id is not None and 1 <= len(typed.records) <= MAX_RECORDS:
            return source_id, [
                check_record(
                    index, r.recordId, r.entityType, r.sourceUpdatedAt, r.payload, r.deleted
                )
                for index, r in enumerate(typed.records)
            ]
    source_id, raws = parse_envelope(body)
    return source_id, [validate_record(index, raw) for index, raw in enumerate(raws)]


def validate_record(index: int, raw: bytes) -> ValidRecord | Rejection:
    """Check one record; a failure rejects this record alone (spec §4.2)."""
    try:
        record = _record_decoder.decode(raw)
    except msgspec.ValidationError as exc:
        message = str(exc)
        if message.startswith("Object contains unknown field"):
            field = message.split("`")[1]
            return Rejection(
                index, _lenient_record_id(raw), "UNKNOWN_FIELD", f"unknown field {field!r}"
            )
        if message.startswith("Expected `object`"):
            return Rejection(index, None, "INVALID_RECORD", "record must be a JSON object")
        return Rejection(index, _lenient_record_id(raw), "INVALID_RECORD", message)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return Rejection(index, None, "INVALID_RECORD", f"record is not valid JSON: {exc}")
    except RecursionError:
        return Rejection(
            index, _lenient_record_id(raw), "INVALID_RECORD", "record is nested too deeply"
        )
    return check_record(
        index,
        record.recordId,
        record.entityType,
        record.sourceUpdatedAt,
        record.payload,
        record.deleted,
    )


def check_record(
    index: int,
    record_id: object,
    entity_type: object,
    source_updated_at: object,
    payload: msgspec.Raw | msgspec.UnsetType,
    deleted: object,
) -> ValidRecord | Rejection:
    """The per-record rules (spec §4.2) over decoded fields, in the documented order."""
    sent_id = record_id if isinstance(record_id, str) else None
    if not isinstance(record_id, str):
        return Rejection(
            index, None, "INVALID_RECORD_ID", _missing_or("recordId", record_id, "a string")
        )
    if not 1 <= len(record_id) <= MAX_RECORD_ID_CHARS:
        return Rejection(index, sent_id, "INVALID_RECORD_ID", "recordId must have 1-255 characters")
    if _CONTROL.search(record_id):
        return Rejection(
            index, sent_id, "INVALID_RECORD_ID", "recordId must not contain control characters"
        )

    if not isinstance(entity_type, str) or not _ENTITY_TYPE.fullmatch(entity_type):
        return Rejection(
            index,
            sent_id,
            "INVALID_ENTITY_TYPE",
            _missing_or("entityType", entity_type, "1-100 letters, digits, '_', '-' or '.'"),
        )

    if not isinstance(source_updated_at, str):
        return Rejection(
            index, sent_id, "INVALID_TIMESTAMP",
            _missing_or("sourceUpdatedAt", source_updated_at, "an RFC 3339 date-time string"),
        )  # fmt: skip
    try:
        updated_at = timestamps.parse_rfc3339(source_updated_at)
    except ValueError:
        return Rejection(
            index, sent_id, "INVALID_TIMESTAMP",
            "sourceUpdatedAt must be an RFC 3339 date-time with a time zone",
        )  # fmt: skip

    if deleted is msgspec.UNSET:
        deleted = False
    elif not isinstance(deleted, bool):
        return Rejection(index, sent_id, "INVALID_RECORD", "deleted must be a boolean")

    if isinstance(payload, msgspec.UnsetType):
        if not deleted:
            return Rejection(index, sent_id, "INVALID_PAYLOAD", "payload is required")
        verbatim = b"{}"  # a tombstone may omit its payload (docs/decisions.md)
    else:
        verbatim = bytes(payload)
    if len(verbatim) > MAX_PAYLOAD_BYTES:
        return Rejection(
            index, sent_id, "RECORD_TOO_LARGE",
            f"payload is {len(verbatim)} bytes; the limit is {MAX_PAYLOAD_BYTES}",
        )  # fmt: skip
    try:
        canonical_payload = canonical.canonicalize(verbatim)
    except canonical.InvalidPayload as exc:
        return Rejection(index, sent_id, "INVALID_PAYLOAD", str(exc))

    return ValidRecord(
        index=index,
        key=RecordKey(entity_type, record_id),
        source_updated_at=updated_at,
        payload=verbatim,
        content_hash=canonical.content_hash(canonical_payload, deleted),
        deleted=deleted,
    )


def describe_json_error(body: bytes, exc: Exception) -> str:
    message = str(exc)
    # msgspec reports an unpaired UTF-16 surrogate escape as truncated input.
    if "truncated" in message and re.search(rb"\\u[dD][89a-fA-F]", body):
        return "malformed JSON: invalid or unpaired UTF-16 surrogate escape"
    if isinstance(exc, UnicodeDecodeError):
        return "body is not valid UTF-8"
    return f"malformed JSON: {message}"


def _split_validation_error(exc: msgspec.ValidationError) -> tuple[str, str]:
    message, _, path = str(exc).partition(" - at `")
    path = path.rstrip("`").removeprefix("$").lstrip(".")
    if message.startswith("Expected `object`") and not path:
        return "body", "must be a JSON object"
    return path or "body", message


def _missing_or(field: str, value: object, expected: str) -> str:
    if value is msgspec.UNSET:
        return f"{field} is required"
    return f"{field} must be {expected}"


def _lenient_record_id(raw: bytes) -> str | None:
    try:
        record_id = _lenient_decoder.decode(raw).recordId
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None
    return record_id if isinstance(record_id, str) else None
