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
from array import array
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


def build_ngrams(entries: Iterable[Iterable[Sequence[str]]]) -> dict[str, Any]:
    """The n-gram index of ``entries`` (each: its phrases, as words), as plain values.

    An entry's vector counts in how many of its phrases each piece occurs (a piece
    repeated within one phrase counts once), weighted by ``1 + log(count)`` and the
    piece's rarity across entries, and divided by its length to the power LENGTH_POWER."""
    counts: list[Counter[str]] = []
    for phrases in entries:
        entry: Counter[str] = Counter()
        for words in phrases:
            entry.update(pieces(words).keys())
        counts.append(entry)
    df: Counter[str] = Counter()
    for entry in counts:
        df.update(entry.keys())
    n = max(len(counts), 1)
    grams = {g: k for k, g in enumerate(sorted(df))}
    idf = array("f", [0.0]) * len(grams)
    for g, k in grams.items():
        idf[k] = math.log(1.0 + n / df[g])
    # Posting lists, gram by gram: entry indexes and normalised weights.
    postings: list[list[tuple[int, float]]] = [[] for _ in grams]
    for e, entry in enumerate(counts):
        vector = {grams[g]: (1.0 + math.log(c)) * idf[grams[g]] for g, c in entry.items()}
        norm = math.sqrt(sum(w * w for w in vector.values())) ** LENGTH_POWER or 1.0
        for k, w in vector.items():
            postings[k].append((e, w / norm))
    indptr = array("i", [0])
    ids = array("i")
    weights = array("f")
    for plist in postings:
        for e, w in plist:
            ids.append(e)
            weights.append(w)
        indptr.append(len(ids))
    return {
        "count": len(counts),
        "grams": grams,
        "idf": idf.tobytes(),
        "indptr": indptr.tobytes(),
        "ids": ids.tobytes(),
        "weights": weights.tobytes(),
    }


class NgramScorer:
    """Similarity of questions to every entry (a cosine, with long entries dampened less;
    see LENGTH_POWER), from :func:`build_ngrams`."""

    def __init__(self, index: dict[str, Any]) -> None:
        """A scorer over ``index`` (the arrays are shared with it, not copied)."""
        self.count: int = index["count"]
        self._grams: dict[str, int] = index["grams"]
        self._idf = np.frombuffer(index["idf"], dtype=np.float32)
        self._indptr = np.frombuffer(index["indptr"], dtype=np.int32)
        self._ids = np.frombuffer(index["ids"], dtype=np.int32)
        self._weights = np.frombuffer(index["weights"], dtype=np.float32)

    def scores(self, tokens: Sequence[str]) -> np.ndarray | None:
        """Each entry's similarity to the words ``tokens`` (None when no piece is known)."""
        grams = self._grams
        asked = pieces(tokens)
        found = [(k, c) for g, c in asked.items() if (k := grams.get(g)) is not None]
        if not found or not self.count:
            return None
        keys = np.fromiter((k for k, _ in found), dtype=np.int64, count=len(found))
        tf = np.fromiter((c for _, c in found), dtype=np.float32, count=len(found))
        query = (1.0 + np.log(tf)) * self._idf[keys]
        norm = float(np.sqrt(np.dot(query, query)))
        starts, ends = self._indptr[keys], self._indptr[keys + 1]
        lengths = ends - starts
        size = int(lengths.sum())
        if size == 0:
            return None
        # Positions of every posting of the question's pieces, in one array.
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(size)
        weights = self._weights[offsets] * np.repeat(query, lengths)
        return np.bincount(self._ids[offsets], weights, minlength=self.count) / norm
