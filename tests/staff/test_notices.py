"""Announcements: the store, the engine adding each once per conversation, the CLI."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import Config
from bot.dialogue import Engine
from bot.messages import Incoming
from bot.procedures.catalogue import Catalogue
from bot.session import SessionStore
from bot.staff.hours import VIETNAM
from bot.staff.notices import MAX_NOTICE_CHARS, NoticeError, NoticeStore
from bot.storage import Database
from tests.staff.conftest import Place

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=VIETNAM)
CLOSURE = "Thứ Sáu 11/12 bộ phận một cửa nghỉ để tập huấn; hồ sơ nhận lại từ thứ Hai 14/12."


@pytest.fixture
async def notices(staff_db: Database):
    store = await NoticeStore.create(staff_db)
    yield store
    await store.close()


async def test_a_notice_is_current_until_it_expires_or_is_removed(notices: NoticeStore) -> None:
    first = await notices.post(CLOSURE, NOW + timedelta(days=3), "Lan", now=NOW)
    second = await notices.post("Mất điện chiều nay.", NOW + timedelta(hours=5), "Minh", now=NOW)
    assert [n.id for n in await notices.current(NOW)] == [first, second]
    assert [n.id for n in await notices.current(NOW + timedelta(hours=6))] == [first]
    assert await notices.remove(first, "Lan")
    assert not await notices.remove(first, "Lan")  # already down
    assert [n.id for n in await notices.current(NOW)] == [second]
    everything = await notices.all()
    assert [n.id for n in everything] == [second, first]
    assert everything[1].removed_by == "Lan" and everything[1].posted_by == "Lan"


async def test_a_notice_posted_elsewhere_shows_after_the_cache_time(place: Place) -> None:
    ticks = [0.0]
    bot_side = await NoticeStore.open(place.path, place.url)
    bot_side._monotonic = lambda: ticks[0]  # type: ignore[method-assign]
    cli_side = await NoticeStore.open(place.path, place.url)
    try:
        assert await bot_side.current(NOW) == []
        await cli_side.post(CLOSURE, NOW + timedelta(days=1), "cli", now=NOW)
        assert await bot_side.current(NOW) == []  # answered from memory
        ticks[0] = 31.0
        assert [n.text for n in await bot_side.current(NOW)] == [CLOSURE]
    finally:
        await bot_side.close()
        await cli_side.close()


@pytest.mark.parametrize(
    ("text", "until", "error"),
    [
        ("   ", NOW + timedelta(days=1), "empty"),
        ("x" * (MAX_NOTICE_CHARS + 1), NOW + timedelta(days=1), "at most"),
        (CLOSURE, NOW - timedelta(minutes=1), "already past"),
        (CLOSURE, datetime(2026, 12, 9), "time zone"),
    ],
)
async def test_bad_notices_are_refused(notices: NoticeStore, text: str, until: datetime, error: str) -> None:
    with pytest.raises(NoticeError, match=error):
        await notices.post(text, until, "Lan", now=NOW)
    assert await notices.all() == []


async def test_the_engine_adds_a_notice_once_per_conversation(
    notices: NoticeStore, config: Config, catalogue: Catalogue
) -> None:
    clock = [NOW]
    engine = Engine.build(config, catalogue, notices=notices, clock=lambda: clock[0])
    await notices.post(CLOSURE, NOW + timedelta(days=3), "Lan", now=NOW)

    async def ask(text: str, chat: str = "c1") -> str:
        response = await engine.handle(Incoming("zalo", chat, chat, text))
        return "\n".join(r.text for r in response.replies)

    first = await ask("lam giay khai sinh can gi")
    assert first.endswith(f"📢 Thông báo: {CLOSURE}")
    assert "📢" not in await ask("thế còn lệ phí?")  # once in this conversation
    assert "📢" in await ask("chào", chat="c2")  # another conversation sees it too
    clock[0] = NOW + timedelta(days=4)
    assert "📢" not in await ask("xin chào", chat="c3")  # expired


async def test_a_new_conversation_after_the_time_out_sees_the_notice_again(
    notices: NoticeStore, config: Config, catalogue: Catalogue
) -> None:
    ticks = [0.0]
    sessions = SessionStore(60, clock=lambda: ticks[0])
    base = Engine.build(config, catalogue, notices=notices, clock=lambda: NOW)
    engine = Engine(
        config, catalogue, normalizer=base._normalizer, lexicon=base._lexicon, matcher=base.matcher,
        sessions=sessions, notices=notices, clock=lambda: NOW,
    )
    await notices.post(CLOSURE, NOW + timedelta(days=3), "Lan", now=NOW)
    assert "📢" in (await engine.handle(Incoming("telegram", "u", "c", "chào"))).replies[-1].text
    assert "📢" not in (await engine.handle(Incoming("telegram", "u", "c", "chào"))).replies[-1].text
    ticks[0] = 120.0
    assert "📢" in (await engine.handle(Incoming("telegram", "u", "c", "chào"))).replies[-1].text


def test_the_notice_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "motcua.sqlite3")
    until = (datetime.now(VIETNAM) + timedelta(days=2)).date().isoformat()
    assert main(["--db", db, "notice", "add", CLOSURE, "--until", until, "--by", "Lan"]) == 0
    assert "announcement 1 posted" in capsys.readouterr().out
    assert main(["--db", db, "notice", "list"]) == 0
    listed = capsys.readouterr().out
    assert "1\tcurrent" in listed and "by Lan" in listed and CLOSURE in listed
    assert main(["--db", db, "notice", "remove", "1"]) == 0
    assert main(["--db", db, "notice", "remove", "1"]) == 2
    assert "no announcement 1 is up" in capsys.readouterr().err
    assert main(["--db", db, "notice", "list"]) == 0
    assert "1\tremoved" in capsys.readouterr().out
    assert main(["--db", db, "notice", "add", CLOSURE, "--until", "11/12/2026"]) == 2
    assert "--until: expected a date as YYYY-MM-DD" in capsys.readouterr().err
    assert main(["--db", db, "notice", "add", CLOSURE, "--until", "2020-01-01"]) == 2
    assert "already past" in capsys.readouterr().err
    # One commune (no communes: list): --commune names none, and says so in one line.
    assert main(["--db", db, "notice", "list", "--commune", "tan-hoa"]) == 2
    assert capsys.readouterr().err == (
        "motcua: --commune 'tan-hoa': no such commune in communes: of the built-in settings"
        " (none: there is no communes: list)\n"
    )
