"""Word lists that steer the dialogue: aspect cues, fillers, greetings, status cues.

The lists live in ``bot/data/lexicon.yaml`` as folded phrases, so that staff can extend
them without touching code. All look-ups here work on token lists produced by
:class:`bot.procedures.normalize.Normalizer`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.messages import Aspect
from bot.procedures.normalize import Normalizer

# LibYAML's safe loader when PyYAML has it: parsed at every start, and much faster.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

DEFAULT_LEXICON = Path(__file__).resolve().parent / "data" / "lexicon.yaml"

Phrase = tuple[str, ...]


class PhraseSet:
    """Phrases indexed by their first word, so that all of them are found in a token list
    in one pass (the per-message cost must not grow with the length of the lists)."""

    def __init__(self, phrases: Iterable[Phrase]) -> None:
        self.phrases: tuple[Phrase, ...] = tuple(dict.fromkeys(p for p in phrases if p))
        self._by_first: dict[str, list[Phrase]] = {}
        for phrase in self.phrases:
            self._by_first.setdefault(phrase[0], []).append(phrase)
        for group in self._by_first.values():
            group.sort(key=len, reverse=True)

    def find(self, tokens: Sequence[str]) -> Iterator[tuple[int, Phrase]]:
        """Every occurrence as (start, phrase), by start, longest phrase first at a start."""
        by_first = self._by_first
        for i, tok in enumerate(tokens):
            group = by_first.get(tok)
            if group is None:
                continue
            for phrase in group:
                n = len(phrase)
                if n == 1 or tuple(tokens[i : i + n]) == phrase:
                    yield i, phrase

    def longest_at(self, tokens: Sequence[str], start: int) -> Phrase:
        """The longest phrase that begins at ``start``, or an empty tuple."""
        for phrase in self._by_first.get(tokens[start], ()) if start < len(tokens) else ():
            if tuple(tokens[start : start + len(phrase)]) == phrase:
                return phrase
        return ()

    def covered(self, tokens: Sequence[str]) -> set[int]:
        """The positions of ``tokens`` inside any occurrence."""
        by_first = self._by_first
        if by_first.keys().isdisjoint(tokens):
            return set()
        covered: set[int] = set()
        for i, tok in enumerate(tokens):
            for phrase in by_first.get(tok, ()):
                n = len(phrase)
                if n == 1 or tuple(tokens[i : i + n]) == phrase:
                    covered.update(range(i, i + n))
        return covered

    def occurs_in(self, tokens: Sequence[str]) -> bool:
        """Whether any phrase occurs in ``tokens``."""
        return next(self.find(tokens), None) is not None


@dataclass(frozen=True)
class Lexicon:
    """The engine's word lists, as token tuples."""

    aspects: dict[Aspect, tuple[Phrase, ...]]
    stopwords: frozenset[str]
    aspect_exclusions: tuple[Phrase, ...]
    filler_phrases: tuple[Phrase, ...]
    greetings: frozenset[str]
    help_words: frozenset[str]
    help_core: tuple[Phrase, ...]
    followup_cues: tuple[Phrase, ...]
    conjunctions: frozenset[str]
    status_cues: tuple[Phrase, ...]
    #: Words that say who or where rather than what (ông, bà, vợ, xã): they weigh less
    #: when telling procedures apart.
    light_words: frozenset[str] = frozenset()
    # Derived look-up indexes (built from the lists above).
    _cues: PhraseSet = field(init=False, repr=False, compare=False)
    _cue_aspect: dict[Phrase, tuple[int, Aspect]] = field(init=False, repr=False, compare=False)
    _exclusions: PhraseSet = field(init=False, repr=False, compare=False)
    _strippable: PhraseSet = field(init=False, repr=False, compare=False)
    _followups: PhraseSet = field(init=False, repr=False, compare=False)
    _status: PhraseSet = field(init=False, repr=False, compare=False)
    _help_core: PhraseSet = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Longer cues win, so "bao nhieu ngay" counts as time, not as fee's "bao nhieu";
        # among equally long ones, the aspect listed first in the file.
        ranked = sorted(
            ((phrase, aspect) for aspect, ps in self.aspects.items() for phrase in ps),
            key=lambda pa: -len(pa[0]),
        )
        cue_aspect: dict[Phrase, tuple[int, Aspect]] = {}
        for rank, (phrase, aspect) in enumerate(ranked):
            cue_aspect.setdefault(phrase, (rank, aspect))
        init = object.__setattr__  # the dataclass is frozen
        init(self, "_cue_aspect", cue_aspect)
        init(self, "_cues", PhraseSet(cue_aspect))
        init(self, "_exclusions", PhraseSet(self.aspect_exclusions))
        init(self, "_strippable", PhraseSet((*cue_aspect, *self.filler_phrases, *self.followup_cues)))
        init(self, "_followups", PhraseSet(self.followup_cues))
        init(self, "_status", PhraseSet(self.status_cues))
        init(self, "_help_core", PhraseSet(self.help_core))

    @classmethod
    def load(cls, normalizer: Normalizer, path: Path = DEFAULT_LEXICON) -> Lexicon:
        """Read the lexicon file, normalising every phrase with ``normalizer``."""
        with path.open(encoding="utf-8") as fh:
            raw = yaml.load(fh, Loader=_Loader)  # noqa: S506 - a safe loader

        def phrases(items: list) -> tuple[Phrase, ...]:
            out = (tuple(normalizer.tokens(str(i))) for i in items)
            return tuple(p for p in out if p)

        return cls(
            aspects={Aspect(k): phrases(v) for k, v in raw["aspects"].items()},
            stopwords=frozenset(t for w in raw["stopwords"] for t in normalizer.tokens(str(w))),
            aspect_exclusions=phrases(raw["aspect_exclusions"]),
            filler_phrases=phrases(raw["filler_phrases"]),
            greetings=frozenset(normalizer.normalize(str(g)) for g in raw["greetings"]),
            help_words=frozenset(t for w in raw["help_words"] for t in normalizer.tokens(str(w))),
            help_core=phrases(raw["help_core"]),
            followup_cues=phrases(raw["followup_cues"]),
            conjunctions=frozenset(str(c) for c in raw["conjunctions"]),
            status_cues=phrases(raw["status_cues"]),
            light_words=frozenset(t for w in raw.get("light_words", []) for t in normalizer.tokens(str(w))),
        )

    def detect_aspects(self, tokens: list[str]) -> list[Aspect]:
        """The aspects a question asks about, in the order they are mentioned."""
        taken = self._exclusions.covered(tokens)
        occurrences = sorted(
            ((self._cue_aspect[phrase][0], start, phrase) for start, phrase in self._cues.find(tokens)),
        )
        found: list[tuple[int, Aspect]] = []
        for _, start, phrase in occurrences:
            span = set(range(start, start + len(phrase)))
            if not span & taken:
                taken |= span
                found.append((start, self._cue_aspect[phrase][1]))
        ordered: list[Aspect] = []
        for _, aspect in sorted(found, key=lambda fa: fa[0]):
            if aspect not in ordered:
                ordered.append(aspect)
        return ordered

    def strip_cues(self, tokens: list[str]) -> list[str]:
        """``tokens`` without aspect cue phrases and filler words: what names a procedure."""
        drop = self._strippable.covered(tokens)
        stop = self.stopwords
        if not drop:
            return [t for t in tokens if t not in stop and not t.isdigit()]
        return [t for i, t in enumerate(tokens) if i not in drop and t not in stop and not t.isdigit()]

    def is_greeting(self, tokens: list[str]) -> bool:
        """Whether the whole message only greets or asks how to use the bot."""
        if " ".join(tokens) in self.greetings:
            return True
        allowed = self.help_words | self.stopwords
        return all(t in allowed for t in tokens) and self._help_core.occurs_in(tokens)

    def asks_status(self, tokens: list[str]) -> bool:
        """Whether the message asks about a filed dossier."""
        return self._status.occurs_in(tokens)

    def is_followup(self, tokens: list[str]) -> bool:
        """Whether the message continues the current topic ("thế còn ...", "ý tôi là ...")."""
        return bool(self._followup_starts(tokens))

    def _followup_starts(self, tokens: list[str]) -> list[int]:
        """Where follow-up cues open the message: at its start, after fillers and other
        cues only ("à không, ý tôi là ...", "vâng, thế còn ...")."""
        starts: list[int] = []
        i = 0
        while i < min(len(tokens), 6):
            cue = self._followups.longest_at(tokens, i)
            if cue:
                starts.append(i)
                i += len(cue)
            elif tokens[i] in self.stopwords:
                i += 1
            else:
                break
        return starts
