"""Counting outbound messages per month against the messenger plan's limits."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest

from bot.channels.usage import UsageMeter, crossed
from bot.config import Config, ZaloConfig, ChannelsConfig
from bot.dossiers.store import Store
from bot.report import build_report, format_report


class Now:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


# The store of each backend (SQLite and a real PostgreSQL server): usage counts on both.
from tests.dossiers.conftest import db, store  # noqa: E402,F401  (fixtures)


def test_crossed_thresholds() -> None:
    assert [crossed(n, 100) for n in (0, 69, 70, 84, 85, 94, 95, 99, 100, 250)] == [
        0.0, 0.0, 0.7, 0.7, 0.85, 0.85, 0.95, 0.95, 1.0, 1.0,
    ]
    assert crossed(5000, 0) == 0.0  # no limit configured


async def test_the_operator_is_warned_once_at_70_85_95_and_100_percent(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    now = Now(datetime(2026, 12, 1, 8, 0))
    meter = UsageMeter(store, "zalo", monthly_quota=100, now=now)
    await meter.start()
    warned: list[int] = []
    for sent in range(1, 121):
        meter.count_sent()
        await meter.flush()
        if len(caplog.records) > len(warned):
            warned.append(sent)
    assert warned == [70, 85, 95, 100]
    assert "100 of the 100 messages a month the plan allows are used in 2026-12 (100%)" in caplog.records[-1].getMessage()
    assert "may be refused" in caplog.records[-1].getMessage()
    assert await store.channel_usage("2026-12") == {"zalo": 120}


async def test_counts_survive_a_restart_and_start_again_each_month(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    now = Now(datetime(2026, 12, 31, 23, 59))
    meter = UsageMeter(store, "zalo", monthly_quota=10, now=now)
    await meter.start()
    for _ in range(8):
        meter.count_sent()
    now.moment = datetime(2027, 1, 1, 0, 0)
    meter.count_sent()  # counted in January, even though saved with December's
    await meter.flush()
    assert await store.channel_usage("2026-12") == {"zalo": 8}
    assert await store.channel_usage("2027-01") == {"zalo": 1}
    assert caplog.records == []  # January is at 10%: December's 80% is not this month's

    # A restart in December would warn again about December's count.
    restarted = UsageMeter(store, "zalo", monthly_quota=10, now=Now(datetime(2026, 12, 31, 23, 59)))
    await restarted.start()
    assert "8 of the 10 messages" in caplog.records[-1].getMessage()


async def test_users_are_remembered_and_warned_about(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    meter = UsageMeter(store, "zalo", max_users=4, track_users=True)
    await meter.start()
    for user in ("u1", "u2", "u1", "u3"):
        meter.saw_user(user)
    await meter.flush()
    assert await store.channel_users("zalo") == {"u1", "u2", "u3"}
    assert "3 users have written to the bot, of the 4 the plan allows (75%)" in caplog.text
    again = UsageMeter(store, "zalo", max_users=4, track_users=True)
    await again.start()
    again.saw_user("u1")  # already known: nothing new to save
    again.saw_user("u4")
    await again.flush()
    assert len(await store.channel_users("zalo")) == 4
    assert "new users may not reach it" in caplog.records[-1].getMessage()


async def test_report_shows_this_months_usage(store: Store) -> None:
    await store.add_channel_usage("zalo", "2026-12", 2130)
    await store.add_channel_usage("telegram", "2026-12", 512)
    await store.add_channel_usage("zalo", "2026-11", 2999)
    await store.add_channel_users("zalo", ["u1", "u2"])
    config = Config(channels=ChannelsConfig(zalo=ZaloConfig(monthly_quota=3000, max_users=50)))
    report = await build_report(store, config, now=lambda: datetime(2026, 12, 15))
    assert report["month"] == "2026-12"
    assert report["channels"]["zalo"] == {
        "configured": True, "sent": 2130, "quota": 3000, "users": 2, "max_users": 50,
    }
    assert report["channels"]["telegram"] == {"configured": False, "sent": 512}
    text = format_report(report)
    assert "Zalo messages sent: 2130 / 3000 (71%)  (near the limit)" in text
    assert "Telegram messages sent: 512" in text


def test_the_plan_limits_are_config_keys_with_the_free_plans_defaults() -> None:
    from bot.config import parse_config

    config = parse_config(
        {"channels": {"zalo": {"token": "${ZALO_BOT_TOKEN}", "monthly_quota": 10000}}}, environ={"ZALO_BOT_TOKEN": "t"}
    )
    assert config.channels.zalo is not None
    assert config.channels.zalo.monthly_quota == 10000 and config.channels.zalo.max_users == 50
    assert ZaloConfig().monthly_quota == 3000
