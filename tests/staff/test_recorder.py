"""Each message the real App handles is counted by outcome; refused, unsure and 👎-rated
questions are kept masked; ratings are kept; a failing store never costs an answer."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pytest

from bot.app import App
from bot.channels.render import numbered_choices
from bot.config import Config, DatabaseConfig
from bot.messages import Incoming, Intent
from bot.procedures.wording import HANDOVER_CHOICE, RATE_PROMPT, choice_rate
from tests.staff.conftest import MISSING_TABLE, Place, sqlite_only


def ask(text: str, chat: str = "u1", channel: str = "zalo", choice: str | None = None) -> Incoming:
    return Incoming(channel, chat, chat, text, choice=choice)


async def rows(app: App, sql: str) -> list[tuple]:
    """What the database holds once the queued records are written."""
    await app.recorder.flush()
    return await app.database.fetch(sql)


async def test_outcomes_are_counted_without_text(app: App) -> None:
    await app.engine.handle(ask("lam giay khai sinh can gi"))
    await app.engine.handle(ask("làm hộ chiếu ở đâu", chat="u2"))
    await app.engine.handle(ask("giá vàng hôm nay thế nào", chat="u3"))
    await app.engine.handle(ask("xin chào", channel="telegram"))
    await app.recorder.flush()
    outcomes = await app.recorder.activity.outcomes()
    assert (outcomes["answered"], outcomes["referred"], outcomes["refused"], outcomes["help"]) == (1, 1, 1, 1)
    assert dict(await app.recorder.activity.procedures()) == {"khai-sinh": 1, "ho-chieu": 1}
    assert not [r for r in await rows(app, "SELECT * FROM activity") if any("khai" in str(v) for v in r)]


async def test_refused_and_unsure_questions_are_kept_masked_with_top_matches(app: App) -> None:
    refused = await app.engine.handle(ask("giá vàng hôm nay thế nào, gọi 0912 345 678"))
    assert refused.intent is Intent.UNKNOWN
    unsure = await app.engine.handle(ask("trợ cấp", chat="u2"))
    assert unsure.unsure, "the engine should have offered a choice"
    kept = await rows(app, "SELECT reason, text, top_ids FROM missed ORDER BY id")
    assert kept[0][:2] == ("refused", "giá vàng hôm nay thế nào, gọi «số điện thoại»")
    assert kept[1][0] == "unsure" and kept[1][1] == "trợ cấp"
    assert [m.id for m in unsure.matches[:3]] == __import__("json").loads(kept[1][2])


async def test_a_rated_answer_offers_the_0_line_and_a_0_is_a_thumbs_down(app: App) -> None:
    answer = await app.engine.handle(ask("xac nhan khuyet tat lam o dau"))
    assert answer.replies[0].rate == "xac-dinh-muc-do-khuyet-tat"
    assert numbered_choices(answer.replies[0]).endswith(RATE_PROMPT)
    sorry = await app.engine.handle(ask("0"))
    assert sorry.feedback is not None and not sorry.feedback.up
    assert sorry.replies[0].choices[-1] == HANDOVER_CHOICE
    assert (HANDOVER_CHOICE.label, HANDOVER_CHOICE.data) == ("Gặp cán bộ một cửa", "handover")
    assert await rows(app, "SELECT procedure_id, up, channel FROM ratings") == [("xac-dinh-muc-do-khuyet-tat", 0, "zalo")]
    assert await rows(app, "SELECT reason, text FROM missed") == [("down", "xac nhan khuyet tat lam o dau")]
    # A second "0" is not a rating any more (the last reply was not an answer).
    again = await app.engine.handle(ask("0"))
    assert again.feedback is None
    assert len(await rows(app, "SELECT * FROM ratings")) == 1


async def test_0_without_a_rated_answer_before_it_rates_nothing(app: App) -> None:
    await app.engine.handle(ask("xin chào"))
    response = await app.engine.handle(ask("0"))
    assert response.feedback is None and await rows(app, "SELECT * FROM ratings") == []


async def test_thumbs_up_press_thanks_and_is_kept_once(app: App) -> None:
    await app.engine.handle(ask("đk kết hôn mất bn tiền", channel="telegram"))
    press = ask("👍", channel="telegram", choice=choice_rate("ket-hon", True))
    thanks = await app.engine.handle(press)
    assert thanks.replies[0].text.startswith("Cảm ơn")
    await app.engine.handle(press)  # pressed twice: one rating
    assert await rows(app, "SELECT procedure_id, up FROM ratings") == [("ket-hon", 1)]
    assert await rows(app, "SELECT * FROM missed") == []
    assert (await app.recorder.activity.outcomes())["rated"] == 1  # flushed just above


async def test_a_broken_store_never_costs_an_answer_nor_logs_text(app: App, caplog) -> None:
    await app.database.run("DROP TABLE activity")  # the counts' table is gone: every write fails
    with caplog.at_level(logging.DEBUG):
        response = await app.engine.handle(ask("lam giay khai sinh can gi"))
        assert response.intent is Intent.PROCEDURE and "Đăng ký khai sinh" in response.replies[0].text
        with pytest.raises(MISSING_TABLE):
            await app.recorder.flush()
        await app.recorder.close()  # the lost count is said, never the text
    app.recorder = None  # closed already
    assert "1 message(s) could not be recorded before closing" in caplog.text
    assert "khai sinh" not in caplog.text


@sqlite_only
async def test_a_sync_holding_the_database_never_holds_up_an_answer_nor_loses_counts(app: App, caplog) -> None:
    writer = sqlite3.connect(app.config.database.path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # what a long sync does: the write lock is taken
    try:
        with caplog.at_level(logging.WARNING):
            response = await app.engine.handle(ask("giá vàng hôm nay thế nào"))
            assert response.intent is Intent.UNKNOWN
            await asyncio.sleep(0)  # the background writer tries (and waits for the lock)
    finally:
        writer.execute("COMMIT")
        writer.close()
    assert await rows(app, "SELECT reason, text FROM missed") == [("refused", "giá vàng hôm nay thế nào")]
    assert (await app.recorder.activity.outcomes())["refused"] == 1


@sqlite_only
async def test_a_reply_never_waits_behind_a_staff_write_waiting_out_a_sync(app: App) -> None:
    """The staff stores share one SQLite connection: a write waiting for another
    process's writer (a sync) must not hold up the reads a reply makes meanwhile."""
    await app.engine.handle(ask("xin chào"))
    writer = sqlite3.connect(app.config.database.path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a sync in another process holds the write lock
    try:
        waiting = asyncio.create_task(
            app.database.run("INSERT INTO ratings (at, day, channel, procedure_id, up) VALUES ('x', 'x', 'zalo', 'p', 1)")
        )
        await asyncio.sleep(0.2)
        assert not waiting.done()  # it waits for the lock (up to 2 s)
        response = await app.engine.handle(ask("lam giay khai sinh can gi", chat="u9"))
        assert response.intent is Intent.PROCEDURE
        assert await app.handovers.open_for("zalo", "u9") is None
        assert not waiting.done()  # the reply was made while the write still waited
    finally:
        writer.execute("COMMIT")
        writer.close()
    assert await waiting == 1


async def test_motcua_ask_records_nothing(place: Place) -> None:
    app = await App.open(Config(database=DatabaseConfig(path=place.path, url=place.url)), record=False)
    try:
        await app.engine.handle(ask("giá vàng"))
    finally:
        await app.close()
    assert app.recorder is None
