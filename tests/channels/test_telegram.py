"""End-to-end tests of the Telegram channel against a local fake Bot API server.

The real python-telegram-bot Application talks HTTP to tests/fakes/telegram_api.py on
127.0.0.1; nothing is mocked. Waits are on conditions (a call seen by the fake) with a
bounded timeout, never on elapsed time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from bot.channels.logguard import LogGuard
from bot.channels.telegram import MAX_MESSAGE_CHARS, TelegramChannel, file_url_for, mask_token
from bot.channels.telegram_incoming import COMMANDS, strip_mention
from bot.app import App
from bot.config import Config, DatabaseConfig, TelegramConfig, WebhookConfig
from bot.errors import ChannelError, RecipientBlocked
from bot.messages import Choice, Incoming, Reply, Response
from bot.dossiers.notify import Notifier
from bot.dossiers.sync import sync_source
from tests.fakes.telegram_api import (
    BOT_ID,
    Call,
    BOT_USERNAME,
    FakeTelegramApi,
    callback_query,
    text_message,
)

TOKEN = "123456789:AAtest-Token_for_the_fake"
QUESTION = "lam giay khai sinh can gi"
GROUP = -1001234567890


@dataclass
class RecordingEngine:
    """Passes messages to ``inner`` and keeps them, so tests can see what the engine got.

    ``fail_on`` makes a message with that text raise; ``gate`` holds messages from
    ``gated_chat`` until set.
    """

    inner: Any
    seen: list[Incoming] = field(default_factory=list)
    fail_on: str | None = None
    gate: asyncio.Event | None = None
    gated_chat: str | None = None

    async def handle(self, msg: Incoming) -> Response:
        self.seen.append(msg)
        if self.fail_on is not None and msg.text == self.fail_on:
            raise RuntimeError(f"cannot handle {msg.text!r}")
        if self.gate is not None and msg.chat_id == self.gated_chat:
            await self.gate.wait()
        return await self.inner.handle(msg)


@dataclass
class RecordedApp:
    """The real :class:`bot.app.App`'s engine and notifier, the engine seen through a
    :class:`RecordingEngine` (what the channel uses of an App)."""

    app: App
    engine: RecordingEngine
    notifier: Notifier | None

    @property
    def config(self) -> Config:
        """The real app's configuration."""
        return self.app.config

    @property
    def store(self) -> Any:
        """The real app's dossier database."""
        return self.app.store


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi(TOKEN) as fake:
        yield fake


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[RecordedApp]:
    real = await App.open(Config(database=DatabaseConfig(path=tmp_path / "motcua.sqlite3")))
    try:
        yield RecordedApp(real, RecordingEngine(real.engine), real.notifier)
    finally:
        await real.close()


def config_for(
    api: FakeTelegramApi, token: str = TOKEN, webhook: WebhookConfig | None = None
) -> TelegramConfig:
    return TelegramConfig(token=token, base_url=api.base_url, webhook=webhook or WebhookConfig())


@asynccontextmanager
async def running(config: TelegramConfig, app: Any) -> AsyncIterator[TelegramChannel]:
    channel = TelegramChannel(config, app, poll_timeout=1.0, retry_delays=(0.01, 0.02), notify_interval=0.05)
    await channel.start()
    try:
        yield channel
    finally:
        await channel.stop()


def to_chat(chat_id: int | str) -> Callable[[Call], bool]:
    return lambda call: str(call.params.get("chat_id")) == str(chat_id)


async def eventually(check: Callable[[], Any], timeout: float = 10.0) -> None:
    """Wait until the async ``check()`` is true (a database state), at most ``timeout``."""

    async def wait() -> None:
        while not await check():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- receiving and answering ---------------------------------------------------------


async def test_question_gets_the_engines_answer_as_plain_text(
    api: FakeTelegramApi, app: RecordedApp
) -> None:
    async with running(config_for(api), app):
        await api.push(text_message(QUESTION, user_id=111))
        (sent,) = await api.wait_for("sendMessage", to_chat(111))
    assert sent.params["text"].startswith("Đăng ký khai sinh")
    assert "Giấy chứng sinh" in sent.params["text"]
    assert "parse_mode" not in sent.params  # plain text: user words can never break markup
    assert "reply_parameters" not in sent.params  # no quoting in a private chat
    labels = [row[0]["text"] for row in sent.params["reply_markup"]["inline_keyboard"]]
    assert "Lệ phí" in labels
    (msg,) = app.engine.seen
    assert msg == Incoming(channel="telegram", user_id="111", chat_id="111", text=QUESTION)


async def test_non_text_message_reaches_the_engine_as_empty_text(
    api: FakeTelegramApi, app: RecordedApp
) -> None:
    sticker = text_message("", user_id=111)
    del sticker["message"]["text"]
    sticker["message"]["sticker"] = {
        "file_id": "s1", "file_unique_id": "u1", "type": "regular",
        "width": 512, "height": 512, "is_animated": False, "is_video": False,
    }
    async with running(config_for(api), app):
        await api.push(sticker)
        (sent,) = await api.wait_for("sendMessage", to_chat(111))
    assert app.engine.seen[0].text == ""
    assert "tin nhắn chữ" in sent.params["text"]


async def test_commands_are_registered_in_vietnamese(
    api: FakeTelegramApi, app: RecordedApp
) -> None:
    async with running(config_for(api), app):
        (call,) = api.calls_of("setMyCommands")
    commands = {c["command"]: c["description"] for c in call.params["commands"]}
    assert set(commands) == {"start", "help", "thutuc", "tracuu", "theodoi", "huytheodoi", "thon", "canbo"}
    assert commands["tracuu"].startswith("Tra cứu hồ sơ")
    assert len(COMMANDS) == 8


async def test_commands_reach_the_engine_as_text(api: FakeTelegramApi, app: RecordedApp) -> None:
    async with running(config_for(api), app):
        await api.push(text_message("/start", user_id=111))
        await api.wait_for("sendMessage", to_chat(111))
        await api.push(text_message(f"/tracuu@{BOT_USERNAME} 250312-0007", user_id=111, message_id=2))
        await api.wait_for("sendMessage", to_chat(111), count=2)
    assert [m.text for m in app.engine.seen] == ["/start", "/tracuu 250312-0007"]


def bot_message(sent: Call, message_id: int = 1001) -> dict[str, Any]:
    """The Message object Telegram would show for a sendMessage call (buttons included)."""
    return {
        "message_id": message_id,
        "date": 1700000000,
        "chat": {"id": int(sent.params["chat_id"]), "type": "private", "first_name": "Bác Ba"},
        "from": {"id": BOT_ID, "is_bot": True, "first_name": "Một cửa", "username": BOT_USERNAME},
        "text": sent.params["text"],
        "reply_markup": sent.params["reply_markup"],
    }


async def test_button_press_answers_the_query_and_sends_the_choice(
    api: FakeTelegramApi, app: RecordedApp
) -> None:
    async with running(config_for(api), app):
        await api.push(text_message("/thutuc", user_id=111))
        (menu,) = await api.wait_for("sendMessage", to_chat(111))
        buttons = [row[0] for row in menu.params["reply_markup"]["inline_keyboard"]]
        assert buttons[0]["text"].startswith("Hộ tịch")
        await api.push(callback_query(buttons[0]["callback_data"], bot_message(menu), query_id="q-7"))
        (answered,) = await api.wait_for("answerCallbackQuery")
        _, chosen = await api.wait_for("sendMessage", to_chat(111), count=2)
    assert answered.params["callback_query_id"] == "q-7"
    assert app.engine.seen[-1] == Incoming(
        channel="telegram",
        user_id="111",
        chat_id="111",
        text=buttons[0]["text"],
        choice=buttons[0]["callback_data"],
    )
    assert chosen.params["text"].startswith("Thủ tục lĩnh vực Hộ tịch")
    assert "reply_markup" in chosen.params


async def test_aspect_button_after_a_question(api: FakeTelegramApi, app: RecordedApp) -> None:
    async with running(config_for(api), app):
        await api.push(text_message(QUESTION, user_id=111))
        (answer,) = await api.wait_for("sendMessage", to_chat(111))
        buttons = [row[0] for row in answer.params["reply_markup"]["inline_keyboard"]]
        fee = next(b for b in buttons if b["text"] == "Lệ phí")
        await api.push(callback_query(fee["callback_data"], bot_message(answer)))
        await api.wait_for("answerCallbackQuery")
        _, detail = await api.wait_for("sendMessage", to_chat(111), count=2)
    assert "Lệ phí: Miễn lệ phí" in detail.params["text"]


async def test_stale_button_still_answers_the_query(api: FakeTelegramApi, app: RecordedApp) -> None:
    old = {"message_id": 5, "date": 0, "chat": {"id": 111, "type": "private"}}  # inaccessible (date 0)
    async with running(config_for(api), app):
        await api.push(callback_query("field:gone", old, query_id="q-old"))
        await api.wait_for("answerCallbackQuery")
        (sent,) = await api.wait_for("sendMessage", to_chat(111))
    assert app.engine.seen[-1].choice == "field:gone"
    assert "đã cũ" in sent.params["text"]  # the engine's kind word about old buttons


@pytest.mark.parametrize(
    "origin",
    [
        {"type": "user", "date": 1700000000, "sender_user": {"id": 5, "is_bot": False, "first_name": "A"}},
        {"type": "hidden_user", "date": 1700000000, "sender_user_name": "Người giấu tên"},
        {
            "type": "chat",
            "date": 1700000000,
            "sender_chat": {"id": -100777, "type": "supergroup", "title": "Xóm"},
        },
        {
            "type": "channel",
            "date": 1700000000,
            "chat": {"id": -100888, "type": "channel", "title": "Tin xã"},
            "message_id": 9,
        },
    ],
    ids=["user", "hidden_user", "chat", "channel"],
)
async def test_forwarded_message_is_marked(
    api: FakeTelegramApi, app: RecordedApp, origin: dict
) -> None:
    async with running(config_for(api), app):
        await api.push(text_message(QUESTION, user_id=222, forward_origin=origin))
        await api.wait_for("sendMessage", to_chat(222))
    (msg,) = app.engine.seen
    assert msg.forwarded is True


async def test_group_answers_only_commands_mentions_and_replies(
    api: FakeTelegramApi, app: RecordedApp
) -> None:
    bot_message = {
        "message_id": 40,
        "date": 0,
        "chat": {"id": GROUP, "type": "supergroup", "title": "Thôn Đông"},
        "from": {"id": BOT_ID, "is_bot": True, "first_name": "Một cửa", "username": BOT_USERNAME},
        "text": "Đăng ký khai sinh: cần giấy chứng sinh.",
    }
    someone_else = {**bot_message, "message_id": 41, "from": {"id": 5, "is_bot": False, "first_name": "A"}}
    group = {"chat_id": GROUP, "chat_type": "supergroup"}
    async with running(config_for(api), app):
        await api.push(text_message(QUESTION, user_id=301, message_id=50, **group))  # chatter: ignored
        await api.push(text_message("/start@other_bot", user_id=301, message_id=51, **group))  # other bot
        await api.push(text_message("/foo", user_id=301, message_id=52, **group))  # not our command
        await api.push(
            text_message("cảm ơn", user_id=301, message_id=53, reply_to_message=someone_else, **group)
        )
        await api.push(text_message(f"@{BOT_USERNAME} {QUESTION}", user_id=302, message_id=54, **group))
        await api.push(text_message("/thutuc", user_id=303, message_id=55, **group))
        await api.push(
            text_message("còn lệ phí?", user_id=304, message_id=56, reply_to_message=bot_message, **group)
        )
        answers = await api.wait_for("sendMessage", to_chat(GROUP), count=3)
    # stop() has processed every fetched update: nothing else was answered.
    assert len(api.calls_of("sendMessage")) == 3
    assert [(m.user_id, m.text) for m in app.engine.seen] == [
        ("302", QUESTION),
        ("303", "/thutuc"),
        ("304", "còn lệ phí?"),
    ]
    # In a group the answer quotes the question, so everyone sees what it answers.
    quoted = {a.params["reply_parameters"]["message_id"] for a in answers}
    assert quoted == {54, 55, 56}


async def test_edits_and_channel_posts_are_not_answered(
    api: FakeTelegramApi, app: RecordedApp
) -> None:
    edited = text_message(QUESTION, user_id=111)["message"]
    post = {
        **text_message("Thông báo của xã", chat_id=-100555)["message"],
        "chat": {"id": -100555, "type": "channel", "title": "Tin xã"},
    }
    async with running(config_for(api), app):
        await api.push({"edited_message": {**edited, "edit_date": 1700000001}})
        await api.push({"channel_post": post})
        await api.push(text_message("/help", user_id=111, message_id=2))
        await api.wait_for("sendMessage", to_chat(111))
    assert [m.text for m in app.engine.seen] == ["/help"]
    assert len(api.calls_of("sendMessage")) == 1


# -- delivery --------------------------------------------------------------------------


async def test_long_reply_is_split_at_lines_with_buttons_on_the_last_part(
    api: FakeTelegramApi, app: RecordedApp
) -> None:
    lines = [f"{i}. Giấy tờ số {i}: bản sao có chứng thực hoặc bản chính." for i in range(250)]
    text = "\n".join(lines)
    assert len(text) > 2 * MAX_MESSAGE_CHARS
    reply = Reply(text, (Choice("Lệ phí", "aspect:fee"),))
    async with running(config_for(api), app) as channel:
        await channel.send("111", reply)
    parts = api.calls_of("sendMessage")
    assert len(parts) == -(-len(text) // MAX_MESSAGE_CHARS)  # no more parts than needed
    assert all(len(p.params["text"]) <= MAX_MESSAGE_CHARS for p in parts)
    assert "\n".join(p.params["text"] for p in parts) == text  # cut only at line ends
    assert [("reply_markup" in p.params) for p in parts] == [False] * (len(parts) - 1) + [True]
    assert parts[-1].params["reply_markup"]["inline_keyboard"] == [
        [{"text": "Lệ phí", "callback_data": "aspect:fee"}]
    ]


async def test_flood_limit_retry_after_is_honoured(api: FakeTelegramApi, app: RecordedApp) -> None:
    api.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    async with running(config_for(api), app):
        await api.push(text_message(QUESTION, user_id=111))
        first, second = await api.wait_for("sendMessage", to_chat(111), count=2)
    assert first.params["text"] == second.params["text"]
    assert len(api.calls_of("sendMessage")) == 2  # retried once, not given up, no apology


async def test_network_error_is_retried(api: FakeTelegramApi, app: RecordedApp) -> None:
    api.fail("sendMessage", 502, "Bad Gateway")
    async with running(config_for(api), app):
        await api.push(text_message(QUESTION, user_id=111))
        first, second = await api.wait_for("sendMessage", to_chat(111), count=2)
    assert first.params["text"] == second.params["text"]


async def test_blocked_recipient_raises_recipient_blocked(
    api: FakeTelegramApi, app: RecordedApp
) -> None:
    api.blocked_chats.add("999")
    async with running(config_for(api), app) as channel:
        with pytest.raises(RecipientBlocked):
            await channel.send("999", Reply("Hồ sơ của ông/bà đã có kết quả."))
        await channel.send("111", Reply("Hồ sơ của ông/bà đã có kết quả."))
    assert [c.params["chat_id"] for c in api.calls_of("sendMessage")] == ["999", "111"]


DOSSIER = "000.00.14.H56-261128-0002"
EXPORT_HEADER = (
    "Mã hồ sơ,Tên thủ tục,Chủ hồ sơ,Số điện thoại,Địa chỉ,"
    "Ngày tiếp nhận,Ngày hẹn trả,Ngày trả kết quả,Trạng thái"
)


async def test_follow_notification_is_delivered_and_a_blocked_user_unsubscribed(
    api: FakeTelegramApi, app: RecordedApp, tmp_path: Path
) -> None:
    store = app.app.store
    async with running(config_for(api), app):
        for user_id in (111, 333):
            await api.push(text_message("/theodoi 261128-0002", user_id=user_id))
            (followed,) = await api.wait_for("sendMessage", to_chat(user_id))
            assert followed.params["text"].startswith("Đã đăng ký theo dõi")
        api.blocked_chats.add("333")
        export = tmp_path / "export.csv"
        export.write_text(
            f"{EXPORT_HEADER}\n{DOSSIER},Đăng ký khai sinh,Trần Thị Bích,0987000102,"
            '"Thôn 2, xã Tân Hòa",28/11/2026,30/11/2026,,Đã xử lý xong\n',
            encoding="utf-8",
        )
        report = await sync_source(store, str(export), app.app.config.status.sync.columns)
        assert report.notifications == 2
        _, note = await api.wait_for("sendMessage", to_chat(111), count=2)
        await api.wait_for("sendMessage", to_chat(333), count=2)  # the one answered 403

        async def blocked_user_dropped() -> bool:
            return await store.follows_of("telegram", "333") == []

        await eventually(blocked_user_dropped)
        assert note.params["text"].startswith(f"Hồ sơ {DOSSIER} vừa chuyển sang trạng thái")
        assert await store.follows_of("telegram", "111") == [DOSSIER]

        # The notification's own button unfollows.
        unfollow = note.params["reply_markup"]["inline_keyboard"][0][0]
        assert unfollow["text"] == "Bỏ theo dõi"
        await api.push(callback_query(unfollow["callback_data"], bot_message(note)))
        await api.wait_for("sendMessage", to_chat(111), count=3)
        assert await store.follows_of("telegram", "111") == []


async def test_slow_update_does_not_block_other_chats(
    api: FakeTelegramApi, app: RecordedApp
) -> None:
    app.engine.gate = asyncio.Event()
    app.engine.gated_chat = "111"
    async with running(config_for(api), app):
        await api.push(text_message(QUESTION, user_id=111))
        await api.push(text_message(QUESTION, user_id=222))
        await api.wait_for("sendMessage", to_chat(222))
        assert api.calls_of("sendMessage")[0].params["chat_id"] == "222"
        app.engine.gate.set()
        await api.wait_for("sendMessage", to_chat(111))


# -- errors ----------------------------------------------------------------------------


async def test_engine_failure_gets_a_short_vietnamese_apology(
    api: FakeTelegramApi, app: RecordedApp, caplog: pytest.LogCaptureFixture
) -> None:
    app.engine.fail_on = "số điện thoại tôi là 0912345678"
    async with running(config_for(api), app):
        update_id = await api.push(text_message(app.engine.fail_on, user_id=111))
        (sent,) = await api.wait_for("sendMessage", to_chat(111))
    assert sent.params["text"].startswith("Xin lỗi, hệ thống đang gặp sự cố.")
    logged = caplog.text
    assert f"update {update_id}" in logged and "chat 111" in logged
    assert "RuntimeError" in logged and "in handle" in logged  # where it failed...
    assert "0912345678" not in logged  # ...but not what the user wrote
    assert "Traceback" not in sent.params["text"]


async def test_missing_token_is_a_channel_error(api: FakeTelegramApi, app: RecordedApp) -> None:
    channel = TelegramChannel(config_for(api, token=""), app)
    with pytest.raises(ChannelError, match="token"):
        await channel.start()


async def test_rejected_token_is_a_channel_error_with_the_token_masked(
    api: FakeTelegramApi, app: RecordedApp
) -> None:
    channel = TelegramChannel(config_for(api, token="42:definitely-wrong"), app, retry_delays=(0.01,))
    with pytest.raises(ChannelError) as info:
        await channel.start()
    assert "42:***" in str(info.value)
    assert "definitely-wrong" not in str(info.value)
    await channel.stop()  # harmless after a failed start


async def test_token_and_user_data_never_appear_in_logs(
    api: FakeTelegramApi, app: RecordedApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    async with running(config_for(api), app):
        await api.push(text_message(QUESTION, user_id=111))
        await api.wait_for("sendMessage", to_chat(111))
    assert "getMe" in caplog.text  # httpx did log request URLs...
    assert TOKEN not in caplog.text  # ...with the token masked
    assert mask_token(TOKEN) in caplog.text
    # Even at DEBUG, no update or API parameters with the user's name or words.
    assert "Bác Ba" not in caplog.text
    assert QUESTION not in caplog.text


async def test_stop_is_safe_to_repeat(api: FakeTelegramApi, app: RecordedApp) -> None:
    channel = TelegramChannel(config_for(api), app, poll_timeout=1.0)
    await channel.start()
    await channel.stop()
    await channel.stop()


async def test_stop_finishes_the_answers_in_progress(
    api: FakeTelegramApi, app: RecordedApp
) -> None:
    app.engine.gate = asyncio.Event()
    app.engine.gated_chat = "111"
    channel = TelegramChannel(config_for(api), app, poll_timeout=1.0)
    await channel.start()
    await api.push(text_message(QUESTION, user_id=111))

    async def engine_has_it() -> bool:
        return bool(app.engine.seen)

    await eventually(engine_has_it)
    stopping = asyncio.create_task(channel.stop())
    await asyncio.sleep(0)  # let stop() begin while the answer is still being made
    app.engine.gate.set()
    await asyncio.wait_for(stopping, 10)
    (sent,) = api.calls_of("sendMessage")
    assert sent.params["text"].startswith("Đăng ký khai sinh")


# -- webhook mode ----------------------------------------------------------------------


async def test_webhook_mode_processes_posts_with_the_secret_only(
    api: FakeTelegramApi, app: RecordedApp
) -> None:
    port = free_port()
    secret = "motcua-Secret_42"
    webhook = WebhookConfig(
        url="https://motcua.example.vn/tg/hook", listen="127.0.0.1", port=port, secret_token=secret
    )
    async with running(config_for(api, webhook=webhook), app):
        (set_call,) = api.calls_of("setWebhook")
        assert set_call.params["url"] == "https://motcua.example.vn/tg/hook"
        assert set_call.params["secret_token"] == secret
        url = f"http://127.0.0.1:{port}/tg/hook"
        async with aiohttp.ClientSession() as http:
            update = api.make_update(text_message(QUESTION, user_id=111))
            async with http.post(url, json=update) as resp:
                assert resp.status == 403
            wrong = {"X-Telegram-Bot-Api-Secret-Token": "guess"}
            async with http.post(url, json=update, headers=wrong) as resp:
                assert resp.status == 403
            right = {"X-Telegram-Bot-Api-Secret-Token": secret}
            async with http.post(url, json=update, headers=right) as resp:
                assert resp.status == 200
        await api.wait_for("sendMessage", to_chat(111))
    assert len(app.engine.seen) == 1
    assert not api.calls_of("getUpdates")


async def test_webhook_without_configured_secret_gets_a_random_one(
    api: FakeTelegramApi, app: RecordedApp
) -> None:
    webhook = WebhookConfig(url="https://motcua.example.vn/tg", port=free_port())
    async with running(config_for(api, webhook=webhook), app):
        (set_call,) = api.calls_of("setWebhook")
    assert len(set_call.params["secret_token"]) >= 32


async def test_webhook_with_invalid_secret_is_a_channel_error(
    api: FakeTelegramApi, app: RecordedApp
) -> None:
    webhook = WebhookConfig(url="https://motcua.example.vn/tg", port=free_port(), secret_token="có dấu")
    channel = TelegramChannel(config_for(api, webhook=webhook), app)
    with pytest.raises(ChannelError, match="secret_token"):
        await channel.start()


async def test_webhook_port_in_use_is_a_channel_error(
    api: FakeTelegramApi, app: RecordedApp
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        webhook = WebhookConfig(url="https://motcua.example.vn/tg", port=port, secret_token="abc")
        channel = TelegramChannel(config_for(api, webhook=webhook), app, retry_delays=())
        with pytest.raises(ChannelError, match=f"127.0.0.1:{port}"):
            await channel.start()


# -- helpers ---------------------------------------------------------------------------


def test_strip_mention() -> None:
    assert strip_mention(f"@{BOT_USERNAME}  hỏi   lệ phí", BOT_USERNAME) == "hỏi lệ phí"
    assert strip_mention(f"/tracuu@{BOT_USERNAME.upper()} 123", BOT_USERNAME) == "/tracuu 123"
    assert strip_mention(f"@{BOT_USERNAME}x vẫn giữ", BOT_USERNAME) == f"@{BOT_USERNAME}x vẫn giữ"


def test_mask_token_and_file_url() -> None:
    assert mask_token("123:abc") == "123:***"
    assert mask_token("garbage") == "***"
    assert file_url_for("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"


# -- issue 9: tokens and users' data never in the log ----------------------------------

SECRET_PART = TOKEN.partition(":")[2]


async def test_an_error_page_quoting_the_url_never_puts_the_token_in_the_log(
    api: FakeTelegramApi, app: RecordedApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, every level
    api.fail_with_page("setMyCommands")
    api.fail_with_page("getUpdates")
    api.fail_with_page("getUpdates")
    async with running(config_for(api), app):
        await api.wait_for("getUpdates", count=3)
        await api.push(text_message(QUESTION, user_id=111))
        await api.wait_for("sendMessage", to_chat(111))
    # The library did log the page (at ERROR, from telegram.request), and we did too...
    assert "Bad Gateway" in caplog.text
    assert any(r.name.startswith("telegram.request") for r in caplog.records)
    # ...but neither the token nor its secret part, in messages or tracebacks.
    assert SECRET_PART not in caplog.text
    assert mask_token(TOKEN) in caplog.text


@pytest.fixture
def guarded(caplog: pytest.LogCaptureFixture):
    """All logging captured at DEBUG behind a guard for TOKEN (removed afterwards)."""
    caplog.set_level(logging.DEBUG)
    guard = LogGuard([TOKEN])
    guard.install()
    yield caplog
    guard.remove()


def test_the_guard_masks_arguments_tracebacks_and_quoted_forms(guarded: pytest.LogCaptureFixture) -> None:
    caplog = guarded
    logger = logging.getLogger("some.library.added.later")
    logger.error("GET %s failed", f"https://api.example/bot{TOKEN}/getMe")
    logger.warning("quoted: %s", quote(TOKEN, safe=""))
    try:
        raise RuntimeError(f"page: /bot{TOKEN}/sendMessage")
    except RuntimeError:
        logger.exception("request failed")
    assert "request failed" in caplog.text and "RuntimeError" in caplog.text
    assert SECRET_PART not in caplog.text
    assert caplog.text.count(mask_token(TOKEN)) == 3


# -- issue 9: an unreadable update is skipped, and logged by id only ----------------------

PRIVATE_NAME = "Nguyễn Văn Bảy"
PRIVATE_TEXT = "sdt cua toi 0912345678"


def malformed_update() -> dict[str, Any]:
    """A message Telegram's library cannot parse (no date), full of personal data."""
    return {
        "message": {
            "message_id": 5,
            "chat": {"id": 111, "type": "private", "first_name": PRIVATE_NAME},
            "from": {"id": 111, "is_bot": False, "first_name": PRIVATE_NAME},
            "text": PRIVATE_TEXT,
        }
    }


def assert_no_personal_data(caplog: pytest.LogCaptureFixture) -> None:
    assert PRIVATE_NAME not in caplog.text and "0912345678" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.CRITICAL]


async def test_an_unreadable_polled_update_is_skipped_and_logged_by_id_only(
    api: FakeTelegramApi, app: RecordedApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running(config_for(api), app):
        bad = await api.push_raw(malformed_update())
        await api.push(text_message(QUESTION, user_id=222))
        # Polling moved past the bad update: the next one is answered, the bad one confirmed.
        await api.wait_for("sendMessage", to_chat(222))
        await api.wait_consumed(bad)
    assert f"update {bad} cannot be read (KeyError)" in caplog.text
    assert_no_personal_data(caplog)
    assert [m.chat_id for m in app.engine.seen] == ["222"]


def test_the_librarys_critical_dump_of_an_update_is_shortened(guarded: pytest.LogCaptureFixture) -> None:
    caplog = guarded
    data = [{"update_id": 77, **malformed_update()}]
    try:
        raise KeyError("date")
    except KeyError as exc:
        # What python-telegram-bot's Bot.get_updates logs when parsing fails.
        logging.getLogger("telegram.ext.ExtBot").critical(
            "Error while parsing updates! Received data was %r", data, exc_info=exc
        )
    (record,) = caplog.records
    assert record.getMessage() == "Telegram sent an update that cannot be read (update id 77): KeyError"
    assert PRIVATE_NAME not in caplog.text and PRIVATE_TEXT not in caplog.text


# -- issue 9: the webhook refuses before reading, caps the body -----------------------------

WEBHOOK_SECRET = "motcua-Secret_42"


@asynccontextmanager
async def webhook_running(api: FakeTelegramApi, app: RecordedApp) -> AsyncIterator[str]:
    port = free_port()
    webhook = WebhookConfig(
        url="https://motcua.example.vn/tg/hook", listen="127.0.0.1", port=port, secret_token=WEBHOOK_SECRET
    )
    async with running(config_for(api, webhook=webhook), app):
        yield f"127.0.0.1:{port}"


async def raw_post(address: str, headers: dict[str, str], body: bytes = b"") -> tuple[bytes, float]:
    """Send a request's head (and ``body``) and read the answer without sending more;
    returns the answer and the seconds it took."""
    host, port = address.split(":")
    loop = asyncio.get_running_loop()
    started = loop.time()
    reader, writer = await asyncio.open_connection(host, int(port))
    head = "POST /tg/hook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    writer.write(head.encode() + body)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)  # until the server closes
    writer.close()
    return answer, loop.time() - started


async def test_webhook_refuses_a_wrong_secret_before_reading_the_body(
    api: FakeTelegramApi, app: RecordedApp
) -> None:
    async with webhook_running(api, app) as address:
        # A 95 MB body announced, none of it sent: the answer comes without waiting for it.
        for headers in (
            {"Content-Length": "95000000", "X-Telegram-Bot-Api-Secret-Token": "guess"},
            {"Content-Length": "95000000"},
            {"Content-Length": "95000000", "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET[:-1]},
        ):
            answer, seconds = await raw_post(address, headers)
            assert answer.startswith(b"HTTP/1.1 403"), answer[:80]
            assert seconds < 2
    assert app.engine.seen == []


async def test_webhook_refuses_an_oversized_body_with_413_without_reading_it(
    api: FakeTelegramApi, app: RecordedApp
) -> None:
    right = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    async with webhook_running(api, app) as address:
        answer, seconds = await raw_post(address, {"Content-Length": "95000000", **right})
        assert answer.startswith(b"HTTP/1.1 413"), answer[:80]
        assert seconds < 2
        # Without a length (chunked), reading stops at the cap.
        chunk = b"x" * 65536
        body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20)) + b"0\r\n\r\n"
        answer, _ = await raw_post(address, {"Transfer-Encoding": "chunked", **right}, body)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:80]
        # A normal update still gets through.
        update = json.dumps(api.make_update(text_message(QUESTION, user_id=111))).encode()
        answer, _ = await raw_post(address, {"Content-Length": str(len(update)), "Connection": "close", **right}, update)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:80]
        await api.wait_for("sendMessage", to_chat(111))


async def test_webhook_skips_an_unreadable_update_and_logs_its_id_only(
    api: FakeTelegramApi, app: RecordedApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    right = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    async with webhook_running(api, app) as address:
        url = f"http://{address}/tg/hook"
        async with aiohttp.ClientSession() as http:
            bad = api.make_update(malformed_update())
            async with http.post(url, json=bad, headers=right) as resp:
                assert resp.status == 200  # acknowledged: Telegram must not send it again
            async with http.post(url, json={"no": "id"}, headers=right) as resp:
                assert resp.status == 400
            async with http.post(url, json=api.make_update(text_message(QUESTION, user_id=222)), headers=right) as resp:
                assert resp.status == 200
        await api.wait_for("sendMessage", to_chat(222))
    assert f"update {bad['update_id']} cannot be read (KeyError)" in caplog.text
    assert_no_personal_data(caplog)


async def test_messages_sent_are_counted_per_month(api: FakeTelegramApi, app: RecordedApp) -> None:
    from datetime import datetime

    async with running(config_for(api), app):
        await api.push(text_message(QUESTION, user_id=111))
        await api.push(text_message("xin chào", user_id=222))
        await api.wait_for("sendMessage", count=2)
    month = datetime.now().strftime("%Y-%m")
    assert await app.store.channel_usage(month) == {"telegram": 2}


async def test_stop_answers_every_webhook_update_acknowledged_with_200(
    api: FakeTelegramApi, app: RecordedApp
) -> None:
    app.engine.gate = asyncio.Event()
    app.engine.gated_chat = "111"
    port = free_port()
    webhook = WebhookConfig(
        url="https://motcua.example.vn/tg/hook", listen="127.0.0.1", port=port, secret_token=WEBHOOK_SECRET
    )
    channel = TelegramChannel(config_for(api, webhook=webhook), app, poll_timeout=1.0)
    await channel.start()
    right = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    async with aiohttp.ClientSession() as http:
        for i in range(20):
            update = api.make_update(text_message(f"câu {i}", user_id=111, message_id=i + 1))
            async with http.post(f"http://127.0.0.1:{port}/tg/hook", json=update, headers=right) as resp:
                assert resp.status == 200
    stopping = asyncio.create_task(channel.stop())
    await asyncio.sleep(0.05)  # stop() has begun while the answers wait
    app.engine.gate.set()
    await asyncio.wait_for(stopping, 30)
    assert len(api.calls_of("sendMessage")) == 20


def test_the_guard_leaves_text_alone_for_an_empty_or_tiny_secret() -> None:
    guard = LogGuard(["", "ab"])
    assert guard.mask("about a cab") == "about a cab"
    assert LogGuard([TOKEN]).mask(f"x {TOKEN} y {SECRET_PART}") == f"x {mask_token(TOKEN)} y ***"
