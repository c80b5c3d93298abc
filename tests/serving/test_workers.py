"""`motcua run --workers N`: real worker processes behind one port, real PostgreSQL,
the fake Telegram and Zalo servers."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from tests.serving.harness import eventually, province, query


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
