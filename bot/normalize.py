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

DEFAULT_SHORTHAND = Path(__file__).resolve().parent / "data" / "shorthand.yaml"

_NON_WORD = re.compile(r"[^a-z0-9]+")
#: Longest shorthand key, in words.
MAX_KEY_WORDS = 3


def fold(text: str) -> str:
    """Lower-case ASCII words of ``text``: diacritics removed (đ→d), everything that is
    not a letter or digit turned into single spaces."""
    text = unicodedata.normalize("NFD", text.lower())
    # đ has no decomposition; ð (U+00F0) is a common look-alike typed for it.
    text = text.replace("\u0111", "d").replace("\u00f0", "d")
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    return _NON_WORD.sub(" ", text).strip()


def clean(text: str) -> str:
    """``text`` in NFC with control characters removed and whitespace collapsed; keeps
    diacritics. For quoting user text back safely."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    return " ".join(text.split())


def load_shorthand(path: Path = DEFAULT_SHORTHAND) -> dict[str, str]:
    """The shorthand table at ``path``: folded token → folded expansion."""
    with path.open(encoding="utf-8") as fh:
        raw = yaml.safe_load(fh) or {}
    return {fold(str(k)): fold(str(v)) for k, v in raw.items() if fold(str(k))}


@dataclass(frozen=True)
class Normalizer:
    """Folds text and expands shorthand, with a table passed in (see ``shorthand.yaml``)."""

    shorthand: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def default(cls) -> Normalizer:
        """A normaliser with the bundled shorthand table."""
        return cls(load_shorthand())

    def tokens(self, text: str) -> list[str]:
        """The folded, shorthand-expanded words of ``text``."""
        out: list[str] = []
        words = fold(text).split()
        i = 0
        while i < len(words):
            # Longest keys first ("chua bao gio", "pho to"), then single words.
            for n in range(MAX_KEY_WORDS, 1, -1):
                key = " ".join(words[i : i + n]) if i + n <= len(words) else None
                if key is not None and key in self.shorthand:
                    out.extend(self.shorthand[key].split())
                    i += n
                    break
            else:
                out.extend(self.shorthand.get(words[i], words[i]).split())
                i += 1
        return out

    def normalize(self, text: str) -> str:
        """The folded, shorthand-expanded form of ``text`` as one string."""
        return " ".join(self.tokens(text))
