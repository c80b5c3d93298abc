"""Facts a question states that pick one variant of a family of procedures.

"chồng Hàn", "Việt kiều", "định cư bên Mỹ": a foreign element; "người Lào ... vùng
biên": a neighbouring country and a border commune; "giấy khai sinh Đài Loan", "bên đó
cấp rồi": the event was already registered abroad; "8 tháng rồi", "sinh năm 1965": an
age (see :mod:`bot.procedures.durations`). The word lists live in
``bot/procedures/data/facts.yaml``; :class:`FactReader` reads a question's folded tokens
against them in one pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import re

import yaml

from bot.errors import CatalogueError
from bot.procedures.durations import StatedAge, stated_ages
from bot.procedures.normalize import Normalizer

DEFAULT_FACTS = Path(__file__).resolve().parent / "data" / "facts.yaml"

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: Between the words of two clauses of a question (never a folded word).
CLAUSE = "|"
_CLAUSE_END = re.compile(r"[,.;:!?()\n]+")

#: The facts a family member may be picked by (keys ``<fact>_of`` in family files).
FOREIGN, BORDER, ABROAD = "foreign", "border", "abroad"
#: A foreign place or people in an ``abroad`` phrase.
PLACE = "@"
#: Other words allowed between the words of an ``abroad`` phrase.
ABROAD_SLACK = 2
#: Words after a declining word ("không cần nhập khẩu") read as what is declined.
DECLINED_WINDOW = 3
#: Words before a fact's place or people where a declining word denies it ("không ai là
#: người nước ngoài").
DENIED_WINDOW = 4


@dataclass(frozen=True)
class Cue:
    """A phrase (folded words) and the words that, right after it, make it no cue
    ("người lao" before "động")."""

    words: tuple[str, ...]
    unless_next: frozenset[str] = frozenset()
    #: Where the place or people itself starts ("người Hàn": at "Hàn").
    place: int = 0


@dataclass(frozen=True)
class Facts:
    """What one question states: the facts (``foreign``, ``border``, ``abroad``) and
    the ages it gives."""

    stated: frozenset[str] = frozenset()
    ages: tuple[StatedAge, ...] = ()
    #: A neighbouring country is named (with ``border``: the border-commune variants).
    neighbour: bool = False


def _cues(items: Any, where: str) -> list[Cue]:
    """The cues of one list of the facts file: phrases, or ``{after, words, unless_next}``."""
    if not isinstance(items, list):
        raise CatalogueError(f"{DEFAULT_FACTS.name}: {where}: expected a list of phrases")
    cues: list[Cue] = []
    for item in items:
        if isinstance(item, str):
            cues.append(Cue(tuple(item.split())))
        elif isinstance(item, dict) and {"after", "words"} <= set(item):
            unless = frozenset(item.get("unless_next") or ())
            cues += [Cue((*a.split(), w), unless, len(a.split())) for a in item["after"] for w in item["words"]]
        else:
            raise CatalogueError(f"{DEFAULT_FACTS.name}: {where}: {item!r}: expected a phrase or {{after, words}}")
    return cues


def _spans(tokens: Sequence[str], cues: dict[str, list[Cue]]) -> list[tuple[int, int]]:
    """Where the places or people of the cues occur in ``tokens``, as (start, end): the
    longest cue at a position, and its place alone ("người Hàn": "Hàn")."""
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(tokens):
        best: Cue | None = None
        for cue in cues.get(tokens[i], ()):
            n = len(cue.words)
            if tuple(tokens[i:i + n]) == cue.words and (i + n >= len(tokens) or tokens[i + n] not in cue.unless_next):
                best = cue if best is None or n > len(best.words) else best
        if best is not None:
            spans.append((i + best.place, i + len(best.words)))
            i += len(best.words)
        else:
            i += 1
    return spans


def _in_order(words: Sequence[str], tokens: Sequence[str], slack: int) -> bool:
    """Whether ``words`` occur in ``tokens`` in order with at most ``slack`` others
    between each two of them."""
    for start, tok in enumerate(tokens):
        if tok != words[0]:
            continue
        pos, ok = start, True
        for word in words[1:]:
            window = tokens[pos + 1:pos + 2 + slack]
            if word not in window:
                ok = False
                break
            pos = pos + 1 + window.index(word)
        if ok:
            return True
    return False


def clause_tokens(text: str, normalizer: Normalizer) -> list[str]:
    """The folded words of ``text``, its clauses ("mẹ là kiều bào, sổ không còn")
    separated by :data:`CLAUSE`, so that a "không" denies only within its clause."""
    tokens: list[str] = []
    for clause in _CLAUSE_END.split(text):
        words = normalizer.tokens(clause)
        if words:
            tokens += [*words, CLAUSE]
    return tokens[:-1] if tokens and tokens[-1] == CLAUSE else tokens


def _before(tokens: Sequence[str], start: int, width: int) -> Sequence[str]:
    """Up to ``width`` words before ``start``, within its clause."""
    window = list(tokens[max(0, start - width):start])
    return window[len(window) - window[::-1].index(CLAUSE):] if CLAUSE in window else window


def _index(cues: list[Cue]) -> dict[str, list[Cue]]:
    by_first: dict[str, list[Cue]] = {}
    for cue in cues:
        if cue.words:
            by_first.setdefault(cue.words[0], []).append(cue)
    return by_first


@dataclass
class FactReader:
    """Reads the facts of ``facts.yaml`` in questions."""

    foreign: list[Cue] = field(default_factory=list)
    neighbour: list[Cue] = field(default_factory=list)
    border: list[Cue] = field(default_factory=list)
    abroad: list[tuple[str, ...]] = field(default_factory=list)
    declined: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self._foreign = _index(self.foreign + self.neighbour)
        self._neighbour = _index(self.neighbour)
        self._border = _index(self.border)

    @classmethod
    def load(cls, path: Path = DEFAULT_FACTS) -> FactReader:
        """The reader of the bundled (or given) facts file."""
        with path.open(encoding="utf-8") as fh:
            raw = yaml.load(fh, Loader=_Loader) or {}
        if not isinstance(raw, dict):
            raise CatalogueError(f"{path.name}: expected a mapping of lists")
        return cls(
            foreign=_cues(raw.get("foreign", []), "foreign"),
            neighbour=_cues(raw.get("neighbour", []), "neighbour"),
            border=_cues(raw.get("border", []), "border"),
            abroad=[tuple(p.split()) for p in raw.get("abroad", []) if isinstance(p, str) and p.split()],
            declined=frozenset(str(w) for w in raw.get("declined", [])),
        )

    def declined_words(self, tokens: Sequence[str]) -> set[str]:
        """The words a declining word comes just before ("không cần nhập khẩu": "cần",
        "nhập", "khẩu")."""
        declined: set[str] = set()
        for i, tok in enumerate(tokens):
            if tok in self.declined:
                after = list(tokens[i + 1:i + 1 + DECLINED_WINDOW])
                declined.update(after[:after.index(CLAUSE)] if CLAUSE in after else after)
        return declined

    def _said(self, tokens: Sequence[str], cues: dict[str, list[Cue]]) -> list[tuple[int, int]]:
        """The spans of ``cues`` in ``tokens`` that no declining word just before denies
        ("không phải người nước ngoài")."""
        return [
            (start, end) for start, end in _spans(tokens, cues)
            if not self.declined.intersection(_before(tokens, start, DENIED_WINDOW))
        ]

    def read(self, tokens: Sequence[str], year: int) -> Facts:
        """The facts ``tokens`` (a folded question) state; ``year`` is this year."""
        stated: set[str] = set()
        foreign = self._said(tokens, self._foreign)
        if foreign:
            stated.add(FOREIGN)
            marked: list[str] = []
            last = 0
            for start, end in foreign:  # each foreign place or people becomes PLACE
                marked += [*tokens[last:start], PLACE]
                last = end
            marked += tokens[last:]
            if any(_in_order(p, marked, ABROAD_SLACK) for p in self.abroad):
                stated.add(ABROAD)
        if self._said(tokens, self._border):
            stated.add(BORDER)
        neighbour = bool(self._said(tokens, self._neighbour))
        return Facts(frozenset(stated), tuple(stated_ages(tokens, year)), neighbour)
