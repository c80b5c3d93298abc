"""Words as an entry writes them, with their diacritics.

The matcher compares folded words (no diacritics), so "giá lúa" and "gia lúa" look like
the catalogue's "gia" (gia đình) and "lua" (lựa chọn). When a person types with
diacritics, the words they chose tell more: a follow-up that uses a word the current
entry never writes ("giá lúa tháng này", "tiền điện") is about something else.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

from bot.procedures.catalogue import Procedure

_WORD = re.compile(r"\w+")
#: Tone marks (after NFD): compared apart from the letters, since "hoà" and "hòa" are
#: the same word with the tone placed by two conventions.
_TONES = frozenset("\u0300\u0301\u0303\u0309\u0323")
#: Spellings remembered (a catalogue uses a few thousand distinct words).
SPELLINGS_KEPT = 50_000


@lru_cache(maxsize=SPELLINGS_KEPT)
def spelling(word: str) -> str:
    """``word`` (lower case) with its tone mark moved to the end: equal for the two ways
    of placing a tone ("hoà", "hòa")."""
    if word.isascii():
        return word
    decomposed = unicodedata.normalize("NFD", word)
    tones = "".join(c for c in decomposed if c in _TONES)
    letters = "".join(c for c in decomposed if c not in _TONES)
    return unicodedata.normalize("NFC", letters) + tones


def words(text: str) -> Iterator[str]:
    """The lower-case words of ``text`` (letters and digits, diacritics kept)."""
    return iter(_WORD.findall(unicodedata.normalize("NFC", text).lower()))


def _texts(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _texts(item)


def written_words(proc: Procedure) -> frozenset[str]:
    """The spellings (see :func:`spelling`) of every word ``proc``'s texts use, and of
    every two words they use one after the other (as "a b")."""
    out: set[str] = set()
    for f in dataclasses.fields(proc):
        if f.name in ("id", "path", "national", "reviewed", "kind"):
            continue
        for text in _texts(getattr(proc, f.name)):
            spelt = [spelling(w) for w in words(text)]
            out.update(spelt)
            out.update(f"{a} {b}" for a, b in zip(spelt, spelt[1:]))
    return frozenset(out)
