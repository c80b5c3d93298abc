"""Several communes on one bot: per-commune office, hours and catalogue overlay; routing
by deep link, dossier code, hamlet head and a remembered choice; `motcua ask --commune`;
`motcua validate` on overlays; bad `communes:` entries."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import App
from bot.config import load_config
from bot.errors import CatalogueError, ConfigError
from bot.messages import Incoming, Intent
from bot.procedures.compiled import open_catalogue
from bot.procedures.overlay import load_overlaid
from tests.backends import BACKENDS, Backend, backend

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "procedures"

ADDED = """\
id: cho-que-phien
name: Đăng ký điểm họp chợ phiên ở thôn
field: Thương mại
aliases:
  - đăng ký chợ phiên
  - họp chợ phiên
documents:
  - Đơn đăng ký điểm họp chợ phiên
time: 5 ngày làm việc
fee: Không thu phí
where: Bộ phận Một cửa UBND xã Bình Minh
source:
  - Quy định của UBND xã Bình Minh
reviewed: 2026-11-01
"""

FACTS = """\
id: ket-hon
where: Bộ phận Một cửa UBND xã Bình Minh, số 1 đường Đê Sông
"""

FEE = """\
id: khai-tu
fee: 9.000 đồng (mức của tỉnh Bình Minh)
"""


def _config_text(tmp_path: Path, overlay: Path, url: str | None = None) -> str:
    text = f"""\
commune:
  name: "Tỉnh Thử"
  office: "Trung tâm phục vụ hành chính công tỉnh"
  hours: "Giờ hành chính"
  hotline: "0200 000 000"
catalogue:
  dir: "{BASE}"
  reload_seconds: 0
database:
  path: "{tmp_path / 'motcua.sqlite3'}"
status:
  demo_data: "{ROOT / 'bot/dossiers/data/demo_dossiers.csv'}"
communes:
  - id: tan-hoa
    commune:
      name: "UBND xã Tân Hòa"
      office: "Bộ phận Một cửa, trụ sở UBND xã Tân Hòa"
      hours: "Sáng 7h30–11h30, thứ Hai đến thứ Sáu"
      hotline: "0210 3800 111"
    status:
      code_prefix: "000.00.14.H56"
  - id: binh-minh
    commune:
      name: "UBND xã Bình Minh"
      office: "Bộ phận Một cửa, số 1 đường Đê Sông"
      hours: "Sáng 7h00–11h00, thứ Hai đến thứ Bảy"
      hotline: "0210 3900 222"
    status:
      code_prefix: "000.00.15.H56"
    catalogue:
      overlay: "{overlay}"
    hamlet_heads:
      - channel: zalo
        user_id: "head-bm"
        hamlet: "Thôn Đông"
"""
    return text if url is None else text.replace("database:\n", f'database:\n  url: "{url}"\n')


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """None (the SQLite file), or a fresh database on the test PostgreSQL server."""
    with backend(request, tmp_path, Backend) as where:
        yield where.url


@pytest.fixture
def overlay(tmp_path: Path) -> Path:
    folder = tmp_path / "binh-minh"
    folder.mkdir()
    (folder / "cho-que-phien.yaml").write_text(ADDED, encoding="utf-8")
    (folder / "ket-hon.yaml").write_text(FACTS, encoding="utf-8")
    (folder / "khai-tu.yaml").write_text(FEE, encoding="utf-8")
    (folder / "overlay.yaml").write_text("remove:\n  - dang-ky-le-hoi\n", encoding="utf-8")
    return folder


@pytest.fixture
def config_file(tmp_path: Path, overlay: Path, database_url: str | None) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(_config_text(tmp_path, overlay, database_url), encoding="utf-8")
    return path


def say(text: str, user: str = "u1", channel: str = "telegram", choice: str | None = None) -> Incoming:
    return Incoming(channel, user, f"chat-{user}", text, choice=choice)


def test_overlay_adds_removes_and_replaces_only_given_keys(overlay: Path) -> None:
    base = load_overlaid(BASE, None)
    mine = load_overlaid(BASE, overlay)
    assert mine.get("cho-que-phien") is not None and base.get("cho-que-phien") is None
    assert mine.get("dang-ky-le-hoi") is None and base.get("dang-ky-le-hoi") is not None
    ket_hon, base_ket_hon = mine.get("ket-hon"), base.get("ket-hon")
    assert ket_hon.where.startswith("Bộ phận Một cửa UBND xã Bình Minh")
    assert ket_hon.documents == base_ket_hon.documents and ket_hon.fee == base_ket_hon.fee
    assert mine.get("khai-tu").fee.startswith("9.000 đồng")
    # The compiled copy per commune: built once into the overlay's .cache, then loaded.
    first = open_catalogue(BASE, overlay=overlay)
    again = open_catalogue(BASE, overlay=overlay)
    assert (overlay / ".cache").is_dir() and again.origin == "cache"
    assert again.catalogue.get("ket-hon").where == ket_hon.where and first.catalogue.get("dang-ky-le-hoi") is None
    (overlay / "ket-hon.yaml").write_text(FACTS.replace("số 1", "số 9"), encoding="utf-8")
    edited = open_catalogue(BASE, overlay=overlay)
    assert edited.origin == "built" and "số 9" in edited.catalogue.get("ket-hon").where


def test_overlay_problems_name_file_line_and_key(overlay: Path) -> None:
    (overlay / "overlay.yaml").write_text("remove:\n  - dang-ky-le-hoi\n  - khong-co-thu-tuc-nay\n", encoding="utf-8")
    (overlay / "ket-hon.yaml").write_text("id: ket-hon\nfee:\n  - một\nmau: x\n", encoding="utf-8")
    with pytest.raises(CatalogueError) as caught:
        load_overlaid(BASE, overlay)
    problems = "\n".join(caught.value.problems)
    assert f"{overlay / 'overlay.yaml'}:3: remove: 'khong-co-thu-tuc-nay' is not an id" in problems
    assert f"{overlay / 'ket-hon.yaml'}:2: fee:" in problems
    assert f"{overlay / 'ket-hon.yaml'}:4: mau: unknown key" in problems


async def test_two_communes_on_one_app_answer_with_their_own_office_hours_and_catalogue(config_file: Path) -> None:
    app = await App.open(load_config(config_file))
    try:
        # Unknown resident: asked once, the question is answered after the choice.
        asked = await app.engine.handle(say("kết hôn nộp ở đâu", user="a"))
        assert asked.replies[0].text.startswith("Ông/bà ở xã nào?")
        assert [c.data for c in asked.replies[0].choices] == ["xa:tan-hoa", "xa:binh-minh"]
        chosen = await app.engine.handle(say("UBND xã Bình Minh", user="a", choice="xa:binh-minh"))
        assert "số 1 đường Đê Sông" in "\n".join(r.text for r in chosen.replies)
        # Remembered: the next question needs no choice.
        hours = await app.engine.handle(say("mấy giờ làm việc", user="a"))
        assert "7h00–11h00" in hours.replies[0].text and "0210 3900 222" in hours.replies[0].text
        added = await app.engine.handle(say("đăng ký chợ phiên cần gì", user="a"))
        assert added.matches and added.matches[0].id == "cho-que-phien"
        # The other commune, by the deep link: its own office and catalogue.
        linked = await app.engine.handle(say("/start tan-hoa", user="b"))
        assert "UBND xã Tân Hòa" in linked.replies[0].text and "0210 3800 111" in linked.replies[0].text
        where = await app.engine.handle(say("kết hôn nộp ở đâu", user="b"))
        assert "Đê Sông" not in where.replies[0].text
        other = await app.engine.handle(say("đăng ký chợ phiên cần gì", user="b"))
        assert not other.matches or other.matches[0].id != "cho-que-phien"
        fee_b = await app.engine.handle(say("/start binh-minh", user="c"))
        assert "Bình Minh" in fee_b.replies[0].text
        fee = await app.engine.handle(say("lệ phí đăng ký khai tử", user="c"))
        assert "9.000 đồng" in fee.replies[0].text
        # The removed procedure is gone from one commune only.
        assert app.router is not None
        assert app.router.engine_of("binh-minh").catalogue.get("dang-ky-le-hoi") is None
        assert app.router.engine_of("tan-hoa").catalogue.get("dang-ky-le-hoi") is not None
        # /xa changes it (typed name after the question works too).
        again = await app.engine.handle(say("/xa", user="a"))
        assert again.replies[0].text.startswith("Ông/bà ở xã nào?")
        switched = await app.engine.handle(say("Tân Hòa", user="a"))
        assert "UBND xã Tân Hòa" in switched.replies[0].text
    finally:
        await app.close()
    # The choice is kept in the database: a restarted bot still knows.
    app = await App.open(load_config(config_file))
    try:
        hours = await app.engine.handle(say("mấy giờ làm việc", user="b"))
        assert "0210 3800 111" in hours.replies[0].text
    finally:
        await app.close()


async def test_a_full_dossier_code_and_a_hamlet_head_route_to_their_commune(config_file: Path) -> None:
    app = await App.open(load_config(config_file))
    try:
        found = await app.engine.handle(say("tra cứu hồ sơ 000.00.14.H56-251120-0001", user="x"))
        assert found.intent is Intent.STATUS and "Đăng ký khai sinh" in found.replies[0].text
        missing = await app.engine.handle(say("hồ sơ 000.00.15.H56-251120-0001 đến đâu", user="y"))
        assert missing.intent is Intent.STATUS and "0210 3900 222" in missing.replies[0].text
        assert "Nguyễn" not in missing.replies[0].text  # Tân Hòa's dossier with that tail stays hidden
        head = await app.engine.handle(say("mấy giờ làm việc", user="head-bm", channel="zalo"))
        assert "0210 3900 222" in head.replies[0].text
        # A tail alone from someone unknown: which commune first, then the look-up.
        asked = await app.engine.handle(say("251120-0001", user="z"))
        assert asked.replies[0].text.startswith("Ông/bà ở xã nào?")
        answered = await app.engine.handle(say("1", user="z"))
        assert "Đăng ký khai sinh" in "\n".join(r.text for r in answered.replies)
    finally:
        await app.close()


def _motcua(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_motcua_ask_commune_and_validate(config_file: Path) -> None:
    result = _motcua("--config", str(config_file), "ask", "--json", "--commune", "binh-minh", "kết hôn nộp ở đâu")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["intent"] == "procedure" and "Đê Sông" in answer["reply"]
    result = _motcua("--config", str(config_file), "ask", "--json", "--commune", "tan-hoa", "kết hôn nộp ở đâu")
    assert "Đê Sông" not in json.loads(result.stdout)["reply"]
    result = _motcua("--config", str(config_file), "ask", "--commune", "nowhere", "xin chào")
    assert result.returncode == 2 and "--commune: unknown commune 'nowhere'" in result.stderr
    result = _motcua("--config", str(config_file), "validate")
    assert result.returncode == 0 and "(commune binh-minh): OK" in result.stdout


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("id: binh-minh", "id: tan-hoa"), ":22: communes[1].id: duplicate id 'tan-hoa'"),
        (("  - id: binh-minh\n", "  - \n"), ":23: communes[1].id: missing"),
        (('code_prefix: "000.00.15.H56"', 'code_prefix: "15-H56"'), ":29: communes[1].status.code_prefix: '15-H56'"),
        (('code_prefix: "000.00.15.H56"', 'code_prefix: "000.00.14.H56"'), ":29: communes[1].status.code_prefix:"),
        (('      hotline: "0210 3900 222"\n', ""), ":23: communes[1].commune.hotline: missing"),
        (("communes:\n", 'hamlet_heads:\n  - {channel: zalo, user_id: "1", hamlet: "Thôn 1"}\ncommunes:\n'),
         ":13: hamlet_heads: with communes:, list each hamlet head under their commune"),
        (('      code_prefix: "000.00.15.H56"\n', '      code_prefix: "000.00.15.H56"\n    handover:\n      telegram_chat_id: "abc"\n'),
         ":31: communes[1].handover.telegram_chat_id: expected the group's numeric chat id"),
    ],
)
def test_bad_commune_entries_give_one_line_naming_file_line_and_key(
    tmp_path: Path, overlay: Path, change: tuple[str, str], expected: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(_config_text(tmp_path, overlay).replace(*change), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert f"{path}{expected}" in str(caught.value), str(caught.value)
    result = _motcua("--config", str(path), "ask", "xin chào")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and expected in result.stderr


async def test_an_overlay_edit_is_seen_and_reloaded_for_its_commune_only(config_file: Path, overlay: Path) -> None:
    from bot.procedures.watch import fingerprint
    from bot.tenants import catalogue_folders

    config = load_config(config_file)
    app = await App.open(config)
    try:
        before = app.catalogue_fingerprint
        (overlay / "ket-hon.yaml").write_text(FACTS.replace("số 1", "số 9"), encoding="utf-8")
        assert fingerprint(catalogue_folders(config)) != before  # the watcher notices overlays too
        await app.reload_catalogue()
        assert app.router is not None
        assert "số 9" in app.router.engine_of("binh-minh").catalogue.get("ket-hon").where
        assert "Đê Sông" not in app.router.engine_of("tan-hoa").catalogue.get("ket-hon").where
    finally:
        await app.close()


async def test_each_communes_staff_group_is_a_staff_chat(tmp_path: Path, overlay: Path, database_url: str | None) -> None:
    path = tmp_path / "config.yaml"
    text = _config_text(tmp_path, overlay, database_url) + '    handover:\n      telegram_chat_id: "-1009876543210"\n'
    path.write_text(text.replace("communes:\n", 'handover:\n  telegram_chat_id: "-1001111111111"\ncommunes:\n'), encoding="utf-8")
    app = await App.open(load_config(path))
    try:
        assert app.relay is not None
        assert app.relay.is_staff_chat("-1009876543210") and app.relay.is_staff_chat("-1001111111111")
        assert not app.relay.is_staff_chat("-1002222222222")
        tenant_relay = app.router.engine_of("binh-minh").handovers  # type: ignore[union-attr]
        assert tenant_relay.staff_chat == "-1009876543210"
        assert app.router.engine_of("tan-hoa").handovers.staff_chat == "-1001111111111"  # type: ignore[union-attr]
        # a group closes by number only its own commune's hand-overs
        await app.engine.handle(say("/start tan-hoa", user="u1"))
        await app.engine.handle(say("cho tôi gặp cán bộ", user="u1"))
        (handover,) = await app.handovers.list()
        other = await app.relay.staff_message(None, "Minh", f"/dong {handover.id}", chat="-1009876543210")
        assert other == f"Không có yêu cầu #{handover.id} nào đang mở."
        assert (await app.handovers.get(handover.id)).state == "waiting"  # type: ignore[union-attr]
        own = await app.relay.staff_message(None, "Lan", f"/dong {handover.id}", chat="-1001111111111")
        assert own is not None and own.startswith(f"Đã đóng yêu cầu #{handover.id}")
    finally:
        await app.close()


def test_motcua_validate_names_a_broken_overlay(config_file: Path, overlay: Path) -> None:
    (overlay / "overlay.yaml").write_text("remove:\n  - khong-co\n", encoding="utf-8")
    result = _motcua("--config", str(config_file), "validate")
    assert result.returncode == 1
    assert f"{overlay / 'overlay.yaml'}:2: remove: 'khong-co' is not an id of the base catalogue" in result.stderr


async def test_a_hamlet_heads_digest_holds_only_their_communes_dossiers(
    tmp_path: Path, overlay: Path, database_url: str | None
) -> None:
    path = tmp_path / "config.yaml"
    text = _config_text(tmp_path, overlay, database_url).replace('hamlet: "Thôn Đông"', 'hamlet: "Thôn 7"')
    text = text.replace(  # Tân Hòa's head of its own Thôn 7 (the demo dossiers are Tân Hòa's)
        '      code_prefix: "000.00.14.H56"\n',
        '      code_prefix: "000.00.14.H56"\n    hamlet_heads:\n      - {channel: zalo, user_id: "head-th", hamlet: "Thôn 7"}\n',
    )
    path.write_text(text, encoding="utf-8")
    app = await App.open(load_config(path))
    try:
        own = await app.engine.handle(say("/thon", user="head-th", channel="zalo"))
        assert "261127-0020" in own.replies[0].text
        other = await app.engine.handle(say("/thon", user="head-bm", channel="zalo"))
        assert "Thôn 7" in other.replies[0].text and "261127-0020" not in other.replies[0].text
    finally:
        await app.close()


async def test_a_follow_notification_names_the_dossiers_commune(config_file: Path) -> None:
    from bot.dossiers.statuses import Status
    from bot.dossiers.store import Notification

    app = await App.open(load_config(config_file))
    try:
        def note(code: str) -> str:
            item = Notification(1, "telegram", "u", "u", 0, code, None, Status.DONE, "", "Đăng ký khai sinh", None)
            return app.notifier.render(item).text

        assert "Đê Sông" in note("000.00.15.H56-261127-0001") and "UBND xã Bình Minh" in note("000.00.15.H56-261127-0001")
        assert "UBND xã Tân Hòa" in note("000.00.14.H56-261127-0001")
    finally:
        await app.close()


async def test_a_receipts_qr_link_with_a_tail_is_answered_once_the_commune_is_chosen(config_file: Path) -> None:
    app = await App.open(load_config(config_file))
    try:
        asked = await app.engine.handle(say("/start 261128-0002", user="q"))
        assert asked.replies[0].text.startswith("Ông/bà ở xã nào?")
        answered = await app.engine.handle(say("UBND xã Tân Hòa", user="q", choice="xa:tan-hoa"))
        assert answered.intent is Intent.STATUS and "261128-0002" in answered.replies[-1].text
    finally:
        await app.close()


async def test_a_hand_over_and_its_answer_are_posted_to_its_communes_own_staff_group(tmp_path: Path, overlay: Path) -> None:
    from bot.delivery import channel_jobs

    path = tmp_path / "config.yaml"  # no top-level group: only Bình Minh's own
    path.write_text(_config_text(tmp_path, overlay) + '    handover:\n      telegram_chat_id: "-1009876543210"\n', encoding="utf-8")
    app = await App.open(load_config(path))
    posted: list[tuple[str, str]] = []

    async def post(chat_id: str, reply) -> list[str]:  # noqa: ANN001
        posted.append((chat_id, reply.text))
        return [str(len(posted))]

    async def send(chat_id: str, reply) -> None:  # noqa: ANN001
        pass

    try:
        await app.engine.handle(Incoming("zalo", "u9", "u9", "/start binh-minh"))
        await app.engine.handle(Incoming("zalo", "u9", "u9", "gặp cán bộ"))
        for outbox, channel, deliver in channel_jobs(app, "telegram", send, post=post):
            await outbox.deliver_pending(channel, deliver)
        assert [chat for chat, _ in posted] == ["-1009876543210"]
        assert posted[0][1].startswith("🔔 Yêu cầu #")
        # The staff answer in that group reaches the resident, and its "✅ Đã gửi" the same group.
        assert app.relay is not None
        await app.relay.staff_message("1", "Cán bộ Lan", "Mời bác lên xã sáng mai.", chat="-1009876543210")
        for outbox, channel, deliver in channel_jobs(app, "zalo", send) + channel_jobs(app, "telegram", send, post=post):
            await outbox.deliver_pending(channel, deliver)
        assert [chat for chat, _ in posted] == ["-1009876543210", "-1009876543210"]
        assert posted[1][1].startswith("✅ Đã gửi")
    finally:
        await app.close()


async def test_each_communes_engine_writes_its_own_commune_into_the_staff_rows(config_file: Path) -> None:
    """Hand-overs, counts, missed questions and notices of two communes on one bot: each
    commune's view (what its staff's back office gets) holds only its own."""
    from datetime import datetime, timedelta

    from bot.staff.hours import VIETNAM

    app = await App.open(load_config(config_file))
    assert app.router is not None and app.recorder is not None
    try:
        for user, commune in (("u1", "tan-hoa"), ("u2", "binh-minh"), ("u3", "binh-minh")):
            await app.engine.handle(say(f"/start {commune}", user=user))
        await app.engine.handle(say("cho tôi gặp cán bộ", user="u1"))
        await app.engine.handle(say("cho tôi gặp cán bộ", user="u2"))
        await app.engine.handle(say("giá vàng hôm nay thế nào", user="u3"))
        tan_hoa, binh_minh = app.handovers.scoped("tan-hoa"), app.handovers.scoped("binh-minh")
        assert [h.user_id for h in await tan_hoa.list()] == ["u1"]
        assert [h.user_id for h in await binh_minh.list()] == ["u2"]
        (theirs,) = await binh_minh.list()
        assert await tan_hoa.get(theirs.id) is None and not await tan_hoa.reply(theirs.id, "Lan", "nhầm xã")
        await app.recorder.flush()
        assert await app.recorder.missed.scoped("binh-minh").count() == 1
        assert await app.recorder.missed.scoped("tan-hoa").count() == 0
        assert (await app.recorder.activity.scoped("tan-hoa").outcomes())["handover"] == 1
        assert (await app.recorder.activity.scoped("binh-minh").outcomes())["refused"] == 1
        until = datetime.now(VIETNAM) + timedelta(days=2)
        await app.notices.scoped("binh-minh").post("Xã Bình Minh nghỉ chiều thứ Sáu.", until, "Minh")

        async def shown(user: str, commune: str) -> str:
            texts = []
            for text in (f"/start {commune}", "lam giay khai sinh can gi"):  # shown once per conversation
                texts += [r.text for r in (await app.engine.handle(say(text, user=user))).replies]
            return "\n".join(texts)

        assert "Xã Bình Minh nghỉ" in await shown("u4", "binh-minh")
        assert "Xã Bình Minh nghỉ" not in await shown("u5", "tan-hoa")
    finally:
        await app.close()


async def test_a_notice_from_the_command_line_shows_in_every_commune(config_file: Path) -> None:
    from datetime import date, timedelta

    until = (date.today() + timedelta(days=2)).isoformat()
    added = _motcua("--config", str(config_file), "notice", "add", "Toàn tỉnh nghỉ lễ.", "--until", until, "--by", "Tỉnh")
    assert added.returncode == 0, added.stderr
    app = await App.open(load_config(config_file))
    try:
        for user, commune in (("u1", "tan-hoa"), ("u2", "binh-minh")):
            start = await app.engine.handle(say(f"/start {commune}", user=user))
            answer = await app.engine.handle(say("lam giay khai sinh can gi", user=user))
            assert "Toàn tỉnh nghỉ lễ." in "\n".join(r.text for r in [*start.replies, *answer.replies]), commune
    finally:
        await app.close()


async def test_a_notice_for_one_commune_from_the_command_line_reaches_only_its_residents(
    config_file: Path,
) -> None:
    """`motcua notice add|list|remove --commune ID` speaks as that commune's staff: the
    notice shows to its residents only, the other commune neither lists nor removes it,
    the province's view lists it; an unknown id is one line naming the file and the key."""
    from datetime import date, timedelta

    def notice(*args: str) -> subprocess.CompletedProcess[str]:
        return _motcua("--config", str(config_file), "notice", *args)

    until = (date.today() + timedelta(days=2)).isoformat()
    added = notice("add", "Xã Bình Minh nghỉ chiều thứ Sáu.", "--until", until, "--by", "Minh", "--commune", "binh-minh")
    assert added.returncode == 0, added.stderr
    number = added.stdout.split()[1]
    listed = notice("list", "--commune", "binh-minh")
    assert listed.returncode == 0 and listed.stdout.startswith(f"{number}\tcurrent\t") and "Bình Minh nghỉ" in listed.stdout
    assert notice("list", "--commune", "tan-hoa").stdout == "no announcements\n"
    assert "Bình Minh nghỉ" in notice("list").stdout  # the province's view sees every commune's
    app = await App.open(load_config(config_file))
    try:
        for user, commune, sees in (("u1", "tan-hoa", False), ("u2", "binh-minh", True)):
            start = await app.engine.handle(say(f"/start {commune}", user=user))
            answer = await app.engine.handle(say("lam giay khai sinh can gi", user=user))
            shown = "\n".join(r.text for r in [*start.replies, *answer.replies])
            assert ("Xã Bình Minh nghỉ" in shown) is sees, commune
    finally:
        await app.close()
    other = notice("remove", number, "--commune", "tan-hoa")
    assert other.returncode == 2 and f"no announcement {number} is up" in other.stderr
    assert notice("remove", number, "--commune", "binh-minh").returncode == 0
    assert "\tremoved\t" in notice("list", "--commune", "binh-minh").stdout
    wrong = notice("add", "Thông báo.", "--until", until, "--commune", "no-such")
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert wrong.stderr.strip().splitlines() == [
        f"motcua: --commune 'no-such': no such commune in communes: of {config_file} (tan-hoa, binh-minh)"
    ]


def test_tenant_is_set_per_commune_and_is_not_a_config_key(config_file: Path, tmp_path: Path) -> None:
    from bot.tenants import tenant_configs

    assert {k: c.tenant for k, c in tenant_configs(load_config(config_file)).items()} == {
        "tan-hoa": "tan-hoa", "binh-minh": "binh-minh"
    }
    assert load_config(config_file).tenant == ""
    path = tmp_path / "tenant.yaml"
    path.write_text('tenant: "tan-hoa"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="tenant: unknown key"):
        load_config(path)


async def test_report_of_one_commune_counts_only_its_own_messages(config_file: Path) -> None:
    """`motcua report --commune ID` gives that commune's staff sections; without it, the
    province's; an unknown id is one line naming it."""
    app = await App.open(load_config(config_file))
    try:
        for user, commune in (("u1", "tan-hoa"), ("u2", "binh-minh"), ("u3", "binh-minh")):
            await app.engine.handle(say(f"/start {commune}", user=user))
            await app.engine.handle(say("giá vàng hôm nay thế nào", user=user))
    finally:
        await app.close()

    def refused(*args: str) -> int:
        done = _motcua("--config", str(config_file), "report", "--json", *args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)["outcomes"]["refused"]

    assert refused("--commune", "binh-minh") == 2
    assert refused("--commune", "tan-hoa") == 1
    assert refused() == 3
    wrong = _motcua("--config", str(config_file), "report", "--commune", "no-such")
    assert wrong.returncode != 0 and f"--commune 'no-such': no such commune in communes: of {config_file}" in wrong.stderr
    assert "Traceback" not in wrong.stderr


async def test_a_message_that_cannot_be_routed_gets_an_apology_not_another_communes_answer(
    config_file: Path,
) -> None:
    """When the residents' table cannot be read, the router does not guess a commune."""
    from bot.tenants import ROUTING_FAILED

    config = load_config(config_file)
    app = await App.open(config)
    try:
        await app.engine.handle(say("/start binh-minh", user="u1"))
        assert app.router is not None
        async with app.router._residents.db.transaction() as tx:  # the fault: the table is gone
            await tx.run("DROP TABLE residents")
        response = await app.engine.handle(say("kết hôn nộp ở đâu", user="u1"))
        assert [r.text for r in response.replies] == [ROUTING_FAILED]
        assert response.intent is Intent.UNKNOWN
    finally:
        await app.close()
