"""Splitting a message that carries several questions into its parts.

Hamlet heads forward several residents' questions at once: numbered ("1) ... 2) ..."),
one per line, or one after another ("Bà Lan hỏi ... Anh Tú hỏi ..."). Each part is
answered on its own. Splitting is conservative: a message that does not clearly hold
several questions stays whole, and the number of parts is bounded.
"""

from __future__ import annotations

import re

#: Most parts answered from one message; the rest are named as not answered.
MAX_PARTS = 6
#: A part needs at least this many words to count as a question of its own.
MIN_PART_WORDS = 2

_NUMBERED = re.compile(r"(?:^|(?<=\s))(?:câu\s*)?\d{1,2}\s*[).:/-]\s+", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-–•+*]|\d{1,2}\s*[).:/-])\s*")
# "Bà Lan hỏi", "anh Tú nhờ hỏi", "chị Hoa thôn 3 muốn hỏi": a person, then asks.
_ASKER = re.compile(
    r"(?:(?<=^)|(?<=[\s,.;]))(?i:ông|bà|anh|chị|cô|chú|bác|em|cháu|nhà|hộ|gia đình)\s+"
    r"(?:[A-ZĐÀ-Ỹ][\wÀ-ỹ]*\s+){1,3}(?:(?i:thôn)\s+\S+\s+)?(?:có\s+)?(?:muốn\s+|nhờ\s+|cần\s+)?hỏi\b",
    re.UNICODE,
)


def _words(text: str) -> int:
    return len(re.findall(r"\w+", text))


def _keep(parts: list[str]) -> list[str]:
    kept = [p.strip(" \t,;.") for p in parts]
    return [p for p in kept if _words(p) >= MIN_PART_WORDS]


def split_bundle(text: str) -> list[str]:
    """The questions of a message, in order; a single-element list when it holds one.

    Tried in turn: numbered items, bulleted or separate lines, then "X hỏi ..." runs.
    """
    text = text.strip()
    numbered = [m.start() for m in _NUMBERED.finditer(text)]
    if len(numbered) >= 2:  # what stands before the first number is a preamble
        items = [text[a:b] for a, b in zip(numbered, [*numbered[1:], len(text)])]
        parts = _keep([_NUMBERED.sub("", item, count=1) for item in items])
        if len(parts) >= 2:
            return parts
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) >= 2:
        parts = _keep([_BULLET.sub("", line) for line in lines])
        # A greeting or preamble line ("Chào anh, bà con thôn 3 nhờ hỏi:") is not a question.
        parts = [p for p in parts if not p.rstrip().endswith(":")]
        if len(parts) >= 2 and all(_words(p) >= 3 for p in parts):
            return parts
    askers = [m.start() for m in _ASKER.finditer(text)]
    if len(askers) >= 2:
        parts = _keep([text[a:b] for a, b in zip(askers, [*askers[1:], len(text)])])
        if len(parts) >= 2:
            return parts
    return [text]
