"""Ages and elapsed times stated in a folded question.

"con tôi 8 tháng rồi", "bé gần 1 tuổi", "quá 2 tháng", "hơn 60 ngày", "sinh năm 1965":
:func:`stated_ages` finds each such statement in a question's folded tokens (see
:class:`bot.procedures.normalize.Normalizer`) as a :class:`StatedAge` in days, with the
side it is bounded on ("hơn 60 ngày": over; "chưa đầy 1 tháng": under). One pass over
the tokens, a fixed look-back: the work per message is bounded by its length.

:func:`parse_age` reads a family file's ``age_over`` value ("60 ngày", "18 tuổi").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.procedures.normalize import fold

#: Days in one unit ("2 tháng" is 60 days: not yet past the 60-day limit).
UNIT_DAYS: dict[str, float] = {"ngay": 1.0, "tuan": 7.0, "thang": 30.0, "tuoi": 365.25, "nam": 365.25}

#: Number words, folded ("năm" is also "year": a number word needs a unit after it).
NUMBER_WORDS: dict[str, int] = {
    "mot": 1, "hai": 2, "ba": 3, "bon": 4, "tu": 4, "nam": 5, "lam": 5, "sau": 6,
    "bay": 7, "bai": 7, "tam": 8, "chin": 9, "muoi": 10,
}
#: Words before a number that make it a lower bound ("hơn 60 ngày", "quá 2 tháng").
OVER_WORDS = frozenset({"hon", "qua", "tren", "ngoai", "vuot"})
#: Words before a number that make it an upper bound ("dưới 2 tháng", "trong 60 ngày",
#: and with "chưa" or "không": "chưa đầy 1 tháng", "không quá 60 ngày").
UNDER_WORDS = frozenset({"duoi", "trong", "vong", "chua", "khong"})
#: "gần 1 tuổi": a little under; read as this share of the number.
NEAR_SHARE = 0.9
#: The oldest age a year of birth may give (older years are read as something else).
OLDEST_YEARS = 120

Over, Under, About = "over", "under", "about"
#: "gần 1 tuổi": read as a little under the number (see NEAR_SHARE).
_NEAR = "near"


@dataclass(frozen=True)
class StatedAge:
    """An age or elapsed time: ``days``, and whether the question says it exactly
    (``about``), or only that it is over or under ``days``."""

    days: float
    bound: str = About

    def over(self, threshold: float) -> bool | None:
        """Whether this age is over ``threshold`` days: True, False, or None when the
        statement does not tell ("hơn 1 tháng" against 60 days)."""
        if self.bound == Over:
            return True if self.days >= threshold else None
        if self.bound == Under:
            return False if self.days <= threshold else None
        return self.days > threshold


def _number(tokens: Sequence[str], end: int) -> tuple[float, int] | None:
    """The number ending just before ``end`` (digits or number words: "2", "hai mươi
    lăm", "mười"), and where it starts; None when there is none."""
    i = end - 1
    if i < 0:
        return None
    tok = tokens[i]
    if tok.isdigit():
        return (float(tok), i) if len(tok) <= 4 else None
    if tok == "nua":  # "nửa tháng", "nửa năm"
        return 0.5, i
    if tok not in NUMBER_WORDS:
        return None
    # Up to three words: "hai muoi lam", "muoi hai", "hai muoi".
    start, words = i, [tok]
    while start > 0 and len(words) < 3 and tokens[start - 1] in NUMBER_WORDS:
        start -= 1
        words.insert(0, tokens[start])
    value, tens = 0, False
    for w in words:
        n = NUMBER_WORDS[w]
        if w == "muoi":
            value = (value or 1) * 10
            tens = True
        elif tens:
            value += n
        else:
            value = value * 10 + n if value else n
    return float(value), start


def _bound(tokens: Sequence[str], start: int) -> str:
    """The bound the words before a number give it."""
    before = tokens[max(0, start - 2):start]
    if "gan" in before:
        return _NEAR
    if any(w in UNDER_WORDS for w in before):
        return Under
    if any(w in OVER_WORDS for w in before):
        return Over
    return About


def stated_ages(tokens: Sequence[str], year: int) -> list[StatedAge]:
    """Every age or elapsed time ``tokens`` state; ``year`` is this year, for "sinh năm
    1965". A month or year named by its number ("tháng 10", "năm 2010") is a date, not a
    time, and is left out unless it is a year of birth."""
    found: list[StatedAge] = []
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok == "nam" and nxt.isdigit() and len(nxt) == 4:
            # "sinh năm 1965" (not "khai sinh năm 1970", the year of a registration)
            born = i > 0 and tokens[i - 1] == "sinh" and not (i > 1 and tokens[i - 2] == "khai")
            if born and 0 <= year - int(nxt) <= OLDEST_YEARS:
                found.append(StatedAge((year - int(nxt)) * UNIT_DAYS["nam"]))
            continue
        if tok not in UNIT_DAYS or (tok in ("thang", "nam") and nxt.isdigit()):
            continue
        number = _number(tokens, i)
        if number is None:
            continue
        value, start = number
        if nxt == "ruoi":  # "2 tháng rưỡi"
            value += 0.5
        days = value * UNIT_DAYS[tok]
        bound = _bound(tokens, start)
        if bound == _NEAR:
            found.append(StatedAge(days * NEAR_SHARE))
        else:
            found.append(StatedAge(days, bound))
    return found


def parse_age(text: str) -> float | None:
    """The days of a family file's age value ("60 ngày", "18 tuổi", "2 tháng"), or None
    when it is not a number and a unit."""
    words = fold(text).split()
    if len(words) != 2 or not words[0].isdigit() or words[1] not in UNIT_DAYS:
        return None
    return float(words[0]) * UNIT_DAYS[words[1]]
