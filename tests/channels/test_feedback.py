"""Ratings end to end: the 👍/👎 row on Telegram and the "0" line on Zalo, through the real
App (catalogue, engine, staff stores in a real SQLite file) and the local fake servers."""

from __future__ import annotations

import sqlite3


from bot.app import App
from bot.channels.telegram import keyboard
from bot.channels.zalo import ZaloChannel
from bot.channels.zalo_api import RetryPolicy
from bot.config import WebhookConfig, ZaloConfig
from bot.messages import MAX_CHOICE_DATA_BYTES, Reply
from bot.procedures.wording import CHOICE_HANDOVER, RATE_PROMPT
from tests.channels.test_telegram import TOKEN as TELEGRAM_TOKEN
from tests.channels.test_telegram import bot_message, config_for, running, to_chat
from tests.fakes.telegram_api import FakeTelegramApi, callback_query, text_message
from tests.fakes.zalo_api import FakeZaloApi

ZALO_TOKEN = "1234567890:aBcDeFgHiJkLmNoPqRsTuVwXyZ"


async def rows(app: App, sql: str) -> list[tuple]:
    """What the database holds once the queued records are written."""
    await app.recorder.flush()
    with sqlite3.connect(app.config.database.path) as conn:
        return conn.execute(sql).fetchall()


async def test_telegram_shows_the_rating_row_and_a_thumbs_down_is_recorded(app: App) -> None:
    async with FakeTelegramApi(TELEGRAM_TOKEN) as api, running(config_for(api), app):
        await api.push(text_message("xac nhan khuyet tat lam o dau", user_id=111))
        (answer,) = await api.wait_for("sendMessage", to_chat(111))
        rows_of_buttons = answer.params["reply_markup"]["inline_keyboard"]
        last = rows_of_buttons[-1]
        assert [b["text"] for b in last] == ["👍", "👎"]
        assert [b["callback_data"] for b in last] == [
            "rate:up:xac-dinh-muc-do-khuyet-tat", "rate:down:xac-dinh-muc-do-khuyet-tat",
        ]
        assert RATE_PROMPT not in answer.params["text"]  # buttons instead of the line
        await api.push(callback_query(last[1]["callback_data"], bot_message(answer), query_id="q-1"))
        await api.wait_for("answerCallbackQuery")
        _, sorry = await api.wait_for("sendMessage", to_chat(111), count=2)
    assert sorry.params["text"].startswith("Xin lỗi ông/bà vì câu trả lời chưa đúng")
    offered = [row[0] for row in sorry.params["reply_markup"]["inline_keyboard"]]
    assert [(b["text"], b["callback_data"]) for b in offered] == [("Gặp cán bộ một cửa", CHOICE_HANDOVER)]
    assert await rows(app, "SELECT procedure_id, up, channel FROM ratings") == [("xac-dinh-muc-do-khuyet-tat", 0, "telegram")]
    assert await rows(app, "SELECT reason, text, top_ids FROM missed") == [
        ("down", "xac nhan khuyet tat lam o dau", '["xac-dinh-muc-do-khuyet-tat"]')
    ]


async def test_telegram_thumbs_up_is_thanked_and_counted(app: App) -> None:
    async with FakeTelegramApi(TELEGRAM_TOKEN) as api, running(config_for(api), app):
        await api.push(text_message("đk kết hôn mất bn tiền", user_id=112))
        (answer,) = await api.wait_for("sendMessage", to_chat(112))
        up = answer.params["reply_markup"]["inline_keyboard"][-1][0]
        await api.push(callback_query(up["callback_data"], bot_message(answer)))
        _, thanks = await api.wait_for("sendMessage", to_chat(112), count=2)
    assert thanks.params["text"].startswith("Cảm ơn")
    assert await rows(app, "SELECT procedure_id, up FROM ratings") == [("ket-hon", 1)]
    assert (await app.recorder.activity.outcomes())["rated"] == 1


def test_the_rating_row_is_left_out_when_its_data_would_not_fit() -> None:
    long_id = "x" * (MAX_CHOICE_DATA_BYTES - len("rate:down:") + 1)
    assert keyboard(Reply("Trả lời", rate=long_id)) is None
    fits = keyboard(Reply("Trả lời", rate="x" * (MAX_CHOICE_DATA_BYTES - len("rate:down:"))))
    assert fits is not None and len(fits.inline_keyboard[0]) == 2


async def test_zalo_shows_the_0_line_and_a_0_is_recorded(app: App) -> None:
    async with FakeZaloApi(ZALO_TOKEN, max_poll_wait=0.2) as api:
        channel = ZaloChannel(
            ZaloConfig(token=ZALO_TOKEN, base_url=api.base_url, webhook=WebhookConfig()), app,
            poll_timeout=0.2, retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05),
            error_backoff=(0.01, 0.05), notify_interval=0.05,
        )
        await channel.start()
        try:
            await api.push(api.message("chat-9", "làm giấy khai sinh cần gì"))
            (answer,) = await api.wait_sent(1)
            assert answer.text.rstrip().endswith(RATE_PROMPT)
            await api.push(api.message("chat-9", "0"))
            sent = await api.wait_sent(2)
        finally:
            await channel.stop()
    assert sent[1].text.startswith("Xin lỗi ông/bà vì câu trả lời chưa đúng")
    assert "1. Gặp cán bộ một cửa" in sent[1].text
    assert await rows(app, "SELECT procedure_id, up, channel FROM ratings") == [("khai-sinh", 0, "zalo")]
    assert await rows(app, "SELECT reason, text FROM missed") == [("down", "làm giấy khai sinh cần gì")]


def test_every_catalogue_answer_can_be_rated_on_telegram(catalogue) -> None:
    for proc in catalogue:
        row = keyboard(Reply(proc.name, rate=proc.id)).inline_keyboard[-1]
        assert [b.text for b in row] == ["👍", "👎"], proc.id
