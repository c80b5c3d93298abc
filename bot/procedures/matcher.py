"""Ranking catalogue entries for a question, and deciding whether to answer.

Each entry is known by phrases: its official name and its aliases. A question is
normalised (see :mod:`bot.procedures.normalize`), stripped of fillers and aspect cues (see
:mod:`bot.procedures.lexicon`), and its words are spell-corrected against the catalogue's
vocabulary with rapidfuzz. An entry then scores by how completely one of its phrases
appears in the question (rare words weigh more, word order helps) and by how much of the
question its phrases and body explain. Scores run from 0 to 100.

The decision is deliberately cautious: one clear winner is answered, close rivals are
offered as choices, and weak matches are refused. A wrong confident answer costs a
citizen a wasted trip; a "which one?" costs a tap.
"""

from __future__ import annotations

import math
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from itertools import repeat, takewhile
from operator import add, mul, truediv

from rapidfuzz import fuzz, process

from bot.procedures.catalogue import Catalogue, Procedure
from bot.config import MatchingConfig
from bot.procedures.lexicon import Lexicon
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
#: When even the question's rarest word is common, only this many of its phrases, the
#: shortest first (they can reach the highest coverage), become candidates.
CANDIDATE_CAP = 1500
#: Body words (documents, summary) explain a question only this much, relative to aliases.
BODY_WEIGHT = 0.5
#: Weight of a question word the catalogue never uses: probably a filler we don't know.
UNKNOWN_WEIGHT = 0.6


#: Phrases that only name a paper ("giấy khai sinh") rather than an action on it
#: ("sao y", "trích lục", "đăng ký lại") weigh a little less, so that in "sao y giấy
#: khai sinh" the action decides.
OBJECT_NOUNS = frozenset({"giay", "so"})
OBJECT_PHRASE_FACTOR = 0.92

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

# Initial consonants (and a final) that people in different regions spell
# interchangeably when typing without diacritics.
_SOUND_ALIKE_INITIALS = (("tr", "ch"), ("gi", "d"), ("r", "d"), ("x", "s"), ("l", "n"))


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


def build_index(catalogue: Catalogue, normalizer: Normalizer, lexicon: Lexicon) -> MatcherIndex:
    """The matcher's index for ``catalogue`` (the costly part of start-up on a large one)."""
    procs = list(catalogue)
    intern = sys.intern  # one string object per word: less memory, smaller cache file

    def tokens_of(text: str) -> list[str]:
        return [intern(t) for t in normalizer.tokens(text)]

    # (entry, naming words, words lost to stripping) for every name and alias.
    stripped: list[tuple[int, tuple[str, ...], int]] = []
    for i, proc in enumerate(procs):
        for text in (proc.name, *proc.aliases):
            full = tokens_of(text)
            toks = tuple(lexicon.strip_cues(full))
            if toks:
                stripped.append((i, toks, len(full) - len(toks)))
    # An alias stripped down to another entry's phrase ("đăng ký khai sinh khi đã có
    # giấy tờ" -> "dang ky khai sinh") has lost what told it apart: the entry whose
    # phrase lost the least keeps it.
    least_loss: dict[tuple[str, ...], int] = {}
    for _, toks, loss in stripped:
        least_loss[toks] = min(loss, least_loss.get(toks, loss))
    phrase_tokens: list[tuple[int, tuple[str, ...]]] = []
    seen: set[tuple[int, tuple[str, ...]]] = set()
    for i, toks, loss in stripped:
        if loss == least_loss[toks] and (i, toks) not in seen:
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
    return MatcherIndex(
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
    ) -> None:
        """A matcher for ``catalogue``; ``index`` is its prebuilt :func:`build_index`
        (e.g. from the compiled cache), built here when not given."""
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
        self._sounds = index.sounds

    def query_tokens(self, text: str) -> list[str]:
        """The words of ``text`` that can name a procedure (fillers and aspect cues removed)."""
        return self._lexicon.strip_cues(self._normalizer.tokens(text[:MAX_QUESTION_CHARS]))

    def _correct(self, token: str) -> tuple[str, float] | None:
        """The catalogue word ``token`` stands for, with a similarity in 0-1, or None."""
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

    def unknown_words(self, text: str) -> list[str]:
        """The words of ``text`` that can name a procedure but that the catalogue never uses."""
        return [t for t in self.query_tokens(text) if self._correct(t) is None]

    def _as_catalogue_words(self, text: str) -> list[str]:
        """The naming words of ``text``, spelled as the catalogue does where it can be told."""
        return [(self._correct(t) or (t, 0.0))[0] for t in self.query_tokens(text)]

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
        """The best entries for ``text``, best first, with 0-100 scores (may be empty)."""
        words: list[tuple[str, float]] = []  # (catalogue word or raw word, similarity; 0 = unknown)
        for tok in self.query_tokens(text):
            fixed = self._correct(tok)
            words.append(fixed if fixed else (tok, 0.0))
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
                uses_of = index.common_uses[w]
                both = list(got.keys() & uses_of.keys())
                adds = _adds(weight, most, max_use, map(uses_of.__getitem__, both))
                got.update(zip(both, map(add, map(got.__getitem__, both), adds)))
        totals = index.phrase_total
        coverage = dict(zip(got, map(truediv, got.values(), map(totals.__getitem__, got))))
        ranked = sorted(coverage, key=coverage.__getitem__, reverse=True)[:FULL_SCORING]
        # Phrases that explain too little of themselves are never answered.
        shortlist = list(takewhile(lambda idx: coverage[idx] >= 0.34, ranked))

        best: dict[int, float] = {}
        phrase_tokens, phrase_proc = index.phrase_tokens, index.phrase_proc
        for idx in shortlist:
            tokens = phrase_tokens[idx]
            cover = coverage[idx]
            pairs = len(tokens) - 1  # word order: share of the phrase's word pairs asked as such
            order = sum(map(q_bigrams.__contains__, zip(tokens, tokens[1:]))) / pairs if pairs else cover
            score = cover**1.5 * (0.85 + 0.15 * order)
            if tokens[0] in OBJECT_NOUNS:
                score *= OBJECT_PHRASE_FACTOR
            # More (and rarer) words matched means a more specific phrase.
            score *= 1.0 - SPECIFICITY + SPECIFICITY * min(1.0, got[idx] / SPECIFIC_MASS)
            proc_index = phrase_proc[idx]
            if score > best.get(proc_index, 0.0):
                best[proc_index] = score

        top = sorted(best.items(), key=lambda kv: -kv[1])[: max(limit, 10)]
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
        results.sort(key=lambda m: (-m.score, m.procedure.id))
        return results[:limit]

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
