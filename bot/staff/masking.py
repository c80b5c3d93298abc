"""Masking personal data out of a resident's text before it is kept (missed questions).

What is masked: e-mail addresses, dossier codes (whole, or their ``yymmdd-NNNN`` tail),
phone numbers, ID card numbers (CCCD, CMND, passports) and any other run of six digits
or more (digits joined by spaces, dots, dashes or brackets count as one run), house
numbers after an address word, and names (capitalised words after a family name or
"tên là"). The question itself stays readable for the staff who read it: «số điện
thoại» stands where the number was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from bot.procedures.normalize import clean

DEFAULT_WORDS = Path(__file__).resolve().parent / "data" / "masking.yaml"

EMAIL = "«email»"
CODE = "«mã hồ sơ»"
PHONE = "«số điện thoại»"
NUMBER = "«số giấy tờ»"
NAME = "«họ tên»"
HOUSE = "«số nhà»"

#: Runs of at least this many digits (separators ignored) are never kept.
MIN_DIGITS = 6

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Digits joined by at most a few separators (space, dot, dash, brackets, slash-free).
_DIGIT_RUN = re.compile(r"\+?\d+(?:[ \t.\-()\u00a0_]{1,3}\d+)*")
_DOSSIER_TAIL = re.compile(r"^\d{6}-\d{4}$")
_PHONE = re.compile(r"^(?:\+?84|0)\d{8,10}$")
_WORD = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True)
class _Words:
    surnames: frozenset[str]
    #: Name cues as tuples of lower-case words ("tên là" -> ("tên", "là")), longest first.
    cues: tuple[tuple[str, ...], ...]
    house: re.Pattern[str]


@lru_cache(maxsize=4)
def _words(path: Path = DEFAULT_WORDS) -> _Words:
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    cues = sorted({tuple(str(c).lower().split()) for c in data.get("name_cues", ())}, key=len, reverse=True)
    address = "|".join(re.escape(str(c)) for c in data.get("address_cues", ()))
    return _Words(
        surnames=frozenset(str(s) for s in data.get("surnames", ())),
        cues=tuple(c for c in cues if c),
        house=re.compile(rf"(\b(?:{address})\s*)\d+[\w/]*", re.IGNORECASE),
    )


def _capitalised(word: str) -> bool:
    return word[:1].isupper() and word[1:].islower() or len(word) == 1 and word.isupper()


def _mask_names(text: str, words: _Words) -> str:
    """Runs of capitalised words that start with a family name (two to four words), or
    that follow a name cue (one to four), replaced by :data:`NAME`."""
    tokens = [(m.start(), m.end(), m.group(0)) for m in _WORD.finditer(text)]
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(tokens):
        start = None
        if tokens[i][2] in words.surnames and _capitalised(tokens[i][2]):
            start, least = i, 2
        else:
            for cue in words.cues:
                said = tuple(t[2].lower() for t in tokens[i : i + len(cue)])
                if said == cue and i + len(cue) < len(tokens):
                    start, least = i + len(cue), 1
                    break
        if start is None:
            i += 1
            continue
        end = start
        while end < len(tokens) and end - start < 4 and _capitalised(tokens[end][2]):
            end += 1
        if end - start >= least:
            spans.append((tokens[start][0], tokens[end - 1][1]))
            i = end
        else:
            i += 1
    for begin, finish in reversed(spans):
        text = text[:begin] + NAME + text[finish:]
    return text


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdecimal())  # what \\d matches


def _number(match: re.Match[str]) -> str:
    run = match.group(0)
    digits = _digits(run)
    if len(digits) < MIN_DIGITS:
        return run
    if _DOSSIER_TAIL.match(run.strip()):
        return CODE
    plain = "+" + digits if run.startswith("+") else digits
    return PHONE if _PHONE.match(plain) else NUMBER


def mask(text: str) -> str:
    """``text`` with e-mails, dossier codes, phone and ID numbers, long digit runs,
    house numbers and names replaced by a placeholder; the rest kept, on one line (NFC)."""
    words = _words()
    text = clean(text)  # one line: a number split over lines is still one run
    text = _EMAIL.sub(EMAIL, text)
    # A whole dossier code ("000.00.14.H56-261119-0013"): its letters would split the run.
    text = re.sub(r"\b\d{3}\.\d{2}\.\d{2}\.[A-Za-z]\d{2}-\d{6}-\d{4}\b", CODE, text)
    text = words.house.sub(lambda m: m.group(1) + HOUSE, text)
    text = _DIGIT_RUN.sub(_number, text)
    text = _mask_names(text, words)
    return text
