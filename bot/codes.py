"""Finding dossier codes (số biên nhận) in free text.

A full code looks like ``000.00.14.H56-250312-0007``. People type it with other case,
with spaces, or only the tail ``250312-0007``; the tail is completed with the commune's
own prefix from the config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class CodeFinder:
    """Extracts dossier codes from messages, per the configured pattern and prefix."""

    pattern: str
    prefix: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_full", re.compile(self.pattern, re.IGNORECASE))
        # The date-and-sequence tail of a code, typed alone or after a mangled prefix.
        object.__setattr__(self, "_tail", re.compile(r"(?<![\d.-])(\d{6})\s*-\s*(\d{4})(?!\d)"))

    def find(self, text: str) -> list[str]:
        """Every distinct code in ``text``, normalised (upper case, no spaces), in order."""
        found: list[str] = []
        squeezed = re.sub(r"\s*([.\-])\s*", r"\1", text)
        for m in self._full.finditer(squeezed):  # type: ignore[attr-defined]
            code = m.group(0).upper()
            if code not in found:
                found.append(code)
        rest = self._full.sub(" ", squeezed)  # type: ignore[attr-defined]
        if self.prefix:
            for m in self._tail.finditer(rest):  # type: ignore[attr-defined]
                code = f"{self.prefix}-{m.group(1)}-{m.group(2)}".upper()
                if code not in found:
                    found.append(code)
        return found
