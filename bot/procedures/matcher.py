"""Ranking catalogue entries for a question, and deciding whether to answer.

Each entry is known by phrases: its official name and its aliases. A question is
normalised (see :mod:`bot.procedures.normalize`), stripped of fillers and aspect cues (see
:mod:`bot.procedures.lexicon`), and its words are spell-corrected against the catalogue's
own words: a word one edit (a letter dropped, doubled, swapped or replaced) from a
catalogue word is taken for it when a neighbouring word confirms it (the two are a word
pair of the catalogue's names, so even a short syllable is mended: "khai sih", "ket hn"),
glued and mis-split words are mended, and longer words are matched with rapidfuzz. A
short word that is another real word is left alone unless its neighbour makes the slip
plain. An entry then scores by how completely one of its phrases
appears in the question (rare words weigh more, word order helps) and by how much of the
question its phrases and body explain. Scores run from 0 to 100.

The decision is deliberately cautious: one clear winner is answered, close rivals are
offered as choices, and weak matches are refused. A wrong confident answer costs a
citizen a wasted trip; a "which one?" costs a tap.
"""

from __future__ import annotations

import heapq
import math
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
import dataclasses
from dataclasses import dataclass
from enum import Enum
from itertools import compress, repeat
from operator import add, itemgetter, mul, truediv
from typing import Any

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from bot.procedures.catalogue import Catalogue, Procedure
from bot.config import MatchingConfig
from bot.procedures.lexicon import Lexicon
from bot.procedures.ngrams import NgramScorer, build_ngrams
from bot.procedures.normalize import Normalizer

#: Only the start of a very long message is matched ("answer from the start").
MAX_QUESTION_CHARS = 1000
#: A word typed with a typo must be at least this similar to a catalogue word (0-100).
TYPO_CUTOFF = 80.0
#: Shorter words are never corrected: one letter more or less turns a three-letter
#: syllable into another word ("vua" is not "vu", "tha" is not "thai", "lua" is not "nua").
MIN_TYPO_LENGTH = 4
#: Spelling corrections remembered (cleared when full, so odd words cannot grow memory).
TYPO_CACHE_SIZE = 50_000
#: A word found in more phrases than this only adds weight to phrases that rarer words
#: of the question already brought in (keeps look-ups fast on very large catalogues).
MAX_POSTINGS = 300
#: Phrases scored in full per question (the best by word coverage).
FULL_SCORING = 150
#: Least share of a phrase's own word weight a question must match for it to be scored.
MIN_COVERAGE = 0.34
#: Phrases scored between two looks at the score an entry needs to be kept.
PRUNE_EVERY = 16
#: When even the question's rarest word is common, only this many of its phrases, the
#: shortest first (they can reach the highest coverage), become candidates.
CANDIDATE_CAP = 1500
#: Body words (documents, summary) explain a question only this much, relative to aliases.
BODY_WEIGHT = 0.5
#: Weight of a question word the catalogue never uses: probably a filler we don't know.
UNKNOWN_WEIGHT = 0.6
#: Points an entry loses per unit of character n-gram similarity it trails the most
#: similar entry by (see :mod:`bot.procedures.ngrams`).
NGRAM_WEIGHT = 0.5
#: Entries most similar by character n-grams that join the word-level candidates.
NGRAM_CANDIDATES = 5
#: ...looked for only when no entry scores this much on words.
NGRAM_SEARCH_BELOW = 90.0
#: A question scoring below the candidate score but at least this much, whose best entry
#: both scorers agree on (the n-grams by this factor over the next entry), gets a short
#: list to confirm instead of a refusal: of entries within NEAR_SPREAD of the best.
NEAR_FLOOR = 47.0
NEAR_LEAD = 1.4
#: ...or, without the n-grams' agreement, whose best entry leads the next by this much.
NEAR_GAP = 20.0
NEAR_SPREAD = 12.0
NEAR_OPTIONS = 3


#: Phrases that only name a paper ("giấy khai sinh") rather than an action on it
#: ("sao y", "trích lục", "đăng ký lại") weigh a little less, so that in "sao y giấy
#: khai sinh" the action decides.
OBJECT_NOUNS = frozenset({"giay", "so"})
OBJECT_PHRASE_FACTOR = 0.92
#: The word for a paper ("giấy"), often left out of its name ("chứng tử", "xác nhận độc thân").
PAPER = "giay"
#: ...and such a phrase weighs this much more: said in full, another entry's name wins.
PAPERLESS_FACTOR = 0.9

#: Weight of a light word (people, places; see lexicon.yaml) relative to its rarity.
LIGHT_WEIGHT = 0.4

#: How much the share of the question an entry explains weighs in its score (0-1).
SHARE_WEIGHT = 0.4
#: How much a phrase's matched word weight (specificity) weighs in its score (0-1),
#: and the weight at which a phrase counts as fully specific.
SPECIFICITY = 0.1
SPECIFIC_MASS = 8.0

#: Similarity given to a sound-alike spelling ("xinh" for "sinh").
SOUND_ALIKE = 0.9
#: Similarity given to a one-edit spelling (a letter dropped, doubled, swapped with its
#: neighbour or replaced) that a neighbouring word confirms: together they are a word
#: pair of the catalogue ("khai sih" is "khai sinh", "ket hun" is "ket hon").
CONTEXT_FIX = 0.95
#: Shortest word corrected by one edit when a neighbour confirms it ("hn" in "ket hn").
MIN_CONTEXT_LENGTH = 2
#: A pair is a word's usual one when at least this share of the pairs it starts (or ends)
#: are that pair ("ket hon" for "ket").
USUAL_PAIR = 0.3
#: A real word is taken for the word before its neighbour only when that word comes
#: before the neighbour in at least this share of its pairs ("ket" before "hon").
USUAL_BEFORE = 0.7
#: Words looked back at to tell whether a word is part of a cue phrase.
CUE_WINDOW = 4
#: Whole analyses of recent texts remembered (the dialogue asks several things of one text).
TEXT_CACHE_SIZE = 2_000

# Initial consonants (and a final) that people in different regions spell
# interchangeably when typing without diacritics.
_SOUND_ALIKE_INITIALS = (("tr", "ch"), ("gi", "d"), ("r", "d"), ("x", "s"), ("l", "n"))


# Letters next to each other on a phone's QWERTY keyboard: a slip of the finger replaces a
# letter with one of its neighbours far more often than with any other letter.
_KEY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _neighbour_keys() -> dict[str, frozenset[str]]:
    near: dict[str, set[str]] = defaultdict(set)
    for r, row in enumerate(_KEY_ROWS):
        for c, key in enumerate(row):
            for r2 in (r - 1, r, r + 1):
                if 0 <= r2 < len(_KEY_ROWS):
                    for c2 in (c - 1, c, c + 1):
                        if 0 <= c2 < len(_KEY_ROWS[r2]) and (r2, c2) != (r, c):
                            near[key].add(_KEY_ROWS[r2][c2])
    return {k: frozenset(v) for k, v in near.items()}


_NEIGHBOUR_KEYS = _neighbour_keys()


def far_replacement(typed: str, word: str) -> bool:
    """Whether ``typed`` is ``word`` with one letter replaced by one that is not next to
    it on the keyboard (less likely a slip than a dropped, doubled or swapped letter)."""
    if len(typed) != len(word):
        return False
    diff = [(a, b) for a, b in zip(typed, word) if a != b]
    if len(diff) != 1:
        return False  # two neighbours swapped
    a, b = diff[0]
    return a not in _NEIGHBOUR_KEYS.get(b, ())


def slip(typed: str, word: str) -> bool:
    """Whether ``typed`` is ``word`` with two neighbouring letters swapped or one letter
    replaced by a key next to it (both words of the same length)."""
    return len(typed) == len(word) and typed != word and not far_replacement(typed, word)


def sound_key(token: str) -> str:
    """A key equal for Vietnamese sound-alike spellings (x/s, tr/ch, gi/d/r, l/n, final y/i)."""
    for written, said in _SOUND_ALIKE_INITIALS:
        if token.startswith(written):
            token = said + token[len(written) :]
            break
    if token.endswith("y") and len(token) > 1:
        token = token[:-1] + "i"
    return token


class Decision(Enum):
    """What to do with a ranking."""

    ANSWER = "answer"
    CHOOSE = "choose"
    NONE = "none"


@dataclass(frozen=True)
class Match:
    """A catalogue entry and its 0-100 score for one question."""

    procedure: Procedure
    score: float


@dataclass
class MatcherIndex:
    """Everything :class:`Matcher` derives from a catalogue, as plain lists, dicts and sets
    (no objects of this package), so that a compiled copy can be cached and reloaded.

    Phrases (each name and alias, normalised) are stored column-wise: phrase ``k`` belongs
    to entry ``phrase_proc[k]`` (an index into ``proc_ids``), has the words
    ``phrase_tokens[k]`` and weighs ``phrase_total[k]``.
    """

    #: The entries' ids, in the catalogue's order (what entry indexes refer to).
    proc_ids: list[str]
    #: Rarity weight of each naming word.
    idf: dict[str, float]
    phrase_proc: list[int]
    phrase_tokens: list[tuple[str, ...]]
    phrase_total: list[float]
    #: word -> the phrases using it, lightest first, and (aligned) how often each uses it.
    postings: dict[str, list[int]]
    posting_uses: dict[str, list[int]]
    #: For words in more than MAX_POSTINGS phrases: phrase -> uses, to intersect quickly.
    common_uses: dict[str, dict[int, int]]
    #: The words some phrase uses more than once ("nuôi con nuôi"), with the most uses.
    max_uses: dict[str, int]
    #: Per entry: the words of its name and aliases; of its body (summary, documents, field).
    alias_vocab: list[frozenset[str]]
    body_vocab: list[frozenset[str]]
    #: Every catalogue word, sorted (spelling corrections are chosen from these).
    vocab: list[str]
    #: Sound-alike key -> the most frequent catalogue word with that key.
    sounds: dict[str, str]
    #: Each catalogue word with one letter deleted (and each word itself) -> the words it
    #: comes from, most used first: finds the words one edit away from a typed one.
    deletes: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    #: Word pairs of the names and aliases: word -> the words that follow it in some phrase,
    #: with how many phrases have the pair.
    follows: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    #: Naming words that never end a phrase ("ket" of "ket hon", "dang" of "dang ky"): a
    #: word after one of them that is not its partner is probably the partner misspelt.
    never_last: frozenset[str] = frozenset()
    #: Phrases that only name a paper (weigh OBJECT_PHRASE_FACTOR): those starting with an
    #: object noun, and those made by leaving out the leading "giay".
    object_phrases: frozenset[int] = frozenset()
    #: Phrases made by leaving out the leading "giay" (weigh PAPERLESS_FACTOR more).
    paperless_phrases: frozenset[int] = frozenset()
    #: The character n-gram index of the entries' names and aliases (see
    #: :func:`bot.procedures.ngrams.build_ngrams`).
    ngrams: dict[str, Any] = dataclasses.field(default_factory=dict)


def build_index(catalogue: Catalogue, normalizer: Normalizer, lexicon: Lexicon) -> MatcherIndex:
    """The matcher's index for ``catalogue`` (the costly part of start-up on a large one)."""
    procs = list(catalogue)
    intern = sys.intern  # one string object per word: less memory, smaller cache file

    def tokens_of(text: str) -> list[str]:
        return [intern(t) for t in normalizer.tokens(text)]

    # (entry, naming words, words lost to stripping) for every name and alias.
    stripped: list[tuple[int, tuple[str, ...], int]] = []
    paperless: set[tuple[int, tuple[str, ...]]] = set()
    named: set[tuple[int, tuple[str, ...]]] = set()  # phrases said in full by the entry
    for i, proc in enumerate(procs):
        for text in (proc.name, *proc.aliases):
            full = tokens_of(text)
            toks = tuple(lexicon.strip_cues(full))
            if toks:
                stripped.append((i, toks, len(full) - len(toks)))
                named.add((i, toks))
                if toks[0] == PAPER and len(toks) >= 3:
                    # The paper is often left unsaid: "chung tu" for "giay chung tu".
                    stripped.append((i, toks[1:], len(full) - len(toks) + 1))
                    paperless.add((i, toks[1:]))
    # An alias stripped down to another entry's phrase ("đăng ký khai sinh khi đã có
    # giấy tờ" -> "dang ky khai sinh") has lost what told it apart: the entry whose
    # phrase lost the least keeps it. Places tell nothing apart either: "làm khai sinh
    # không cần lên xã" stripped to "khai sinh xã" is just "khai sinh".
    places = lexicon.place_words
    told: list[tuple[int, tuple[str, ...], tuple[str, ...], int]] = []  # entry, phrase, key, loss
    for i, toks, loss in stripped:
        key = tuple(t for t in toks if t not in places) or toks
        told.append((i, toks, key, loss + len(toks) - len(key)))
    least_loss: dict[tuple[str, ...], int] = {}
    for _, _, key, loss in told:
        least_loss[key] = min(loss, least_loss.get(key, loss))
    phrase_tokens: list[tuple[int, tuple[str, ...]]] = []
    seen: set[tuple[int, tuple[str, ...]]] = set()
    for i, toks, key, loss in told:
        if loss == least_loss[key] and (i, toks) not in seen:
            seen.add((i, toks))
            phrase_tokens.append((i, toks))
    df: dict[str, int] = defaultdict(int)
    for tok, _ in {(t, i) for i, toks in phrase_tokens for t in toks}:
        df[tok] += 1
    n = max(len(procs), 1)
    idf: dict[str, float] = {
        t: math.log(1 + n / c) * (LIGHT_WEIGHT if t in lexicon.light_words else 1.0) for t, c in df.items()
    }

    phrase_proc: list[int] = []
    phrase_toks: list[tuple[str, ...]] = []
    phrase_total: list[float] = []
    postings: dict[str, list[int]] = defaultdict(list)
    alias_vocab: list[set[str]] = [set() for _ in procs]
    for i, toks in phrase_tokens:
        idx = len(phrase_proc)
        phrase_proc.append(i)
        phrase_toks.append(toks)
        phrase_total.append(sum(idf[t] for t in toks))
        for tok in set(toks):
            postings[tok].append(idx)
        alias_vocab[i].update(toks)
    for plist in postings.values():
        plist.sort(key=phrase_total.__getitem__)
    posting_uses = {w: [phrase_toks[idx].count(w) for idx in plist] for w, plist in postings.items()}
    common_uses = {
        w: dict(zip(plist, posting_uses[w])) for w, plist in postings.items() if len(plist) > MAX_POSTINGS
    }

    body_vocab: list[frozenset[str]] = []
    for proc in procs:
        body = " ".join((proc.summary or "", *proc.documents, proc.field))
        body_vocab.append(frozenset(lexicon.strip_cues(tokens_of(body))))
    vocab = sorted(set(idf) | {t for v in body_vocab for t in v})
    # Sound-alike spellings, most frequent catalogue word first.
    sounds: dict[str, str] = {}
    for tok in sorted(vocab, key=lambda t: (-df.get(t, 0), t)):
        sounds.setdefault(sound_key(tok), tok)
    # Words one deletion away, for finding one-edit spellings (as SymSpell does).
    frequency = {t: df.get(t, 0) for t in vocab}
    deletes: dict[str, list[str]] = defaultdict(list)
    for tok in sorted(vocab, key=lambda t: (-frequency[t], t)):
        for variant in {tok, *(tok[:k] + tok[k + 1 :] for k in range(len(tok)))}:
            if variant:
                deletes[intern(variant)].append(tok)
    follows: dict[str, Counter[str]] = defaultdict(Counter)
    last: set[str] = set()
    for toks in phrase_toks:
        for a, b in zip(toks, toks[1:]):
            follows[a][b] += 1
        last.add(toks[-1])
    ngrams = build_ngrams(
        [lexicon.strip_cues(normalizer.tokens(text)) for text in (proc.name, *proc.aliases)] for proc in procs
    )
    return MatcherIndex(
        ngrams=ngrams,
        proc_ids=[p.id for p in procs],
        idf=idf,
        phrase_proc=phrase_proc,
        phrase_tokens=phrase_toks,
        phrase_total=phrase_total,
        postings=dict(postings),
        posting_uses=posting_uses,
        common_uses=common_uses,
        max_uses={w: most for w, uses in posting_uses.items() if (most := max(uses)) > 1},
        alias_vocab=[frozenset(v) for v in alias_vocab],
        body_vocab=body_vocab,
        vocab=vocab,
        sounds=sounds,
        deletes=dict(deletes),
        follows={w: dict(v) for w, v in follows.items()},
        never_last=frozenset(w for w in follows if w not in last),
        object_phrases=frozenset(
            k
            for k, (i, toks) in enumerate(phrase_tokens)
            if toks[0] in OBJECT_NOUNS or ((i, toks) in paperless and (i, toks) not in named)
        ),
        paperless_phrases=frozenset(
            k for k, (i, toks) in enumerate(phrase_tokens) if (i, toks) in paperless and (i, toks) not in named
        ),
    )


def _adds(weight: float, most: int, max_use: int, uses: Iterable[int]) -> Iterator[float]:
    """What a question word said ``most`` times adds to phrases using it ``uses`` times:
    ``weight * min(uses, most)``, computed in C."""
    if max_use == 1 or most == 1:
        return repeat(weight)  # every phrase in a posting list uses the word: weight * 1
    if most >= max_use:
        return map(mul, repeat(weight), uses)
    return map(mul, repeat(weight), map(min, uses, repeat(most)))


class Matcher:
    """Ranks catalogue entries for questions; built once per catalogue."""

    def __init__(
        self,
        catalogue: Catalogue,
        normalizer: Normalizer,
        lexicon: Lexicon,
        config: MatchingConfig,
        index: MatcherIndex | None = None,
        *,
        character_ngrams: bool = True,
        known_words: frozenset[str] = frozenset(),
    ) -> None:
        """A matcher for ``catalogue``; ``index`` is its prebuilt :func:`build_index`
        (e.g. from the compiled cache), built here when not given; ``character_ngrams``:
        whether rankings are re-weighed by character n-gram similarity; ``known_words``:
        real words beyond this catalogue's own, corrected into one of its words only when a
        neighbour confirms it (a matcher over a few phrases would read "chồng" as "trong")."""
        self.config = config
        self._normalizer = normalizer
        self._lexicon = lexicon
        self._procs: list[Procedure] = list(catalogue)
        if index is None:
            index = build_index(catalogue, normalizer, lexicon)
        elif index.proc_ids != [p.id for p in self._procs]:
            raise ValueError("matcher index was built for another catalogue")
        self.index = index
        self._index: dict[str, int] = {p.id: i for i, p in enumerate(self._procs)}
        self._typo_cache: dict[str, tuple[str, float] | None] = {}
        self._idf = index.idf
        self._postings = index.postings
        self._alias_vocab = index.alias_vocab
        self._body_vocab = index.body_vocab
        self._vocab = index.vocab
        self._vocab_set = frozenset(index.vocab)
        self._known = known_words - self._vocab_set
        self._sounds = index.sounds
        self._index_deletes = index.deletes
        self._follows = index.follows
        self._never_last = index.never_last
        self._edit_cache: dict[str, list[str]] = {}
        preceding: dict[str, dict[str, int]] = defaultdict(dict)
        for word, nexts in index.follows.items():
            for nxt, count in nexts.items():
                preceding[nxt][word] = count
        #: Word -> the words before it in some phrase, with how many phrases have the pair.
        self._precedes = dict(preceding)
        #: How many pairs start / end with each word (to tell a usual pair from a rare one).
        self._follow_total = {w: sum(v.values()) for w, v in index.follows.items()}
        self._precede_total = {w: sum(v.values()) for w, v in preceding.items()}
        # Two-word shorthand keys -> the words their expansion adds ("trung quoc" -> "nuoc ngoai").
        self._pair_expansions: dict[tuple[str, str], list[str]] = {}
        for key, value in normalizer.shorthand.items():
            pair = tuple(key.split())
            if len(pair) == 2:
                added = [w for w in value.split() if w not in pair]
                if added:
                    self._pair_expansions[pair] = added  # type: ignore[index]
        self._text_cache: dict[str, list[tuple[str, float]]] = {}
        self._ngrams = NgramScorer(index.ngrams) if index.ngrams and character_ngrams else None
        # Rankings of recent texts, with whether both scorers agree on the leader: the
        # engine asks several things of one message, and people ask the same questions.
        self._rank_cache: dict[tuple[str, int], tuple[list[Match], bool]] = {}

    def query_tokens(self, text: str) -> list[str]:
        """The words of ``text`` that can name a procedure (fillers and aspect cues removed)."""
        return self._lexicon.strip_cues(self._normalizer.tokens(text[:MAX_QUESTION_CHARS]))

    def _correct(self, token: str) -> tuple[str, float] | None:
        """The catalogue word ``token`` stands for, with a similarity in 0-1, or None,
        from the word alone (no context)."""
        if token in self._vocab_set:
            return token, 1.0
        if len(token) < MIN_TYPO_LENGTH or token.isdigit():
            return None
        if token not in self._typo_cache:
            if len(self._typo_cache) >= TYPO_CACHE_SIZE:
                self._typo_cache.clear()
            alike = self._sounds.get(sound_key(token))
            if alike is not None:
                self._typo_cache[token] = (alike, SOUND_ALIKE)
            else:
                best = process.extractOne(token, self._vocab, scorer=fuzz.ratio, score_cutoff=TYPO_CUTOFF)
                self._typo_cache[token] = (best[0], best[1] / 100.0) if best else None
        return self._typo_cache[token]

    def _one_edit(self, token: str) -> list[str]:
        """The catalogue words one edit from ``token`` (a letter dropped, added, replaced,
        or two neighbours swapped), the most used first."""
        found = self._edit_cache.get(token)
        if found is None:
            if len(self._edit_cache) >= TYPO_CACHE_SIZE:
                self._edit_cache.clear()
            deletes = self._index_deletes
            near: set[str] = set()
            for variant in {token, *(token[:k] + token[k + 1 :] for k in range(len(token)))}:
                near.update(deletes.get(variant, ()))
            near.discard(token)
            found = sorted(
                (w for w in near if OSA.distance(token, w) <= 1),
                key=lambda w: (far_replacement(token, w), self._commonness(w)),
            )
            self._edit_cache[token] = found
        return found

    def _context_edits(self, token: str) -> list[tuple[str, bool]]:
        """The words a neighbour may confirm for ``token``, most likely first: one edit from
        it, or from its sound-alike spelling ("xieh" is "sieh", one edit from "sinh"); each
        with whether it replaces the first letter by one far from it on the keyboard (a
        neighbour alone does not confirm that: "gia xang" is not "gia lang")."""
        edits = self._one_edit(token)
        alike = sound_key(token)
        if alike != token and token not in self._known:  # a real word is not misheard
            edits = edits + [w for w in self._one_edit(alike) if w not in edits]
        return [(w, w[0] != token[0] and far_replacement(token, w)) for w in edits]

    def _commonness(self, word: str) -> tuple[float, str]:
        """Sort key: naming words used by more entries first, body-only words last."""
        return self._idf.get(word, math.inf), word

    def _repair_partners(self, tokens: list[str]) -> tuple[list[str], dict[str, float]]:
        """``tokens`` with a word after one that never ends a phrase ("ket") replaced by
        that word's partner when it is one edit from it ("ket hom" is "ket hon", even though
        "hom" is a filler); and the similarity of each replacement."""
        follows, never_last = self._follows, self._never_last
        fixed: dict[str, float] = {}
        out = list(tokens)
        for i in range(1, len(out)):
            prev, tok = out[i - 1], out[i]
            if prev not in never_last or tok in follows[prev] or len(tok) < MIN_CONTEXT_LENGTH:
                continue
            if tok in self._vocab_set or tok in self._lexicon.stopwords:
                # A real word ("qua" of "ket qua", "da" of "chuyen nhuong da") is taken for
                # another only after a slip of the finger (two letters swapped or a key next
                # to the right one) that gives the word's usual partner ("ket hom": "hon").
                # Nor one that with the next word is a pair itself ("nghi van van ban").
                if len(tok) < MIN_TYPO_LENGTH - 1 or (i + 1 < len(out) and out[i + 1] in follows.get(tok, ())):
                    continue
                partners = [
                    w
                    for w in self._one_edit(tok)
                    if slip(tok, w) and follows[prev].get(w, 0) >= USUAL_PAIR * self._follow_total[prev]
                ]
            else:
                partners = [w for w, _ in self._context_edits(tok) if w in follows[prev]]
            # ...unless the word before is itself part of a cue ("to khai nao" is a form).
            if partners and self._lexicon.strip_cues(out[max(0, i - CUE_WINDOW) : i])[-1:] == [prev]:
                out[i] = partners[0]
                fixed[partners[0]] = CONTEXT_FIX
        return out, fixed

    def _split(self, token: str) -> tuple[str, str] | None:
        """Two catalogue words that follow each other in a phrase, glued ("khaisinh")."""
        follows = self._follows
        for k in range(1, len(token)):
            head, tail = token[:k], token[k:]
            if tail in follows.get(head, ()):
                return head, tail
        return None

    def _shift_space(self, tok: str, after: str) -> tuple[str, str] | None:
        """Two catalogue words that follow each other in a phrase, typed with the space one
        letter off ("kha isinh" is "khai sinh", "dan gky" is "dang ky"), or None."""
        follows = self._follows
        for head, tail in ((tok + after[:1], after[1:]), (tok[:-1], tok[-1:] + after)):
            if head and tail and tail in follows.get(head, ()):
                return head, tail
        return None

    def _usual_before(self, tok: str, prev: str | None, after: str | None) -> str | None:
        """The word that nearly always comes before ``after`` in the catalogue, when the
        real word ``tok`` is one slip from it and pairs with neither neighbour ("ke hon"
        is "ket hon", "dan ky" is "dang ky"), or None."""
        before = self._precedes.get(after) if after is not None else None
        if not before or tok in before or after in self._follows.get(tok, ()):
            return None
        if prev is not None and tok in self._follows.get(prev, ()):
            return None
        total = self._precede_total[after]
        for word in self._one_edit(tok):
            if before.get(word, 0) >= USUAL_BEFORE * total and not far_replacement(tok, word):
                return word
        return None

    def _in_context(self, tok: str, prev: str | None, after: str | None) -> str | None:
        """The catalogue word ``tok`` stands for that its neighbours confirm, or None."""
        if len(tok) < MIN_CONTEXT_LENGTH or tok.isdigit() or not (prev or after):
            return None
        follows, precedes = self._follows, self._precedes
        best, support = None, 0.0
        for word, far_first in self._context_edits(tok):
            before_share = follows.get(prev, {}).get(word, 0) / self._follow_total[prev] if prev in follows else 0.0
            after_share = precedes.get(after, {}).get(word, 0) / self._precede_total[after] if after in precedes else 0.0
            if before_share and after_share:
                n = 2.0 + before_share + after_share  # both neighbours confirm it
            elif far_first:
                continue
            else:
                n = max(before_share, after_share)
                # One neighbour alone confirms a short word only as its usual partner
                # ("khai sih": "sinh"; not "tui" for "tuoi" after "lan").
                if len(tok) < MIN_TYPO_LENGTH and n < USUAL_PAIR:
                    continue
            if n > support:
                best, support = word, n
        return best

    def corrected_words(self, text: str) -> list[tuple[str, float]]:
        """The naming words of ``text``, each spelled as the catalogue does where it can be
        told, with its similarity (0-1; 0 for a word the catalogue never uses, kept as typed).

        A word one edit from a catalogue word (or from a sound-alike of one) is corrected
        when a neighbour confirms it (the two are a word pair of some name or alias), even
        when it is short ("ket hn", "dag ky"); a real word is replaced so only when its
        neighbour never stands without that partner ("dan ky" is "dang ky"). Without such
        support only words of MIN_TYPO_LENGTH letters or more are corrected, so a short
        word that is another real word is left alone. Glued words ("dangky") are split and
        split ones joined, and a space one letter off moved ("kha isinh", "dan gky"), when the
        catalogue knows the result. A correction
        that completes a shorthand pair ("tring quoc") brings its expansion.
        """
        text = text[:MAX_QUESTION_CHARS]  # also bounds the memory the cache can hold
        cached = self._text_cache.get(text)
        if cached is not None:
            return cached
        tokens, fixed = self._repair_partners(self._normalizer.typed_tokens(text))
        toks = self._lexicon.strip_cues(tokens)
        vocab = self._vocab_set
        out: list[tuple[str, float]] = []
        i = 0
        while i < len(toks):
            tok = toks[i]
            i += 1
            after = toks[i] if i < len(toks) else None
            if after is not None and (tok not in vocab or after not in vocab):
                # A space typed in the wrong place: one word split, or one letter off.
                mended = (tok + after,) if tok + after in vocab else self._shift_space(tok, after)
                if mended:
                    out.extend((word, CONTEXT_FIX) for word in mended)
                    i += 1
                    continue
            if tok in vocab:
                partner = self._usual_before(tok, out[-1][0] if out else None, after)
                out.append((partner, CONTEXT_FIX) if partner else (tok, fixed.get(tok, 1.0)))
                continue
            halves = self._split(tok) if len(tok) >= MIN_TYPO_LENGTH else None
            if halves:
                out.extend((half, CONTEXT_FIX) for half in halves)
                continue
            prev = out[-1][0] if out and out[-1][1] > 0 else None
            best = self._in_context(tok, prev, after if after in vocab else None)
            if best is None and tok in self._known:  # a real word this catalogue does not use
                out.append((tok, 0.0))
                continue
            out.append((best, CONTEXT_FIX) if best is not None else self._correct(tok) or (tok, 0.0))
        out = self._expand_pairs(toks, out)
        if len(self._text_cache) >= TEXT_CACHE_SIZE:
            self._text_cache.clear()
        self._text_cache[text] = out
        return out

    def _expand_pairs(self, typed: list[str], words: list[tuple[str, float]]) -> list[tuple[str, float]]:
        """``words`` with the expansion of each shorthand pair that a correction completed."""
        pairs = self._pair_expansions
        if not pairs or [w for w, _ in words] == typed:
            return words
        out = list(words)
        for (a, sa), (b, sb) in zip(words, words[1:]):
            extra = pairs.get((a, b))
            if extra and min(sa, sb) < 1.0:
                out.extend((w, min(sa, sb)) for w in extra)
        return out

    def unknown_words(self, text: str) -> list[str]:
        """The words of ``text`` that can name a procedure but that the catalogue never uses."""
        return [w for w, sim in self.corrected_words(text) if sim == 0]

    def guessed_words(self, text: str) -> list[str]:
        """The catalogue words ``text`` was read as only by correcting a spelling ("tiet"
        taken for "tien"): the reading is a guess, not what was typed."""
        return [w for w, sim in self.corrected_words(text) if 0 < sim < 1]

    def _as_catalogue_words(self, text: str) -> list[str]:
        """The naming words of ``text``, spelled as the catalogue does where it can be told."""
        return [w for w, _ in self.corrected_words(text)]

    def catalogue_words(self, text: str) -> set[str]:
        """The naming words of ``text`` that the catalogue uses, as it spells them."""
        return {w for w in self._as_catalogue_words(text) if w in self._vocab_set}

    def alias_words(self, proc_id: str) -> frozenset[str]:
        """The words of an entry's name and aliases (empty for an unknown id)."""
        index = self._index.get(proc_id)
        return frozenset(self._alias_vocab[index]) if index is not None else frozenset()

    def explains(self, proc_id: str, text: str) -> float:
        """The share (0-1) of the naming words of ``text``, weighted by rarity, that
        ``proc_id``'s name and aliases use."""
        words = self._as_catalogue_words(text)
        index = self._index.get(proc_id)
        if index is None or not words:
            return 0.0
        weights = [self._idf.get(w, UNKNOWN_WEIGHT) for w in words]
        vocab = self._alias_vocab[index]
        return sum(wt for w, wt in zip(words, weights) if w in vocab) / sum(weights)

    def relates(self, proc_id: str, text: str) -> float:
        """The share (0-1) of the naming words of ``text`` that ``proc_id``'s aliases or body
        (summary, documents) use; 1 when ``text`` has no naming words ("thế còn lệ phí?")."""
        words = self._as_catalogue_words(text)
        index = self._index.get(proc_id)
        if index is None:
            return 0.0
        if not words:
            return 1.0
        vocab = self._alias_vocab[index] | self._body_vocab[index]
        return sum(w in vocab for w in words) / len(words)

    def rank(self, text: str, limit: int = 5) -> list[Match]:
        """The best entries for ``text``, best first, with 0-100 scores (may be empty):
        the word-level ranking re-weighed by character n-gram similarity."""
        text = text[:MAX_QUESTION_CHARS]  # all that is read; also bounds the cache
        cached = self._rank_cache.get((text, limit))
        if cached is not None:
            return list(cached[0])
        results = self._word_results(text, limit)
        agree = False
        if results and self._ngrams is not None:
            typed = self._lexicon.strip_cues(self._normalizer.typed_tokens(text[:MAX_QUESTION_CHARS]))
            results, agree = self._fuse(typed, results)
        results.sort(key=lambda m: (-m.score, m.procedure.id))
        if len(self._rank_cache) >= TEXT_CACHE_SIZE:
            self._rank_cache.clear()
        self._rank_cache[(text, limit)] = (results[:limit], agree)
        return results[:limit]

    def tentative(self, text: str, matches: list[Match]) -> list[Match]:
        """The entries worth offering for a question that ``decide`` refuses, when both
        scorers point at the same entry and the n-grams put it well ahead of any other,
        or when it leads every other entry by far (a long description of a situation
        scores low on words); else empty."""
        if not matches or not NEAR_FLOOR <= matches[0].score < self.config.candidate:
            return []
        second = matches[1].score if len(matches) > 1 else 0.0
        self.rank(text)
        agree = self._rank_cache.get((text[:MAX_QUESTION_CHARS], 5), ((), False))[1]
        if not agree and matches[0].score - second < NEAR_GAP:
            return []
        floor = max(NEAR_FLOOR - NEAR_SPREAD, matches[0].score - NEAR_SPREAD)
        return [m for m in matches if m.score >= floor][:NEAR_OPTIONS]

    def rank_words(self, text: str, limit: int = 5) -> list[Match]:
        """The word-level ranking alone (no character n-grams), best first."""
        results = self._word_results(text, limit)
        results.sort(key=lambda m: (-m.score, m.procedure.id))
        return results[:limit]

    def _word_results(self, text: str, limit: int) -> list[Match]:
        """The word-level scores of the (at least 10) best entries for ``text``, unsorted."""
        # (catalogue word or raw word, similarity; 0 = unknown)
        words = self.corrected_words(text)
        known = {w: s for w, s in words if s > 0}
        if not known:
            return []

        sequence = [w for w, _ in words]
        # A word said once matches a phrase word used twice only once ("nuôi gà" is not
        # "nuôi con nuôi").
        q_counts = Counter(sequence)
        q_bigrams = set(zip(sequence, sequence[1:]))
        q_weights = {
            w: (self._idf.get(w, 1.0) if s > 0 else UNKNOWN_WEIGHT) for w, s in words
        }
        q_total = sum(q_weights.values())

        # Matched word weight per phrase, rarest words first: common words only add to
        # phrases that rarer ones brought in (the rarest word always brings its own).
        index = self.index
        all_postings, all_uses = index.postings, index.posting_uses
        named = sorted((w for w in known if w in all_postings), key=lambda w: len(all_postings[w]))
        if not named:  # body-only words name no phrase
            return []
        # The sums run in C (map over dict look-ups), each phrase's in the same order as a
        # plain loop would add them, so scores are exactly the same.
        got: dict[int, float] = {}
        for rank, w in enumerate(named):
            postings = all_postings[w]
            weight, most = self._idf[w] * known[w], q_counts[w]
            max_use = index.max_uses.get(w, 1)
            if rank == 0:
                postings = postings[:CANDIDATE_CAP]
                if max_use == 1 or most == 1:
                    got = dict.fromkeys(postings, weight)
                else:
                    got = dict(zip(postings, _adds(weight, most, max_use, all_uses[w][:CANDIDATE_CAP])))
            elif len(postings) <= MAX_POSTINGS:
                adds = _adds(weight, most, max_use, all_uses[w])
                got.update(zip(postings, map(add, map(got.get, postings, repeat(0.0)), adds)))
            else:
                # Look the candidates up in the word's (long) list: one pass in C over
                # the candidates, rather than intersecting two large key sets.
                uses_of = index.common_uses[w]
                keys = list(got)
                uses = list(map(uses_of.get, keys))
                both = list(compress(keys, uses))
                adds = _adds(weight, most, max_use, filter(None, uses))
                got.update(zip(both, map(add, map(got.__getitem__, both), adds)))
        totals = index.phrase_total
        keys = list(got)
        covers = list(map(truediv, got.values(), map(totals.__getitem__, keys)))
        # Phrases that explain too little of themselves are never answered (dropped
        # before sorting: the same shortlist, in the same order, as sorting them all).
        enough = list(map(MIN_COVERAGE.__le__, covers))
        coverage = dict(zip(compress(keys, enough), compress(covers, enough)))
        shortlist = heapq.nlargest(FULL_SCORING, coverage, key=coverage.__getitem__)

        best: dict[int, float] = {}
        want = max(limit, 10)
        # Every factor of a phrase's score but coverage is at most 1, so once coverage**1.5
        # falls below the want-th best entry's score, no later phrase (sorted by coverage)
        # can enter or reorder the entries kept: the rest are skipped.
        floor, next_check = 0.0, want
        phrase_tokens, phrase_proc = index.phrase_tokens, index.phrase_proc
        object_phrases, paperless_phrases = index.object_phrases, index.paperless_phrases
        for seen, idx in enumerate(shortlist):
            cover = coverage[idx]
            bound = cover**1.5
            if seen >= next_check and len(best) >= want:
                floor = heapq.nlargest(want, best.values())[-1]
                next_check = seen + PRUNE_EVERY
            if bound < floor:
                break
            proc_index = phrase_proc[idx]
            if bound <= best.get(proc_index, 0.0):
                continue
            tokens = phrase_tokens[idx]
            pairs = len(tokens) - 1  # word order: share of the phrase's word pairs asked as such
            order = sum(map(q_bigrams.__contains__, zip(tokens, tokens[1:]))) / pairs if pairs else cover
            score = cover**1.5 * (0.85 + 0.15 * order)
            if idx in object_phrases:
                score *= OBJECT_PHRASE_FACTOR
                if idx in paperless_phrases:
                    score *= PAPERLESS_FACTOR
            # More (and rarer) words matched means a more specific phrase.
            score *= 1.0 - SPECIFICITY + SPECIFICITY * min(1.0, got[idx] / SPECIFIC_MASS)
            if score > best.get(proc_index, 0.0):
                best[proc_index] = score

        top = heapq.nlargest(want, best.items(), key=itemgetter(1))
        results: list[Match] = []
        for i, phrase_score in top:
            aliases, body = self._alias_vocab[i], self._body_vocab[i]
            explained = sum(
                q_weights[w] * (known.get(w, 0.0) if w in aliases else BODY_WEIGHT * known.get(w, 0.0))
                for w in q_weights
                if w in aliases or w in body
            )
            share = explained / q_total if q_total else 0.0
            factor = 1.0 - SHARE_WEIGHT + SHARE_WEIGHT * share
            results.append(Match(self._procs[i], round(100.0 * phrase_score * factor, 1)))
        return results

    def _fuse(self, words: list[str], results: list[Match]) -> tuple[list[Match], bool]:
        """The word-level ``results`` re-ranked with character n-gram similarity.

        Entries rank by word score plus NGRAM_WEIGHT points per hundredth of similarity;
        the entries most similar by n-grams join the ranking. The leader scores halfway
        between its own word score and the best one (so answers and refusals stay
        calibrated on words), and every other entry as far below it as it trails it in
        the combined ranking. Also whether both scorers agree clearly on the leader: it
        leads on words, and on n-grams by NEAR_LEAD times the next entry's similarity."""
        index = self._index
        ids = [index[m.procedure.id] for m in results]
        # A question that names an entry outright needs no other candidates.
        word_best = max(m.score for m in results)
        extra = NGRAM_CANDIDATES if word_best < NGRAM_SEARCH_BELOW else 0
        found = self._ngrams.similar(words, ids, extra) if self._ngrams is not None else None
        if found is None:
            return results, False
        ids, similarity = found[0], found[1].tolist()
        sim = dict(zip(ids, similarity))
        words_of = {index[m.procedure.id]: m.score for m in results}
        weight = NGRAM_WEIGHT * 100.0
        combined = {i: words_of.get(i, 0.0) + weight * sim[i] for i in ids}
        leader = max(ids, key=lambda i: (combined[i], words_of.get(i, 0.0)))
        best = combined[leader]
        # A leader the n-grams brought up is trusted halfway to the best word score.
        base = (words_of.get(leader, 0.0) + word_best) / 2
        fused = [Match(self._procs[i], score) for i in ids if (score := round(base - (best - combined[i]), 1)) > 0]
        first, second = (sorted(similarity, reverse=True) + [0.0, 0.0])[:2]
        agree = words_of.get(leader) == word_best and sim[leader] >= first and second * NEAR_LEAD <= first
        return fused, bool(agree)

    def decide(self, matches: list[Match]) -> Decision:
        """Answer, offer a choice, or refuse, from a ranking."""
        cfg = self.config
        if not matches or matches[0].score < cfg.candidate:
            return Decision.NONE
        if matches[0].score >= cfg.confident and (
            len(matches) == 1 or matches[0].score - matches[1].score >= cfg.margin
        ):
            return Decision.ANSWER
        return Decision.CHOOSE

    def candidates(self, matches: list[Match], limit: int = 4) -> list[Match]:
        """The matches worth offering as choices."""
        floor = max(self.config.candidate, matches[0].score - 25.0) if matches else 0.0
        return [m for m in matches if m.score >= floor][:limit]
