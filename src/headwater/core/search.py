"""Knowledge query (spec §10.3): the query's terms, its structured matches, the ranking.

Pure. A query is split into word terms (letters and digits; `_` and punctuation
separate words, as both databases' tokenizers do), less stop words. The rules with every
term are searched first; only when they are fewer than asked for, the rules with any
term (ranking every rule that has one common word is what costs time). Separately, the query's words are matched against the
library's process names and step names: a step or process named in the query (its
words, contiguous and in order) is a **structured match**. A rule's score is its text
score `rank / (1 + rank)` (rank: SQLite's negated bm25, PostgreSQL's ts_rank; both >= 0,
larger is better) plus `STEP_BONUS` when it applies at a matched step, or
`PROCESS_BONUS` when only its process is named. Ties go to the more confident rule,
then to the smaller id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Generic, TypeVar

import msgspec

from headwater.core.rules import plural

#: terms of one query at most, and characters of one term
MAX_TERMS, MAX_TERM = 32, 64
STEP_BONUS, PROCESS_BONUS = 0.5, 0.25
STRATEGIES = ("auto", "structured", "hybrid", "graph")
_WORD = re.compile(r"[^\W_]+")

T = TypeVar("T")


def words(text: str) -> list[str]:
    """The words of `text`, lowercased, in order."""
    return [w[:MAX_TERM] for w in _WORD.findall(text.lower())]


#: English stop words (Snowball's list, which PostgreSQL's 'english' configuration drops
#: too): left out of text searches on both databases, since nearly every rule has them
STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
    ]
)


def terms(query: str) -> list[str]:
    """The distinct words of the query but stop words, first `MAX_TERMS` of them."""
    return [w for w in dict.fromkeys(words(query)) if w not in STOP_WORDS][:MAX_TERMS]


def fts5_query(found: Sequence[str], every: bool = False) -> str:
    """An FTS5 MATCH expression: every term, or any (each quoted: none is an operator)."""
    return (" AND " if every else " OR ").join(f'"{t}"' for t in found)


def tsquery(found: Sequence[str], every: bool = False) -> str:
    """A `to_tsquery` expression: every term, or any (words only: none is an operator)."""
    return (" & " if every else " | ").join(found)


class ProcessNames(msgspec.Struct, frozen=True):
    process_id: str
    entity_type: str
    name: str
    steps: tuple[str, ...]


class StructuredMatch(msgspec.Struct, frozen=True):
    process_id: str
    name: str
    steps: tuple[str, ...]  #: steps named in the query (empty: only the process is)
    process_named: bool


def _contains(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    size = len(needle)
    if not size:
        return False
    return any(
        list(haystack[i : i + size]) == list(needle) for i in range(len(haystack) - size + 1)
    )


def structured_matches(query: str, processes: Iterable[ProcessNames]) -> list[StructuredMatch]:
    """The processes the query names, or names a step of; steps in the process's order."""
    said = words(query)
    found = []
    for p in processes:
        names = (p.entity_type, plural(p.entity_type), p.process_id, p.name)
        named = any(_contains(said, words(n)) for n in names)
        steps = tuple(s for s in p.steps if _contains(said, words(s)))
        if named or steps:
            found.append(StructuredMatch(p.process_id, p.name, steps, named))
    return sorted(found, key=lambda m: (not m.steps, m.process_id))


def text_score(rank: float) -> float:
    rank = max(rank, 0.0)
    return rank / (1.0 + rank)


class Ranked(msgspec.Struct, Generic[T], frozen=True):
    item: T
    score: float


def rank(
    text: Iterable[tuple[str, float, float, T]],
    structured: Iterable[tuple[str, float, float, T]],
    top_k: int,
) -> tuple[list[Ranked[T]], int]:
    """Merge (id, confidence, score part, item) candidates of both kinds: a rule found
    both ways adds its parts. Returns the best `top_k` and how many distinct rules."""
    scores: dict[str, tuple[float, float, T]] = {}
    for rule_id, confidence, part, item in (*text, *structured):
        seen = scores.get(rule_id)
        scores[rule_id] = (part + (seen[0] if seen else 0.0), confidence, item)
    ordered = sorted(scores.items(), key=lambda kv: (-round(kv[1][0], 9), -kv[1][1], kv[0]))
    return [Ranked(v[2], round(v[0], 6)) for _, v in ordered[:top_k]], len(scores)
