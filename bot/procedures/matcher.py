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

import heapq
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from enum import Enum

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


@dataclass(frozen=True)
class _Phrase:
    proc_index: int
    tokens: tuple[str, ...]
    total: float
    #: Each distinct word with how often the phrase uses it ("nuôi con nuôi": nuoi twice).
    counts: dict[str, int]


def _counts(tokens: tuple[str, ...]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for tok in tokens:
        counts[tok] = counts.get(tok, 0) + 1
    return counts


class Matcher:
    """Ranks catalogue entries for questions; built once per catalogue."""

    def __init__(
        self,
        catalogue: Catalogue,
        normalizer: Normalizer,
        lexicon: Lexicon,
        config: MatchingConfig,
    ) -> None:
        self.config = config
        self._normalizer = normalizer
        self._lexicon = lexicon
        self._procs: list[Procedure] = list(catalogue)
        self._index: dict[str, int] = {p.id: i for i, p in enumerate(self._procs)}
        self._typo_cache: dict[str, tuple[str, float] | None] = {}

        # (entry, naming words, words lost to stripping) for every name and alias.
        stripped: list[tuple[int, tuple[str, ...], int]] = []
        for i, proc in enumerate(self._procs):
            for text in (proc.name, *proc.aliases):
                full = normalizer.tokens(text)
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
        n = max(len(self._procs), 1)
        self._idf: dict[str, float] = {
            t: math.log(1 + n / c) * (LIGHT_WEIGHT if t in lexicon.light_words else 1.0) for t, c in df.items()
        }

        self._phrases: list[_Phrase] = []
        self._postings: dict[str, list[int]] = defaultdict(list)
        self._alias_vocab: list[set[str]] = [set() for _ in self._procs]
        for i, toks in phrase_tokens:
            idx = len(self._phrases)
            self._phrases.append(
                _Phrase(
                    proc_index=i,
                    tokens=toks,
                    total=sum(self._idf[t] for t in toks),
                    counts=_counts(toks),
                )
            )
            for tok in set(toks):
                self._postings[tok].append(idx)
            self._alias_vocab[i].update(toks)

        for postings in self._postings.values():
            postings.sort(key=lambda idx: self._phrases[idx].total)

        self._body_vocab: list[set[str]] = []
        for proc in self._procs:
            body = " ".join((proc.summary or "", *proc.documents, proc.field))
            self._body_vocab.append(set(lexicon.strip_cues(normalizer.tokens(body))))
        self._vocab = sorted(set(self._idf) | {t for v in self._body_vocab for t in v})
        self._vocab_set = set(self._vocab)
        # Sound-alike spellings, most frequent catalogue word first.
        self._sounds: dict[str, str] = {}
        for tok in sorted(self._vocab, key=lambda t: (-df.get(t, 0), t)):
            self._sounds.setdefault(sound_key(tok), tok)

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
        got: dict[int, float] = defaultdict(float)
        named = [w for w in known if w in self._postings]  # body-only words name no phrase
        for rank, w in enumerate(sorted(named, key=lambda w: len(self._postings[w]))):
            postings = self._postings[w]
            weight, most = self._idf[w] * known[w], q_counts[w]
            if rank == 0 or len(postings) <= MAX_POSTINGS:
                for idx in postings[:CANDIDATE_CAP] if rank == 0 else postings:
                    got[idx] += weight * min(self._phrases[idx].counts[w], most)
            else:
                for idx in got:
                    uses = self._phrases[idx].counts.get(w)
                    if uses:
                        got[idx] += weight * min(uses, most)
        if not got:
            return []
        coverage = {idx: g / self._phrases[idx].total for idx, g in got.items()}
        shortlist = heapq.nlargest(FULL_SCORING, coverage, key=coverage.__getitem__)

        best: dict[int, float] = {}
        for idx in shortlist:
            ph = self._phrases[idx]
            cover = coverage[idx]
            if cover < 0.34:
                continue
            pairs = len(ph.tokens) - 1  # word order: share of the phrase's word pairs asked as such
            order = sum(p in q_bigrams for p in zip(ph.tokens, ph.tokens[1:])) / pairs if pairs else cover
            score = cover**1.5 * (0.85 + 0.15 * order)
            if ph.tokens[0] in OBJECT_NOUNS:
                score *= OBJECT_PHRASE_FACTOR
            # More (and rarer) words matched means a more specific phrase.
            score *= 1.0 - SPECIFICITY + SPECIFICITY * min(1.0, got[idx] / SPECIFIC_MASS)
            if score > best.get(ph.proc_index, 0.0):
                best[ph.proc_index] = score

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
