"""The canonical JSON form of a payload and the content hash built on it.

Canonical form (documented in docs/decisions.md, "Content hash"): the payload parsed and
re-encoded by msgspec with object keys sorted by code point, no whitespace, strings as
UTF-8 with minimal escapes, integers exact up to `max_int_chars()` characters (4,300, a minus sign counts),
non-integer numbers as the
shortest text that round-trips the IEEE double. Key order, whitespace and escape
spelling therefore never make a record "changed"; `1` and `1.0` stay distinct.

The content hash is SHA-256 over the canonical form of ``{"deleted": …, "payload": …}``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

import msgspec

from headwater.core import jsonbody

_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder(order="sorted")


class InvalidPayload(ValueError):
    """The payload is not a JSON object we can canonicalize unambiguously."""


def canonicalize(raw: bytes, raw_colons: int | None = None) -> bytes:
    """Return the canonical JSON text of the JSON object in `raw`.

    Raises InvalidPayload for non-objects, malformed JSON, invalid UTF-8, lone
    surrogates, numbers out of the double range, excessive nesting, and duplicate keys
    (whose canonical form would be ambiguous).
    """
    try:
        value = _decoder.decode(raw)
    except RecursionError:
        raise InvalidPayload("payload is nested too deeply") from None
    except msgspec.ValidationError as exc:  # e.g. "Number out of range"
        raise InvalidPayload(_out_of_range(_strip_path(exc))) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise InvalidPayload(f"payload is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidPayload(f"payload must be a JSON object, not {_json_type(value)}")
    try:
        canonical = _encoder.encode(value)
    except RecursionError:
        raise InvalidPayload("payload is nested too deeply") from None
    try:
        duplicated = has_duplicate_keys(raw, canonical, raw_colons)
    except RecursionError:  # the slow path's json.loads nests a little deeper than msgspec
        raise InvalidPayload("payload is nested too deeply") from None
    if duplicated:
        path = jsonbody.duplicate_key(raw)  # the slow, exact walk: only for a refusal
        where = f" {path!r}" if path else " an object key"
        raise InvalidPayload(f"payload has a duplicate key{where}: each key may appear once")
    return canonical


def content_hash(canonical_payload: bytes, deleted: bool) -> bytes:
    """SHA-256 of the canonical form of {"deleted": deleted, "payload": payload}."""
    head = b'{"deleted":true,"payload":' if deleted else b'{"deleted":false,"payload":'
    digest = hashlib.sha256(head)
    digest.update(canonical_payload)
    digest.update(b"}")
    return digest.digest()


def raw_fingerprint(payload: bytes, deleted: bool) -> bytes:
    """SHA-256 of the payload's bytes exactly as sent, with the deleted flag first.

    Equal fingerprints mean equal bytes (and flag), so equal content hashes: a head
    keeps the fingerprint of bytes it validated, and `validation.check_record` takes
    the head's content hash for a re-send of the same bytes instead of canonicalizing
    them again. Different bytes prove nothing: they are canonicalized as always.
    """
    digest = hashlib.sha256(b"\x01" if deleted else b"\x00")
    digest.update(payload)
    return digest.digest()


def has_duplicate_keys(raw: bytes, canonical: bytes, raw_colons: int | None = None) -> bool:
    """True when some object in `raw` repeats a key.

    Fast path: colons in JSON text are member separators or literal characters inside
    strings, and the encoder never escapes a colon. Decoding keeps the last of repeated
    members, so `canonical` has fewer colons than `raw` exactly when a member was
    dropped. The count is exact unless `raw` spells a colon as an escape (\\u003a),
    which takes the slow path. (A one-byte search for a backslash first: most payloads
    have none, and it is several times cheaper than searching for the escape.)
    """
    if b"\\" not in raw or b"\\u003" not in raw:
        # `raw_colons`: the caller's count of `raw`'s colons, when it has one already
        return (raw.count(b":") if raw_colons is None else raw_colons) != canonical.count(b":")
    try:
        json.loads(raw, object_pairs_hook=_refuse_duplicates)
    except _DuplicateKey:
        return True
    return False


class _DuplicateKey(Exception):
    pass


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _DuplicateKey
    return result


def _json_type(value: object) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


def max_int_chars() -> int:
    """The longest integer a payload may hold, in characters with its sign: Python's guard
    against the quadratic cost of converting longer ones, as the decoder applies it
    (4,300 unless PYTHONINTMAXSTRDIGITS changes it)."""
    return sys.get_int_max_str_digits() or 2**31


def _out_of_range(message: str) -> str:
    if message.startswith("Integer value out of range"):
        return f"payload has an integer longer than {max_int_chars()} characters"
    if message.startswith("Number out of range"):
        return "payload has a number outside the range of a 64-bit float"
    return f"payload is not valid JSON: {message}"


def _strip_path(exc: Exception) -> str:
    return str(exc).split(" - at `", 1)[0]
