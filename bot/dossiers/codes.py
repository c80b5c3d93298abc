"""Finding dossier codes (số biên nhận) in free text.

A full code looks like ``000.00.14.H56-250312-0007``. People type it with other case,
with spaces, or only the tail ``250312-0007`` (also ``250312 0007``, or after a mangled
prefix such as ``H56-250312-0007``); the tail is completed with the commune's own prefix
from the config. :meth:`CodeFinder.search` also reports the tail, so that a caller can
look for the one stored code with that tail when the completed code is not stored.

Only the first :data:`MAX_SCAN_CHARS` characters of a message are searched, and every
expression here runs in time linear in that length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Characters of a message searched for codes (and read for phone digits); the rest is ignored.
MAX_SCAN_CHARS = 2000
#: A code tail as the commune documents it: yymmdd-NNNN.
TAIL = re.compile(r"\d{6}-\d{4}")

_SPACES = re.compile(r"\s+")
# After runs of spaces are one space, at most one space sits on each side of a separator.
_SPACED_SEPARATOR = re.compile(r" ?([.\-]) ?")


@dataclass(frozen=True)
class FoundCode:
    """A code found in text; ``tail`` is set (``"250312-0007"``) when only the tail was typed."""

    code: str
    tail: str | None = None


@dataclass(frozen=True)
class CodeFinder:
    """Extracts dossier codes from messages, per the configured pattern and prefix."""

    pattern: str
    prefix: str = ""

    def __post_init__(self) -> None:
        # Not inside a longer run of letters or digits: "...-0001234" is not "...-0001".
        full = rf"(?<![0-9A-Za-z])(?:{self.pattern})(?![0-9])"
        object.__setattr__(self, "_full", re.compile(full, re.IGNORECASE))
        # The yymmdd-and-sequence tail of a code, typed alone or after a mangled prefix.
        object.__setattr__(
            self,
            "_tail",
            re.compile(r"(?<![\d])(\d{2})(\d{2})(\d{2})(?:\s*[-./_]\s*|\s+)(\d{4})(?![\d])"),
        )

    def search(self, text: str) -> list[FoundCode]:
        """Every distinct code in the first :data:`MAX_SCAN_CHARS` characters of ``text``,
        in order, normalised (upper case, no spaces)."""
        found: dict[str, FoundCode] = {}
        squeezed = _SPACED_SEPARATOR.sub(r"\1", _SPACES.sub(" ", text[:MAX_SCAN_CHARS]))
        for m in self._full.finditer(squeezed):  # type: ignore[attr-defined]
            code = m.group(0).upper()
            found.setdefault(code, FoundCode(code))
        rest = self._full.sub(" ", squeezed)  # type: ignore[attr-defined]
        if self.prefix:
            for m in self._tail.finditer(rest):  # type: ignore[attr-defined]
                yy, mm, dd, seq = m.groups()
                if not (1 <= int(mm) <= 12 and 1 <= int(dd) <= 31):
                    continue  # not a date: a phone number or some other figure
                tail = f"{yy}{mm}{dd}-{seq}"
                code = f"{self.prefix}-{tail}".upper()
                found.setdefault(code, FoundCode(code, tail))
        return list(found.values())

    def find(self, text: str) -> list[str]:
        """Every distinct code in ``text``, normalised (upper case, no spaces), in order."""
        return [f.code for f in self.search(text)]
