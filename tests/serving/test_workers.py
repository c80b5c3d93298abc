"""`motcua run --workers N`: real worker processes behind one port, real PostgreSQL,
the fake Telegram and Zalo servers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.serving.harness import eventually, province


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
