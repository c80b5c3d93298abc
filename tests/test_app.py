"""The assembled bot (catalogue, engine, dossier store, notifier) as channels see it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.app import App
from bot.config import Config, HamletHead, load_config
from bot.errors import CatalogueError
from bot.messages import Incoming, Intent, Reply


def say(text: str, user: str = "u1", channel: str = "telegram") -> Incoming:
    return Incoming(channel, user, f"chat-{user}", text)


async def test_demo_dossiers_are_seeded_and_answered_without_personal_data(config: Config) -> None:
    app = await App.open(config)
    try:
        response = await app.engine.handle(say("tra cứu hồ sơ 000.00.14.H56-251120-0001"))
        text = response.replies[0].text
        assert response.intent is Intent.STATUS
        assert "Đăng ký khai sinh" in text and "Nguyễn V. A." in text
        assert "Nguyễn Văn An" not in text and "0912" not in text and "Thôn 1" not in text
    finally:
        await app.close()


async def test_receipt_qr_deep_link_and_follow_by_text(config: Config) -> None:
    app = await App.open(config)
    try:
        linked = await app.engine.handle(say("/start 261128-0002"))
        assert linked.intent is Intent.STATUS and "261128-0002" in linked.replies[0].text
        followed = await app.engine.handle(say("theo dõi 261128-0002"))
        assert followed.intent is Intent.STATUS
        assert await app.store.follows_of("telegram", "u1") == ["000.00.14.H56-261128-0002"]
        await app.engine.handle(say("/huytheodoi 261128-0002"))
        assert await app.store.follows_of("telegram", "u1") == []
    finally:
        await app.close()


async def test_hamlet_head_digest(config: Config) -> None:
    heads = [HamletHead(channel="zalo", user_id="head7", hamlet="Thôn 7")]
    app = await App.open(replace(config, hamlet_heads=heads))
    try:
        digest = await app.engine.handle(say("/thon", user="head7", channel="zalo"))
        text = "\n".join(r.text for r in digest.replies)
        assert "Thôn 7" in text and "261127-0020" in text  # ready for pickup
        refused = await app.engine.handle(say("/thon", user="someone", channel="zalo"))
        assert "261127-0020" not in refused.replies[0].text
    finally:
        await app.close()


async def test_notification_after_a_sync_reaches_the_follower(config: Config, tmp_path: Path) -> None:
    from bot.dossiers.sync import sync_source

    app = await App.open(config)
    sent: list[tuple[str, Reply]] = []

    async def send(chat_id: str, reply: Reply) -> None:
        sent.append((chat_id, reply))

    try:
        await app.engine.handle(say("/theodoi 261124-0008"))
        export = tmp_path / "x.csv"
        export.write_text(
            "Mã hồ sơ,Trạng thái\n000.00.14.H56-261124-0008,Đã xử lý xong\n", encoding="utf-8"
        )
        await sync_source(app.store, str(export), config.status.sync.columns)
        assert await app.notifier.deliver_pending("telegram", send) == 1
        assert await app.notifier.deliver_pending("telegram", send) == 0  # never twice
        assert sent[0][0] == "chat-u1" and "Đã xử lý xong" in sent[0][1].text
    finally:
        await app.close()


async def test_a_broken_catalogue_stops_the_app_before_opening_the_database(config: Config, tmp_path: Path) -> None:
    broken = replace(config, catalogue=replace(config.catalogue, dir=tmp_path / "none"))
    with pytest.raises(CatalogueError):
        await App.open(broken)
    assert not config.database.path.exists()


async def test_a_config_file_without_demo_data_seeds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text('commune:\n  name: "UBND xã Thử"\n', encoding="utf-8")
    app = await App.open(load_config(path))
    try:
        assert app.config.database.path == tmp_path / "data" / "motcua.sqlite3"
        assert await app.store.is_empty()
        response = await app.engine.handle(say("tra cứu hồ sơ 000.00.14.H56-251120-0001"))
        assert "Nguyễn V. A." not in response.replies[0].text
    finally:
        await app.close()


async def test_a_config_file_naming_demo_data_seeds_it(tmp_path: Path) -> None:
    from bot.config import DEMO_DOSSIERS

    path = tmp_path / "config.yaml"
    path.write_text(f"status:\n  demo_data: {DEMO_DOSSIERS}\n", encoding="utf-8")
    app = await App.open(load_config(path))
    try:
        assert not await app.store.is_empty()
    finally:
        await app.close()
