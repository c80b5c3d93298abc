"""The desk's office hours and holidays, in Vietnam time (UTC+7, no daylight saving).

:class:`OfficeHours` reads ``office_hours:`` of the config (ranges "07:30-11:30" per
weekday, holidays by date) and answers what replies need: whether the desk is open at a
given moment, when it opens next, and a line about today ("Hôm nay thứ Bảy, bộ phận một
cửa nghỉ; ..."). Every method takes the moment as an argument: the caller's clock
decides, so replies are the same in tests on any day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from bot.config import OfficeHoursConfig
from bot.errors import ConfigError

#: Vietnam's time zone: UTC+7 all year.
VIETNAM = timezone(timedelta(hours=7), "ICT")

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WEEKDAY_NAMES = ("thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật")

#: How far ahead the next opening is looked for (a long Tết closure fits).
LOOK_AHEAD_DAYS = 60

_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def vietnam_now() -> datetime:
    """The current moment in Vietnam time (the default clock of the engine)."""
    return datetime.now(VIETNAM)


def clock_time(t: time) -> str:
    """``t`` as people write it: 7h30, 13h30, 17h00."""
    return f"{t.hour}h{t.minute:02d}"


@dataclass(frozen=True)
class Span:
    """One working period of a day."""

    start: time
    end: time


def _parse_range(text: str, key: str) -> Span:
    m = _RANGE.match(str(text))
    if m:
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 < 24 and h2 < 24 and m1 < 60 and m2 < 60 and (h1, m1) < (h2, m2):
            return Span(time(h1, m1), time(h2, m2))
    raise ConfigError(f'{key}: expected a range like "07:30-11:30" (start before end), got {text!r}')


def _parse_date(text: str, key: str) -> date:
    if _DATE.match(str(text)):
        try:
            return date.fromisoformat(str(text))
        except ValueError:
            pass
    raise ConfigError(f"{key}: expected a date as YYYY-MM-DD, got {text!r}")


class OfficeHours:
    """The weekly schedule and the holidays."""

    def __init__(self, week: tuple[tuple[Span, ...], ...], holidays: dict[date, str]) -> None:
        self.week = week
        self.holidays = holidays

    @classmethod
    def from_config(cls, config: OfficeHoursConfig) -> OfficeHours:
        """The schedule of ``office_hours:``; raises ConfigError naming a bad key."""
        week: list[tuple[Span, ...]] = []
        for name in WEEKDAYS:
            spans = [_parse_range(r, f"office_hours.{name}[{i}]") for i, r in enumerate(getattr(config, name))]
            spans.sort(key=lambda s: s.start)
            for i, (a, b) in enumerate(zip(spans, spans[1:])):
                if b.start < a.end:
                    raise ConfigError(f"office_hours.{name}[{i + 1}]: overlaps the range before it")
            week.append(tuple(spans))
        holidays: dict[date, str] = {}
        for i, holiday in enumerate(config.holidays):
            first = _parse_date(holiday.date, f"office_hours.holidays[{i}].date")
            last = _parse_date(holiday.until, f"office_hours.holidays[{i}].until") if holiday.until else first
            if last < first or (last - first).days > LOOK_AHEAD_DAYS:
                raise ConfigError(
                    f"office_hours.holidays[{i}].until: must be on or after date, at most {LOOK_AHEAD_DAYS} days later"
                )
            day = first
            while day <= last:
                holidays[day] = holiday.name.strip()
                day += timedelta(days=1)
        return cls(tuple(week), holidays)

    def spans_on(self, day: date) -> tuple[Span, ...]:
        """The working periods of ``day`` (none on a holiday)."""
        return () if day in self.holidays else self.week[day.weekday()]

    def is_open(self, now: datetime) -> bool:
        """Whether the desk is working at ``now``."""
        local = now.astimezone(VIETNAM)
        return any(s.start <= local.time() < s.end for s in self.spans_on(local.date()))

    def next_opening(self, now: datetime) -> datetime | None:
        """The next moment after ``now`` the desk starts working (None: no working time
        in the next :data:`LOOK_AHEAD_DAYS` days)."""
        local = now.astimezone(VIETNAM)
        for offset in range(LOOK_AHEAD_DAYS + 1):
            day = local.date() + timedelta(days=offset)
            for span in self.spans_on(day):
                start = datetime.combine(day, span.start, VIETNAM)
                if start > local:
                    return start
        return None

    def when(self, moment: datetime, now: datetime) -> str:
        """``moment`` as a reply says it: "13h30 hôm nay", "7h30 thứ Hai, 07/12"."""
        local, today = moment.astimezone(VIETNAM), now.astimezone(VIETNAM).date()
        if local.date() == today:
            return f"{clock_time(local.time())} hôm nay"
        return f"{clock_time(local.time())} {WEEKDAY_NAMES[local.weekday()]}, {local:%d/%m}"

    def answer_expected(self, now: datetime) -> str | None:
        """For a hand-over asked out of office hours: when staff will answer; None in
        office hours."""
        if self.is_open(now):
            return None
        opening = self.next_opening(now)
        if opening is None:
            return "Hiện ngoài giờ làm việc; cán bộ sẽ trả lời khi bộ phận một cửa làm việc trở lại."
        return f"Hiện ngoài giờ làm việc; cán bộ sẽ trả lời từ {self.when(opening, now)}."

    def day_note(self, weekday: int, now: datetime) -> str:
        """A line about the desk on the next ``weekday`` (0 = Monday) from ``now`` on:
        its hours that day, or that it is closed (a holiday named)."""
        local = now.astimezone(VIETNAM)
        day = local.date() + timedelta(days=(weekday - local.weekday()) % 7)
        if day == local.date():
            return self.today_note(now)
        weekday_name = WEEKDAY_NAMES[weekday]
        name = f"{weekday_name[0].upper()}{weekday_name[1:]} {day:%d/%m}"
        if day in self.holidays:
            holiday = self.holidays[day]
            return f"{name} là ngày nghỉ" + (f" {holiday}" if holiday else " lễ") + ", bộ phận một cửa nghỉ."
        spans = self.spans_on(day)
        if not spans:
            return f"{name} bộ phận một cửa nghỉ."
        times = ", ".join(f"{clock_time(s.start)}–{clock_time(s.end)}" for s in spans)
        return f"{name} bộ phận một cửa có làm việc: {times}."

    def today_note(self, now: datetime) -> str:
        """A line about the desk today: open now, opening later, or closed and until when."""
        local = now.astimezone(VIETNAM)
        day = local.date()
        opening = self.next_opening(now)
        back = f"làm việc trở lại từ {self.when(opening, now)}" if opening is not None else ""
        weekday = WEEKDAY_NAMES[day.weekday()]
        if day in self.holidays:
            name = self.holidays[day]
            head = f"Hôm nay {weekday}, {day:%d/%m}, là ngày nghỉ" + (f" {name}" if name else " lễ")
            return f"{head}, bộ phận một cửa nghỉ" + (f"; {back}." if back else ".")
        spans = self.spans_on(day)
        if not spans:
            return f"Hôm nay {weekday}, bộ phận một cửa nghỉ" + (f"; {back}." if back else ".")
        for span in spans:
            if span.start <= local.time() < span.end:
                return f"Hôm nay {weekday}, bộ phận một cửa đang làm việc (đến {clock_time(span.end)})."
        if opening is not None and opening.date() == day:
            again = "lại " if local.time() >= spans[0].end else ""
            return f"Hôm nay {weekday}, bộ phận một cửa làm việc {again}từ {clock_time(opening.time())}."
        return f"Hôm nay {weekday}, bộ phận một cửa đã hết giờ làm việc" + (f"; {back}." if back else ".")
