"""`motcua run` picks up a catalogue edit (`motcua alias add` from another process)
without a restart: the real process, the fake Telegram server, a real catalogue copy."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from pathlib import Path

from bot.procedures.compiled import CACHE_FOLDER
from tests.fakes.telegram_api import FakeTelegramApi, text_message

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456789:AAtest-Token_for_the_fake"
QUESTION = "bà tôi xin giấy chứng nhận tật nguyền"


async def test_run_answers_with_an_alias_added_while_it_runs(tmp_path: Path) -> None:
    catalogue = tmp_path / "procedures"
    shutil.copytree(ROOT / "procedures", catalogue, ignore=shutil.ignore_patterns(CACHE_FOLDER))
    async with FakeTelegramApi(TOKEN) as api:
        config = tmp_path / "config.yaml"
        config.write_text(
            f"catalogue:\n  dir: {catalogue}\n  reload_seconds: 0.2\n"
            f"database:\n  path: {tmp_path / 'db.sqlite3'}\n"
            f"channels:\n  telegram:\n    token: \"${{TELEGRAM_BOT_TOKEN}}\"\n    base_url: {api.base_url}\n",
            encoding="utf-8",
        )
        env = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN}
        run = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "--config", str(config), "run",
            env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        try:
            await api.push(text_message(QUESTION, user_id=111))
            (first,) = await api.wait_for("sendMessage", timeout=60)
            assert first.params["text"].startswith("Xin lỗi, tôi chưa tìm thấy")
            alias = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "--config", str(config),
                "alias", "add", "xac-dinh-muc-do-khuyet-tat", "giấy chứng nhận tật nguyền",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
            _, err = await alias.communicate()
            assert alias.returncode == 0, err
            for attempt in range(2, 60):
                await api.push(text_message(QUESTION, user_id=111, message_id=attempt))
                sent = await api.wait_for("sendMessage", count=attempt, timeout=30)
                if sent[-1].params["text"].startswith("Xác định mức độ khuyết tật"):
                    break
                await asyncio.sleep(0.2)
            else:
                raise AssertionError("the running bot never answered with the new alias")
        finally:
            run.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(run.communicate(), 120)
        assert run.returncode == 0, err
        assert b"Traceback" not in err
