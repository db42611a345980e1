"""Identity resolution (spec §6.5): deterministic, never fuzzy.

- An email matches an actor case-insensitively.
- A bare name matches the one real actor with that name (case and whitespace folded);
  with none, or several (two different people share it), it resolves to a placeholder.
- A payload naming a person together with an email merges that name's placeholder into
  the real actor. Two actors with different emails are never merged.

`resolve` is pure: it reads a `Directory` snapshot and returns the actor id plus the
changes the shell must write (new actors, merges, names learnt).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True, slots=True)
class ActorRef:
    """Who a payload names: an email, a name, or both."""

    email: str | None  #: lower-cased
    name: str | None  #: as written, whitespace trimmed


@dataclass(frozen=True, slots=True)
class Actor:
    id: str
    email: str | None
    name: str | None
    placeholder: bool
    merged_into: str | None = None

    @property
    def folded_name(self) -> str | None:
        return fold_name(self.name) if self.name else None


@dataclass(frozen=True, slots=True)
class Merge:
    placeholder_id: str
    into_id: str


@dataclass(slots=True)
class Changes:
    """What resolution decided that storage does not know yet."""

    created: dict[str, Actor] = field(default_factory=dict)
    named: dict[str, str] = field(default_factory=dict)  #: actor id -> name learnt
    merges: list[Merge] = field(default_factory=list)


def fold_name(name: str) -> str:
    return " ".join(name.split()).casefold()


def parse_actor(value: object) -> ActorRef | None:
    """An email string, a name string, or an object with `email` and/or `name`.

    NUL characters are dropped and names are cut to 200 characters, so that whatever a
    payload holds can be stored and indexed; an "email" over 254 characters is not one.
    """
    if isinstance(value, str):
        return _parse_text(value)
    if isinstance(value, dict):
        email, name = value.get("email"), value.get("name")
        email = (
            _clean(email).lower() if isinstance(email, str) and _is_email(_clean(email)) else None
        )
        name = _clean(name)[:MAX_NAME] if isinstance(name, str) and _clean(name) else None
        if email or name:
            return ActorRef(email=email, name=name)
    return None


@functools.lru_cache(maxsize=8192)
def _parse_text(value: str) -> ActorRef | None:
    """`parse_actor` of a string (memoized: payloads name the same people over and over)."""
    text = _clean(value)
    if not text:
        return None
    if _is_email(text):
        return ActorRef(email=text.lower(), name=None)
    return ActorRef(email=None, name=text[:MAX_NAME])


MAX_NAME = 200
MAX_EMAIL = 254


def _clean(text: str) -> str:
    return text.replace("\x00", "").strip()


def _is_email(text: str) -> bool:
    return len(text) <= MAX_EMAIL and _EMAIL.fullmatch(text) is not None


class Directory:
    """A snapshot of an organisation's actors, updated in memory as resolution goes.

    `by_id` holds every actor; two indexes kept beside it (emails, folded names) make each
    lookup proportional to the actors sharing that email or name, not to all of them.
    """

    def __init__(self, actors: Iterable[Actor] = ()) -> None:
        self.by_id: dict[str, Actor] = {}
        #: email -> ids of the actors with it, in the order they entered `by_id`
        self._emails: dict[str, list[str]] = {}
        #: folded name -> ids of the actors (live or merged) with it
        self._names: dict[str, list[str]] = {}
        for actor in actors:
            self._put(actor)

    def _put(self, actor: Actor) -> None:
        old = self.by_id.get(actor.id)
        self.by_id[actor.id] = actor
        if old is None:
            _index(self._emails, actor.email, actor.id)
            _index(self._names, actor.folded_name, actor.id)
            return
        if old.email != actor.email:
            _unindex(self._emails, old.email, actor.id)
            _index(self._emails, actor.email, actor.id)
        if old.name != actor.name and old.folded_name != actor.folded_name:
            _unindex(self._names, old.folded_name, actor.id)
            _index(self._names, actor.folded_name, actor.id)

    def by_email(self, email: str) -> Actor | None:
        for actor_id in self._emails.get(email, ()):
            actor = self.by_id[actor_id]
            if actor.merged_into is None:
                return actor
        return None

    def _with_name(self, folded: str) -> list[Actor]:
        return [self.by_id[i] for i in self._names.get(folded, ())]

    def named(self, folded: str) -> list[Actor]:
        return sorted(
            (a for a in self._with_name(folded) if a.merged_into is None), key=lambda a: a.id
        )

    def known_as(self, folded: str) -> set[str]:
        """Ids of the real actors a name denotes: those with that name, and those the name's
        placeholder was merged into (the name then stays known after a merge, even when
        the real actor's own name is another one)."""
        known: set[str] = set()
        for a in self._with_name(folded):
            if a.merged_into is None:
                if not a.placeholder:
                    known.add(a.id)
            elif a.placeholder and a.merged_into in self.by_id:
                known.add(a.merged_into)
        return known

    def resolve(self, ref: ActorRef, new_id: Callable[[], str], changes: Changes) -> str:
        """The canonical actor id for `ref`, recording every change in `changes`."""
        if ref.email is not None:
            actor = self.by_email(ref.email)
            if actor is None:
                actor = Actor(new_id(), ref.email, ref.name, placeholder=False)
                self._put(actor)
                changes.created[actor.id] = actor
            elif ref.name and not actor.name:
                actor = replace(actor, name=ref.name)
                self._put(actor)
                changes.named[actor.id] = ref.name
            # The name's placeholder stands for whoever the bare name meant: merge it only
            # when this actor is the one person known by that name, never when another
            # real actor shares it (the bare name was ambiguous: not fuzzily one of them).
            if ref.name and not self.known_as(fold_name(ref.name)) - {actor.id}:
                for candidate in self.named(fold_name(ref.name)):
                    if candidate.placeholder:
                        self._put(replace(candidate, merged_into=actor.id))
                        changes.merges.append(Merge(candidate.id, actor.id))
            return actor.id

        assert ref.name is not None
        known = self.known_as(fold_name(ref.name))
        if len(known) == 1:
            return next(iter(known))
        same_name = self.named(fold_name(ref.name))
        placeholder = next((a for a in same_name if a.placeholder), None)
        if placeholder is None:
            placeholder = Actor(new_id(), None, ref.name, placeholder=True)
            self._put(placeholder)
            changes.created[placeholder.id] = placeholder
        return placeholder.id


def _index(index: dict[str, list[str]], value: str | None, actor_id: str) -> None:
    if value is not None:
        index.setdefault(value, []).append(actor_id)


def _unindex(index: dict[str, list[str]], value: str | None, actor_id: str) -> None:
    if value is not None:
        index[value].remove(actor_id)
