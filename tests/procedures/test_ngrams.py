"""The character n-gram scorer: equal to plain loops, cached with the catalogue, and
ranking long names the word-level scorer alone gets wrong."""

from __future__ import annotations

import math
import random
import shutil
from collections import Counter
from pathlib import Path

import pytest

from bot.config import MatchingConfig
from bot.procedures.catalogue import Catalogue
from bot.procedures.compiled import CACHE_FOLDER, open_catalogue
from bot.procedures.lexicon import Lexicon
from bot.procedures.matcher import Matcher
from bot.procedures.ngrams import LENGTH_POWER, NgramScorer, build_ngrams, pieces
from bot.procedures.normalize import Normalizer

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="module")
def matcher(catalogue: Catalogue) -> Matcher:
    normalizer = Normalizer.default()
    return Matcher(catalogue, normalizer, Lexicon.load(normalizer), MatchingConfig())


def plain_scores(entries: list[list[list[str]]], tokens: list[str]) -> list[float]:
    """The scorer's similarities written as plain loops over dictionaries."""
    counts = [Counter(g for words in phrases for g in set(pieces(words))) for phrases in entries]
    df = Counter(g for c in counts for g in c)
    idf = {g: math.log(1 + len(entries) / d) for g, d in df.items()}
    query = {g: (1 + math.log(c)) * idf[g] for g, c in pieces(tokens).items() if g in idf}
    qnorm = math.sqrt(sum(w * w for w in query.values()))
    out = []
    for c in counts:
        vec = {g: (1 + math.log(n)) * idf[g] for g, n in c.items()}
        norm = math.sqrt(sum(w * w for w in vec.values())) ** LENGTH_POWER
        out.append(sum(w * vec.get(g, 0.0) for g, w in query.items()) / norm / qnorm)
    return out


def test_vectorised_scores_equal_plain_loops(catalogue: Catalogue) -> None:
    normalizer = Normalizer.default()
    entries = [[normalizer.tokens(t) for t in (p.name, *p.aliases)] for p in catalogue]
    scorer = NgramScorer(build_ngrams(entries))
    words = sorted({w for phrases in entries for words in phrases for w in words})
    rng = random.Random(7)
    for _ in range(50):
        tokens = rng.sample(words, rng.randint(1, 8))
        if rng.random() < 0.5:  # a typo across words: glued, or a letter dropped
            tokens = ["".join(tokens[:2]), *tokens[2:]]
        found = scorer.similar(tokens, range(len(entries)), 0)
        want = plain_scores(entries, tokens)
        assert found is not None and found[0] == list(range(len(entries)))
        assert found[1].tolist() == pytest.approx(want, rel=1e-4, abs=1e-6), tokens
        # The rare pieces find the most similar entries.
        ids, similarity = scorer.similar(tokens, [], 5)
        assert ids and max(similarity) == pytest.approx(max(want), rel=1e-4)
    assert scorer.similar(["zzzzqqq"], [], 5) is None


def test_a_long_name_said_in_full_beats_the_shorter_name_it_contains(matcher: Matcher) -> None:
    # Every word of "chấm dứt giám hộ" is in the question, but so is "giám sát": the
    # word-level scorer alone prefers the shorter name; the n-grams see the whole one.
    text = "cham dut giam sat giam ho nop o dau"
    assert matcher.rank_words(text)[0].procedure.id == "cham-dut-giam-ho"
    assert matcher.rank(text)[0].procedure.id == "cham-dut-giam-sat-giam-ho"


def test_out_of_scope_words_bring_no_entry(matcher: Matcher) -> None:
    assert matcher.rank("giá vàng hôm nay bao nhiêu") == []
    assert matcher.rank("") == []


def test_the_compiled_copy_keeps_the_ngram_index(tmp_path: Path) -> None:
    folder = tmp_path / "catalogue"
    shutil.copytree(ROOT / "procedures", folder, ignore=shutil.ignore_patterns(CACHE_FOLDER))
    built = open_catalogue(folder, user_root=tmp_path / "user")
    cached = open_catalogue(folder, user_root=tmp_path / "user")
    assert cached.origin == "cache" and cached.index.ngrams and cached.index.ngrams == built.index.ngrams
    normalizer = Normalizer.default()
    lexicon = Lexicon.load(normalizer)
    one = Matcher(built.catalogue, normalizer, lexicon, MatchingConfig(), built.index)
    two = Matcher(cached.catalogue, normalizer, lexicon, MatchingConfig(), cached.index)
    text = "cham dut giam sat giam ho nop o dau"
    assert [(m.procedure.id, m.score) for m in two.rank(text)] == [(m.procedure.id, m.score) for m in one.rank(text)]
