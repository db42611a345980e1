"""Checks on an ingest request: the whole request (spec §4.1) and each record (§4.2).

Pure functions over bytes. The request envelope is decoded with each record kept as
raw JSON text, so the verbatim bytes of every payload survive to storage.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import msgspec

from headwater.core import canonical, jsonbody, timestamps
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


class _Record(msgspec.Struct, forbid_unknown_fields=True):
    recordId: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET  # raw: echoed as sent
    entityType: object = msgspec.UNSET
    sourceUpdatedAt: object = msgspec.UNSET
    payload: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    deleted: object = msgspec.UNSET


class _TypedRecord(msgspec.Struct, forbid_unknown_fields=True):
    recordId: str
    entityType: str
    sourceUpdatedAt: str
    payload: msgspec.Raw
    deleted: bool | msgspec.UnsetType = msgspec.UNSET  # UNSET: the member count needs it


class _TypedEnvelope(msgspec.Struct):
    sourceId: str
    records: list[_TypedRecord]


_record_decoder = msgspec.json.Decoder(_Record)
_typed_decoder = msgspec.json.Decoder(_TypedEnvelope)
_records_decoder = msgspec.json.Decoder(list[msgspec.Raw])
_any_decoder = msgspec.json.Decoder()

#: a record's recordId as sent: the string, any other JSON value verbatim, or None
SentId = str | msgspec.Raw | None
#: (raw fingerprint, content hash) of payload bytes already validated and stored
Known = tuple[bytes, bytes]
#: `lookup(source_id, keys)`: what storage knows of these records' heads (`Known` pairs)
KnownLookup = Callable[[str, Sequence[RecordKey]], Mapping[RecordKey, Known]]


def parse_uuid(text: object) -> str | None:
    """The canonical lower-case form of a UUID string, or None if it is not one."""
    if isinstance(text, str) and _UUID.fullmatch(text):
        return text.lower()
    return None


def _not_json(body: bytes, exc: Exception) -> RequestInvalid:
    return RequestInvalid(
        "Request body is not valid JSON.",
        [FieldError(jsonbody.BODY, jsonbody.decode_error_message(body, exc))],
    )


def parse_envelope(body: bytes) -> tuple[str, list[msgspec.Raw]]:
    """Decode `{"sourceId", "records"}`, keeping every record as raw JSON text.

    The whole request is refused when the body is not UTF-8 throughout, is not a JSON
    object, or repeats one of its own keys (`{"sourceId": A, "sourceId": B}`).
    """
    if not jsonbody.is_utf8(body):
        raise RequestInvalid(
            "Request body is not valid JSON.", [FieldError(jsonbody.BODY, "is not valid UTF-8")]
        )
    try:
        members = jsonbody.top_level_members(body)
    except msgspec.ValidationError:
        raise RequestInvalid(
            "Request body is invalid.", [FieldError(jsonbody.BODY, "must be a JSON object")]
        ) from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise _not_json(body, exc) from None
    if jsonbody.repeats_a_member(body, members):
        key = jsonbody.duplicate_key(body, top_level_only=True) or jsonbody.BODY
        raise RequestInvalid(
            "Request body repeats a key.", [FieldError(key, "appears more than once")]
        )

    errors: list[FieldError] = []
    raw_source = members.get("sourceId")
    source_id = None
    if raw_source is None:
        errors.append(FieldError("sourceId", "is required"))
    else:
        source_id = parse_uuid(_decode_or_none(raw_source))
        if source_id is None:
            errors.append(FieldError("sourceId", "must be a UUID"))
    raw_records = members.get("records")
    records: list[msgspec.Raw] | None = None
    if raw_records is None:
        errors.append(FieldError("records", "is required"))
    else:
        try:
            records = _records_decoder.decode(raw_records)
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
            errors.append(FieldError("records", "must be an array"))
        else:
            if not records:
                errors.append(FieldError("records", "must contain at least 1 record"))
            elif len(records) > MAX_RECORDS:
                errors.append(FieldError("records", f"must contain at most {MAX_RECORDS} records"))
    if errors or source_id is None or records is None:
        raise RequestInvalid("Request body is invalid.", errors)
    return source_id, records


def _decode_or_none(raw: msgspec.Raw | bytes) -> object:
    try:
        return _any_decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None


def parse_request(
    body: bytes, lookup: KnownLookup | None = None
) -> tuple[str, list[ValidRecord | Rejection]]:
    """The whole request (raises RequestInvalid), then every record checked on its own.

    `lookup`, when given, is asked once (on the typed path) for the raw fingerprints of
    the records' heads: a payload whose bytes are the head's skips canonicalization and
    takes the head's content hash (`check_record`). The lookup may be stale: a
    fingerprint and its content hash are a fact about bytes, whatever the head is now.

    Fast path: a request whose records all have the documented types decodes in one
    typed pass, and one count of its `:` proves that no object outside the payloads
    repeated a key (payloads are checked by `canonical`). Anything else (a wrong type,
    an unknown field, a missing payload, a repeated key) goes through the lenient path,
    which decodes each record separately so that one bad record rejects that record
    alone with the precise reason.

    UTF-8: on the fast path every string outside the payloads was decoded (so checked)
    by msgspec, and so was every accepted payload; only a rejected record's payload is
    checked separately. The lenient path checks the whole body first.
    """
    try:
        typed = _typed_decoder.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        typed = None
    if typed is not None:
        source_id = parse_uuid(typed.sourceId)
        if source_id is not None and 1 <= len(typed.records) <= MAX_RECORDS:
            checked = _fast_path(body, typed, source_id, lookup)
            if checked is not None:
                return source_id, checked
    source_id, raws = parse_envelope(body)
    return source_id, [validate_record(index, raw) for index, raw in enumerate(raws)]


def _fast_path(
    body: bytes, typed: _TypedEnvelope, source_id: str, lookup: KnownLookup | None
) -> list[ValidRecord | Rejection] | None:
    """Every record checked, or None when the body must take the lenient path.

    The idea of `canonical.has_duplicate_keys`, for the envelope and its records: each `:`
    of the body separates a member or sits inside a string, and the decoder keeps one
    member per key, so the body has more colons than the decoded values account for
    exactly when a key was repeated (or a member was ignored: an unknown top-level field).
    Each payload's colons are counted once, here, and handed to `canonical`. A colon
    spelled `\\u003a` makes the count inexact: such bodies take the lenient path.
    """
    if b"\\" in body and b"\\u003" in body:
        return None
    expected = 2 + typed.sourceId.count(":")
    checked: list[ValidRecord | Rejection] = []
    known = _known(typed, source_id, lookup) if lookup is not None else {}
    for index, r in enumerate(typed.records):
        payload = bytes(r.payload)
        colons = payload.count(b":")
        expected += (
            (4 if r.deleted is msgspec.UNSET else 5)
            + r.recordId.count(":")
            + r.entityType.count(":")
            + r.sourceUpdatedAt.count(":")
            + colons
        )
        result = check_record(
            index, r.recordId, r.entityType, r.sourceUpdatedAt, payload, r.deleted, colons,
            known.get(RecordKey(r.entityType, r.recordId)) if known else None,
        )  # fmt: skip
        if isinstance(result, Rejection) and not jsonbody.is_utf8(payload):
            return None  # the lenient path refuses the body as not UTF-8
        checked.append(result)
    if body.count(b":") != expected:
        return None
    return checked


#: records whose heads are asked for first: when none of them is a byte-identical re-send
#: (a first load, or a sync of changed records), the rest are not looked up
SAMPLE = 8


def _known(typed: _TypedEnvelope, source_id: str, lookup: KnownLookup) -> Mapping[RecordKey, Known]:
    """The fingerprints storage knows for this request's records. A sample spread over the
    request is asked for first: only if one of its payloads is its head's very bytes is
    the whole request looked up, so other loads pay for `SAMPLE` probes, not 500."""
    records = typed.records
    keys = [RecordKey(r.entityType, r.recordId) for r in records]
    if len(keys) > 2 * SAMPLE:
        step = len(keys) // SAMPLE
        sample = {keys[i]: records[i] for i in range(0, step * SAMPLE, step)}
        found = lookup(source_id, list(sample))
        if not any(
            known[0] == canonical.raw_fingerprint(bytes(r.payload), r.deleted is True)
            for key, r in sample.items()
            if (known := found.get(key)) is not None
        ):
            return {}
    return lookup(source_id, keys)


def validate_record(index: int, raw: bytes | msgspec.Raw) -> ValidRecord | Rejection:
    """Check one record; a failure rejects this record alone (spec §4.2).

    A rejection echoes `recordId` as sent (a string, or any other JSON value verbatim)
    and `entityType` when it is a string, whatever else is wrong with the record.
    """
    raw = bytes(raw)
    try:
        members = jsonbody.top_level_members(raw)
    except msgspec.ValidationError:
        return Rejection(index, None, "INVALID_RECORD", "record must be a JSON object")
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return Rejection(index, None, "INVALID_RECORD", "record is not valid JSON")
    sent_id = _sent_id(members.get("recordId"))
    sent_type = _sent_string(members.get("entityType"))

    if jsonbody.repeats_a_member(raw, members):
        key = jsonbody.duplicate_key(raw, top_level_only=True) or "a field"
        # the repeated field was not sent unambiguously, so it is not echoed
        return Rejection(
            index,
            None if key == "recordId" else sent_id,
            "INVALID_RECORD",
            f"field {key!r} appears more than once",
            None if key == "entityType" else sent_type,
        )
    try:
        record = _record_decoder.decode(raw)
    except msgspec.ValidationError as exc:
        field, message = jsonbody.validation_detail(exc)
        if message == "is not a known field":
            return Rejection(index, sent_id, "UNKNOWN_FIELD", f"unknown field {field!r}", sent_type)
        return Rejection(index, sent_id, "INVALID_RECORD", f"{field} {message}", sent_type)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        reason = "is nested too deeply" if isinstance(exc, RecursionError) else "is not valid JSON"
        return Rejection(index, sent_id, "INVALID_RECORD", f"record {reason}", sent_type)
    if not isinstance(sent_id, str):
        return Rejection(
            index,
            sent_id,
            "INVALID_RECORD_ID",
            _missing_or("recordId", record.recordId, "a string"),
            sent_type,
        )
    return check_record(
        index,
        sent_id,
        record.entityType,
        record.sourceUpdatedAt,
        record.payload,
        record.deleted,
    )


def _sent_id(raw: msgspec.Raw | None) -> SentId:
    """`recordId` as sent: a string decoded, null as None, any other value verbatim."""
    if raw is None:
        return None
    text = bytes(raw)
    if text.startswith(b'"'):
        value = _decode_or_none(raw)
        return value if isinstance(value, str) else None
    if text == b"null":
        return None
    return raw


def _sent_string(raw: msgspec.Raw | None) -> str | None:
    if raw is None or not bytes(raw).startswith(b'"'):
        return None
    value = _decode_or_none(raw)
    return value if isinstance(value, str) else None


def check_record(
    index: int,
    record_id: object,
    entity_type: object,
    source_updated_at: object,
    payload: bytes | msgspec.Raw | msgspec.UnsetType,
    deleted: object,
    payload_colons: int | None = None,
    known: Known | None = None,
) -> ValidRecord | Rejection:
    """The per-record rules (spec §4.2) over decoded fields, in the documented order.

    `known`: the (raw fingerprint, content hash) of bytes validated when they were
    stored. Payload bytes with that fingerprint are those bytes: every check that
    depends on the payload alone (JSON, UTF-8, duplicate keys, numbers) passed on them
    already, so the canonical form is not computed again. The size is still checked.
    """
    sent_id = record_id if isinstance(record_id, str) else None
    sent_type = entity_type if isinstance(entity_type, str) else None
    if not isinstance(record_id, str):
        return Rejection(
            index,
            None,
            "INVALID_RECORD_ID",
            _missing_or("recordId", record_id, "a string"),
            sent_type,
        )
    if not 1 <= len(record_id) <= MAX_RECORD_ID_CHARS:
        return Rejection(
            index, sent_id, "INVALID_RECORD_ID", "recordId must have 1-255 characters", sent_type
        )
    if _CONTROL.search(record_id):
        return Rejection(
            index,
            sent_id,
            "INVALID_RECORD_ID",
            "recordId must not contain control characters",
            sent_type,
        )

    if not isinstance(entity_type, str) or not _ENTITY_TYPE.fullmatch(entity_type):
        return Rejection(
            index,
            sent_id,
            "INVALID_ENTITY_TYPE",
            _missing_or("entityType", entity_type, "1-100 letters, digits, '_', '-' or '.'"),
            sent_type,
        )

    if not isinstance(source_updated_at, str):
        return Rejection(
            index, sent_id, "INVALID_TIMESTAMP",
            _missing_or("sourceUpdatedAt", source_updated_at, "an RFC 3339 date-time string"),
            sent_type,
        )  # fmt: skip
    try:
        updated_at = timestamps.parse_rfc3339(source_updated_at)
    except ValueError as exc:
        return Rejection(index, sent_id, "INVALID_TIMESTAMP", f"sourceUpdatedAt {exc}", sent_type)

    if deleted is msgspec.UNSET:
        deleted = False
    elif not isinstance(deleted, bool):
        return Rejection(index, sent_id, "INVALID_RECORD", "deleted must be a boolean", sent_type)

    if isinstance(payload, msgspec.UnsetType):
        if not deleted:
            return Rejection(index, sent_id, "INVALID_PAYLOAD", "payload is required", sent_type)
        verbatim = b"{}"  # a tombstone may omit its payload (docs/decisions.md)
    else:
        verbatim = bytes(payload)
    if len(verbatim) > MAX_PAYLOAD_BYTES:
        return Rejection(
            index, sent_id, "RECORD_TOO_LARGE",
            f"payload is {len(verbatim)} bytes; the limit is {MAX_PAYLOAD_BYTES}", sent_type,
        )  # fmt: skip
    fingerprint = canonical.raw_fingerprint(verbatim, deleted)
    if known is not None and known[0] == fingerprint:
        content_hash = known[1]
    else:
        try:
            canonical_payload = canonical.canonicalize(verbatim, payload_colons)
        except canonical.InvalidPayload as exc:
            return Rejection(index, sent_id, "INVALID_PAYLOAD", str(exc), sent_type)
        content_hash = canonical.content_hash(canonical_payload, deleted)

    return ValidRecord(
        index=index,
        key=RecordKey(entity_type, record_id),
        source_updated_at=updated_at,
        payload=verbatim,
        content_hash=content_hash,
        deleted=deleted,
        raw_fingerprint=fingerprint,
    )


def _missing_or(field: str, value: object, expected: str) -> str:
    if value is msgspec.UNSET:
        return f"{field} is required"
    return f"{field} must be {expected}"
