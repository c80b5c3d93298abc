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
from rapidfuzz.distance import OSA

from bot.messages import Aspect
from bot.procedures.normalize import Normalizer, could_be_syllable

# LibYAML's safe loader when PyYAML has it: parsed at every start, and much faster.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

DEFAULT_LEXICON = Path(__file__).resolve().parent / "data" / "lexicon.yaml"

Phrase = tuple[str, ...]

#: The most words a yes or no answer opening or closing a longer message has ("dạ vâng
#: đúng rồi ạ"): longer ones are not looked for (bounded work per message).
ANSWER_WORDS = 6
#: Words at a message's start looked through for a phrase opening it ("dạ không phải, ...").
OPENING_WORDS = 4


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


def _contains(tokens: tuple[str, ...], phrase: Phrase) -> bool:
    n = len(phrase)
    return any(tokens[i : i + n] == phrase for i in range(len(tokens) - n + 1))


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
    #: Light words that never tell two procedures apart (places, the words for "a
    #: procedure"), unlike people ("ông bà nhận nuôi cháu" is not "nhận nuôi").
    place_words: frozenset[str] = frozenset()
    #: Questions about the desk itself, by topic (hours, address, hotline, thanks, identity).
    desk_questions: dict[str, tuple[Phrase, ...]] = field(default_factory=dict)
    #: Ordinal words for the bot's choices, by position; and for the last one.
    choice_ordinals: tuple[tuple[Phrase, ...], ...] = ()
    choice_last: tuple[Phrase, ...] = ()
    #: Ways to name each weekday, Monday first ("thứ 7", "t7", "chủ nhật").
    weekdays: tuple[tuple[Phrase, ...], ...] = ()
    #: Words that only frame a typed pick ("cái ... thôi").
    choice_frame: frozenset[str] = frozenset()
    #: Phrases asking for a person of the desk ("gặp cán bộ", "hỏi người thật").
    person_requests: tuple[Phrase, ...] = ()
    #: Questions about a word itself (its translation, what an abbreviation stands for),
    #: not about doing a procedure: "khai sinh tiếng Anh là gì".
    word_questions: tuple[Phrase, ...] = ()
    #: Words and phrases that make a clause a question or a request ("thế nào", "ở đâu",
    #: "muốn"), as against one that only tells the situation ("tôi ly hôn rồi").
    question_words: tuple[Phrase, ...] = ()
    question_tails: tuple[Phrase, ...] = ()
    #: Whole short answers to a yes/no question, normalised; polite words at their end
    #: and at their start.
    yes_answers: frozenset[str] = frozenset()
    no_answers: frozenset[str] = frozenset()
    answer_tails: frozenset[str] = frozenset()
    answer_heads: frozenset[str] = frozenset()
    #: Aspect cues that count only in a follow-up naming nothing else ("phí?", "có bị
    #: phạt không"): in a whole question the same words may name a procedure ("học phí").
    bare_aspects: dict[Aspect, tuple[Phrase, ...]] = field(default_factory=dict)
    #: Phrases asking what to do at all ("làm thủ tục gì", "thế nào"): the overview, so the
    #: aspect asked before does not carry over.
    overview_cues: tuple[Phrase, ...] = ()
    #: Phrases asking to do another procedure at the same time ("làm luôn", "cùng lúc").
    together_cues: tuple[Phrase, ...] = ()
    #: Phrases returning to an earlier topic of the conversation ("quay lại vụ ...").
    resume_cues: tuple[Phrase, ...] = ()
    #: Words every procedure's follow-ups use ("nộp hồ sơ", "thủ tục", "người nhà đi thay"):
    #: in a follow-up they name no other procedure.
    generic_words: tuple[Phrase, ...] = ()
    #: A paper said to be missing at a message's start ("không có ...", "chưa có ..."), and
    #: the ends that make it a question about the current topic ("... thì sao").
    lacking_cues: tuple[Phrase, ...] = ()
    lacking_ends: tuple[Phrase, ...] = ()
    #: Phrases opening a message that say the last answer was not what was meant ("không
    #: phải", "nhầm"): the topic just answered is not what the message names.
    negations: tuple[Phrase, ...] = ()
    # Derived look-up indexes (built from the lists above).
    _cues: PhraseSet = field(init=False, repr=False, compare=False)
    _cue_aspect: dict[Phrase, tuple[int, Aspect]] = field(init=False, repr=False, compare=False)
    _cue_words: frozenset[str] = field(init=False, repr=False, compare=False)
    _exclusions: PhraseSet = field(init=False, repr=False, compare=False)
    _strippable: PhraseSet = field(init=False, repr=False, compare=False)
    _followups: PhraseSet = field(init=False, repr=False, compare=False)
    _status: PhraseSet = field(init=False, repr=False, compare=False)
    _help_core: PhraseSet = field(init=False, repr=False, compare=False)
    _desk: PhraseSet = field(init=False, repr=False, compare=False)
    _desk_topic: dict[Phrase, str] = field(init=False, repr=False, compare=False)
    _person: PhraseSet = field(init=False, repr=False, compare=False)
    _bare: PhraseSet = field(init=False, repr=False, compare=False)
    _bare_aspect: dict[Phrase, Aspect] = field(init=False, repr=False, compare=False)
    _overview: PhraseSet = field(init=False, repr=False, compare=False)
    _together: PhraseSet = field(init=False, repr=False, compare=False)
    _resume: PhraseSet = field(init=False, repr=False, compare=False)
    _generic: PhraseSet = field(init=False, repr=False, compare=False)
    _lacking: PhraseSet = field(init=False, repr=False, compare=False)
    _lacking_ends: PhraseSet = field(init=False, repr=False, compare=False)
    _negations: PhraseSet = field(init=False, repr=False, compare=False)
    _polite: frozenset[str] = field(init=False, repr=False, compare=False)

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
        init(self, "_cue_words", frozenset(w for phrase in cue_aspect for w in phrase if len(w) >= 2))
        init(self, "_exclusions", PhraseSet(self.aspect_exclusions))
        init(self, "_strippable", PhraseSet((*cue_aspect, *self.filler_phrases, *self.followup_cues)))
        init(self, "_followups", PhraseSet(self.followup_cues))
        init(self, "_status", PhraseSet(self.status_cues))
        init(self, "_help_core", PhraseSet(self.help_core))
        desk_topic = {phrase: topic for topic, ps in self.desk_questions.items() for phrase in ps}
        init(self, "_desk_topic", desk_topic)
        init(self, "_desk", PhraseSet(desk_topic))
        init(self, "_person", PhraseSet(self.person_requests))
        init(self, "_word", PhraseSet(self.word_questions))
        init(self, "_question", PhraseSet(self.question_words))
        bare = {phrase: aspect for aspect, ps in self.bare_aspects.items() for phrase in ps}
        init(self, "_bare_aspect", bare)
        init(self, "_bare", PhraseSet(bare))
        init(self, "_overview", PhraseSet(self.overview_cues))
        init(self, "_together", PhraseSet(self.together_cues))
        init(self, "_resume", PhraseSet(self.resume_cues))
        init(self, "_generic", PhraseSet(self.generic_words))
        init(self, "_lacking", PhraseSet(self.lacking_cues))
        init(self, "_lacking_ends", PhraseSet(self.lacking_ends))
        init(self, "_negations", PhraseSet(self.negations))
        init(self, "_polite", self.stopwords | self.answer_heads)

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
            place_words=frozenset(t for w in raw.get("place_words", []) for t in normalizer.tokens(str(w))),
            desk_questions={str(k): phrases(v) for k, v in (raw.get("desk_questions") or {}).items()},
            choice_ordinals=tuple(phrases(group) for group in raw.get("choice_ordinals") or ()),
            choice_last=phrases(raw.get("choice_last") or ()),
            weekdays=tuple(phrases(group) for group in raw.get("weekdays") or ()),
            choice_frame=frozenset(t for w in raw.get("choice_frame") or () for t in normalizer.tokens(str(w))),
            person_requests=phrases(raw.get("person_requests") or ()),
            word_questions=phrases(raw.get("word_questions") or ()),
            question_words=phrases(raw.get("question_words") or ()),
            question_tails=phrases(raw.get("question_tails") or ()),
            yes_answers=frozenset(normalizer.normalize(str(a)) for a in raw.get("yes_answers") or ()),
            no_answers=frozenset(normalizer.normalize(str(a)) for a in raw.get("no_answers") or ()),
            answer_tails=frozenset(t for w in raw.get("answer_tails") or () for t in normalizer.tokens(str(w))),
            answer_heads=frozenset(t for w in raw.get("answer_heads") or () for t in normalizer.tokens(str(w))),
            bare_aspects={Aspect(k): phrases(v) for k, v in (raw.get("bare_aspects") or {}).items()},
            overview_cues=phrases(raw.get("overview_cues") or ()),
            together_cues=phrases(raw.get("together_cues") or ()),
            resume_cues=phrases(raw.get("resume_cues") or ()),
            generic_words=phrases(raw.get("generic_words") or ()),
            lacking_cues=phrases(raw.get("lacking_cues") or ()),
            lacking_ends=phrases(raw.get("lacking_ends") or ()),
            negations=phrases(raw.get("negations") or ()),
        )

    def detect_aspects(self, tokens: list[str]) -> list[Aspect]:
        """The aspects a question asks about, in the order they are mentioned; a cue typed
        with a slip ("cann nhung gj", "giya to gi") counts when mending its words by one
        edit makes it whole."""
        return self._aspects_in(tokens) or self._aspects_in(self._mended(tokens))

    def _mended(self, tokens: list[str]) -> list[str]:
        """``tokens`` with each word that cannot be a Vietnamese syllable ("cann", "gj") and
        is one edit from a cue word (same first letter) replaced by it, where that completes
        a cue phrase; the others as typed."""
        words, stop = self._cue_words, self.stopwords
        trial = list(tokens)
        for i, tok in enumerate(tokens):
            if tok in words or tok in stop or len(tok) < 2 or not tok.isalpha() or could_be_syllable(tok):
                continue
            near = [w for w in words if w[0] == tok[0] and abs(len(w) - len(tok)) <= 1 and OSA.distance(w, tok) == 1]
            if near:
                trial[i] = min(near)  # deterministic
        if trial == tokens:
            return tokens
        covered = self._cues.covered(trial)
        return [trial[i] if i in covered else tok for i, tok in enumerate(tokens)]

    def _aspects_in(self, tokens: list[str]) -> list[Aspect]:
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

    def desk_topic(self, tokens: list[str]) -> tuple[str, set[int]] | None:
        """The desk question a message asks (``hours``, ``address``, ``hotline``, ``thanks``,
        ``identity``) and the positions of its words, or None."""
        for start, phrase in self._desk.find(tokens):
            return self._desk_topic[phrase], self._desk.covered(tokens)
        return None

    def asks_person(self, tokens: list[str]) -> bool:
        """Whether the message asks for a person of the desk ("cho tôi gặp cán bộ")."""
        return self._person.occurs_in(tokens)

    def asks_word(self, tokens: list[str]) -> bool:
        """Whether the message asks about a word rather than a procedure ("khai sinh
        tiếng Anh là gì", "CCCD viết tắt của gì")."""
        return self._word.occurs_in(tokens)

    def asks_question(self, tokens: list[str]) -> bool:
        """Whether a clause asks or requests something (a question word, a wish, a
        question word at its end) rather than only telling the situation."""
        if self._question.occurs_in(tokens):
            return True
        tokens = self._without_tails(tokens, keep=0)  # "... không ạ", "... chưa nhỉ"
        end = len(tokens)
        return any(tuple(tokens[end - len(tail) : end]) == tail for tail in self.question_tails if len(tail) <= end)

    def _without_tails(self, tokens: list[str], keep: int) -> list[str]:
        """``tokens`` without the polite words at their end (:attr:`answer_tails`), keeping
        at least ``keep`` words."""
        end = len(tokens)
        while end > keep and tokens[end - 1] in self.answer_tails:
            end -= 1
        return list(tokens[:end])

    def _opens_with(self, phrases: PhraseSet, tokens: list[str], skip: frozenset[str]) -> bool:
        """Whether one of ``phrases`` opens the message, after words of ``skip`` only."""
        for i in range(min(len(tokens), OPENING_WORDS)):
            if phrases.longest_at(tokens, i):
                return True
            if tokens[i] not in skip:
                return False
        return False

    def picked(self, tokens: list[str], labels: list[list[str]]) -> int | None:
        """The index of the choice a typed answer picks among ``labels`` (each as tokens):
        the label itself, an ordinal word ("cái thứ hai", "cuối"), or a few words that fit
        one label only ("bản sao thôi"). None when it picks nothing clearly."""
        if tokens in labels:
            return labels.index(tokens)
        words = [t for t in tokens if t not in self.choice_frame]
        whole = tuple(tokens)
        framed = tuple(t for t in tokens if t not in self.choice_frame or t in ("mot", "hai", "ba", "bon", "nam"))
        for index, group in enumerate(self.choice_ordinals):
            if index < len(labels) and any(whole == p or framed == p or (len(p) > 1 and _contains(whole, p)) for p in group):
                return index
        # A one-word "last" must be the whole pick: "cuoi" is also cưới ("kể chuyện cười").
        if any(whole == p or framed == p or (len(p) > 1 and _contains(whole, p)) for p in self.choice_last):
            return len(labels) - 1
        if not words or len(words) > 4:
            return None
        fits = [i for i, label in enumerate(labels) if all(w in label for w in words)]
        return fits[0] if len(fits) == 1 else None

    def weekday_named(self, tokens: list[str]) -> tuple[int, set[int]] | None:
        """The weekday a message names (0 = Monday) and the positions of its words, when
        it names exactly one."""
        named: dict[int, set[int]] = {}
        for index, group in enumerate(self.weekdays):
            for phrase in group:
                n = len(phrase)
                for i in range(len(tokens) - n + 1):
                    if tuple(tokens[i : i + n]) == phrase:
                        named.setdefault(index, set()).update(range(i, i + n))
        if len(named) != 1:
            return None
        ((index, covered),) = named.items()
        return index, covered

    def yes_no(self, tokens: list[str]) -> bool | None:
        """True for a message that only says yes ("có ạ", "đúng rồi"), False for one that
        only says no ("không", "chưa bác"), None for anything else."""
        words = list(tokens)
        while len(words) > 1 and words[-1] in self.answer_tails:
            words.pop()
        for start in range(len(words)):  # "dạ", "vâng" before the answer itself
            text = " ".join(words[start:])
            if text in self.no_answers:
                return False
            if text in self.yes_answers:
                return True
            if words[start] not in self.answer_heads:
                break
        return None

    def bare_aspects_of(self, tokens: list[str]) -> list[Aspect]:
        """The aspects of a follow-up made only of :attr:`bare_aspects` cues, fillers and
        follow-up cues ("phí?", "thế còn phí", "có bị phạt không"); empty for any other."""
        found: list[Aspect] = []
        covered: set[int] = set()
        for start, phrase in self._bare.find(tokens):
            covered.update(range(start, start + len(phrase)))
            if self._bare_aspect[phrase] not in found:
                found.append(self._bare_aspect[phrase])
        if not found:
            return []
        rest = [t for i, t in enumerate(tokens) if i not in covered]
        return [] if self.strip_cues(rest) else found

    def asks_overview(self, tokens: list[str]) -> bool:
        """Whether the message asks what to do at all ("thì làm thủ tục gì", "thế nào")."""
        return self._overview.occurs_in(tokens)

    def asks_together(self, tokens: list[str]) -> bool:
        """Whether the message asks to do something at the same time ("làm luôn ...")."""
        return self._together.occurs_in(tokens)

    def resumes(self, tokens: list[str]) -> bool:
        """Whether the message returns to an earlier topic ("quay lại vụ khai tử")."""
        return self._resume.occurs_in(tokens)

    def only_generic(self, tokens: list[str]) -> bool:
        """Whether the naming words of a message are all :attr:`generic_words` (at least one),
        polite words at its end aside ("nộp hồ sơ ở đâu vậy", "thủ tục thế nào hả bạn")."""
        tokens = self._without_tails(tokens, keep=1)
        drop = self._generic.covered(tokens)
        return bool(drop) and not self.strip_cues([t for i, t in enumerate(tokens) if i not in drop])

    def negates(self, tokens: list[str]) -> bool:
        """Whether the message opens saying the last answer missed ("không phải, ...",
        "à nhầm, ..."), after polite words only."""
        return self._opens_with(self._negations, tokens, self._polite)

    def lacks_paper(self, tokens: list[str]) -> bool:
        """Whether the message says a paper is missing and asks what then ("em không có sổ
        hộ khẩu thì sao", "chưa có cccd thì làm được không")."""
        return self._lacking_ends.occurs_in(tokens) and self._opens_with(self._lacking, tokens, self.stopwords)

    def without_resume(self, tokens: list[str]) -> list[str]:
        """``tokens`` without the phrases that return to an earlier topic."""
        drop = self._resume.covered(tokens)
        return [t for i, t in enumerate(tokens) if i not in drop]

    def yes_no_head(self, tokens: list[str]) -> tuple[bool | None, list[str]]:
        """A yes or no opening a longer message, and the words after it ("đúng rồi, cần
        giấy gì" -> True, ["can", "giay", "gi"]); (None, tokens) when none opens it."""
        for end in range(min(len(tokens) - 1, ANSWER_WORDS), 0, -1):
            if self.is_followup(tokens[end - 1 :]):
                continue  # "à còn một việc nữa": "còn" opens a follow-up, it is no "còn" (yes)
            said = self.yes_no(tokens[:end])
            if said is not None:
                return said, list(tokens[end:])
        return None, list(tokens)

    def yes_no_tail(self, tokens: list[str]) -> tuple[bool | None, list[str]]:
        """A yes or no of two words or more closing a longer message, and the words before
        it ("sổ ở xã vẫn còn" -> True, ["so", "o", "xa"]); (None, tokens) when none closes it."""
        for start in range(max(1, len(tokens) - ANSWER_WORDS), len(tokens) - 1):
            said = self.yes_no(tokens[start:])
            if said is not None:
                return said, list(tokens[:start])
        return None, list(tokens)

    def without_status(self, tokens: list[str]) -> list[str]:
        """``tokens`` without the phrases that ask about a filed dossier."""
        drop = self._status.covered(tokens)
        return [t for i, t in enumerate(tokens) if i not in drop]

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
