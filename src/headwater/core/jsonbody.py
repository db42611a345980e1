"""What a JSON request body may be, and how its faults are told to the client.

Pure functions shared by every endpoint that reads JSON (ingest, sources, keys):

- the body must be UTF-8 throughout (RFC 8259 §8.1), not only where the decoder looks;
- no object may repeat a key: which value counts would be the parser's choice;
- errors name the field in the client's terms (`records[3].sourceUpdatedAt`,
  `entityTypes[0]`) and say what is wrong in words, never with the decoder's internal
  wording or the regular expressions of the schema (docs/decisions.md, "Validation details").
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any

import msgspec

#: the field of a detail about the body as a whole (not JSON, not an object, not UTF-8)
BODY = "body"

_CHUNK = 64 * 1024


def is_utf8(data: bytes) -> bool:
    """True when `data` is valid UTF-8. ASCII is checked without decoding; anything else is
    decoded in 64 KiB steps, so a 10 MiB body never becomes a 40 MiB string."""
    if data.isascii():
        return True
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    view = memoryview(data)
    try:
        for start in range(0, len(view), _CHUNK):
            decoder.decode(view[start : start + _CHUNK])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


# --- duplicate keys -------------------------------------------------------------------


class _Pairs(list[tuple[str, Any]]):
    """An object as its members in order, duplicates kept (json's object_pairs_hook)."""


def duplicate_key(raw: bytes | str, *, top_level_only: bool = False) -> str | None:
    """The path of the first repeated key in the JSON text `raw` (`mappings.deal.actors`,
    `records[2].payload`), or None. Exact and slow (the `json` module): call it only when
    a cheap count says some member was dropped (`canonical.has_duplicate_keys`).

    With `top_level_only`, only the outermost object's members are compared.
    """
    try:
        tree = json.loads(raw, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError):
        return None
    return _find_duplicate(tree, "", 0 if top_level_only else None)


def _find_duplicate(value: Any, path: str, depth_left: int | None) -> str | None:
    if isinstance(value, _Pairs):
        seen: set[str] = set()
        for key, _ in value:
            if key in seen:
                return f"{path}.{key}" if path else key
            seen.add(key)
        if depth_left == 0:
            return None
        deeper = None if depth_left is None else depth_left - 1
        for key, member in value:
            found = _find_duplicate(member, f"{path}.{key}" if path else key, deeper)
            if found is not None:
                return found
    elif isinstance(value, list) and depth_left != 0:
        deeper = None if depth_left is None else depth_left - 1
        for index, item in enumerate(value):
            found = _find_duplicate(item, f"{path}[{index}]", deeper)
            if found is not None:
                return found
    return None


def top_level_members(raw: bytes) -> dict[str, msgspec.Raw]:
    """The members of the JSON object `raw` (raises msgspec errors for anything else)."""
    return msgspec.json.decode(raw, type=dict[str, msgspec.Raw])


def repeats_a_member(raw: bytes, members: dict[str, msgspec.Raw]) -> bool:
    """True when the object `raw`, decoded into `members`, repeated one of its own keys.

    The cheap count of `canonical.has_duplicate_keys` one level deep: every `:` of the raw
    text is a member separator or sits inside a key or a value; the decoded members keep
    one per key. A colon spelled as an escape (`\\u003a`) takes the exact path.
    """
    if b"\\" in raw and b"\\u003" in raw:
        return duplicate_key(raw, top_level_only=True) is not None
    inside = sum(key.count(":") for key in members) + sum(
        bytes(value).count(b":") for value in members.values()
    )
    return raw.count(b":") != len(members) + inside


# --- describing errors ----------------------------------------------------------------

_TYPE_WORDS = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "a boolean",
    "null": "null",
    "array": "an array",
    "object": "an object",
}

#: the schema's patterns, said in words
_PATTERN_WORDS = {
    "^[^\x00]*$": "must not contain a NUL character",
    r"^[A-Za-z0-9_.\-]{1,100}$": "must be 1-100 characters: letters, digits, '_', '-' or '.'",
}

_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_EXPECTED = re.compile(r"Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`")
_LENGTH = re.compile(r"Expected `(?P<kind>str|array|object)` of length (?P<op>[<>]=) (?P<n>\d+)")
_BOUND = re.compile(r"Expected `(?P<kind>int|float)` (?P<op>[<>]=?) (?P<n>-?[\d.e+]+)")
_PATTERN = re.compile(r"Expected `str` matching regex (?P<pattern>'.*')$", re.DOTALL)
_MISSING = re.compile(r"Object missing required field `(?P<name>[^`]+)`")
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<name>[^`]*)`")
_ENUM = re.compile(r"Invalid enum value (?P<value>.+)$", re.DOTALL)


def validation_detail(
    exc: msgspec.ValidationError, choices: dict[str, str] | None = None
) -> tuple[str, str]:
    """A msgspec validation error as `(field, message)` in the client's terms.

    `choices` gives the allowed values of enum fields by field name (`scopes` ->
    "ingest, read, admin"), so that "Invalid enum value" can say which are allowed.
    """
    text = str(exc)
    at = _AT.search(text)
    path = at.group("path").lstrip(".") if at else ""
    message = text[: at.start()] if at else text

    def field(name: str | None = None) -> str:
        if name is None:
            return path or BODY
        return f"{path}.{name}" if path else name

    if m := _MISSING.fullmatch(message):
        return field(m.group("name")), "is required"
    if m := _UNKNOWN.fullmatch(message):
        return field(m.group("name")), "is not a known field"
    if m := _EXPECTED.fullmatch(message):
        wants = " or ".join(
            _TYPE_WORDS.get(w.strip(), w.strip()) for w in m.group("want").split("|")
        )
        if not path and m.group("want") == "object":
            return BODY, "must be a JSON object"
        return field(), f"must be {wants}"
    if m := _LENGTH.fullmatch(message):
        n = int(m.group("n"))
        unit = {"str": "character", "array": "item", "object": "member"}[m.group("kind")]
        bound = "at least" if m.group("op") == ">=" else "at most"
        return field(), f"must have {bound} {n} {unit}{'' if n == 1 else 's'}"
    if m := _PATTERN.fullmatch(message):
        pattern = m.group("pattern")[1:-1].encode().decode("unicode_escape")
        return field(), _PATTERN_WORDS.get(pattern, "has an invalid format")
    if m := _ENUM.fullmatch(message):
        allowed = (choices or {}).get(_last_name(path))
        return field(), f"must be one of {allowed}" if allowed else "is not an allowed value"
    if m := _BOUND.fullmatch(message):
        words = {">=": "at least", ">": "greater than", "<=": "at most", "<": "less than"}
        return field(), f"must be {words[m.group('op')]} {m.group('n')}"
    if message.startswith("Number out of range"):
        return field(), "is a number out of range"
    return field(), "is invalid"


def _last_name(path: str) -> str:
    """`scopes[0]` -> `scopes`, `a.b` -> `b`."""
    return re.sub(r"\[\d+\]$", "", path).rsplit(".", 1)[-1]


_BYTE = re.compile(r"\(byte (\d+)\)")
#: a high surrogate escape not followed by a low one, or a low one not after a high one
_LONE_SURROGATE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def decode_error_message(body: bytes, exc: Exception) -> str:
    """Why `body` is not JSON, in words (never the decoder's wording)."""
    if isinstance(exc, UnicodeDecodeError) or not is_utf8(body):
        return "is not valid UTF-8"
    if isinstance(exc, RecursionError):
        return "is nested too deeply"
    text = str(exc)
    if _LONE_SURROGATE.search(body):
        return "is not valid JSON: it contains an unpaired UTF-16 surrogate escape"
    if not body.strip():
        return "is empty; a JSON object is required"
    if "truncated" in text:
        return "is not valid JSON: it ends before the JSON value is complete"
    byte = _BYTE.search(text)
    where = f" at byte {byte.group(1)}" if byte else ""
    if "trailing characters" in text:
        return f"is not valid JSON: unexpected data after the JSON value{where}"
    return f"is not valid JSON: unexpected character{where}"
