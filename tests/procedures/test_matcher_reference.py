"""The matcher's fast scoring against a plain, obviously correct version of the same
arithmetic: same entries, same scores, on every branch (caps made small to reach them)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from bot.config import MatchingConfig
from bot.procedures import matcher as m
from bot.procedures.catalogue import Catalogue
from bot.procedures.lexicon import Lexicon
from bot.procedures.matcher import Match, Matcher
from bot.procedures.normalize import Normalizer


def reference_rank(matcher: Matcher, text: str, limit: int = 5) -> list[Match]:
    """Matcher.rank written as plain loops over the index (the pre-optimisation code)."""
    ix = matcher.index
    words = matcher.corrected_words(text)
    known = {w: s for w, s in words if s > 0}
    if not known:
        return []
    sequence = [w for w, _ in words]
    q_counts = Counter(sequence)
    q_bigrams = set(zip(sequence, sequence[1:]))
    q_weights = {w: (ix.idf.get(w, 1.0) if s > 0 else m.UNKNOWN_WEIGHT) for w, s in words}
    q_total = sum(q_weights.values())

    def uses(idx: int, w: str) -> int:
        return ix.phrase_tokens[idx].count(w)

    got: dict[int, float] = {}
    named = [w for w in known if w in ix.postings]
    for rank, w in enumerate(sorted(named, key=lambda w: len(ix.postings[w]))):
        postings = ix.postings[w]
        weight, most = ix.idf[w] * known[w], q_counts[w]
        if rank == 0 or len(postings) <= m.MAX_POSTINGS:
            for idx in postings[: m.CANDIDATE_CAP] if rank == 0 else postings:
                got[idx] = got.get(idx, 0.0) + weight * min(uses(idx, w), most)
        else:
            for idx in got:
                if uses(idx, w):
                    got[idx] += weight * min(uses(idx, w), most)
    coverage = {idx: g / ix.phrase_total[idx] for idx, g in got.items()}
    shortlist = sorted(coverage, key=coverage.__getitem__, reverse=True)[: m.FULL_SCORING]
    best: dict[int, float] = {}
    for idx in shortlist:
        tokens, cover = ix.phrase_tokens[idx], coverage[idx]
        if cover < 0.34:
            continue
        pairs = len(tokens) - 1
        order = sum(p in q_bigrams for p in zip(tokens, tokens[1:])) / pairs if pairs else cover
        score = cover**1.5 * (0.85 + 0.15 * order)
        if idx in ix.object_phrases:
            score *= m.OBJECT_PHRASE_FACTOR
            if idx in ix.paperless_phrases:
                score *= m.PAPERLESS_FACTOR
        score *= 1.0 - m.SPECIFICITY + m.SPECIFICITY * min(1.0, got[idx] / m.SPECIFIC_MASS)
        if score > best.get(ix.phrase_proc[idx], 0.0):
            best[ix.phrase_proc[idx]] = score
    results = []
    for i, phrase_score in sorted(best.items(), key=lambda kv: -kv[1])[: max(limit, 10)]:
        aliases, body = ix.alias_vocab[i], ix.body_vocab[i]
        explained = sum(
            q_weights[w] * (known.get(w, 0.0) if w in aliases else m.BODY_WEIGHT * known.get(w, 0.0))
            for w in q_weights
            if w in aliases or w in body
        )
        share = explained / q_total if q_total else 0.0
        factor = 1.0 - m.SHARE_WEIGHT + m.SHARE_WEIGHT * share
        results.append(Match(matcher._procs[i], round(100.0 * phrase_score * factor, 1)))
    results.sort(key=lambda r: (-r.score, r.procedure.id))
    return results[:limit]


def questions(matcher: Matcher, count: int) -> list[str]:
    """Random word salads from the catalogue's phrases, with repeats, typos and noise."""
    rng = random.Random(9)
    phrases = [" ".join(t) for t in matcher.index.phrase_tokens]
    out = []
    for _ in range(count):
        words = " ".join(rng.sample(phrases, rng.randint(1, 3))).split()
        words = rng.sample(words, min(len(words), rng.randint(1, 9)))
        if rng.random() < 0.3:
            words += rng.sample(words, 1)  # a word said twice
        if rng.random() < 0.2:
            i = rng.randrange(len(words))
            words[i] = words[i][:-1] or words[i]  # a letter dropped
        out.append(" ".join(words + rng.sample(["gi", "o dau", "bao nhieu", "asdf"], 1)))
    return out


@pytest.mark.parametrize(
    ("max_postings", "cap", "full"),
    [(300, 1500, 150), (3, 1500, 150), (2, 4, 150), (1, 2, 3)],
    ids=["defaults", "common-words", "capped", "tiny"],
)
def test_fast_ranking_equals_plain_loops(
    catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch, max_postings: int, cap: int, full: int
) -> None:
    monkeypatch.setattr(m, "MAX_POSTINGS", max_postings)
    monkeypatch.setattr(m, "CANDIDATE_CAP", cap)
    monkeypatch.setattr(m, "FULL_SCORING", full)
    normalizer = Normalizer.default()
    matcher = Matcher(catalogue, normalizer, Lexicon.load(normalizer), MatchingConfig())
    assert bool(matcher.index.common_uses) == (max_postings < 300)  # words for the intersection branch
    assert matcher.index.max_uses  # and some phrase uses a word twice
    for text in questions(matcher, 400):
        assert matcher.rank_words(text, limit=10) == reference_rank(matcher, text, limit=10), text
