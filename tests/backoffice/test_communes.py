"""The back office of a bot serving two communes, over real HTTP: each commune's staff
see their own commune only (lists, direct URLs, forged POSTs), a provincial
administrator sees both, switches between them, and has the province's overview."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from aiohttp import ClientSession, CookieJar
from aiohttp.test_utils import TestServer

from bot.app import App
from bot.backoffice.accounts import PROVINCE
from bot.backoffice.context import Backoffice
from bot.backoffice.web import create_app
from bot.config import BackofficeConfig, load_config
from bot.staff.hours import VIETNAM
from bot.staff.missed import MissedStore
from tests.backends import BACKENDS, Backend, backend

from .conftest import ROOT, csrf_of, login

PASSWORD = "mat-khau-rat-dai-2026"
A, B = "tan-hoa", "binh-minh"
STAFF_A, STAFF_B, ADMIN = "lan.tanhoa", "hoa.binhminh", "tinh.admin"
QUESTION_A = "Cho hỏi làm giấy khai sinh ở Tân Hòa cần gì?"
QUESTION_B = "Bình Minh có làm chứng thực ngày thứ Bảy không?"
MISSED_B = "hỏi về chợ phiên thôn Đông Bình Minh"
NOTICE_B = "Bộ phận một cửa xã Bình Minh nghỉ chiều thứ Sáu."


def config_text(tmp_path: Path, catalogue: Path, url: str | None, overlay: Path | None = None) -> str:
    """A province of two communes on one bot."""
    text = f"""\
commune:
  name: "Tỉnh Thử"
  office: "Trung tâm phục vụ hành chính công tỉnh"
  hours: "Giờ hành chính"
  hotline: "0200 000 000"
catalogue:
  dir: "{catalogue}"
  reload_seconds: 0
database:
  path: "{tmp_path / 'motcua.sqlite3'}"
status:
  demo_data: "{ROOT / 'bot/dossiers/data/demo_dossiers.csv'}"
communes:
  - id: {A}
    commune: {{name: "UBND xã Tân Hòa", office: "Trụ sở UBND xã Tân Hòa", hours: "Sáng 7h30–11h30", hotline: "0210 3800 111"}}
    status: {{code_prefix: "000.00.14.H56"}}
  - id: {B}
    commune: {{name: "UBND xã Bình Minh", office: "Trụ sở UBND xã Bình Minh", hours: "Sáng 7h00–11h00", hotline: "0210 3900 222"}}
    status: {{code_prefix: "000.00.15.H56"}}
"""
    if overlay is not None:
        text += f'    catalogue: {{overlay: "{overlay}"}}\n'
    return text if url is None else text.replace("database:\n", f'database:\n  url: "{url}"\n')


@dataclass
class Province:
    """A running back office of two communes, with what was seeded in each."""

    bo: Backoffice
    url: str
    catalogue: Path
    handover_a: int
    handover_b: int
    notice_b: int


@asynccontextmanager
async def open_province(tmp_path: Path, url: str | None = None, overlay: Path | None = None) -> AsyncIterator[Province]:
    """Two communes' bot and back office on 127.0.0.1, an account for each commune's
    staff and one for the province, and in each commune a hand-over waiting; in B also a
    missed question, an announcement and an audit entry (and ``overlay``, B's catalogue
    overlay, when given)."""
    catalogue = tmp_path / "catalogue"
    shutil.copytree(ROOT / "procedures", catalogue, ignore=shutil.ignore_patterns(".cache"))
    path = tmp_path / "config.yaml"
    path.write_text(config_text(tmp_path, catalogue, url, overlay), encoding="utf-8")
    bo_config = BackofficeConfig(listen="127.0.0.1", port=0, secure_cookies=False)
    config = replace(load_config(path, environ={}, need_tokens=False), backoffice=bo_config)
    app = await App.open(config)
    bo = await Backoffice.open(bo_config, app)
    try:
        await bo.accounts.add(STAFF_A, PASSWORD, A)
        await bo.accounts.add(STAFF_B, PASSWORD, B)
        await bo.accounts.add(ADMIN, PASSWORD, PROVINCE)
        assert app.handovers is not None and app.notices is not None and app.database is not None
        handover_a, _ = await app.handovers.for_commune(A).ask("zalo", "ua", "ua", QUESTION_A)
        handover_b, _ = await app.handovers.for_commune(B).ask("zalo", "ub", "ub", QUESTION_B)
        now = dt.datetime.now(VIETNAM)
        await MissedStore(app.database, commune=B).add(MISSED_B, channel="zalo", reason="refused", top_ids=[], at=now)
        notice_b = await app.notices.for_commune(B).post(NOTICE_B, now + dt.timedelta(days=2), STAFF_B)
        await bo.view(B).audit.record(STAFF_B, "notice.post", str(notice_b))
        server = TestServer(create_app(bo), host="127.0.0.1")
        await server.start_server()
        try:
            yield Province(bo, str(server.make_url("")).rstrip("/"), catalogue, handover_a, handover_b, notice_b)
        finally:
            await server.close()
    finally:
        await bo.close()
        await app.close()


@pytest.fixture(params=BACKENDS)
async def province(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Province]:
    """:func:`open_province` on a SQLite file or on the test PostgreSQL server."""
    with backend(request, tmp_path, Backend) as where:
        async with open_province(tmp_path, where.url) as running:
            yield running


def browser() -> ClientSession:
    return ClientSession(cookie_jar=CookieJar(unsafe=True))


async def text_of(http: ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url) as r:
        return r.status, await r.text()


async def test_a_communes_staff_never_see_another_communes_data(province: Province) -> None:
    p = province
    async with browser() as http:
        r = await login(http, p.url, STAFF_A, PASSWORD)
        assert r.status == 200
        home = await r.text()
        token = csrf_of(home)
        assert "UBND xã Tân Hòa" in home and "Xem xã" not in home  # no commune selector
        # Lists: A's hand-over only.
        status, inbox = await text_of(http, f"{p.url}/inbox")
        assert status == 200 and QUESTION_A in inbox and QUESTION_B not in inbox
        assert f"/inbox/{p.handover_b}" not in inbox
        for path, theirs in (("/missed", MISSED_B), ("/notices", NOTICE_B), ("/audit", STAFF_B)):
            status, page = await text_of(http, f"{p.url}{path}")
            assert status == 200 and theirs not in page, path
        # Direct URLs with B's numbers: as if there were none.
        status, page = await text_of(http, f"{p.url}/inbox/{p.handover_b}")
        assert status == 404 and QUESTION_B not in page and "Không tìm thấy trang này." in page
        # Forged POSTs (with a valid token) on B's hand-over and announcement do nothing.
        for action in ("reply", "close"):
            async with http.post(f"{p.url}/inbox/{p.handover_b}/{action}", data={"csrf": token, "text": "x"}) as r:
                assert r.status == 404, action
        async with http.post(f"{p.url}/notices/{p.notice_b}/remove", data={"csrf": token}) as r:
            assert r.status == 404
        # Asking for commune B outright is refused, on a page and on a POST.
        status, page = await text_of(http, f"{p.url}/inbox?commune={B}")
        assert status == 403 and "chỉ xem và xử lý được việc của xã mình" in page and QUESTION_B not in page
        async with http.post(f"{p.url}/inbox/{p.handover_b}/reply?commune={B}", data={"csrf": token, "text": "x"}) as r:
            assert r.status == 403
        status, page = await text_of(http, f"{p.url}/province")
        assert status == 403 and "cán bộ quản trị của tỉnh" in page
        # The channels are the province's: a commune's staff see their state, not their figures.
        status, page = await text_of(http, f"{p.url}/channels")
        assert status == 200 and "Tin nhắn đã gửi tháng này" not in page and "Kênh dùng chung cho cả tỉnh" in page
    # Nothing of B's changed.
    item = await p.bo.view(B).handovers.get(p.handover_b)
    assert item is not None and item.state == "waiting" and [m.author for m in item.messages] == ["resident"]
    (notice,) = await p.bo.view(B).notices.all()
    assert notice.removed_at is None
    # A's staff did get their own: the inbox's hand-over opens.
    async with browser() as http:
        await login(http, p.url, STAFF_A, PASSWORD)
        status, page = await text_of(http, f"{p.url}/inbox/{p.handover_a}")
        assert status == 200 and QUESTION_A in page
    # B's audit log has B's entry and none of A's logins.
    assert {e.staff for e in await p.bo.view(B).audit.recent()} == {STAFF_B}
    assert {e.commune for e in await p.bo.view(A).audit.recent()} == {A}


async def test_the_provincial_admin_sees_both_communes_and_switches(province: Province) -> None:
    p = province
    async with browser() as http:
        r = await login(http, p.url, ADMIN, PASSWORD)
        home = await r.text()
        assert "Xem xã" in home and "Toàn tỉnh" in home and 'href="/province"' in home
        status, inbox = await text_of(http, f"{p.url}/inbox")
        assert status == 200 and QUESTION_A in inbox and QUESTION_B in inbox
        status, page = await text_of(http, f"{p.url}/channels")
        assert status == 200 and "Tin nhắn đã gửi tháng này" in page
        status, inbox = await text_of(http, f"{p.url}/inbox?commune={B}")
        assert status == 200 and QUESTION_B in inbox and QUESTION_A not in inbox
        # The menu and the links keep the chosen commune.
        assert f'href="/notices?commune={B}"' in inbox and f'href="/inbox/{p.handover_b}?commune={B}"' in inbox
        assert re.search(rf'<option value="{B}" selected>UBND xã Bình Minh</option>', inbox)
        status, page = await text_of(http, f"{p.url}/inbox?commune=an-phu")
        assert status == 400 and "Không có xã này" in page
        # The hand-over of A is not B's: with B chosen, it is not found.
        status, _ = await text_of(http, f"{p.url}/inbox/{p.handover_a}?commune={B}")
        assert status == 404
        # Replying for B: the entry is in B's audit log.
        status, page = await text_of(http, f"{p.url}/inbox/{p.handover_b}?commune={B}")
        token = csrf_of(page)
        async with http.post(f"{p.url}/inbox/{p.handover_b}/reply?commune={B}",
                             data={"csrf": token, "text": "Có, sáng thứ Bảy ạ."}) as r:
            assert r.status == 200 and str(r.url) == f"{p.url}/inbox/{p.handover_b}?ok=replied&commune={B}"
        # Closing A's hand-over from the view of every commune: logged in A's log.
        async with http.post(f"{p.url}/inbox/{p.handover_a}/close", data={"csrf": token}) as r:
            assert r.status == 200
        close = (await p.bo.view(A).audit.recent())[0]
        assert (close.staff, close.action, close.commune) == (ADMIN, "handover.close", A)
        # The province's overview: one row per commune.
        status, overview = await text_of(http, f"{p.url}/province")
        assert status == 200
        rows = re.findall(r'<tr><td><a href="/\?commune=([a-z-]+)">[^<]+</a></td><td[^>]*>(\d+)</td><td>(\d+)</td>', overview)
        assert rows == [(A, "0", "0"), (B, "0", "1")]  # both hand-overs dealt with; B has one missed question
    entry = (await p.bo.view(B).audit.recent())[0]
    assert (entry.staff, entry.action, entry.target, entry.commune) == (ADMIN, "handover.reply", str(p.handover_b), B)
    assert [e.action for e in await p.bo.view(A).audit.recent() if e.staff == ADMIN] == ["handover.close"]


async def test_sync_runs_are_shown_to_the_communes_they_listed(province: Province, tmp_path: Path) -> None:
    from bot.dossiers.sync import commune_routes, sync_source

    p = province
    export = tmp_path / "xuat-binh-minh.csv"
    export.write_text(
        "Mã hồ sơ,Tên thủ tục,Trạng thái\n"
        "000.00.15.H56-261201-0001,Đăng ký khai sinh,Đang xử lý\n"
        "000.00.15.H56-261201-0002,Đăng ký kết hôn,Đang xử lý\n",
        encoding="utf-8",
    )
    config = p.bo.app.config
    await sync_source(p.bo.app.store, str(export), config.status.sync.columns, communes=commune_routes(config))
    pages = {}
    for name in (STAFF_A, STAFF_B, ADMIN):
        async with browser() as http:
            await login(http, p.url, name, PASSWORD)
            status, pages[name] = await text_of(http, f"{p.url}/sync")
            assert status == 200
    def figures(page: str) -> tuple[str, str]:
        found = re.search(r'xuat-binh-minh\.csv</td>\s*<td>(\d+)</td><td>(\d+)</td>', page)
        assert found, page
        return found.group(1), found.group(2)

    # The provincial run, with each commune's own figures: read, inserted.
    assert figures(pages[STAFF_A]) == ("0", "0")
    assert figures(pages[STAFF_B]) == ("2", "2") and figures(pages[ADMIN]) == ("2", "2")
