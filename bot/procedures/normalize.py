"""Vietnamese text normalisation for matching.

Questions arrive as people type them on a phone: with or without diacritics, in any
Unicode form, with emoji, punctuation and shorthand ("dk", "ko", "gks"). :class:`Normalizer`
folds all of that to plain lower-case ASCII words, so that "Đăng ký khai sinh",
"dang ky khai sinh" and "đk khai sinh" become the same ``dang ky khai sinh``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

# LibYAML's safe loader when PyYAML has it: parsed at every start, and much faster.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

DEFAULT_SHORTHAND = Path(__file__).resolve().parent / "data" / "shorthand.yaml"

_NON_WORD = re.compile(r"[^a-z0-9]+")
#: Shorthand this long or longer is still recognised with two neighbouring letters swapped.
SLIP_LENGTH = 3


def _fold_table() -> dict[int, str | None]:
    """Each accented Latin letter to its base letter, combining marks to nothing."""
    table: dict[int, str | None] = {}
    for code in range(0x00C0, 0x2000):
        base = unicodedata.normalize("NFD", chr(code))[0].lower()
        if "a" <= base <= "z" and base != chr(code):
            table[code] = base
    for code in range(0x0300, 0x0370):  # combining diacritical marks
        table[code] = None
    # đ has no decomposition; ð (U+00F0) is a common look-alike typed for it.
    table[0x0111] = table[0x0110] = table[0x00F0] = table[0x00D0] = "d"
    return table


_FOLD = _fold_table()


def fold(text: str) -> str:
    """Lower-case ASCII words of ``text``: diacritics removed (đ→d), everything that is
    not a letter or digit turned into single spaces."""
    if not text.isascii():
        text = unicodedata.normalize("NFC", text).translate(_FOLD)
    return _NON_WORD.sub(" ", text.lower()).strip()


def clean(text: str) -> str:
    """``text`` in NFC with control characters removed and whitespace collapsed; keeps
    diacritics. For quoting user text back safely."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    return " ".join(text.split())


def load_shorthand(path: Path = DEFAULT_SHORTHAND) -> dict[str, str]:
    """The shorthand table at ``path``: folded token → folded expansion."""
    with path.open(encoding="utf-8") as fh:
        raw = yaml.load(fh, Loader=_Loader) or {}  # noqa: S506 - a safe loader
    return {fold(str(k)): fold(str(v)) for k, v in raw.items() if fold(str(k))}


@dataclass(frozen=True)
class Normalizer:
    """Folds text and expands shorthand, with a table passed in (see ``shorthand.yaml``)."""

    shorthand: Mapping[str, str] = field(default_factory=dict)
    # Single-word keys with their expansions; multi-word keys by first word, longest first.
    _expand: dict[str, list[str]] = field(init=False, repr=False, compare=False)
    _multi: dict[str, list[tuple[tuple[str, ...], list[str]]]] = field(init=False, repr=False, compare=False)
    # Single-word keys of SLIP_LENGTH letters or more with two neighbours swapped -> the key.
    _slips: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        multi: dict[str, list[tuple[tuple[str, ...], list[str]]]] = {}
        for key, value in self.shorthand.items():
            words = tuple(key.split())
            if len(words) > 1:
                multi.setdefault(words[0], []).append((words, value.split()))
        for group in multi.values():
            group.sort(key=lambda kv: -len(kv[0]))
        single = {k: v.split() for k, v in self.shorthand.items() if " " not in k}
        object.__setattr__(self, "_expand", single)  # the dataclass is frozen
        object.__setattr__(self, "_multi", multi)
        slips: dict[str, str] = {}
        for key in single:
            # Not keys kept as themselves ("gio: gio"): those are ordinary words ("goi" is one).
            if len(key) >= SLIP_LENGTH and key.isalpha() and single[key] != [key]:
                for k in range(len(key) - 1):
                    swapped = key[:k] + key[k + 1] + key[k] + key[k + 2 :]
                    if swapped not in single:
                        slips.setdefault(swapped, key)
        object.__setattr__(self, "_slips", slips)

    @classmethod
    def default(cls) -> Normalizer:
        """A normaliser with the bundled shorthand table."""
        return cls(load_shorthand())

    def tokens(self, text: str) -> list[str]:
        """The folded, shorthand-expanded words of ``text``."""
        words = fold(text).split()
        expand, multi = self._expand, self._multi
        if expand.keys().isdisjoint(words) and multi.keys().isdisjoint(words):
            return words  # nothing to expand (most catalogue text)
        out: list[str] = []
        i = 0
        while i < len(words):
            word = words[i]
            for key, value in multi.get(word, ()):  # longest keys first ("chua bao gio")
                if tuple(words[i : i + len(key)]) == key:
                    out.extend(value)
                    i += len(key)
                    break
            else:
                out.extend(expand.get(word, (word,)))
                i += 1
        return out

    def typed_tokens(self, text: str) -> list[str]:
        """:meth:`tokens` of a message as typed: a word that is a shorthand of three letters
        or more with two neighbouring letters swapped ("gsk", "bhhx") counts as that
        shorthand. (Catalogue text is read with :meth:`tokens`.)"""
        words = fold(text).split()
        slips = self._slips
        if not slips.keys().isdisjoint(words):
            text = " ".join(slips.get(w, w) for w in words)
        return self.tokens(text)

    def normalize(self, text: str) -> str:
        """The folded, shorthand-expanded form of ``text`` as one string."""
        return " ".join(self.tokens(text))


# A folded Vietnamese syllable: an initial consonant (or none), one to three vowels, and
# a final consonant (or none). Checks shape only: "cann", "gj", "nhugn", "kyy" cannot be one.
_SYLLABLE = re.compile(r"(ngh|ng|gh|gi|kh|nh|ph|th|tr|ch|qu|[bcdghklmnpqrstvx])?([aeiouy]{1,3})(ch|nh|ng|[cmnpt])?")
_BAD_VOWELS = re.compile(r"aa|ee|ii|yy|(?<!u)ya")


def could_be_syllable(word: str) -> bool:
    """Whether a folded word has the shape of a Vietnamese syllable (so it may be a real
    word); a typo often has not ("cann", "nhugn", "gj")."""
    m = _SYLLABLE.fullmatch(word)
    return m is not None and not _BAD_VOWELS.search(m.group(2))
