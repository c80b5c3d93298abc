"""`motcua alias add`: the alias goes into the procedure's YAML file (comments, order and
format kept: the diff is the new line), is validated (a failure restores the file), and
the running App answers with it without a restart (reload, or the catalogue watcher)."""

from __future__ import annotations

import asyncio
import difflib
import logging
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App
from bot.config import CatalogueConfig, Config, DatabaseConfig
from bot.errors import CatalogueError
from bot.messages import Incoming, Intent
from bot.procedures.aliases import AliasError, add_alias
from bot.procedures.catalogue import Catalogue, load_catalogue
from bot.procedures.compiled import CACHE_FOLDER, open_catalogue
from bot.procedures.watch import watch

ROOT = Path(__file__).resolve().parents[2]
PROC = "xac-dinh-muc-do-khuyet-tat"
FILE = Path("bao-tro-xa-hoi") / f"{PROC}.yaml"
QUESTION = "bà tôi xin giấy chứng nhận tật nguyền"
ALIAS = "giấy chứng nhận tật nguyền"


@pytest.fixture
def catalogue_dir(tmp_path: Path) -> Path:
    """A copy of the bundled catalogue; the khuyết tật file gets comments staff wrote."""
    dest = tmp_path / "procedures"
    shutil.copytree(ROOT / "procedures", dest, ignore=shutil.ignore_patterns(CACHE_FOLDER))
    path = dest / FILE
    text = path.read_text(encoding="utf-8")
    text = "# Checked with the desk on 2026-11-20.\n" + text
    text = text.replace("aliases:\n", "aliases:  # how residents ask\n  # from the hamlet meetings:\n", 1)
    text = text.replace("  - xn khuyết tật\n", "  - xn khuyết tật   # shorthand\n", 1)
    path.write_text(text, encoding="utf-8")
    return dest


@pytest.fixture
async def app(tmp_path: Path, catalogue_dir: Path) -> AsyncIterator[App]:
    config = Config(catalogue=CatalogueConfig(dir=catalogue_dir), database=DatabaseConfig(path=tmp_path / "db.sqlite3"))
    real = await App.open(config)
    try:
        yield real
    finally:
        await real.close()


def diff(before: str, after: str) -> list[str]:
    return [
        line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if not line.startswith(("---", "+++", "@@"))
    ]


def ask(text: str, chat: str = "u1") -> Incoming:
    return Incoming("telegram", chat, chat, text)


def test_alias_add_through_the_cli_writes_only_the_new_line(catalogue_dir: Path, tmp_path: Path) -> None:
    before = (catalogue_dir / FILE).read_text(encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--catalogue", str(catalogue_dir), "--db", str(tmp_path / "x.sqlite3"),
         "alias", "add", PROC, ALIAS],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"đã thêm cách gọi «{ALIAS}» cho {PROC}" in done.stdout
    after = (catalogue_dir / FILE).read_text(encoding="utf-8")
    assert diff(before, after) == [f"+  - {ALIAS}"]
    lines = after.splitlines()
    assert lines.index(f"  - {ALIAS}") == lines.index("  - làm thẻ người khuyết tật") + 1  # after the last alias
    assert "# how residents ask" in after and "xn khuyết tật   # shorthand" in after
    assert ALIAS in load_catalogue(catalogue_dir).get(PROC).aliases
    # The compiled copy was refreshed with it: the next start loads it from the cache.
    served = open_catalogue(catalogue_dir)
    assert served.origin == "cache" and ALIAS in served.catalogue.get(PROC).aliases


def test_an_alias_needing_quotes_is_quoted(catalogue_dir: Path) -> None:
    before = (catalogue_dir / FILE).read_text(encoding="utf-8")
    add_alias(catalogue_dir, PROC, "tật nguyền: xin giấy # ở đâu")
    after = (catalogue_dir / FILE).read_text(encoding="utf-8")
    assert diff(before, after) == ["+  - 'tật nguyền: xin giấy # ở đâu'"]
    assert "tật nguyền: xin giấy # ở đâu" in load_catalogue(catalogue_dir).get(PROC).aliases


@pytest.mark.parametrize(
    ("proc_id", "text", "message"),
    [
        ("khong-co-thu-tuc-nay", ALIAS, "Không có thủ tục mã «khong-co-thu-tuc-nay» trong danh mục."),
        (PROC, "XN khuyết tật", "«XN khuyết tật» đã là một cách gọi của"),
        (PROC, "lam giay khai sinh", "đã là cách gọi của thủ tục khác: «Đăng ký khai sinh» (khai-sinh)"),
        (PROC, "  ?! ", "Cách gọi không được để trống"),
        (PROC, "a" * 201, "Cách gọi dài quá 200 ký tự"),
    ],
)
def test_refusals_are_clear_and_touch_nothing(catalogue_dir: Path, proc_id: str, text: str, message: str) -> None:
    before = (catalogue_dir / FILE).read_bytes()
    with pytest.raises(AliasError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        add_alias(catalogue_dir, proc_id, text)
    assert (catalogue_dir / FILE).read_bytes() == before


def test_the_cli_refusal_is_one_line_with_status_2(catalogue_dir: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--catalogue", str(catalogue_dir), "--db", str(tmp_path / "x.sqlite3"),
         "alias", "add", "khong-co", "abc"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr == "motcua: Không có thủ tục mã «khong-co» trong danh mục.\n"


def test_a_file_whose_format_cannot_be_kept_is_left_alone(catalogue_dir: Path) -> None:
    path = catalogue_dir / FILE
    text = path.read_text(encoding="utf-8")
    start, end = text.index("aliases:"), text.index("documents:")
    path.write_text(text[:start] + "aliases: [xn khuyết tật, giám định khuyết tật ở xã]\n" + text[end:], encoding="utf-8")
    before = path.read_bytes()
    with pytest.raises(AliasError, match="không giữ nguyên được cách trình bày"):
        add_alias(catalogue_dir, PROC, ALIAS)
    assert path.read_bytes() == before


def test_the_file_is_restored_when_the_catalogue_stops_validating(catalogue_dir: Path) -> None:
    path = catalogue_dir / FILE
    before = path.read_bytes()
    other = catalogue_dir / "ho-tich" / "khai-sinh.yaml"

    def validate_after_a_concurrent_bad_edit(directory: Path) -> Catalogue:
        # Someone saves a broken file while the alias is written: validation fails.
        other.write_text(other.read_text(encoding="utf-8").replace("name:", "name:\n  - oops", 1), encoding="utf-8")
        return load_catalogue(directory)

    with pytest.raises(AliasError, match="tệp đã được khôi phục"):
        add_alias(catalogue_dir, PROC, ALIAS, validate=validate_after_a_concurrent_bad_edit)
    assert path.read_bytes() == before
    assert not list(path.parent.glob(".*.tmp"))


async def test_the_running_app_answers_with_the_alias_after_reload_keeping_sessions(app: App, catalogue_dir: Path) -> None:
    first = await app.engine.handle(ask(QUESTION))
    assert first.intent is Intent.UNKNOWN
    await app.engine.handle(ask("làm giấy khai sinh cần gì", chat="other"))
    await asyncio.to_thread(add_alias, catalogue_dir, PROC, ALIAS)
    await app.reload_catalogue()
    again = await app.engine.handle(ask(QUESTION, chat="u2"))
    assert again.intent is Intent.PROCEDURE and again.matches[0].id == PROC
    assert again.replies[0].text.startswith("Xác định mức độ khuyết tật")
    # The other conversation kept its topic across the reload.
    followup = await app.engine.handle(ask("thế còn lệ phí?", chat="other"))
    assert followup.matches[0].id == "khai-sinh" and "Lệ phí" in followup.replies[0].text


async def test_the_watcher_picks_up_an_edit_and_keeps_serving_through_a_broken_one(
    app: App, catalogue_dir: Path, caplog
) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(watch(catalogue_dir, lambda: app.catalogue_fingerprint, app.reload_catalogue, stop, 0.05))
    try:
        await asyncio.to_thread(add_alias, catalogue_dir, PROC, ALIAS)

        async def answered() -> None:
            while (await app.engine.handle(ask(QUESTION))).intent is not Intent.PROCEDURE:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(answered(), 30)
        broken = catalogue_dir / "ho-tich" / "khai-sinh.yaml"
        with caplog.at_level(logging.WARNING, logger="bot.procedures.watch"):
            broken.write_text("id: khai-sinh\nname: [\n", encoding="utf-8")

            async def warned() -> None:
                while "does not validate" not in caplog.text:
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(warned(), 30)
        still = await app.engine.handle(ask("làm giấy khai sinh cần gì", chat="u3"))
        assert still.matches[0].id == "khai-sinh"
        assert caplog.text.count("does not validate") == 1  # said once, not every interval
    finally:
        stop.set()
        await task


async def test_reload_of_a_broken_catalogue_raises_and_keeps_the_served_one(app: App, catalogue_dir: Path) -> None:
    (catalogue_dir / "ho-tich" / "khai-sinh.yaml").write_text("id: khai-sinh\n", encoding="utf-8")
    with pytest.raises(CatalogueError):
        await app.reload_catalogue()
    response = await app.engine.handle(ask("làm giấy khai sinh cần gì"))
    assert response.matches[0].id == "khai-sinh"
