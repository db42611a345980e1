"""Unit and property tests for headwater.core.actors (spec §6.5: identity resolution)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.core.actors import (
    Actor,
    ActorRef,
    Changes,
    Directory,
    Merge,
    fold_name,
    parse_actor,
)

#: property tests: no per-example deadline (CI machines vary)
PROPERTY = settings(deadline=None)


def minter(prefix: str = "a") -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"{prefix}{next(counter)}"


class Resolver:
    """A Directory with its id factory and the changes it has decided so far."""

    def __init__(self, actors: Sequence[Actor] = ()) -> None:
        self.directory = Directory(actors)
        self.changes = Changes()
        self.mint = minter()

    def __call__(self, value: object) -> str:
        ref = value if isinstance(value, ActorRef) else parse_actor(value)
        assert ref is not None, value
        return self.directory.resolve(ref, self.mint, self.changes)

    def canonical(self, actor_id: str) -> str:
        actor = self.directory.by_id[actor_id]
        return actor.merged_into or actor.id

    def actor(self, actor_id: str) -> Actor:
        return self.directory.by_id[self.canonical(actor_id)]


# --------------------------------------------------------------------------- parse_actor


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("jane.smith@acme.com", ActorRef("jane.smith@acme.com", None)),
        ("Jane.Smith@ACME.com", ActorRef("jane.smith@acme.com", None)),
        ("  jane@acme.com\n", ActorRef("jane@acme.com", None)),
        ("Jane Smith", ActorRef(None, "Jane Smith")),
        ("  Jane   Smith ", ActorRef(None, "Jane   Smith")),  # trimmed, inside kept as written
        ("jane", ActorRef(None, "jane")),
        ("jane@localhost", ActorRef(None, "jane@localhost")),  # not an email: a name
        ("Jane <jane@acme.com>", ActorRef(None, "Jane <jane@acme.com>")),
        ({"email": "Jane@Acme.com"}, ActorRef("jane@acme.com", None)),
        ({"name": " Jane Smith "}, ActorRef(None, "Jane Smith")),
        (
            {"name": "Jane Smith", "email": "JANE.SMITH@acme.com"},
            ActorRef("jane.smith@acme.com", "Jane Smith"),
        ),
        ({"name": "Jane", "email": "not an email"}, ActorRef(None, "Jane")),
        ({"name": "Jane", "email": 5}, ActorRef(None, "Jane")),
        ({"name": 5, "email": "j@acme.com"}, ActorRef("j@acme.com", None)),
        ({"name": "", "email": "j@acme.com"}, ActorRef("j@acme.com", None)),
        ({"name": "Jane", "id": 7}, ActorRef(None, "Jane")),
    ],
)
def test_parse_actor(value: object, expected: ActorRef) -> None:
    assert parse_actor(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "\t\n",
        0,
        42,
        1.5,
        True,
        False,
        [],
        ["jane@acme.com"],
        [{"email": "jane@acme.com"}],
        {},
        {"email": None, "name": None},
        {"email": "", "name": "  "},
        {"email": "nope"},
        {"id": "u-1"},
        {"name": ["Jane"]},
    ],
)
def test_parse_actor_junk_is_none(value: object) -> None:
    assert parse_actor(value) is None


@PROPERTY
@given(st.emails())
def test_parse_actor_folds_any_email(email: str) -> None:
    for spelling in (email, email.upper(), f" {email.swapcase()} "):
        ref = parse_actor(spelling)
        assert ref == ActorRef(email.lower(), None)
        assert parse_actor({"email": spelling}) == ref


@PROPERTY
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
        max_leaves=6,
    )
)
def test_parse_actor_never_fails_and_normalizes(value: object) -> None:
    ref = parse_actor(value)
    if ref is None:
        return
    assert ref.email is not None or ref.name is not None
    if ref.email is not None:
        assert ref.email == ref.email.lower() == ref.email.strip() and "@" in ref.email
    if ref.name is not None:
        assert ref.name == ref.name.strip() and ref.name
    assert isinstance(value, str | dict)


def test_fold_name() -> None:
    assert fold_name("  Jane \t  SMITH\n") == "jane smith"
    assert fold_name("Straße") == fold_name("STRASSE")
    assert fold_name("Jane Smith") != fold_name("JaneSmith")


# --------------------------------------------------------------------------- Directory.resolve


def test_an_email_creates_one_real_actor_and_matches_case_insensitively() -> None:
    resolve = Resolver()
    first = resolve("jane.smith@acme.com")
    assert resolve("Jane.Smith@ACME.com") == first
    assert resolve({"email": "JANE.SMITH@acme.com", "name": "Jane"}) == first
    assert resolve.changes.created == {
        first: Actor(first, "jane.smith@acme.com", None, placeholder=False)
    }
    assert resolve.changes.named == {first: "Jane"}  # a name learnt for a nameless actor
    assert resolve.changes.merges == []


def test_an_email_matches_an_actor_that_storage_already_has() -> None:
    stored = Actor("known", "jane@acme.com", "Jane Smith", placeholder=False)
    resolve = Resolver([stored])
    assert resolve("JANE@acme.com") == "known"
    assert resolve({"email": "jane@acme.com", "name": "Janie"}) == "known"
    assert resolve("jane smith") == "known"
    changes = resolve.changes
    assert (changes.created, changes.named, changes.merges) == ({}, {}, [])
    assert resolve.directory.by_id["known"] == stored  # an existing name is not overwritten


def test_a_bare_name_then_name_and_email_end_as_one_canonical_actor() -> None:
    resolve = Resolver()
    placeholder = resolve("Jane Smith")
    assert resolve.directory.by_id[placeholder].placeholder
    assert resolve(" jane  SMITH ") == placeholder  # folded case and whitespace
    real = resolve({"name": "Jane Smith", "email": "jane.smith@acme.com"})
    assert real != placeholder
    assert resolve.changes.merges == [Merge(placeholder, real)]
    merged = resolve.directory.by_id[placeholder]
    assert merged.merged_into == real
    # the earlier events' actor now leads to the canonical one
    assert resolve.canonical(placeholder) == real
    assert resolve.actor(placeholder) == Actor(real, "jane.smith@acme.com", "Jane Smith", False)
    # and the bare name now resolves to it directly
    assert resolve("Jane Smith") == real
    assert resolve("jane.smith@acme.com") == real
    assert len(resolve.changes.created) == 2


def test_a_known_email_learns_the_placeholder_s_name() -> None:
    resolve = Resolver()
    real = resolve("jane@acme.com")
    placeholder = resolve("Jane Smith")
    assert placeholder != real
    assert resolve({"email": "jane@acme.com", "name": "Jane Smith"}) == real
    assert resolve.changes.named == {real: "Jane Smith"}
    assert resolve.changes.merges == [Merge(placeholder, real)]
    assert resolve("Jane Smith") == real


def test_a_merged_name_stays_known_when_the_actor_has_another_name() -> None:
    resolve = Resolver()
    real = resolve({"email": "jane@acme.com", "name": "Janie"})
    placeholder = resolve("Jane Smith")
    assert resolve({"email": "jane@acme.com", "name": "Jane Smith"}) == real
    assert resolve.changes.merges == [Merge(placeholder, real)]
    # the payload told us "Jane Smith" is jane@acme.com: no second placeholder for her
    assert resolve("Jane Smith") == real
    assert len(resolve.changes.created) == 2


def test_two_different_emails_with_the_same_name_are_never_merged() -> None:
    resolve = Resolver()
    jane = resolve({"email": "jane@acme.com", "name": "Jane Smith"})
    other = resolve({"email": "jane@globex.com", "name": "Jane Smith"})
    assert jane != other
    assert resolve.changes.merges == []
    assert resolve.directory.by_id[jane].merged_into is None
    assert resolve.directory.by_id[other].merged_into is None
    assert resolve("jane@acme.com") == jane
    assert resolve("jane@globex.com") == other


def test_a_bare_name_shared_by_two_real_actors_resolves_to_a_placeholder() -> None:
    resolve = Resolver()
    jane = resolve({"email": "jane@acme.com", "name": "Jane Smith"})
    assert resolve("Jane Smith") == jane  # one real actor with that name: that one
    other = resolve({"email": "jane@globex.com", "name": "jane smith"})
    ambiguous = resolve("Jane Smith")
    assert ambiguous not in (jane, other)
    assert resolve.directory.by_id[ambiguous].placeholder
    assert resolve("JANE SMITH") == ambiguous  # the same placeholder each time
    # naming one of them again does not make the ambiguous name theirs
    assert resolve({"email": "jane@acme.com", "name": "Jane Smith"}) == jane
    assert resolve({"email": "jane@globex.com", "name": "Jane Smith"}) == other
    assert resolve.changes.merges == []
    assert resolve.canonical(ambiguous) == ambiguous
    assert resolve("Jane Smith") == ambiguous


def test_a_placeholder_merged_before_the_name_became_ambiguous_stays_merged() -> None:
    resolve = Resolver()
    placeholder = resolve("Jane Smith")
    jane = resolve({"email": "jane@acme.com", "name": "Jane Smith"})
    other = resolve({"email": "jane@globex.com", "name": "Jane Smith"})
    assert resolve.changes.merges == [Merge(placeholder, jane)]
    assert resolve.canonical(placeholder) == jane
    later = resolve("Jane Smith")
    assert later not in (jane, other, placeholder)
    assert resolve.directory.by_id[later].placeholder


def test_a_name_differing_beyond_folding_is_another_actor() -> None:
    resolve = Resolver()
    jane = resolve({"email": "jane@acme.com", "name": "Jane Smith"})
    assert resolve("Jane  Smith") == jane
    assert resolve("Jane Smith-Jones") != jane
    assert resolve("JaneSmith") != jane
    assert resolve("J. Smith") != jane


def test_a_directory_loaded_with_merged_actors() -> None:
    stored = [
        Actor("real", "jane@acme.com", "Jane", placeholder=False),
        Actor("old", None, "Jane Smith", placeholder=True, merged_into="real"),
    ]
    resolve = Resolver(stored)
    assert resolve("Jane Smith") == "real"
    assert resolve("Jane") == "real"
    assert resolve.changes.created == {}


# --------------------------------------------------------------------------- properties

EMAILS = ["jane@acme.com", "Jane@Acme.com", "mark@acme.com", "ann@globex.com"]
NAMES = ["Jane Smith", "jane  smith", "Mark Lee", "Ann", "ann"]
actor_values = st.one_of(
    st.sampled_from(EMAILS),
    st.sampled_from(NAMES),
    st.fixed_dictionaries({"email": st.sampled_from(EMAILS), "name": st.sampled_from(NAMES)}),
)
stored_actors = st.sampled_from(
    [
        (),
        (Actor("s1", "jane@acme.com", None, False),),
        (Actor("s1", "mark@acme.com", "Jane Smith", False),),
        (Actor("s1", None, "Ann", True),),
        (Actor("s1", "ann@globex.com", "Ann", False), Actor("s2", None, "Jane Smith", True)),
    ]
)


def run(stored: Sequence[Actor], values: Sequence[object]) -> tuple[list[str], Resolver]:
    resolve = Resolver(stored)
    return [resolve(v) for v in values], resolve


@PROPERTY
@given(stored_actors, st.lists(actor_values, max_size=25))
def test_resolution_is_deterministic(stored: Sequence[Actor], values: list[object]) -> None:
    ids, one = run(stored, values)
    again, other = run(stored, values)
    assert ids == again
    assert one.changes == other.changes
    assert one.directory.by_id == other.directory.by_id


@PROPERTY
@given(stored_actors, st.lists(actor_values, max_size=25))
def test_resolution_invariants(stored: Sequence[Actor], values: list[object]) -> None:
    resolve = Resolver(stored)
    resolved: list[tuple[ActorRef, str]] = []
    for value in values:
        ref = parse_actor(value)
        assert ref is not None
        resolved.append((ref, resolve(ref)))
        actors = resolve.directory.by_id.values()
        live = [a for a in actors if a.merged_into is None]
        # no two live actors ever share an email; placeholders never have one
        emails = [a.email for a in live if a.email is not None]
        assert len(emails) == len(set(emails))
        assert all(a.email is None for a in actors if a.placeholder)
        # merged actors are placeholders pointing at a live, real actor
        for actor in actors:
            if actor.merged_into is not None:
                assert actor.placeholder
                target = resolve.directory.by_id[actor.merged_into]
                assert not target.placeholder and target.merged_into is None
    for merge in resolve.changes.merges:
        assert resolve.directory.by_id[merge.placeholder_id].placeholder
        assert not resolve.directory.by_id[merge.into_id].placeholder
    # created actors are exactly the new ones, each minted once
    assert set(resolve.changes.created) == set(resolve.directory.by_id) - {a.id for a in stored}
    for ref, actor_id in resolved:
        canonical = resolve.actor(actor_id)
        if ref.email is not None:
            # an email always leads to the one real actor with that email
            assert canonical.email == ref.email and not canonical.placeholder
    # two refs with different emails never end at the same actor
    by_email: dict[str, set[str]] = {}
    for ref, actor_id in resolved:
        if ref.email is not None:
            by_email.setdefault(resolve.canonical(actor_id), set()).add(ref.email)
    assert all(len(emails) == 1 for emails in by_email.values())


@PROPERTY
@given(st.lists(actor_values, max_size=25))
def test_an_email_always_resolves_to_the_same_actor(values: list[object]) -> None:
    resolve = Resolver()
    first_seen: dict[str, str] = {}
    for value in values:
        ref = parse_actor(value)
        assert ref is not None
        actor_id = resolve(ref)
        if ref.email is not None:
            assert first_seen.setdefault(ref.email, actor_id) == actor_id
