"""``motcua report``: what the desk's IT person should know, read from the database.

The report is one JSON object of sections, each under its own key (``channels``: the
messages sent this month per channel, against the Zalo plan's limits); new sections
are added as new keys beside the existing ones, so readers of ``--json`` keep working.
:func:`format_report` words the same object as plain text.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

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


async def build_report(
    store: DossierStore, config: Config, *, now: Callable[[], datetime] = datetime.now
) -> dict[str, Any]:
    """The whole report as one JSON-ready object."""
    month = month_of(now())
    return {"month": month, "channels": await channels_section(store, config, month)}


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
    return "\n".join(lines)
