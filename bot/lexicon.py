"""Word lists that steer the dialogue: aspect cues, fillers, greetings, status cues.

The lists live in ``bot/data/lexicon.yaml`` as folded phrases, so that staff can extend
them without touching code. All look-ups here work on token lists produced by
:class:`bot.normalize.Normalizer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.messages import Aspect
from bot.normalize import Normalizer

DEFAULT_LEXICON = Path(__file__).resolve().parent / "data" / "lexicon.yaml"

Phrase = tuple[str, ...]


def _find(tokens: list[str], phrase: Phrase, start: int = 0) -> int:
    """Index of the first occurrence of ``phrase`` in ``tokens`` at or after ``start``, or -1."""
    n = len(phrase)
    for i in range(start, len(tokens) - n + 1):
        if tuple(tokens[i : i + n]) == phrase:
            return i
    return -1


def contains(tokens: list[str], phrase: Phrase) -> bool:
    """Whether ``phrase`` occurs as consecutive tokens in ``tokens``."""
    return _find(tokens, phrase) >= 0


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

    @classmethod
    def load(cls, normalizer: Normalizer, path: Path = DEFAULT_LEXICON) -> Lexicon:
        """Read the lexicon file, normalising every phrase with ``normalizer``."""
        with path.open(encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)

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
        found: list[tuple[int, Aspect]] = []
        taken: set[int] = set()
        for phrase in self.aspect_exclusions:
            start = _find(tokens, phrase)
            while start >= 0:
                taken.update(range(start, start + len(phrase)))
                start = _find(tokens, phrase, start + 1)
        # Longer cues first, so "bao nhieu ngay" counts as time, not as fee's "bao nhieu".
        cues = sorted(
            ((phrase, aspect) for aspect, ps in self.aspects.items() for phrase in ps),
            key=lambda pa: -len(pa[0]),
        )
        for phrase, aspect in cues:
            start = _find(tokens, phrase)
            while start >= 0:
                span = set(range(start, start + len(phrase)))
                if not span & taken:
                    taken |= span
                    found.append((start, aspect))
                start = _find(tokens, phrase, start + 1)
        ordered: list[Aspect] = []
        for _, aspect in sorted(found, key=lambda fa: fa[0]):
            if aspect not in ordered:
                ordered.append(aspect)
        return ordered

    def strip_cues(self, tokens: list[str]) -> list[str]:
        """``tokens`` without aspect cue phrases and filler words: what names a procedure."""
        drop: set[int] = set()
        cues = (*(p for ps in self.aspects.values() for p in ps), *self.filler_phrases)
        for phrase in cues:
            start = _find(tokens, phrase)
            while start >= 0:
                drop.update(range(start, start + len(phrase)))
                start = _find(tokens, phrase, start + 1)
        # Follow-up cues only where they open the message: "còn" and "thế" fold to "con"
        # (child) and "the" (thẻ), which name procedures elsewhere in a sentence.
        for phrase in self.followup_cues:
            start = _find(tokens, phrase)
            while start >= 0:
                drop.update(range(start, start + len(phrase)))
                start = _find(tokens, phrase, start + 1)
        return [
            t
            for i, t in enumerate(tokens)
            if i not in drop and t not in self.stopwords and not t.isdigit()
        ]

    def is_greeting(self, tokens: list[str]) -> bool:
        """Whether the whole message only greets or asks how to use the bot."""
        if " ".join(tokens) in self.greetings:
            return True
        allowed = self.help_words | self.stopwords
        return all(t in allowed for t in tokens) and any(contains(tokens, c) for c in self.help_core)

    def asks_status(self, tokens: list[str]) -> bool:
        """Whether the message asks about a filed dossier."""
        return any(contains(tokens, cue) for cue in self.status_cues)

    def is_followup(self, tokens: list[str]) -> bool:
        """Whether the message continues the current topic ("thế còn ...", "ý tôi là ...")."""
        return bool(self._followup_starts(tokens))

    def _followup_at(self, tokens: list[str], start: int) -> Phrase:
        """The longest follow-up cue at ``start``, or an empty tuple."""
        best: Phrase = ()
        for cue in self.followup_cues:
            if len(cue) > len(best) and tuple(tokens[start : start + len(cue)]) == cue:
                best = cue
        return best

    def _followup_starts(self, tokens: list[str]) -> list[int]:
        """Where follow-up cues open the message: at its start, after fillers and other
        cues only ("à không, ý tôi là ...", "vâng, thế còn ...")."""
        starts: list[int] = []
        i = 0
        while i < min(len(tokens), 6):
            cue = self._followup_at(tokens, i)
            if cue:
                starts.append(i)
                i += len(cue)
            elif tokens[i] in self.stopwords:
                i += 1
            else:
                break
        return starts
