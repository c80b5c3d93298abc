"""``motcua report``: what the desk's staff and IT person should know, read from the database.

The report is one JSON object of sections, each under its own key (``channels``: the
messages sent this month per channel, against the Zalo plan's limits; from ``since`` on:
``days`` (messages per day and channel), ``outcomes`` (answered, chose, referred,
refused, handover, ...), ``procedures`` (asked most), ``ratings`` and ``missed`` (the
missed questions, masked, grouped by similarity)); new sections are added as new keys
beside the existing ones, so readers of ``--json`` keep working. :func:`format_report`
words the same object as plain text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from bot.staff.activity import OUTCOMES, ActivityStore
from bot.staff.feedback import FeedbackStore
from bot.staff.missed import MissedStore
from bot.staff.recorder import StaffRecorder
from bot.channels.usage import THRESHOLDS, month_of
from bot.config import Config, ZaloConfig
from bot.dossiers.store import DossierStore


async def channels_section(store: DossierStore, config: Config, month: str) -> dict[str, Any]:
    """Messages sent in ``month`` per channel; for Zalo also the plan's quota and users."""
    usage = await store.channel_usage(month)
    zalo = config.channels.zalo or ZaloConfig()
    return {
        "telegram": {
            "configured": config.channels.telegram is not None,
            "sent": usage.get("telegram", 0),
        },
        "zalo": {
            "configured": config.channels.zalo is not None,
            "sent": usage.get("zalo", 0),
            "quota": zalo.monthly_quota,
            "users": len(await store.channel_users("zalo")),
            "max_users": zalo.max_users,
        },
    }


#: Without ``--since``, the staff sections cover this many days up to today.
DEFAULT_DAYS = 30
#: Missed-question groups and top procedures in the report.
MISSED_GROUPS = 50
TOP_PROCEDURES = 10


@dataclass(frozen=True)
class StaffViews:
    """The staff-side stores a report reads (a recorder's, or one commune's view of them)."""

    activity: ActivityStore
    missed: MissedStore
    feedback: FeedbackStore

    @classmethod
    def of(cls, staff: StaffRecorder, commune: str | None = None) -> StaffViews:
        """The recorder's stores, limited to ``commune`` when given."""
        if commune is None:
            return cls(staff.activity, staff.missed, staff.feedback)
        return cls(staff.activity.scoped(commune), staff.missed.scoped(commune), staff.feedback.scoped(commune))


async def staff_sections(
    staff: StaffRecorder | StaffViews, since: date, names: Callable[[str], str | None]
) -> dict[str, Any]:
    """Messages per day and channel, outcomes, top procedures, ratings and the missed
    questions (masked, grouped) from ``since`` on; ``names`` gives a procedure's name."""
    days = await staff.activity.daily(since)
    outcomes = await staff.activity.outcomes(since)
    ratings = await staff.feedback.summary(since, TOP_PROCEDURES)
    return {
        "since": since.isoformat(),
        "days": [
            {"day": d.day.isoformat(), "channel": d.channel, "messages": d.messages, "outcomes": d.outcomes}
            for d in days
        ],
        "outcomes": outcomes,
        "procedures": [
            {"id": pid, "name": names(pid), "count": count}
            for pid, count in await staff.activity.procedures(since, TOP_PROCEDURES)
        ],
        "ratings": {
            "up": ratings.up,
            "down": ratings.down,
            "procedures": [
                {"id": r.procedure_id, "name": names(r.procedure_id), "up": r.up, "down": r.down}
                for r in ratings.procedures
            ],
        },
        "missed": [
            {
                "text": g.text, "count": g.count, "examples": list(g.examples), "top_ids": list(g.top_ids),
                "reasons": g.reasons, "last_at": g.last_at,
            }
            for g in await staff.missed.groups(since, MISSED_GROUPS)
        ],
    }


async def build_report(
    store: DossierStore,
    config: Config,
    *,
    now: Callable[[], datetime] = datetime.now,
    since: date | None = None,
    staff: StaffRecorder | StaffViews | None = None,
    names: Callable[[str], str | None] = lambda _id: None,
) -> dict[str, Any]:
    """The whole report as one JSON-ready object; with ``staff``, also its sections from
    ``since`` on (default: the last :data:`DEFAULT_DAYS` days). The channel usage is the
    whole bot's (one bot serves every commune)."""
    today = now()
    month = month_of(today)
    report: dict[str, Any] = {"month": month, "channels": await channels_section(store, config, month)}
    if staff is not None:
        start = since or (today.date() - timedelta(days=DEFAULT_DAYS))
        report.update(await staff_sections(staff, start, names))
    return report


def _share(used: int, limit: int) -> str:
    if limit <= 0:
        return f"{used}"
    note = "  (limit reached)" if used >= limit else "  (near the limit)" if used >= THRESHOLDS[0] * limit else ""
    return f"{used} / {limit} ({100 * used // limit}%){note}"


def format_report(report: dict[str, Any]) -> str:
    """The report as plain text, one fact a line."""
    channels = report["channels"]
    telegram, zalo = channels["telegram"], channels["zalo"]
    lines = [
        f"Channel usage in {report['month']}:",
        f"  Telegram messages sent: {telegram['sent']}",
        f"  Zalo messages sent: {_share(zalo['sent'], zalo['quota'])}",
        f"  Zalo users: {_share(zalo['users'], zalo['max_users'])}",
    ]
    if "since" in report:
        lines += _staff_lines(report)
    return "\n".join(lines)


_OUTCOME_WORDS = {
    "answered": "answered", "chose": "offered a choice (unsure)", "referred": "referred elsewhere",
    "refused": "not understood", "handover": "handed over to staff", "status": "dossier status",
    "help": "help and menus", "rated": "ratings",
}


def _named(item: dict[str, Any]) -> str:
    return f"{item['id']} ({item['name']})" if item.get("name") else item["id"]


def _staff_lines(report: dict[str, Any]) -> list[str]:
    outcomes = report["outcomes"]
    total = sum(outcomes.values())
    lines = ["", f"Messages since {report['since']}: {total}"]
    for outcome in OUTCOMES:
        lines.append(f"  {_OUTCOME_WORDS[outcome]}: {outcomes.get(outcome, 0)}")
    by_day: dict[str, list[str]] = {}
    for day in report["days"]:
        by_day.setdefault(day["day"], []).append(f"{day['channel']} {day['messages']}")
    if by_day:
        lines += ["", "Messages per day and channel:"]
        lines += [f"  {day}: {', '.join(parts)}" for day, parts in by_day.items()]
    if report["procedures"]:
        lines += ["", "Procedures asked most:"]
        lines += [f"  {p['count']:>5}  {_named(p)}" for p in report["procedures"]]
    ratings = report["ratings"]
    lines += ["", f"Ratings: {ratings['up']} 👍, {ratings['down']} 👎"]
    lines += [f"  {_named(p)}: {p['up']} 👍, {p['down']} 👎" for p in ratings["procedures"]]
    missed = report["missed"]
    lines += ["", f"Missed questions, grouped ({sum(g['count'] for g in missed)} questions, {len(missed)} groups):"]
    for group in missed:
        matches = f"  [best matches: {', '.join(group['top_ids'])}]" if group["top_ids"] else ""
        lines.append(f"  {group['count']:>5} × «{group['text']}»{matches}")
        lines += [f"          e.g. «{e}»" for e in group["examples"][1:3]]
    if not missed:
        lines.append("  none")
    return lines
