"""Unit and property tests for headwater.core.canonical (canonical JSON, content hash, dup keys)."""

from __future__ import annotations

import hashlib
import json
import random
import re
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from headwater.core.canonical import InvalidPayload, canonicalize, content_hash, has_duplicate_keys

#: property tests: no per-example deadline (CI machines vary); the JSON-heavy ones fewer examples
PROPERTY = settings(deadline=None)
HEAVY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- helpers

JSON = Any
STRING_LITERAL = re.compile(rb'"(?:[^"\\]|\\.)*"')


def dedup_canonical(raw: bytes) -> bytes:
    """What the encoder produces for `raw` after the decoder has collapsed repeated keys."""
    return msgspec.json.encode(msgspec.json.decode(raw), order="sorted")


def same_json(a: JSON, b: JSON) -> bool:
    """Strict JSON equality: 1, 1.0 and true differ, and so do 0.0 and -0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return repr(a) == repr(b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    return bool(a == b)


def pairs_sorted_and_unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    assert keys == sorted(keys), f"canonical keys are not sorted by code point: {keys!r}"
    assert len(set(keys)) == len(keys)
    return dict(pairs)


def shuffled(value: JSON, rnd: random.Random) -> JSON:
    """The same value with the insertion order of every object shuffled."""
    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        return {k: shuffled(v, rnd) for k, v in items}
    if isinstance(value, list):
        return [shuffled(v, rnd) for v in value]
    return value


_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r"}
_SHORT_ESCAPES["\t"] = "\\t"
_WHITESPACE = ["", "", "", " ", "  ", "\n", "\t", "\r\n", " \n  "]


def _u_escape(code: int, rnd: random.Random) -> str:
    text = f"\\u{code:04x}"
    return text.upper().replace("\\U", "\\u") if rnd.random() < 0.5 else text


def spell_string(text: str, rnd: random.Random, escape_rate: float) -> str:
    """A JSON string literal for `text`, escaping characters at random (all spellings legal)."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        must = ch in '"\\' or code < 0x20
        if not must and rnd.random() >= escape_rate:
            out.append(ch)
        elif ch in _SHORT_ESCAPES and rnd.random() < 0.5:
            out.append(_SHORT_ESCAPES[ch])
        elif code > 0xFFFF:
            code -= 0x10000
            out.append(
                _u_escape(0xD800 + (code >> 10), rnd) + _u_escape(0xDC00 + (code & 0x3FF), rnd)
            )
        else:
            out.append(_u_escape(code, rnd))
    out.append('"')
    return "".join(out)


def spell(
    value: JSON,
    rnd: random.Random,
    escape_rate: float = 0.2,
    duplicate_at: int | None = None,
    _counter: list[int] | None = None,
) -> str:
    """Serialize `value` with random whitespace, key order and escapes.

    When `duplicate_at` is n, the n-th non-empty object (in serialization order) gets
    one of its keys repeated (spelled independently, with a different value).
    """
    counter = _counter if _counter is not None else [0]
    ws = lambda: rnd.choice(_WHITESPACE)  # noqa: E731
    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        members = [
            f"{ws()}{spell_string(k, rnd, escape_rate)}{ws()}:{ws()}"
            f"{spell(v, rnd, escape_rate, duplicate_at, counter)}{ws()}"
            for k, v in items
        ]
        if items:
            if counter[0] == duplicate_at:
                key = rnd.choice(items)[0]
                extra = f"{ws()}{spell_string(key, rnd, escape_rate)}{ws()}:{ws()}[]{ws()}"
                members.insert(rnd.randrange(len(members) + 1), extra)
            counter[0] += 1
        return "{" + ",".join(members) + ws() + "}"
    if isinstance(value, list):
        parts = [f"{ws()}{spell(v, rnd, escape_rate, duplicate_at, counter)}{ws()}" for v in value]
        return "[" + ",".join(parts) + ws() + "]"
    if isinstance(value, str):
        return spell_string(value, rnd, escape_rate)
    return json.dumps(value)


def count_objects(value: JSON) -> int:
    """Number of non-empty objects in `value`."""
    if isinstance(value, dict):
        return (1 if value else 0) + sum(count_objects(v) for v in value.values())
    if isinstance(value, list):
        return sum(count_objects(v) for v in value)
    return 0


# --------------------------------------------------------------------------- strategies

keys = st.one_of(
    st.text(max_size=8),
    st.text(alphabet=':\\"/ abc\u00e9\u2028\U0001f600\x00\x1f', max_size=6),
    st.sampled_from(["a", "b", "a:", ":", "::", "\\u003a", "é", "e\u0301", "\U0001f600", ""]),
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**60), max_value=10**60),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.text(alphabet=':"\\{}[],\u003a', max_size=8),
)
json_values = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys, children, max_size=4),
    ),
    max_leaves=25,
)
json_objects = st.dictionaries(keys, json_values, max_size=6)

stdlib_dump_options = st.fixed_dictionaries(
    {
        "indent": st.sampled_from([None, 0, 1, 2, 4, "\t", " \n"]),
        "separators": st.sampled_from(
            [None, (",", ":"), (", ", ": "), (" ,", " : "), (",\n", ":\t")]
        ),
        "sort_keys": st.booleans(),
        "ensure_ascii": st.booleans(),
    }
)


# --------------------------------------------------------------------------- canonical form


def test_simple_canonical_form() -> None:
    raw = b'{ "b" : 2,\n  "a" : [ 1 , {"d": null, "c": true} ], "\\u00e9": "\\u20ac" }'
    assert canonicalize(raw) == '{"a":[1,{"c":true,"d":null}],"b":2,"é":"€"}'.encode()


def test_empty_object() -> None:
    assert canonicalize(b"{}") == b"{}"
    assert canonicalize(b" \n{ \t}\r\n") == b"{}"


def test_keys_sorted_by_code_point() -> None:
    raw = '{"\U0001f600":1,"\uffff":2,"a":3,"B":4,"":5,"aa":6}'.encode()
    assert canonicalize(raw) == '{"":5,"B":4,"a":3,"aa":6,"\uffff":2,"\U0001f600":1}'.encode()


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (b'{"a":1,"b":2}', b'{"b":2,"a":1}'),
        (b'{"a":1,"b":2}', b'{\n  "a": 1,\n  "b": 2\n}\n'),
        (b'{"a":"\\u00e9"}', '{"a":"é"}'.encode()),
        (b'{"a":"\\u00E9"}', b'{"a":"\\u00e9"}'),
        (b'{"a":"\\/"}', b'{"a":"/"}'),
        (b'{"\\u0061":1}', b'{"a":1}'),
        (b'{"a":"\\ud83d\\ude00"}', '{"a":"\U0001f600"}'.encode()),
        (b'{"a":"\\u003a"}', b'{"a":":"}'),
        (b'{"a":1e3}', b'{"a":1000.0}'),
        (b'{"a":1E+3}', b'{"a":1000.0}'),
        (b'{"a":10.0e2}', b'{"a":1000.0}'),
        (b'{"a":0.1}', b'{"a":1e-1}'),
        (b'{"a":-0}', b'{"a":0}'),
        (b'{"x":{"b":[1,{"z":0,"y":1}],"a":null}}', b'{"x":{"a":null,"b":[1,{"y":1,"z":0}]}}'),
    ],
)
def test_equivalent_spellings_canonicalize_identically(a: bytes, b: bytes) -> None:
    assert canonicalize(a) == canonicalize(b)
    assert content_hash(canonicalize(a), False) == content_hash(canonicalize(b), False)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (b'{"a":1}', b'{"a":2}'),
        (b'{"a":1}', b'{"a":1.0}'),  # documented: 1 and 1.0 stay distinct
        (b'{"a":1}', b'{"a":"1"}'),
        (b'{"a":1}', b'{"a":true}'),
        (b'{"a":0}', b'{"a":false}'),
        (b'{"a":null}', b"{}"),
        (b'{"a":[]}', b'{"a":{}}'),
        (b'{"a":[1,2]}', b'{"a":[2,1]}'),  # array order matters
        (b'{"a":"x"}', b'{"a":"X"}'),
        (b'{"a":"\\u00e9"}', b'{"a":"e\\u0301"}'),  # no Unicode normalization
        (b'{"a":1}', b'{"A":1}'),
        (b'{"a":{"b":1}}', b'{"a":{"b":1,"c":null}}'),
        (b'{"a":99999999999999999999}', b'{"a":99999999999999999998}'),
        (b'{"a":99999999999999999999}', b'{"a":12345678901234567890}'),
        (b'{"a":99999999999999999999}', b'{"a":1e20}'),
        (b'{"a":9007199254740993}', b'{"a":9007199254740992}'),  # beyond double precision
    ],
)
def test_different_content_different_canonical_and_hash(a: bytes, b: bytes) -> None:
    assert canonicalize(a) != canonicalize(b)
    for deleted in (False, True):
        assert content_hash(canonicalize(a), deleted) != content_hash(canonicalize(b), deleted)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"a":1.0}', b'{"a":1.0}'),
        (b'{"a":1e3}', b'{"a":1000.0}'),
        (b'{"a":-0}', b'{"a":0}'),
        (b'{"a":0}', b'{"a":0}'),
        (b'{"a":-1}', b'{"a":-1}'),
        (b'{"a":99999999999999999999}', b'{"a":99999999999999999999}'),
        (b'{"a":12345678901234567890}', b'{"a":12345678901234567890}'),
        (b'{"a":-99999999999999999999}', b'{"a":-99999999999999999999}'),
        (b'{"a":18446744073709551616}', b'{"a":18446744073709551616}'),  # 2**64
        (b'{"a":-9223372036854775809}', b'{"a":-9223372036854775809}'),  # -(2**63) - 1
        (b'{"a":1.5}', b'{"a":1.5}'),
        (b'{"a":0.1}', b'{"a":0.1}'),
        (b'{"a":1.7976931348623157e308}', b'{"a":1.7976931348623157e308}'),
        (b'{"a":5e-324}', b'{"a":5e-324}'),
        (b'{"a":"\\u0000\\n\\"\\\\"}', b'{"a":"\\u0000\\n\\"\\\\"}'),
    ],
)
def test_numbers_and_strings_keep_their_value(raw: bytes, expected: bytes) -> None:
    assert canonicalize(raw) == expected


def test_huge_integers_are_exact() -> None:
    for n in (10**20 + 1, 2**64 + 1, 10**100 + 7, -(10**300) - 3):
        raw = f'{{"a":{n}}}'.encode()
        assert canonicalize(raw) == raw
        assert json.loads(canonicalize(raw))["a"] == n
    one = content_hash(canonicalize(b'{"n":99999999999999999999}'), False)
    two = content_hash(canonicalize(b'{"n":12345678901234567890}'), False)
    assert one != two


def test_canonical_output_is_a_fixed_point() -> None:
    raw = b'{"z":[1.0,1e3,-0,"\\u00e9\\ud83d\\ude00"],"a":{"y":null,"x":false}}'
    once = canonicalize(raw)
    assert canonicalize(once) == once


# --------------------------------------------------------------------------- content hash


def test_content_hash_definition() -> None:
    payload = canonicalize(b'{"b":1,"a":2}')
    for deleted, flag in ((False, b"false"), (True, b"true")):
        expected = hashlib.sha256(b'{"deleted":' + flag + b',"payload":' + payload + b"}").digest()
        assert content_hash(payload, deleted) == expected
        assert len(content_hash(payload, deleted)) == 32


def test_content_hash_equals_hash_of_the_canonical_wrapper() -> None:
    raw = b'{"b": [1, 2.5, "x"], "a": {"k": null}}'
    for deleted in (False, True):
        wrapper = b'{"payload": ' + raw + b', "deleted": ' + json.dumps(deleted).encode() + b"}"
        expected = hashlib.sha256(canonicalize(wrapper)).digest()
        assert content_hash(canonicalize(raw), deleted) == expected


def test_deleted_flag_changes_the_hash() -> None:
    for raw in (b"{}", b'{"a":1}'):
        payload = canonicalize(raw)
        assert content_hash(payload, True) != content_hash(payload, False)
    # an empty tombstone differs from an empty live record and from any live payload
    assert content_hash(b"{}", True) != content_hash(canonicalize(b'{"deleted":true}'), False)


# --------------------------------------------------------------------------- duplicate keys

DUPLICATES = [
    b'{"a":1,"a":2}',
    b'{"a":1,"a":1}',
    b'{"a":1,"b":2,"a":3}',
    b'{"a" : 1, "a"  :2}',  # whitespace before the colon
    b'{"a"\n:1,"a"\t:\n2}',
    b'{"a":1,"\\u0061":2}',  # same key, another spelling
    b'{"\\u00e9":1,"\xc3\xa9":2}',
    b'{"x":{"a":1,"a":2}}',
    b'{"x":[1,{"y":[{"a":{},"a":[]}]}]}',
    b'{"x":[{"a":1},{"b":2,"b":3}]}',
    b'{"a:b":1,"a:b":2}',  # colon inside the key
    b'{"k":"v:w","k":"v:w"}',
    # colon written as an escape (slow path)
    b'{"a\\u003a":1,"a\\u003a":2}',
    b'{"a\\u003A":1,"a:":2}',
    b'{"a:":1,"a\\u003a":2}',
    b'{"v":"\\u003a","a":1,"a":2}',
    b'{"x":{"\\u003a" : 1, ":" : 2}}',
    b'{"v":"\\u003a\\u003a","x":[{"a" :1,"a" :2}]}',
    b'{"a":{"b":1},"a":{"b":1}}',
]


@pytest.mark.parametrize("raw", DUPLICATES)
def test_duplicate_keys_are_rejected(raw: bytes) -> None:
    assert has_duplicate_keys(raw, dedup_canonical(raw))
    with pytest.raises(InvalidPayload, match="duplicate"):
        canonicalize(raw)


def test_duplicate_keys_deep_inside() -> None:
    inner = b'{"a":1,"a":2}'
    for depth in (1, 10, 100, 400):
        raw = b'{"x":' + b"[" * depth + inner + b"]" * depth + b"}"
        with pytest.raises(InvalidPayload, match="duplicate"):
            canonicalize(raw)
        escaped = raw.replace(b'"x"', b'"x\\u003a"')
        with pytest.raises(InvalidPayload, match="duplicate"):
            canonicalize(escaped)


NOT_DUPLICATES = [
    b'{"a":1,"b":2}',
    b'{"a":"x:y","b":"::"}',
    b'{"a:":1,"a":2}',
    b'{"a":{"a":{"a":1}}}',  # the same key at different levels
    b'{"x":[{"a":1},{"a":2}]}',  # the same key in sibling objects
    b'{"a":1,"A":2}',
    b'{"\\u00e9":1,"e\\u0301":2}',  # different code points
    b'{"a\\u003a":1,"a":2}',  # slow path, no duplicate
    b'{"\\u003a":"\\u003a",":x":":"}',
    b'{"a":"\\\\u003a","b":1}',  # an escaped backslash followed by "u003a"
    b'{"a\\\\u003a":1,"a\\u003a":2}',  # "a\\u003a" and "a:" differ
]


@pytest.mark.parametrize("raw", NOT_DUPLICATES)
def test_no_false_positive(raw: bytes) -> None:
    assert not has_duplicate_keys(raw, dedup_canonical(raw))
    assert canonicalize(raw) == dedup_canonical(raw)


# --------------------------------------------------------------------------- rejections

INVALID = [
    b"",
    b" ",
    b"[]",
    b"[1,2]",
    b"1",
    b"-0",
    b'"string"',
    b"null",
    b"true",
    b"false",
    b"{",
    b'{"a":1',
    b'{"a":}',
    b'{"a"}',
    b'{"a":1,}',
    b"{'a':1}",
    b"{a:1}",
    b'{"a":1} x',
    b'{"a":1}{}',
    b'{"a":1}\x00',
    b'{"a":01}',
    b'{"a":+1}',
    b'{"a":.5}',
    b'{"a":1.}',
    b'{"a":0x10}',
    b'{"a":NaN}',
    b'{"a":-NaN}',
    b'{"a":Infinity}',
    b'{"a":-Infinity}',
    b'{"a":1e400}',
    b'{"a":-1e400}',
    b'{"a":[1e309]}',
    b'{"a":"\x01"}',  # raw control character in a string
    b'{"a":"\\x41"}',
    b'{"a":"\\u12"}',
    b'{"a":"\\ud800"}',  # lone surrogate escapes
    b'{"a":"\\udc00"}',
    b'{"a":"\\ud800x"}',
    b'{"a":"\\ud800\\u0041"}',
    b'{"a":"\\udc00\\ud800"}',
    b'{"\\ud800":1}',
    b'{"a":"\xff"}',  # invalid UTF-8
    b'{"\xfe":1}',
    b'{"a":"\xc0\xaf"}',  # overlong encoding
    b'{"a":"\xed\xa0\x80"}',  # a surrogate encoded in UTF-8
    b'{"a":"\xe2\x82"}',  # truncated sequence
    b"\xef\xbb\xbf{}",  # byte order mark
    b'{"a":1 /* comment */}',
    b"{\"a\":'x'}",
]


@pytest.mark.parametrize("raw", INVALID)
def test_invalid_payloads_raise_invalid_payload(raw: bytes) -> None:
    with pytest.raises(InvalidPayload):
        canonicalize(raw)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[]", "must be a JSON object, not an array"),
        (b'"x"', "not a string"),
        (b"null", "not null"),
        (b"true", "not a boolean"),
        (b"1", "not a number"),
        (b"1.5", "not a number"),
        (b'{"a":1e400}', "outside the range of a 64-bit float"),
        (b'{"a":' + b"1" * 4301 + b"}", "integer longer than 4300 characters"),
        (b'{"a":', "not valid JSON"),
    ],
)
def test_rejection_messages(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidPayload, match=message):
        canonicalize(raw)


def test_invalid_payload_is_a_value_error() -> None:
    assert issubclass(InvalidPayload, ValueError)


@pytest.mark.parametrize("depth", [5000, 100_000])
@pytest.mark.parametrize(
    "shape",
    [
        (b"[", b"]"),
        (b'{"a":', b"}"),
        (b'{"a\\u003a":', b"}"),  # also forces the slow duplicate-key path
        (b'[{"\\u003a":', b"}]"),
    ],
)
def test_deep_nesting_is_rejected(depth: int, shape: tuple[bytes, bytes]) -> None:
    opening, closing = shape
    raw = b'{"x":' + opening * depth + b"1" + closing * depth + b"}"
    with pytest.raises(InvalidPayload, match="nested too deeply"):
        canonicalize(raw)


@pytest.mark.parametrize("inner", [b"1", b'"\\u003a"', b'{"a\\u003a":1}'])
def test_nesting_around_the_recursion_limit_never_escapes(inner: bytes) -> None:
    # The decoder, encoder and slow duplicate check each have their own depth limit; at
    # every depth the result must be a canonical form or InvalidPayload, nothing else.
    outcomes = set()
    for depth in range(850, 1150, 3):
        raw = b'{"x":' + b"[" * depth + inner + b"]" * depth + b"}"
        try:
            result = canonicalize(raw)
        except InvalidPayload:
            outcomes.add("rejected")
        else:
            assert result == dedup_canonical(raw)
            outcomes.add("accepted")
    assert outcomes == {"accepted", "rejected"}


# --------------------------------------------------------------------------- properties


@HEAVY
@given(json_objects, stdlib_dump_options, st.randoms(use_true_random=False))
def test_stdlib_serializations_canonicalize_identically(
    value: dict[str, JSON], options: dict[str, Any], rnd: random.Random
) -> None:
    reference = canonicalize(json.dumps(value, sort_keys=True, separators=(",", ":")).encode())
    text = json.dumps(shuffled(value, rnd), **options)
    assert canonicalize(text.encode()) == reference
    # the canonical form decodes back to the very same value, with sorted keys
    assert same_json(json.loads(reference, object_pairs_hook=pairs_sorted_and_unique), value)
    assert not re.search(rb"\s", STRING_LITERAL.sub(b'""', reference))


@HEAVY
@given(json_objects, st.randoms(use_true_random=False), st.sampled_from([0.0, 0.1, 0.5, 1.0]))
def test_arbitrary_spellings_canonicalize_identically(
    value: dict[str, JSON], rnd: random.Random, escape_rate: float
) -> None:
    reference = canonicalize(json.dumps(value, ensure_ascii=False).encode())
    raw = spell(value, rnd, escape_rate).encode()
    assert json.loads(raw) == value  # the generator spells the same value
    assert canonicalize(raw) == reference
    assert content_hash(canonicalize(raw), False) == content_hash(reference, False)


@HEAVY
@given(json_objects, stdlib_dump_options)
def test_no_false_positive_duplicates_for_stdlib_json(
    value: dict[str, JSON], options: dict[str, Any]
) -> None:
    raw = json.dumps(value, **options).encode()
    canonical = dedup_canonical(raw)
    assert not has_duplicate_keys(raw, canonical)
    # the same text with every colon inside strings spelled \u003a (slow path)
    escaped = raw.replace(b'":', b'"\x00').replace(b'" :', b'" \x00').replace(b":", b"\\u003a")
    escaped = escaped.replace(b"\x00", b":")
    assume(escaped != raw)
    assert json.loads(escaped) == json.loads(raw)
    assert not has_duplicate_keys(escaped, canonical)
    assert canonicalize(escaped) == canonicalize(raw)


@HEAVY
@given(json_objects, st.randoms(use_true_random=False), st.sampled_from([0.0, 0.3, 1.0]))
def test_no_false_positive_duplicates_for_any_spelling(
    value: dict[str, JSON], rnd: random.Random, escape_rate: float
) -> None:
    raw = spell(value, rnd, escape_rate).encode()
    assert not has_duplicate_keys(raw, dedup_canonical(raw))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(json_objects, st.randoms(use_true_random=False), st.sampled_from([0.0, 0.3, 1.0]))
def test_injected_duplicate_is_always_detected(
    value: dict[str, JSON], rnd: random.Random, escape_rate: float
) -> None:
    objects = count_objects(value)
    assume(objects > 0)
    raw = spell(value, rnd, escape_rate, duplicate_at=rnd.randrange(objects)).encode()
    assert has_duplicate_keys(raw, dedup_canonical(raw))
    with pytest.raises(InvalidPayload, match="duplicate"):
        canonicalize(raw)


@HEAVY
@given(json_objects, json_objects)
def test_different_values_give_different_hashes(a: dict[str, JSON], b: dict[str, JSON]) -> None:
    ca, cb = canonicalize(json.dumps(a).encode()), canonicalize(json.dumps(b).encode())
    assert (ca == cb) == same_json(a, b)
    assert (content_hash(ca, False) == content_hash(cb, False)) == same_json(a, b)
    assert content_hash(ca, True) != content_hash(cb, False)


@HEAVY
@given(json_objects, st.data())
def test_changing_one_value_changes_the_hash(value: dict[str, JSON], data: st.DataObject) -> None:
    assume(value)
    key = data.draw(st.sampled_from(sorted(value)))
    new = data.draw(json_values)
    assume(not same_json(new, value[key]))
    changed = {**value, key: new}
    before = content_hash(canonicalize(json.dumps(value).encode()), False)
    after = content_hash(canonicalize(json.dumps(changed).encode()), False)
    assert before != after


@PROPERTY
@given(st.integers(min_value=10**19, max_value=10**40), st.integers(min_value=1, max_value=10**6))
def test_big_integers_never_collide(n: int, delta: int) -> None:
    one = canonicalize(f'{{"n":{n}}}'.encode())
    two = canonicalize(f'{{"n":{n + delta}}}'.encode())
    assert one == f'{{"n":{n}}}'.encode()
    assert one != two


@example(b'{"a":"\\ud800"}')
@example(b"[" * 3000)
@example(b'{"a\\u003a":' * 2000)
@PROPERTY
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise_anything_else(raw: bytes) -> None:
    try:
        result = canonicalize(raw)
    except InvalidPayload:
        return
    assert isinstance(json.loads(result), dict)


@HEAVY
@given(json_objects, st.randoms(use_true_random=False), st.data())
def test_mutated_json_never_raises_anything_else(
    value: dict[str, JSON], rnd: random.Random, data: st.DataObject
) -> None:
    raw = bytearray(spell(value, rnd, 0.2).encode())
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        position = data.draw(st.integers(min_value=0, max_value=len(raw)))
        action = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        byte = data.draw(st.sampled_from(list(b'{}[]:,"\\u003aed0-+.\xff\xc3 ')))
        if action == "insert":
            raw.insert(position, byte)
        elif position < len(raw):
            if action == "delete":
                del raw[position]
            else:
                raw[position] = byte
    try:
        result = canonicalize(bytes(raw))
    except InvalidPayload:
        return
    parsed = json.loads(result)
    assert isinstance(parsed, dict)
    assert canonicalize(result) == result
