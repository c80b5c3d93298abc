"""`motcua run --workers N`: real worker processes behind one port, real PostgreSQL,
the fake Telegram and Zalo servers."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from tests.fakes.telegram_api import text_message
from tests.serving.harness import TG_SECRET, TG_TOKEN, eventually, province, query


@pytest.fixture
def pg_url(pg_server) -> str:  # type: ignore[no-untyped-def]
    return pg_server.new_database()


async def test_two_workers_behind_one_port_answer_both_channels(tmp_path: Path, pg_url: str) -> None:
    async with province(tmp_path, pg_url) as here:
        assert await here.telegram("lam giay khai sinh can gi", user_id=111) == 200
        assert await here.zalo_message("z-1", "đăng ký kết hôn cần gì") == 200
        await eventually(lambda: here.tg_texts(111) and here.zalo_texts("z-1"), what="both answered")
        assert here.tg_texts(111)[0].startswith("Đăng ký khai sinh")
        assert here.zalo_texts("z-1")[0].startswith("Đăng ký kết hôn")


QUESTIONS = [
    ("lam giay khai sinh can gi", "Đăng ký khai sinh"),
    ("đăng ký kết hôn cần gì", "Đăng ký kết hôn"),
    ("khai tử cần gì", "Đăng ký khai tử"),
    ("chứng thực bản sao cần gì", "Chứng thực bản sao từ bản chính"),
    ("lam giay khai sinh can gi nhe", "Đăng ký khai sinh"),
]


async def test_a_chat_sending_five_messages_at_once_is_answered_in_order(tmp_path: Path, pg_url: str) -> None:
    # The first message is slow to answer: without per-chat order the other worker would
    # answer the next ones first.
    env = {"MOTCUA_TEST_SLOW_TEXT": "khai sinh can gi", "MOTCUA_TEST_SLOW_SECONDS": "1.0"}
    async with province(tmp_path, pg_url, env=env) as here:
        for text, _ in QUESTIONS:
            assert await here.telegram(text, user_id=222) == 200
        for i, (text, _) in enumerate(QUESTIONS):
            assert await here.zalo_message("z-5", text) == 200
        await eventually(lambda: len(here.tg_texts(222)) >= 5 and len(here.zalo_texts("z-5")) >= 5, 60, "answers")
        expected = [title for _, title in QUESTIONS]
        assert [t.split("\n")[0] for t in here.tg_texts(222)] == expected
        assert [t.split("\n")[0] for t in here.zalo_texts("z-5")] == expected


async def test_a_redelivered_update_is_answered_once(tmp_path: Path, pg_url: str) -> None:
    async with province(tmp_path, pg_url) as here:
        for _ in range(3):  # Telegram and Zalo send again what they think was not received
            assert await here.telegram("khai tử cần gì", user_id=333, update_id=900001) == 200
            assert await here.zalo_message("z-3", "khai tử cần gì", message_id="zm-1") == 200
        await eventually(lambda: here.tg_texts(333) and here.zalo_texts("z-3"), what="answers")
        assert await here.telegram("đăng ký kết hôn cần gì", user_id=333) == 200
        await eventually(lambda: len(here.tg_texts(333)) >= 2, what="the next answer")
        assert [t.split("\n")[0] for t in here.tg_texts(333)] == ["Đăng ký khai tử", "Đăng ký kết hôn"]
        await here.zalo_message("z-3", "đăng ký kết hôn cần gì", message_id="zm-2")
        await eventually(lambda: len(here.zalo_texts("z-3")) >= 2, what="the next Zalo answer")
        assert [t.split("\n")[0] for t in here.zalo_texts("z-3")] == ["Đăng ký khai tử", "Đăng ký kết hôn"]


async def test_a_worker_killed_while_holding_a_message_loses_nothing(tmp_path: Path, pg_url: str) -> None:
    env = {"MOTCUA_TEST_SLOW_TEXT": "cần gì ạ", "MOTCUA_TEST_SLOW_SECONDS": "60", "MOTCUA_TEST_INBOX_LEASE": "3"}
    async with province(tmp_path, pg_url, env=env) as here:
        assert await here.telegram("khai tử cần gì ạ", user_id=444) == 200
        await eventually(
            lambda: query(pg_url, "SELECT claim FROM serving_inbox WHERE state = 'claimed'"), 30, "the slow claim"
        )
        ((claim,),) = query(pg_url, "SELECT claim FROM serving_inbox WHERE state = 'claimed'")
        holder = int(claim.split(":")[0])
        os.kill(holder, signal.SIGKILL)  # it dies holding the message
        users = list(range(450, 460))
        for user in users:  # messages arriving while it is down and restarted
            assert await here.telegram("đăng ký kết hôn cần gì", user_id=user) == 200
            assert await here.zalo_message(f"z-{user}", "đăng ký kết hôn cần gì") == 200
        await eventually(
            lambda: here.tg_texts(444) and all(here.tg_texts(u) and here.zalo_texts(f"z-{u}") for u in users),
            60, "every message answered",
        )
        await here.wait_line("starting it again")
        await asyncio.sleep(2.0)  # time for a duplicate, if one were coming
        assert [t.split("\n")[0] for t in here.tg_texts(444)] == ["Đăng ký khai tử"]
        for user in users:
            assert len(here.tg_texts(user)) == 1 and len(here.zalo_texts(f"z-{user}")) == 1
        ((attempts,),) = query(pg_url, "SELECT attempts FROM serving_inbox WHERE chat_id = '444'")
        assert attempts == 2  # the dead worker's claim, then the one that answered


async def test_the_rate_limit_is_shared_by_two_workers(tmp_path: Path, pg_url: str) -> None:
    limits = "    rate_limits:\n      per_second: 4\n"
    async with province(tmp_path, pg_url, telegram_extra=limits) as here:
        users = list(range(600, 616))
        await asyncio.gather(*(here.telegram("khai tử cần gì", user_id=u) for u in users))
        await eventually(lambda: all(here.tg_texts(u) for u in users), 60, "every answer")
        times = sorted(c.at for c in here.tg.calls_of("sendMessage"))
        busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
        assert busiest <= 5, busiest  # 4 a second, one more for timing at the window's edges
        assert times[-1] - times[0] >= (len(times) - 1) / 4 - 0.5
        claims = query(pg_url, "SELECT DISTINCT split_part(claim, ':', 1) FROM serving_inbox WHERE state = 'done'")
        assert len(claims) == 2  # both workers answered (and sent) some of them


async def test_workers_answer_a_group_quoting_its_question_and_one_runs_the_jobs(
    tmp_path: Path, pg_url: str
) -> None:
    async with province(tmp_path, pg_url) as here:
        update = text_message("@motcua_test_bot khai tử cần gì", user_id=515, chat_id=-1005, chat_type="group",
                              message_id=4242)
        update["update_id"] = 777001
        assert await here.post("/tg", update, {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}) == 200
        await eventually(lambda: here.tg_texts(-1005), what="the group's answer")
        (call,) = [c for c in here.tg.calls_of("sendMessage") if str(c.params["chat_id"]) == "-1005"]
        assert '"message_id": 4242' in str(call.params.get("reply_parameters")).replace("'", '"')
        await eventually(lambda: query(pg_url, "SELECT holder FROM serving_leases WHERE name = 'jobs'"), 30, "lease")
        ((holder,),) = query(pg_url, "SELECT holder FROM serving_leases WHERE name = 'jobs'")
        pids = {line.split("(pid ")[1].split(")")[0] for line in "".join(here.lines).split("motcua: ") if "serving" in line}
        assert len(pids) == 2 and holder.split("-")[2] in pids  # one of the two workers


def test_workers_need_webhooks_and_postgresql(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.cli import main

    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TG_TOKEN)
    config = tmp_path / "config.yaml"
    polling = "channels:\n  telegram:\n    token: \"${TELEGRAM_BOT_TOKEN}\"\n"
    config.write_text(f"database:\n  path: {tmp_path / 'bot.sqlite3'}\n" + polling, encoding="utf-8")
    assert main(["--config", str(config), "run", "--workers", "2"]) == 2
    assert "set channels.telegram.webhook.url" in capsys.readouterr().err
    webhook = polling + "    webhook:\n      url: https://motcua.example.vn/tg\n"
    config.write_text(f"database:\n  path: {tmp_path / 'bot.sqlite3'}\n" + webhook, encoding="utf-8")
    assert main(["--config", str(config), "run", "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert "--workers 2: set database.url" in err and err.count("\n") == 1


async def test_one_worker_serves_from_the_sqlite_file(tmp_path: Path) -> None:
    async with province(tmp_path, None, workers=1) as here:
        assert await here.telegram("lam giay khai sinh can gi", user_id=121) == 200
        assert await here.telegram("thế còn lệ phí?", user_id=121) == 200
        assert await here.zalo_message("z-121", "khai tử cần gì") == 200
        await eventually(lambda: len(here.tg_texts(121)) >= 2 and here.zalo_texts("z-121"), what="answers")
        assert "lệ phí" in here.tg_texts(121)[1].lower()


async def test_a_staff_reply_sent_twice_reaches_the_resident_once(tmp_path: Path, pg_url: str) -> None:
    extra = 'handover:\n  telegram_chat_id: "-100999"\n'
    async with province(tmp_path, pg_url, extra=extra) as here:
        assert await here.telegram("gặp cán bộ", user_id=131) == 200
        await eventually(lambda: here.tg_texts(-100999), 30, "the post to the staff group")
        post = next(m for m in here.tg.sent if str(m["chat"]["id"]) == "-100999")
        update = text_message("Ông mang CCCD bản gốc nhé", user_id=901, chat_id=-100999, chat_type="supergroup",
                              message_id=5000, reply_to_message=post)
        update["update_id"] = 880001
        for _ in range(2):  # Telegram sends it again
            assert await here.post("/tg", update, {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}) == 200
        await eventually(lambda: any("CCCD bản gốc" in t for t in here.tg_texts(131)), 30, "the staff's reply")
        await eventually(lambda: len(here.tg_texts(-100999)) >= 2, 30, "the word in the group")
        await asyncio.sleep(2.0)
        assert sum("CCCD bản gốc" in t for t in here.tg_texts(131)) == 1
        assert len(here.tg_texts(-100999)) == 2  # the post, then one "sent" in the group
