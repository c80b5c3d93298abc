"""While the Zalo plan's monthly messages are used up, residents are told where else to ask."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from bot.config import ChannelsConfig, Config, DatabaseConfig, TelegramConfig, ZaloConfig
from bot.app import App
from bot.messages import Incoming
from bot.staff.hours import VIETNAM
from bot.staff.notices import QUOTA_NOTICE_ID, NoticeStore, WithQuotaNotice
from bot.storage import Database
from tests.staff.conftest import Place

NOW = datetime(2026, 12, 10, 9, 0, tzinfo=VIETNAM)


class Usage:
    def __init__(self) -> None:
        self.sent: dict[str, dict[str, int]] = {}
        self.reads = 0

    async def __call__(self, month: str) -> dict[str, int]:
        self.reads += 1
        return self.sent.get(month, {})


@pytest.fixture
async def notices(staff_db: Database):  # type: ignore[no-untyped-def]
    store = await NoticeStore.create(staff_db)
    yield store
    await store.close()


async def test_the_notice_appears_when_the_quota_is_used_up_and_ends_with_the_month(notices: NoticeStore) -> None:
    usage, tick = Usage(), [0.0]
    shown = WithQuotaNotice(notices, usage, 3000, "0210 3800 000", telegram=True, monotonic=lambda: tick[0])
    usage.sent["2026-12"] = {"zalo": 2999}
    assert await shown.current(NOW) == []
    usage.sent["2026-12"] = {"zalo": 3000}
    assert await shown.current(NOW) == []  # read at most once a minute
    tick[0] += 61
    (notice,) = await shown.current(NOW)
    assert notice.id == QUOTA_NOTICE_ID
    assert "Telegram" in notice.text and "0210 3800 000" in notice.text
    assert notice.until == datetime(2027, 1, 1, tzinfo=VIETNAM)
    assert await shown.current(datetime(2027, 1, 1, 0, 5, tzinfo=VIETNAM)) == []  # a new month starts afresh


async def test_without_telegram_only_the_hotline_is_offered_and_posted_notices_stay(notices: NoticeStore) -> None:
    usage = Usage()
    usage.sent["2026-12"] = {"zalo": 5000}
    await notices.post("Thứ Sáu 18/12 bộ phận một cửa nghỉ.", datetime(2026, 12, 19, tzinfo=VIETNAM), "lan", now=NOW)
    shown = WithQuotaNotice(notices, usage, 3000, "0210 3800 000", telegram=False)
    posted, quota = await shown.current(NOW)
    assert "nghỉ" in posted.text
    assert "Telegram" not in quota.text and "gọi 0210 3800 000" in quota.text


async def test_an_unreadable_count_says_nothing_rather_than_failing(notices: NoticeStore) -> None:
    async def broken(month: str) -> dict[str, int]:
        raise OSError("disk")

    shown = WithQuotaNotice(notices, broken, 3000, "0210 3800 000", telegram=True)
    assert await shown.current(NOW) == []


async def test_a_telegram_resident_is_told_once_per_conversation(place: Place) -> None:
    channels = ChannelsConfig(telegram=TelegramConfig(token="t"), zalo=ZaloConfig(token="z", monthly_quota=10))
    app = await App.open(Config(database=DatabaseConfig(path=place.path, url=place.url), channels=channels))
    try:
        month = datetime.now(VIETNAM).strftime("%Y-%m")
        await app.store.add_channel_usage("zalo", month, 10)
        first = await app.engine.handle(Incoming("telegram", "u", "c", "lam giay khai sinh can gi"))
        assert "kênh Zalo của xã đã dùng hết" in first.replies[-1].text
        again = await app.engine.handle(Incoming("telegram", "u", "c", "thế còn lệ phí?"))
        assert "Zalo" not in again.replies[-1].text
    finally:
        await app.close()
