"""The overview page's figures: messages per day by outcome, the answer rate, and the
bars of a small SVG chart (drawn by the template, no script)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

#: Outcomes counted as answered by the bot: a procedure's answer, a referral to the right
#: office, a dossier's status, help. Offering a choice (the bot was unsure) is not.
ANSWERED = frozenset({"answered", "referred", "status", "help"})
CHOSE = frozenset({"chose"})
REFUSED = frozenset({"refused"})
HANDED_OVER = frozenset({"handover"})
#: Not questions: left out of the totals (a 👍/👎 rating).
NOT_COUNTED = frozenset({"rated"})

_WEEKDAYS = ("T2", "T3", "T4", "T5", "T6", "T7", "CN")


@dataclass(frozen=True)
class DayTotal:
    """One day's messages, all channels together."""

    day: date
    total: int = 0
    answered: int = 0
    chose: int = 0
    refused: int = 0
    handed_over: int = 0


@dataclass(frozen=True)
class Summary:
    """Totals over some days."""

    total: int
    answered: int
    chose: int
    refused: int
    handed_over: int

    @property
    def answer_rate(self) -> int | None:
        """Percent of messages the bot answered (None without messages)."""
        return round(100 * self.answered / self.total) if self.total else None


def _day_of(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


async def daily_totals(activity: Any, since: date, until: date) -> list[DayTotal]:
    """One :class:`DayTotal` per day from ``since`` to ``until`` (days without messages
    included), from the activity store's daily counts per channel and outcome; ratings
    are not messages to answer and are left out."""
    sums: dict[date, dict[str, int]] = {}
    if activity is not None:
        for row in await activity.daily(since):
            day = _day_of(row.day)
            if day is None or not since <= day <= until:
                continue
            counts = sums.setdefault(day, {"total": 0, "answered": 0, "chose": 0, "refused": 0, "handed_over": 0})
            for outcome, count in row.outcomes.items():
                if outcome in NOT_COUNTED:
                    continue
                counts["total"] += int(count)
                for key, kinds in (("answered", ANSWERED), ("chose", CHOSE), ("refused", REFUSED),
                                   ("handed_over", HANDED_OVER)):
                    if outcome in kinds:
                        counts[key] += int(count)
    days = []
    day = since
    while day <= until:
        days.append(DayTotal(day, **sums.get(day, {})))
        day += timedelta(days=1)
    return days


def summary(days: list[DayTotal]) -> Summary:
    """The totals of ``days``."""
    return Summary(
        sum(d.total for d in days), sum(d.answered for d in days), sum(d.chose for d in days),
        sum(d.refused for d in days), sum(d.handed_over for d in days),
    )


@dataclass(frozen=True)
class Bar:
    """One day's bar in the chart (SVG user units; the chart is 100 high)."""

    x: int
    label: str
    total: int
    answered: int
    height: float
    answered_height: float


def chart(days: list[DayTotal], *, width: int = 40) -> list[Bar]:
    """Bars for ``days``, scaled to the busiest day; each shows the answered part."""
    top = max((d.total for d in days), default=0) or 1
    return [
        Bar(
            x=i * width, label=f"{_WEEKDAYS[d.day.weekday()]} {d.day:%d/%m}", total=d.total,
            answered=d.answered, height=round(80 * d.total / top, 1),
            answered_height=round(80 * d.answered / top, 1),
        )
        for i, d in enumerate(days)
    ]


@dataclass(frozen=True)
class CommuneRow:
    """One commune on the province's overview."""

    id: str
    name: str
    waiting: int = 0
    missed: int = 0
    messages: int = 0


def totals(rows: list[CommuneRow]) -> CommuneRow:
    """The province's totals of ``rows``."""
    return CommuneRow(
        "*", "Cả tỉnh", sum(r.waiting for r in rows), sum(r.missed for r in rows), sum(r.messages for r in rows)
    )
