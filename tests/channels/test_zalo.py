"""The Zalo channel end to end: the channel against a local fake Zalo Bot API.

Tests of the adapter's own behaviour (addressing, de-duplication, webhook security,
failures) use a tiny engine double with predictable answers, so that a failure points
at the adapter; the tests in the second half run the real app (catalogue, engine,
dossier store, notifier) behind the channel.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest

from bot.channels.zalo import SECRET_HEADER, ZaloChannel, addressed_text
from bot.channels.zalo_api import RetryPolicy, ZaloApiError
from bot.app import App
from bot.config import CatalogueConfig, Config, DatabaseConfig, WebhookConfig, ZaloConfig
from bot.errors import ChannelError, RecipientBlocked
from bot.messages import Choice, Incoming, Intent, Reply, Response
from bot.dossiers.store import Store
from bot.dossiers.sync import sync_source
from tests.fakes.zalo_api import BOT_DISPLAY_NAME, FakeZaloApi
from tests.dossiers.conftest import db  # noqa: F401  (fixture: each backend)

TOKEN = "1234567890:aBcDeFgHiJkLmNoPqRsTuVwXyZ"
SECRET = "webhook-secret-123"
HELP = "Tôi có thể giúp: hỏi thủ tục hành chính, tra cứu hồ sơ (/tracuu <mã>)."


# -- an engine double -------------------------------------------------------------------


class EngineDouble:
    """Predictable answers: empty text → help; "dài" → a 3,000-character reply;
    "chọn" → two choices; "hỏng" → an exception; anything else is echoed."""

    def __init__(self) -> None:
        self.seen: list[Incoming] = []

    async def handle(self, msg: Incoming) -> Response:
        self.seen.append(msg)
        if not msg.text.strip():
            return Response(Intent.HELP, [Reply(HELP)])
        if msg.text == "dài":
            lines = [f"{i:03d}. Giấy tờ cần mang theo khi nộp hồ sơ tại bộ phận một cửa." for i in range(1, 51)]
            return Response(Intent.PROCEDURE, [Reply("\n".join(lines))])
        if msg.text == "chọn":
            choices = (Choice("Khai sinh", "p:khai-sinh"), Choice("Khai tử", "p:khai-tu"))
            return Response(Intent.PROCEDURE, [Reply("Ông/bà hỏi thủ tục nào?", choices)])
        if msg.text == "hỏng":
            raise RuntimeError("engine bug")
        return Response(Intent.UNKNOWN, [Reply(f"Đã nhận: {msg.text}")])


@dataclass
class AppDouble:
    """What the channel uses of :class:`bot.app.App`: the engine and the notifier."""

    config: Config = field(default_factory=Config)
    engine: EngineDouble = field(default_factory=EngineDouble)
    notifier: object | None = None
    store: Store | None = None


# -- fixtures ---------------------------------------------------------------------------

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)

ChannelFactory = Callable[..., Awaitable[ZaloChannel]]


@pytest.fixture
async def api() -> AsyncIterator[FakeZaloApi]:
    async with FakeZaloApi(TOKEN, max_poll_wait=0.2) as fake:
        yield fake


@pytest.fixture
async def start_channel(api: FakeZaloApi) -> AsyncIterator[ChannelFactory]:
    """Start a channel against the fake API; every channel is stopped at the end."""
    started: list[ZaloChannel] = []

    async def start(
        app: object | None = None,
        *,
        token: str = TOKEN,
        webhook: WebhookConfig | None = None,
        **options: object,
    ) -> ZaloChannel:
        config = ZaloConfig(
            token=token, base_url=api.base_url, webhook=webhook or WebhookConfig(), **options  # type: ignore[arg-type]
        )
        channel = ZaloChannel(
            config,
            app or AppDouble(),  # type: ignore[arg-type]
            poll_timeout=0.2,
            retry=FAST,
            error_backoff=(0.01, 0.05),
            notify_interval=0.05,
        )
        await channel.start()
        started.append(channel)
        return channel

    yield start
    for channel in started:
        await channel.stop()


def webhook_config(port: int = 0) -> WebhookConfig:
    return WebhookConfig(
        url="https://motcua.tanhoa.example.vn/zalo/webhook", listen="127.0.0.1", port=port, secret_token=SECRET
    )


def hook_url(channel: ZaloChannel) -> str:
    return f"http://127.0.0.1:{channel.webhook_port}/zalo/webhook"


# -- starting ---------------------------------------------------------------------------


async def test_a_rejected_token_is_a_clear_channel_error(
    api: FakeZaloApi, start_channel: ChannelFactory
) -> None:
    with pytest.raises(ChannelError) as info:
        await start_channel(token="999:not-the-right-token")
    message = str(info.value)
    assert "channels.zalo.token" in message and "rejected" in message
    assert "not-the-right-token" not in message
    assert api.methods() == ["getMe"]


async def test_a_missing_token_fails_before_any_request(
    api: FakeZaloApi, start_channel: ChannelFactory
) -> None:
    with pytest.raises(ChannelError, match="channels.zalo.token"):
        await start_channel(token="  ")
    assert api.calls == []


async def test_webhook_mode_needs_a_secret_of_8_to_256_characters(
    api: FakeZaloApi, start_channel: ChannelFactory
) -> None:
    for secret in ("", "short", "x" * 257):
        webhook = WebhookConfig(url="https://example.vn/zalo", port=0, secret_token=secret)
        with pytest.raises(ChannelError, match="secret_token"):
            await start_channel(webhook=webhook)
    assert api.calls == []


async def test_an_unreachable_api_is_a_channel_error() -> None:
    config = ZaloConfig(token=TOKEN, base_url="http://127.0.0.1:9")  # discard port: refused
    channel = ZaloChannel(config, AppDouble(), retry=FAST)  # type: ignore[arg-type]
    with pytest.raises(ChannelError, match="cannot reach"):
        await channel.start()
    await channel.stop()  # harmless when never started


# -- polling ----------------------------------------------------------------------------


async def test_polling_answers_one_update_per_call_with_timeouts_between(
    api: FakeZaloApi, start_channel: ChannelFactory
) -> None:
    app = AppDouble()
    await start_channel(app)
    await api.push(api.message("chat-1", "xin chào"))
    await api.wait_sent(1)
    await api.wait_for(lambda: api.poll_timeouts >= 1)  # a long poll ended empty (408)
    await api.push(api.message("chat-1", "cảm ơn"))
    sent = await api.wait_sent(2)
    assert [s.text for s in sent] == ["Đã nhận: xin chào", "Đã nhận: cảm ơn"]
    assert {s.chat_id for s in sent} == {"chat-1"}
    assert app.engine.seen[0] == Incoming(channel="zalo", user_id="chat-1", chat_id="chat-1", text="xin chào")
    methods = api.methods()
    assert methods[:2] == ["getMe", "deleteWebhook"]  # no stale webhook swallows updates
    assert methods.count("getUpdates") >= 3


async def test_a_long_reply_is_split_at_line_boundaries(api: FakeZaloApi, start_channel: ChannelFactory) -> None:
    await start_channel()
    await api.push(api.message("chat-1", "dài"))
    sent = await api.wait_sent(2)
    assert len(sent) == 2
    assert all(len(s.text) <= 2000 for s in sent)
    assert sent[0].text.endswith("một cửa.") and sent[1].text.startswith("0")
    assert "\n".join(s.text for s in sent).count("\n") == 49


async def test_choices_are_a_numbered_list(api: FakeZaloApi, start_channel: ChannelFactory) -> None:
    await start_channel()
    await api.push(api.message("chat-1", "chọn"))
    (sent,) = await api.wait_sent(1)
    assert sent.text == "Ông/bà hỏi thủ tục nào?\n\nTrả lời 1 hoặc 2 để chọn:\n1. Khai sinh\n2. Khai tử"


async def test_a_sticker_goes_to_the_engine_as_empty_text(api: FakeZaloApi, start_channel: ChannelFactory) -> None:
    app = AppDouble()
    await start_channel(app)
    await api.push(api.message("chat-1", event="message.sticker.received", sticker="s-123"))
    await api.push(api.message("chat-2", event="message.unsupported.received"))
    await api.push(api.message("chat-3", event="message.image.received", caption="giấy này là gì"))
    sent = await api.wait_sent(3)
    by_chat = {s.chat_id: s.text for s in sent}
    assert by_chat == {"chat-1": HELP, "chat-2": HELP, "chat-3": "Đã nhận: giấy này là gì"}


async def test_a_429_is_retried_and_the_reply_arrives(api: FakeZaloApi, start_channel: ChannelFactory) -> None:
    api.fail("sendMessage", 429, "Quota exceeded")
    await start_channel()
    await api.push(api.message("chat-1", "xin chào"))
    (sent,) = await api.wait_sent(1)
    assert sent.text == "Đã nhận: xin chào"
    assert api.methods().count("sendMessage") == 2


async def test_polling_survives_api_failures(api: FakeZaloApi, start_channel: ChannelFactory) -> None:
    api.fail("getUpdates", 500, "Internal error", times=FAST.attempts * 2)
    api.fail("getUpdates", 502, http_status=502, raw_body="Bad Gateway")
    await start_channel()
    await api.push(api.message("chat-1", "xin chào"))
    (sent,) = await api.wait_sent(1)
    assert sent.text == "Đã nhận: xin chào"


async def test_a_failing_chat_does_not_stop_the_others(
    api: FakeZaloApi, start_channel: ChannelFactory, caplog: pytest.LogCaptureFixture
) -> None:
    await start_channel()
    api.blocked_chats.add("chat-blocked")
    await api.push(api.message("chat-bug", "hỏng", display_name="Trần Thị Bé"))
    await api.push(api.message("chat-blocked", "xin chào"))
    await api.push(api.message("chat-ok", "xin chào"))
    sent = await api.wait_sent(2)
    sorry = "Xin lỗi, hệ thống đang gặp sự cố. Ông/bà vui lòng thử lại sau ít phút hoặc gọi 0210 3800 000."
    assert {s.chat_id: s.text for s in sent} == {"chat-bug": sorry, "chat-ok": "Đã nhận: xin chào"}
    assert "Trần Thị Bé" not in caplog.text and "hỏng" not in caplog.text
    assert "chat-bug" not in caplog.text


async def test_messages_of_one_chat_are_answered_in_order(api: FakeZaloApi, start_channel: ChannelFactory) -> None:
    await start_channel()
    for i in range(5):
        await api.push(api.message("chat-1", f"tin {i}"))
    sent = await api.wait_sent(5)
    assert [s.text for s in sent] == [f"Đã nhận: tin {i}" for i in range(5)]


async def test_the_bot_ignores_messages_from_bots(api: FakeZaloApi, start_channel: ChannelFactory) -> None:
    app = AppDouble()
    await start_channel(app)
    bot_message = api.message("chat-1", "xin chào")
    bot_message["message"]["from"]["is_bot"] = True
    await api.push(bot_message)
    await api.push(api.message("chat-1", "người thật"))
    (sent,) = await api.wait_sent(1)
    assert sent.text == "Đã nhận: người thật"
    assert [m.text for m in app.engine.seen] == ["người thật"]


# -- group chats ------------------------------------------------------------------------


def test_addressed_text() -> None:
    names = (BOT_DISPLAY_NAME, "bot.MotCuaTanHoa")
    assert addressed_text("/tracuu 250312-0007", names) == "/tracuu 250312-0007"
    assert addressed_text(f"@{BOT_DISPLAY_NAME} làm khai sinh cần gì?", names) == "làm khai sinh cần gì?"
    assert addressed_text("@bot.motcuatanhoa, lệ phí bao nhiêu", names) == "lệ phí bao nhiêu"
    assert addressed_text("chiều nay họp thôn nhé", names) is None
    assert addressed_text("", names) is None


async def test_in_a_group_the_bot_answers_only_when_addressed(
    api: FakeZaloApi, start_channel: ChannelFactory
) -> None:
    app = AppDouble()
    await start_channel(app)
    group = {"chat_type": "GROUP", "user_id": "user-7"}
    await api.push(api.message("group-1", "chiều nay họp thôn nhé", **group))
    await api.push(api.message("group-1", event="message.sticker.received", **group))
    await api.push(api.message("group-1", f"@{BOT_DISPLAY_NAME} khai sinh cần gì", **group))
    await api.push(api.message("group-1", "/thon", **group))
    sent = await api.wait_sent(2)
    assert [s.text for s in sent] == ["Đã nhận: khai sinh cần gì", "Đã nhận: /thon"]
    assert [(m.user_id, m.chat_id) for m in app.engine.seen] == [("user-7", "group-1")] * 2


# -- webhook ----------------------------------------------------------------------------


async def test_webhook_registers_and_accepts_both_body_shapes(
    api: FakeZaloApi, start_channel: ChannelFactory
) -> None:
    channel = await start_channel(webhook=webhook_config())
    assert api.webhook == {"url": "https://motcua.tanhoa.example.vn/zalo/webhook", "secret_token": SECRET}
    assert "getUpdates" not in api.methods()
    flat = api.message("chat-1", "tin phẳng")
    wrapped = {"ok": True, "result": api.message("chat-2", "tin bọc")}
    assert (await api.post_webhook(hook_url(channel), flat, SECRET))[0] == 200
    assert (await api.post_webhook(hook_url(channel), wrapped, SECRET))[0] == 200
    sent = await api.wait_sent(2)
    assert {s.chat_id: s.text for s in sent} == {"chat-1": "Đã nhận: tin phẳng", "chat-2": "Đã nhận: tin bọc"}


async def test_webhook_refuses_a_wrong_or_missing_secret(api: FakeZaloApi, start_channel: ChannelFactory) -> None:
    app = AppDouble()
    channel = await start_channel(app, webhook=webhook_config())
    update = api.message("chat-1", "giả mạo")
    assert (await api.post_webhook(hook_url(channel), update, "wrong-secret-456"))[0] == 403
    assert (await api.post_webhook(hook_url(channel), update, None))[0] == 403
    assert (await api.post_webhook(hook_url(channel), update, "ẩn-bí-mật-sai"))[0] == 403
    assert (await api.post_webhook(hook_url(channel), "{not json", SECRET))[0] == 400
    assert (await api.post_webhook(hook_url(channel), {"hello": "world"}, SECRET))[0] == 400
    # Only a genuine update gets through.
    assert (await api.post_webhook(hook_url(channel), api.message("chat-1", "thật"), SECRET))[0] == 200
    (sent,) = await api.wait_sent(1)
    assert sent.text == "Đã nhận: thật"
    assert [m.text for m in app.engine.seen] == ["thật"]


async def test_a_redelivered_update_is_answered_once(api: FakeZaloApi, start_channel: ChannelFactory) -> None:
    channel = await start_channel(webhook=webhook_config())
    update = api.message("chat-1", "xin chào", message_id="dup-1")
    for _ in range(3):
        assert (await api.post_webhook(hook_url(channel), update, SECRET))[0] == 200
    await api.post_webhook(hook_url(channel), api.message("chat-1", "tiếp"), SECRET)
    sent = await api.wait_sent(2)
    assert [s.text for s in sent] == ["Đã nhận: xin chào", "Đã nhận: tiếp"]


async def test_a_refused_webhook_is_a_channel_error(api: FakeZaloApi, start_channel: ChannelFactory) -> None:
    api.fail("setWebhook", 400, "Bad Request: url must be https")
    with pytest.raises(ChannelError, match="webhook.url"):
        await start_channel(webhook=webhook_config())


# -- sending for the notifier -----------------------------------------------------------


async def test_send_leaves_out_choices_and_reports_a_blocked_recipient(
    api: FakeZaloApi, start_channel: ChannelFactory
) -> None:
    channel = await start_channel()
    reply = Reply("Hồ sơ đã có kết quả.", (Choice("Bỏ theo dõi", "unfollow:1"),))
    await channel.send("chat-1", reply)
    assert api.sent[-1].text == "Hồ sơ đã có kết quả."  # a typed "1" would mean nothing here
    api.blocked_chats.add("chat-2")
    with pytest.raises(RecipientBlocked):
        await channel.send("chat-2", reply)


async def test_stop_is_safe_twice_and_ends_polling(api: FakeZaloApi, start_channel: ChannelFactory) -> None:
    channel = await start_channel()
    await api.wait_for(lambda: "getUpdates" in api.methods())
    await channel.stop()
    await channel.stop()
    calls = len(api.calls)
    await api.push(api.message("chat-1", "sau khi dừng"))
    await asyncio.sleep(0)  # nothing is polling any more
    assert len(api.calls) == calls
    assert api.sent == []


async def test_logging_never_shows_the_token(
    api: FakeZaloApi, start_channel: ChannelFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api.fail("getUpdates", 429, "Quota exceeded", times=4)
    await start_channel()
    await api.push(api.message("chat-1", "xin chào"))
    await api.wait_sent(1)
    assert TOKEN not in caplog.text


# -- the real app behind the channel ----------------------------------------------------

FOLLOWED = "000.00.14.H56-261128-0002"  # in the bundled demo export: "Mới đăng ký"


@pytest.fixture
async def real_app(tmp_path: Path) -> AsyncIterator[App]:
    app = await App.open(Config(database=DatabaseConfig(path=tmp_path / "motcua.sqlite3")))
    yield app
    await app.close()


async def test_a_real_question_gets_the_real_answer(
    api: FakeZaloApi, start_channel: ChannelFactory, real_app: App
) -> None:
    await start_channel(real_app)
    await api.push(api.message("chat-1", "làm giấy khai sinh cần gì"))
    (sent,) = await api.wait_sent(1)
    assert sent.text.startswith("Đăng ký khai sinh")
    assert "Giấy chứng sinh" in sent.text


async def test_a_numbered_choice_answered_with_2(
    api: FakeZaloApi, start_channel: ChannelFactory, real_app: App
) -> None:
    await start_channel(real_app)
    await api.push(api.message("chat-1", "/thutuc"))
    (menu,) = await api.wait_sent(1)
    assert menu.text.startswith("Chọn lĩnh vực:") and "Trả lời 1, 2" in menu.text
    second = re.search(r"^2\. (.+) \(\d+\)$", menu.text, re.MULTILINE)
    assert second is not None
    await api.push(api.message("chat-1", "2"))
    sent = await api.wait_sent(2)
    assert sent[1].text.startswith(f"Thủ tục lĩnh vực {second.group(1)}")


async def test_a_sticker_gets_the_engine_hint(
    api: FakeZaloApi, start_channel: ChannelFactory, real_app: App
) -> None:
    await start_channel(real_app)
    await api.push(api.message("chat-1", event="message.sticker.received", sticker="s-1"))
    (sent,) = await api.wait_sent(1)
    assert sent.text.startswith("Tôi chỉ đọc được tin nhắn chữ.")


async def test_a_long_real_answer_is_split_in_two(
    api: FakeZaloApi, start_channel: ChannelFactory, tmp_path: Path
) -> None:
    catalogue = tmp_path / "procedures" / "ho-tich"
    catalogue.mkdir(parents=True)
    documents = "\n".join(
        f"  - Giấy tờ số {i}, bản chính hoặc bản sao có chứng thực, còn rõ chữ, không tẩy xóa, kèm một bản photo."
        for i in range(1, 31)
    )
    (catalogue / "dang-ky-giam-ho.yaml").write_text(
        "id: dang-ky-giam-ho\n"
        "name: Đăng ký giám hộ\n"
        "field: Hộ tịch\n"
        "aliases:\n  - đăng ký giám hộ\n  - dang ky giam ho\n"
        f"documents:\n{documents}\n"
        "time: 03 ngày làm việc\n"
        "where: Bộ phận một cửa UBND xã\n"
        "source:\n  - Luật Hộ tịch 2014\n"
        "reviewed: 2026-11-29\n",
        encoding="utf-8",
    )
    config = Config(
        catalogue=CatalogueConfig(dir=tmp_path / "procedures"),
        database=DatabaseConfig(path=tmp_path / "motcua.sqlite3"),
    )
    app = await App.open(config)
    try:
        await start_channel(app)
        await api.push(api.message("chat-1", "đăng ký giám hộ cần giấy tờ gì"))
        sent = await api.wait_sent(2)
        assert len(sent) == 2
        assert all(len(s.text) <= 2000 for s in sent)
        assert sent[0].text.startswith("Đăng ký giám hộ")
        assert "Giấy tờ số 30" in sent[1].text
        assert not sent[1].text.startswith(" ")  # cut at a line boundary
    finally:
        await app.close()


def _export(path: Path, status: str) -> Path:
    """A one-row export of the one-stop system moving the followed dossier to ``status``."""
    path.write_text(
        "Mã hồ sơ,Tên thủ tục,Chủ hồ sơ,Số điện thoại,Địa chỉ,Ngày tiếp nhận,Ngày hẹn trả,Ngày trả kết quả,Trạng thái\n"
        f"{FOLLOWED},Đăng ký khai sinh,Trần Thị Bích,0987000102,\"Thôn 2, xã Tân Hòa\",28/11/2026,30/11/2026,,{status}\n",
        encoding="utf-8",
    )
    return path


async def test_a_followed_dossier_change_is_notified_on_zalo(
    api: FakeZaloApi, start_channel: ChannelFactory, real_app: App, tmp_path: Path
) -> None:
    await start_channel(real_app)
    await api.push(api.message("chat-1", "/tracuu 261128-0002", user_id="user-1"))
    (status,) = await api.wait_sent(1)
    assert FOLLOWED in status.text and "Mới đăng ký" in status.text
    await api.push(api.message("chat-1", f"/theodoi {FOLLOWED}", user_id="user-1"))
    sent = await api.wait_sent(2)
    assert sent[1].text.startswith(f"Đã đăng ký theo dõi hồ sơ {FOLLOWED}")
    assert await real_app.store.follows_of("zalo", "user-1") == [FOLLOWED]

    await sync_source(real_app.store, str(_export(tmp_path / "a.csv", "Đang xử lý")), real_app.config.status.sync.columns)
    sent = await api.wait_sent(3)
    assert sent[2].chat_id == "chat-1"
    assert sent[2].text.startswith(f"Hồ sơ {FOLLOWED} vừa chuyển sang trạng thái: Đang xử lý.")
    assert "Trả lời 1" not in sent[2].text  # no numbered choice the engine could not map

    # The user blocks the bot: the next notification unsubscribes them.
    api.blocked_chats.add("chat-1")
    await sync_source(real_app.store, str(_export(tmp_path / "b.csv", "Đã xử lý xong")), real_app.config.status.sync.columns)
    await api.wait_for(lambda: any(c.method == "sendMessage" and c.params["text"].startswith(f"Hồ sơ {FOLLOWED} vừa chuyển sang trạng thái: Đã xử lý xong") for c in api.calls))
    for _ in range(500):  # the notifier drops the follows right after the refused send
        if not await real_app.store.follows_of("zalo", "user-1"):
            break
        await asyncio.sleep(0.01)
    assert await real_app.store.follows_of("zalo", "user-1") == []
    assert len(api.sent) == 3


# -- issue 9: the webhook refuses before reading; stop answers everything received --------


async def raw_post(port: int, headers: dict[str, str]) -> bytes:
    """Send only a request's head and read the answer (the body is never sent)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = "POST /zalo/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    writer.write((head + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode())
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return answer


async def test_webhook_answers_before_an_announced_huge_body_is_sent(
    api: FakeZaloApi, start_channel: ChannelFactory
) -> None:
    app = AppDouble()
    channel = await start_channel(app, webhook=webhook_config())
    port = channel.webhook_port
    assert port is not None
    huge = {"Content-Length": "95000000"}
    assert (await raw_post(port, {**huge, SECRET_HEADER: "wrong-secret-456"})).startswith(b"HTTP/1.1 403")
    assert (await raw_post(port, huge)).startswith(b"HTTP/1.1 403")
    assert (await raw_post(port, {**huge, SECRET_HEADER: SECRET})).startswith(b"HTTP/1.1 413")
    assert app.engine.seen == []


class SlowEngine(EngineDouble):
    """Echoes like :class:`EngineDouble`, taking ``delay`` seconds per message."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def handle(self, msg: Incoming) -> Response:
        await asyncio.sleep(self.delay)
        return await super().handle(msg)


MESSAGES = 3000


async def test_stop_answers_every_webhook_message_acknowledged_with_200(
    api: FakeZaloApi, start_channel: ChannelFactory
) -> None:
    app = AppDouble(engine=SlowEngine(0.02))
    channel = await start_channel(app, webhook=webhook_config())
    url = hook_url(channel)
    acknowledged: list[str] = []
    queue = [(f"chat-{i % 10}", f"tin {i}") for i in range(MESSAGES)]

    async def poster() -> None:
        while queue:
            chat_id, text = queue.pop(0)
            try:
                status, _ = await api.post_webhook(url, api.message(chat_id, text), SECRET)
            except aiohttp.ClientError:
                continue  # the server is gone: not acknowledged, Zalo would send it again
            if status == 200:
                acknowledged.append(text)

    posters = [asyncio.create_task(poster()) for _ in range(20)]
    await api.wait_for(lambda: len(acknowledged) >= 1000, timeout=30)
    await channel.stop()  # mid-stream: posts keep coming while it stops
    await asyncio.gather(*posters)
    answered = {s.text.removeprefix("Đã nhận: ") for s in api.sent}
    assert 1000 <= len(acknowledged) < MESSAGES
    assert [t for t in acknowledged if t not in answered] == []


async def test_stop_answers_every_message_polling_received(
    api: FakeZaloApi, start_channel: ChannelFactory
) -> None:
    app = AppDouble(engine=SlowEngine(0.02))
    channel = await start_channel(app)
    for i in range(MESSAGES):
        await api.push(api.message(f"chat-{i % 10}", f"tin {i}"))
    await api.wait_for(lambda: len(api.delivered) >= 500, timeout=30)
    await channel.stop()
    received = [u["message"]["text"] for u in api.delivered]
    answered = {s.text.removeprefix("Đã nhận: ") for s in api.sent}
    assert 500 <= len(received) < MESSAGES
    assert [t for t in received if t not in answered] == []


# -- issue 9: undeliverable pushes, counting messages against the plan ----------------------


@pytest.mark.parametrize("code", [400, 403, 404, 410])
async def test_any_4xx_on_a_push_means_the_chat_cannot_be_reached(
    api: FakeZaloApi, start_channel: ChannelFactory, code: int
) -> None:
    channel = await start_channel()
    api.fail("sendMessage", code, "Bad Request: user not found")
    with pytest.raises(RecipientBlocked):
        await channel.send("chat-1", Reply("Hồ sơ đã có kết quả."))


@pytest.mark.parametrize("code", [401, 429, 500])
async def test_a_rate_limit_or_bad_token_is_not_an_undeliverable_chat(
    api: FakeZaloApi, start_channel: ChannelFactory, code: int
) -> None:
    channel = await start_channel()
    api.fail("sendMessage", code, "Quota exceeded", times=FAST.attempts)
    with pytest.raises(ZaloApiError) as info:
        await channel.send("chat-1", Reply("Hồ sơ đã có kết quả."))
    assert not isinstance(info.value, RecipientBlocked)
    assert info.value.error_code == code


async def test_a_follower_whose_push_gets_404_is_unsubscribed(
    api: FakeZaloApi, start_channel: ChannelFactory, real_app: App, tmp_path: Path
) -> None:
    await real_app.store.follow("zalo", "user-9", "chat-9", FOLLOWED)
    api.fail("sendMessage", 404, "Not Found: the user is not a follower of this bot")
    channel = await start_channel(real_app)
    await sync_source(real_app.store, str(_export(tmp_path / "a.csv", "Đang xử lý")), real_app.config.status.sync.columns)
    for _ in range(500):
        if not await real_app.store.follows_of("zalo", "user-9"):
            break
        await asyncio.sleep(0.01)
    await channel.stop()
    assert await real_app.store.follows_of("zalo", "user-9") == []
    assert await real_app.store.outbox_counts("zalo") == {"dropped": 1}


async def test_messages_and_users_are_counted_and_the_operator_warned(
    api: FakeZaloApi, start_channel: ChannelFactory, real_app: App, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.channels.usage")
    channel = await start_channel(real_app, monthly_quota=10, max_users=2)
    for i in range(8):
        await api.push(api.message(f"chat-{i % 3}", "xin chào", user_id=f"user-{i % 3}"))
    await api.wait_sent(8)
    await channel.stop()  # saves the counts
    month = datetime.now().strftime("%Y-%m")
    assert (await real_app.store.channel_usage(month))["zalo"] == 8
    assert await real_app.store.channel_users("zalo") == {"user-0", "user-1", "user-2"}
    warnings = [r.getMessage() for r in caplog.records]
    assert any("8 of the 10 messages a month" in w and "(80%)" in w for w in warnings), warnings
    assert any("3 users have written to the bot, of the 2" in w for w in warnings), warnings


async def test_no_log_line_shows_the_token_or_the_webhook_secret(
    api: FakeZaloApi, start_channel: ChannelFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    page = f"<html>502 Bad Gateway: POST /bot{TOKEN}/sendMessage</html>"
    api.fail("sendMessage", 502, raw_body=page, http_status=502, times=FAST.attempts)
    channel = await start_channel(webhook=webhook_config())
    assert (await api.post_webhook(hook_url(channel), api.message("chat-1", "xin chào"), SECRET))[0] == 200
    await api.wait_for(lambda: api.methods().count("sendMessage") >= FAST.attempts + 1)
    # Whatever library logs while the channel runs goes through the guard too.
    logging.getLogger("some.other.library").error("request to /bot%s/getMe with %s failed", TOKEN, SECRET)
    assert "some.other.library" in caplog.text and "getMe" in caplog.text
    assert TOKEN.partition(":")[2] not in caplog.text
    assert SECRET not in caplog.text


async def test_messages_left_when_the_drain_bound_ends_are_answered_at_the_next_start(
    api: FakeZaloApi, db, caplog: pytest.LogCaptureFixture
) -> None:
    store = await db.open()  # the inbox, on SQLite and on PostgreSQL
    app = AppDouble(engine=SlowEngine(0.1), store=store)
    config = ZaloConfig(token=TOKEN, base_url=api.base_url, webhook=webhook_config())

    def channel() -> ZaloChannel:
        return ZaloChannel(config, app, retry=FAST, notify_interval=0.05, drain_timeout=0.3)  # type: ignore[arg-type]

    first = channel()
    await first.start()
    texts = [f"tin {i}" for i in range(60)]
    for text in texts:  # one chat: answered one after the other, 100 ms each
        assert (await api.post_webhook(hook_url(first), api.message("chat-1", text), SECRET))[0] == 200
    await first.stop()  # 0.3 s to answer 60 messages: most are handed back
    answered_first = len(api.sent)
    assert 0 < answered_first < 40
    assert len(await store.handed_back("zalo")) == 60 - answered_first
    assert "kept, to be answered at the next start" in caplog.text

    second = channel()
    await second.start()
    await api.wait_sent(60, timeout=20)
    await second.stop()
    assert [s.text for s in api.sent] == [f"Đã nhận: {t}" for t in texts]  # each once, in order
    assert await store.handed_back("zalo") == []
    await store.close()
