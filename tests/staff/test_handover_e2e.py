"""Hand-overs end to end: the real app (engine, relay, stores on one SQLite file) behind
the real Telegram and Zalo channels, against the local fake Bot API servers.

A resident asks for a person on Telegram or Zalo; the request reaches the staff group
(a Telegram supergroup); a staff member's reply to the bot's post reaches the resident
on their own channel, once, also when the bot was killed between claiming the reply and
sending it; asking twice gives one open hand-over; /dong closes one without a reply.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.staff.conftest import Place
from bot.app import App
from bot.channels.telegram import TelegramChannel
from bot.channels.zalo import ZaloChannel
from bot.channels.zalo_api import RetryPolicy
from bot.config import Config, DatabaseConfig, HandoverConfig, TelegramConfig, ZaloConfig
from bot.staff.relay import HandoverRelay
from tests.fakes.telegram_api import BOT_USER, BOT_USERNAME, FakeTelegramApi, callback_query, text_message
from tests.fakes.zalo_api import FakeZaloApi

TG_TOKEN = "123456789:AAtest-Token_for_the_fake"
ZALO_TOKEN = "1234567890:aBcDeFgHiJkLmNoPqRsTuVwXyZ"
GROUP = -1009876543210
RESIDENT = 111
STAFF = 222
ROOT = Path(__file__).resolve().parents[2]


def to_chat(chat_id: int, needle: str = "") -> Any:
    return lambda c: str(c.params.get("chat_id")) == str(chat_id) and needle in str(c.params.get("text", ""))


@pytest.fixture
def config(place: Place) -> Config:
    return Config(
        database=DatabaseConfig(path=place.path, url=place.url),
        handover=HandoverConfig(telegram_chat_id=str(GROUP)),
    )


@pytest.fixture
async def telegram_api() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi(TG_TOKEN) as fake:
        yield fake


@pytest.fixture
async def zalo_api() -> AsyncIterator[FakeZaloApi]:
    async with FakeZaloApi(ZALO_TOKEN, max_poll_wait=0.2) as fake:
        yield fake


@asynccontextmanager
async def serving(config: Config, telegram: FakeTelegramApi, zalo: FakeZaloApi | None = None, lease: float = 300.0):
    """The real app with its channels started (fast intervals), stopped and closed after."""
    app = await App.open(config)
    app.relay = HandoverRelay(app.handovers, config, lease=lease)  # the delivery loops' relay
    channels: list[Any] = [
        TelegramChannel(
            TelegramConfig(token=TG_TOKEN, base_url=telegram.base_url),
            app,
            poll_timeout=1.0,
            retry_delays=(0.01, 0.02),
            notify_interval=0.05,
        )
    ]
    if zalo is not None:
        channels.append(
            ZaloChannel(
                ZaloConfig(token=ZALO_TOKEN, base_url=zalo.base_url),
                app,
                poll_timeout=0.2,
                retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05),
                error_backoff=(0.01, 0.05),
                notify_interval=0.05,
            )
        )
    try:
        for channel in channels:
            await channel.start()
        yield app
    finally:
        for channel in reversed(channels):
            await channel.stop()
        await app.close()


def bot_post(api: FakeTelegramApi, needle: str) -> dict[str, Any]:
    """The bot's message in the staff group that contains ``needle``, as Telegram returned it."""
    found = [m for m in api.sent if m["chat"]["id"] == GROUP and needle in m["text"]]
    assert found, f"no post with {needle!r} in the staff group"
    message = dict(found[-1])
    message["chat"] = {"id": GROUP, "type": "supergroup", "title": "Cán bộ một cửa"}
    message["from"] = BOT_USER
    return message


async def recorded(app: App, post: dict[str, Any]) -> dict[str, Any]:
    """``post`` once the bot has noted the hand-over it carries (written just after the
    send; a staff reply before that is not known to be about it)."""
    for _ in range(200):
        if await app.handovers.handover_for_post(str(GROUP), str(post["message_id"])) is not None:
            return post
        await asyncio.sleep(0.05)
    raise AssertionError("the bot never noted which hand-over its post carries")


def staff_reply(text: str, post: dict[str, Any], message_id: int) -> dict[str, Any]:
    """A staff member's reply, in the group, to the bot's ``post``."""
    return text_message(
        text, user_id=STAFF, chat_id=GROUP, chat_type="supergroup", message_id=message_id, reply_to_message=post
    )


async def test_a_telegram_residents_hand_over_reaches_the_group_and_the_reply_comes_back_once(
    config: Config, telegram_api: FakeTelegramApi
) -> None:
    async with serving(config, telegram_api) as app:
        await telegram_api.push(text_message("xin giấy phép bắn pháo hoa đám cưới", user_id=RESIDENT))
        (refusal,) = await telegram_api.wait_for("sendMessage", to_chat(RESIDENT))
        buttons = [b[0]["callback_data"] for b in refusal.params["reply_markup"]["inline_keyboard"]]
        assert "handover" in buttons  # offered after the bot could not answer
        pressed = [m for m in telegram_api.sent if m["chat"]["id"] == RESIDENT][-1]
        await telegram_api.push(callback_query("handover", pressed, user_id=RESIDENT))
        await telegram_api.wait_for("sendMessage", to_chat(RESIDENT, "yêu cầu #1"))
        (post,) = await telegram_api.wait_for("sendMessage", to_chat(GROUP, "🔔 Yêu cầu #1"))
        text = post.params["text"]
        assert "xin giấy phép bắn pháo hoa đám cưới" in text and "(Telegram)" in text
        assert str(RESIDENT) not in text  # the group sees what was written, not who wrote it

        await telegram_api.push(staff_reply("Ông liên hệ phòng Nông nghiệp huyện ạ.", await recorded(app, bot_post(telegram_api, "#1")), 50))
        (delivered,) = await telegram_api.wait_for("sendMessage", to_chat(RESIDENT, "💬 Cán bộ Bộ phận Một cửa trả lời"))
        assert "Ông liên hệ phòng Nông nghiệp huyện ạ." in delivered.params["text"]
        await telegram_api.wait_for("sendMessage", to_chat(GROUP, "✅ Đã gửi cho người dân trả lời #1"))
        handover = await app.handovers.get(1)
        assert handover is not None and handover.state == "answered"
        assert [m.delivery for m in handover.messages if m.author == "staff"] == ["sent"]
        assert [m.author for m in handover.messages if m.earlier] == ["resident", "bot"]
        await asyncio.sleep(0.3)  # several delivery passes
    replies = [c for c in telegram_api.calls_of("sendMessage") if to_chat(RESIDENT, "💬")(c)]
    assert len(replies) == 1


async def test_a_zalo_residents_hand_over_is_answered_from_the_telegram_group(
    config: Config, telegram_api: FakeTelegramApi, zalo_api: FakeZaloApi
) -> None:
    async with serving(config, telegram_api, zalo_api) as app:
        await zalo_api.push(zalo_api.message("zchat-1", "cho toi noi chuyen voi can bo", user_id="zuser-1"))
        await zalo_api.wait_for(lambda: any("yêu cầu #1" in s.text for s in zalo_api.sent))
        await telegram_api.wait_for("sendMessage", to_chat(GROUP, "(Zalo)"))
        # Written while waiting: it reaches the staff too.
        await zalo_api.push(zalo_api.message("zchat-1", "số hồ sơ của tôi là 261119-0013 ạ", user_id="zuser-1"))
        await telegram_api.wait_for("sendMessage", to_chat(GROUP, "261119-0013"))
        await telegram_api.push(staff_reply("Hồ sơ cần bổ sung bản sao sổ hộ khẩu.", await recorded(app, bot_post(telegram_api, "viết thêm")), 60))
        await zalo_api.wait_for(lambda: any(s.text.startswith("💬 Cán bộ Bộ phận Một cửa trả lời") for s in zalo_api.sent))
        await telegram_api.wait_for("sendMessage", to_chat(GROUP, "✅"))
        await asyncio.sleep(0.3)
        assert (await app.handovers.counts())["answered"] == 1
    delivered = [s for s in zalo_api.sent if "💬" in s.text]
    assert [s.chat_id for s in delivered] == ["zchat-1"]
    assert "Hồ sơ cần bổ sung bản sao sổ hộ khẩu." in delivered[0].text
    assert not any("💬" in m["text"] for m in telegram_api.sent if m["chat"]["id"] != GROUP)


_DIE_AFTER_CLAIM = """
import asyncio, os, signal, sys
from bot.config import Config
from bot.staff.handovers import HandoverStore
from bot.staff.relay import HandoverRelay

async def main():
    store = await HandoverStore.open(sys.argv[1], sys.argv[3] or None)
    relay = HandoverRelay(store, Config())

    async def send(chat_id, reply):  # the claim is written; the process dies before sending
        os.kill(os.getpid(), signal.SIGKILL)

    await relay.replies.deliver_pending(sys.argv[2], send)

asyncio.run(main())
"""


@pytest.mark.parametrize("channel", ["telegram", "zalo"])
async def test_a_reply_is_delivered_exactly_once_across_a_kill_between_claim_and_send(
    config: Config, telegram_api: FakeTelegramApi, zalo_api: FakeZaloApi, channel: str
) -> None:
    app = await App.open(config)
    try:
        user = str(RESIDENT) if channel == "telegram" else "zuser-7"
        await app.handovers.ask(channel, user, user, "tôi muốn gặp cán bộ")
        assert await app.handovers.reply(1, "Lan", "Mời ông mang giấy tờ đến sáng mai.")
    finally:
        await app.close()
    died = subprocess.run(
        [sys.executable, "-c", _DIE_AFTER_CLAIM, str(config.database.path), channel, config.database.url or ""],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, timeout=60,
    )
    assert died.returncode == -signal.SIGKILL, died.stderr.decode()
    app = await App.open(config)
    try:
        assert (await app.handovers.replies.counts()) == {"sending": 1}  # claimed, never sent
    finally:
        await app.close()

    started = time.monotonic()
    async with serving(config, telegram_api, zalo_api, lease=1.0) as app:
        if channel == "telegram":
            await telegram_api.wait_for("sendMessage", to_chat(RESIDENT, "💬"))
        else:
            await zalo_api.wait_for(lambda: any("💬" in s.text for s in zalo_api.sent))
        assert time.monotonic() - started < 10
        await telegram_api.wait_for("sendMessage", to_chat(GROUP, "✅"))
        await asyncio.sleep(0.5)  # more passes: nothing is sent again
        assert (await app.handovers.replies.counts()) == {"sent": 1}
    if channel == "telegram":
        sent = [c for c in telegram_api.calls_of("sendMessage") if to_chat(RESIDENT, "💬")(c)]
    else:
        sent = [s for s in zalo_api.sent if "💬" in s.text]
    assert len(sent) == 1 and "Mời ông mang giấy tờ đến sáng mai." in str(sent[0])


async def test_asking_twice_gives_one_open_hand_over(config: Config, telegram_api: FakeTelegramApi) -> None:
    async with serving(config, telegram_api) as app:
        await telegram_api.push(text_message("gặp cán bộ", user_id=RESIDENT))
        await telegram_api.wait_for("sendMessage", to_chat(RESIDENT, "#1"))
        await telegram_api.push(text_message("hoi nguoi that", user_id=RESIDENT, message_id=2))
        await telegram_api.wait_for("sendMessage", to_chat(RESIDENT, "Yêu cầu #1 của ông/bà đã được chuyển"))
        await telegram_api.wait_for("sendMessage", to_chat(GROUP, "viết thêm"))
        assert await app.handovers.counts() == {"waiting": 1, "answered": 0, "closed": 0}
        (only,) = await app.handovers.list()
        assert only.question == "gặp cán bộ"
        assert len(telegram_api.calls_of("sendMessage")) >= 4
        assert len([c for c in telegram_api.calls_of("sendMessage") if to_chat(GROUP, "🔔")(c)]) == 1


async def test_staff_close_a_hand_over_without_replying(config: Config, telegram_api: FakeTelegramApi) -> None:
    async with serving(config, telegram_api) as app:
        await telegram_api.push(text_message("cho tôi gặp cán bộ một cửa", user_id=RESIDENT))
        await telegram_api.wait_for("sendMessage", to_chat(GROUP, "🔔 Yêu cầu #1"))
        await telegram_api.push(staff_reply("/dong", await recorded(app, bot_post(telegram_api, "#1")), 70))
        await telegram_api.wait_for("sendMessage", to_chat(GROUP, "Đã đóng yêu cầu #1"))
        handover = await app.handovers.get(1)
        assert handover is not None and handover.state == "closed" and handover.closed_by
        # Staff talk among themselves, and ask the bot a question: never a resident's question.
        await telegram_api.push(
            text_message(
                f"@{BOT_USERNAME} lam giay khai sinh can gi", user_id=STAFF, chat_id=GROUP, chat_type="supergroup", message_id=71
            )
        )
        await telegram_api.push(staff_reply("Ông cần gì nữa không?", await recorded(app, bot_post(telegram_api, "🔔")), 72))
        await telegram_api.wait_for("sendMessage", to_chat(GROUP, "đã đóng, không gửi được nữa"))
        await asyncio.sleep(0.3)
        assert await app.handovers.counts() == {"waiting": 0, "answered": 0, "closed": 1}
    to_resident = [c.params["text"] for c in telegram_api.calls_of("sendMessage") if to_chat(RESIDENT)(c)]
    assert len(to_resident) == 1 and "#1" in to_resident[0]  # only the confirmation of the request
    assert not any("Đăng ký khai sinh" in m["text"] for m in telegram_api.sent)


async def test_without_a_staff_group_the_hand_over_waits_in_the_inbox(place: Place, telegram_api: FakeTelegramApi) -> None:
    config = Config(database=DatabaseConfig(path=place.path, url=place.url))
    async with serving(config, telegram_api) as app:
        await telegram_api.push(text_message("gặp cán bộ", user_id=RESIDENT))
        await telegram_api.wait_for("sendMessage", to_chat(RESIDENT, "#1"))
        assert (await app.handovers.counts())["waiting"] == 1
        assert await app.handovers.reply(1, "Lan (trang quản trị)", "Chào ông, tôi là Lan.")
        await telegram_api.wait_for("sendMessage", to_chat(RESIDENT, "Chào ông, tôi là Lan."))
    assert not any(c.params.get("chat_id") == GROUP for c in telegram_api.calls_of("sendMessage"))
