"""Character n-gram similarity between a question and each catalogue entry's names.

The word-level scorer (:mod:`bot.procedures.matcher`) needs the question's words to be
the catalogue's words, one by one. People also type across syllable boundaries
("dangki ket hon", "khaisin"), drop letters in several words at once, and describe
their situation at length. Character n-grams see through all of that without hand
rules: each entry is a TF-IDF vector of the 3- and 4-letter pieces (with word
boundaries: " ket", "et h", ...) of its folded name and aliases, and a question is
scored against every entry at once by a sparse dot product.

The index is plain bytes and dicts (it is cached in the compiled catalogue); scoring
is a handful of vectorised numpy operations, so it stays well under a millisecond on
5,000 entries.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

# numpy: the sparse dot product of a question against every entry at once (bincount
# over posting lists); pure Python would cost milliseconds per question at 5,000 entries.
import numpy as np

#: Lengths of the character pieces (a space marks a word's start and end).
SIZES = (3, 4)
#: An entry's vector is divided by its length to this power: at 1 (the cosine) an entry
#: known by many different aliases (the common procedures) would be diluted by them.
LENGTH_POWER = 0.75


def pieces(tokens: Sequence[str]) -> Counter[str]:
    """The character n-grams of the words ``tokens``, with how often each occurs."""
    text = " " + " ".join(tokens) + " "
    out: Counter[str] = Counter()
    for size in SIZES:
        out.update(text[i : i + size] for i in range(len(text) - size + 1))
    del out[" " * 3]
    return out


#: A piece found in at most this share of the entries (or RARE_MIN entries) is rare: rare
#: pieces find the entries similar to a question; all pieces score the candidates found.
RARE_SHARE = 0.02
RARE_MIN = 25
#: Up to this many entries, every piece counts as rare (all lists kept; one pass scores all).
COMPLETE_UP_TO = 1000
#: 1 + log(count) for the counts a vector stores (a piece in up to 255 phrases of an entry).
_LOG_COUNT = np.array([0.0] + [1.0 + math.log(c) for c in range(1, 256)], dtype=np.float32)


def _distinct_pieces(words: Sequence[str]) -> set[str]:
    """The distinct character n-grams of ``words`` (as :func:`pieces`, without counts)."""
    text = " " + " ".join(words) + " "
    found = {text[i : i + size] for size in SIZES for i in range(len(text) - size + 1)}
    found.discard(" " * 3)
    return found


def build_ngrams(entries: Iterable[Iterable[Sequence[str]]]) -> dict[str, Any]:
    """The n-gram index of ``entries`` (each: its phrases, as words), as plain values.

    An entry's vector counts in how many of its phrases each piece occurs (a piece
    repeated within one phrase counts once), weighted by ``1 + log(count)`` and the
    piece's rarity across entries, and divided by its length to the power LENGTH_POWER.
    Stored per entry (piece ids and counts, for scoring candidates) and, for the rare
    pieces only, per piece (entries and weights, for finding candidates)."""
    grams: dict[str, int] = {}
    owner: list[int] = []  # (entry, piece, count) triples, entry by entry
    piece: list[int] = []
    count: list[int] = []
    n = 0
    for e, phrases in enumerate(entries):
        entry: Counter[str] = Counter()
        for words in phrases:
            entry.update(_distinct_pieces(words))
        keys = [grams.setdefault(g, len(grams)) for g in entry]
        owner.extend([e] * len(keys))
        piece.extend(keys)
        count.extend(entry.values())
        n = e + 1
    entry_of = np.array(owner, dtype=np.int64)
    gram_of = np.array(piece, dtype=np.int64)
    uses = np.minimum(np.array(count, dtype=np.int64), 255).astype(np.uint8)
    df = np.bincount(gram_of, minlength=len(grams))
    idf = np.log(1.0 + max(n, 1) / np.maximum(df, 1)).astype(np.float32)
    weights = _LOG_COUNT[uses] * idf[gram_of]
    norms = np.sqrt(np.bincount(entry_of, weights.astype(np.float64) ** 2, minlength=n)) ** LENGTH_POWER
    norms = np.where(norms > 0, norms, 1.0).astype(np.float32)
    # Per entry, pieces in ascending order (triples are already entry by entry).
    order = np.lexsort((gram_of, entry_of))
    entry_ptr = np.concatenate([[0], np.cumsum(np.bincount(entry_of, minlength=n))])
    # Per rare piece, its entries and normalised weights.
    # A small catalogue keeps every piece's list: one pass then scores every entry.
    rare = df[gram_of] <= (n if n <= COMPLETE_UP_TO else max(RARE_MIN, RARE_SHARE * n))
    complete = bool(rare.all())
    by_gram = np.argsort(gram_of[rare], kind="stable")
    rare_grams = gram_of[rare][by_gram]
    rare_ptr = np.searchsorted(rare_grams, np.arange(len(grams) + 1))
    gram_dtype = np.uint16 if len(grams) < 2**16 else np.int32
    return {
        "count": n,
        "complete": complete,
        "grams": grams,
        "gram_dtype": np.dtype(gram_dtype).str,
        "idf": idf.tobytes(),
        "norms": norms.tobytes(),
        "entry_ptr": entry_ptr.astype(np.int64).tobytes(),
        "entry_grams": gram_of[order].astype(gram_dtype).tobytes(),
        "entry_counts": uses[order].tobytes(),
        "rare_ptr": rare_ptr.astype(np.int64).tobytes(),
        "rare_ids": entry_of[rare][by_gram].astype(np.int32).tobytes(),
        "rare_weights": (weights[rare] / norms[entry_of[rare]])[by_gram].astype(np.float32).tobytes(),
    }


def _spans(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The positions ``starts[i] .. ends[i]-1`` of every span, in one array."""
    lengths = ends - starts
    size = int(lengths.sum())
    return np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(size)


class NgramScorer:
    """Similarity of questions to entries (a cosine, with long entries dampened less;
    see LENGTH_POWER), from :func:`build_ngrams`."""

    def __init__(self, index: dict[str, Any]) -> None:
        """A scorer over ``index`` (the arrays are shared with it, not copied)."""
        self.count: int = index["count"]
        self._complete: bool = index.get("complete", False)
        self._grams: dict[str, int] = index["grams"]
        self._idf = np.frombuffer(index["idf"], dtype=np.float32)
        self._norms = np.frombuffer(index["norms"], dtype=np.float32)
        self._entry_ptr = np.frombuffer(index["entry_ptr"], dtype=np.int64)
        self._entry_grams = np.frombuffer(index["entry_grams"], dtype=np.dtype(index["gram_dtype"]))
        self._entry_counts = np.frombuffer(index["entry_counts"], dtype=np.uint8)
        self._rare_ptr = np.frombuffer(index["rare_ptr"], dtype=np.int64)
        self._rare_ids = np.frombuffer(index["rare_ids"], dtype=np.int32)
        self._rare_weights = np.frombuffer(index["rare_weights"], dtype=np.float32)

    def similar(
        self, tokens: Sequence[str], candidates: Sequence[int], extra: int
    ) -> tuple[list[int], np.ndarray] | None:
        """The entries ``candidates`` and up to ``extra`` others that share rare pieces
        with the words ``tokens`` (the most similar first), with each one's similarity;
        None when no piece of ``tokens`` is known."""
        grams = self._grams
        found = [(k, c) for g, c in pieces(tokens).items() if (k := grams.get(g)) is not None]
        if not found or not self.count:
            return None
        keys = np.fromiter((k for k, _ in found), dtype=np.int64, count=len(found))
        tf = np.fromiter((c for _, c in found), dtype=np.float32, count=len(found))
        query = (1.0 + np.log(tf)) * self._idf[keys]
        qnorm = float(np.sqrt(np.dot(query, query))) or 1.0
        ids = list(candidates)
        if self._complete:  # the rare pieces' lists hold every piece: exact for all entries
            starts, ends = self._rare_ptr[keys], self._rare_ptr[keys + 1]
            spans = _spans(starts, ends)
            weights = self._rare_weights[spans] * np.repeat(query, ends - starts)
            every = np.bincount(self._rare_ids[spans], weights, minlength=self.count) / qnorm
            if extra > 0:
                top = np.argpartition(-every, extra)[:extra] if self.count > extra else np.arange(self.count)
                known = set(ids)
                ids += [i for i in top[np.argsort(-every[top])].tolist() if every[i] > 0 and i not in known]
            return ids, every[np.array(ids, dtype=np.int64)] if ids else np.zeros(0)
        if extra > 0:
            starts, ends = self._rare_ptr[keys], self._rare_ptr[keys + 1]
            spans = _spans(starts, ends)
            if len(spans):
                weights = self._rare_weights[spans] * np.repeat(query, ends - starts)
                found_by = np.bincount(self._rare_ids[spans], weights, minlength=self.count)
                top = np.argpartition(-found_by, extra)[:extra] if self.count > extra else np.arange(self.count)
                known = set(ids)
                ids += [i for i in top[np.argsort(-found_by[top])].tolist() if found_by[i] > 0 and i not in known]
        if not ids:
            return ids, np.zeros(0, dtype=np.float32)
        dense = np.zeros(len(self._idf), dtype=np.float32)
        dense[keys] = query
        chosen = np.array(ids, dtype=np.int64)
        starts, ends = self._entry_ptr[chosen], self._entry_ptr[chosen + 1]
        spans = _spans(starts, ends)
        g = self._entry_grams[spans].astype(np.int64)
        products = dense[g] * _LOG_COUNT[self._entry_counts[spans]] * self._idf[g]
        owner = np.repeat(np.arange(len(ids)), ends - starts)
        dots = np.bincount(owner, products, minlength=len(ids))
        return ids, dots / self._norms[chosen] / qnorm
