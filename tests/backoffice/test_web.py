"""The back office over real HTTP on 127.0.0.1: logins, sessions, CSRF, lock-out, the
audit log and the read-only pages."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from aiohttp import ClientSession, CookieJar

from bot.backoffice.web import LOGIN_LOCKED, LOGIN_REFUSED
from bot.backoffice.security import CSRF_REFUSED
from bot.channels.usage import month_of
from bot.config import BackofficeConfig, Config
from bot.dossiers.sync import sync_source

from .conftest import PASSWORD, STAFF, Served, csrf_of, login, open_served

ROOT = Path(__file__).resolve().parents[2]


def browser() -> ClientSession:
    """A client keeping cookies for 127.0.0.1, as a browser does."""
    return ClientSession(cookie_jar=CookieJar(unsafe=True))


async def test_pages_need_a_login(served: Served) -> None:
    async with browser() as http:
        async with http.get(f"{served.url}/inbox", allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/login"
        async with http.post(f"{served.url}/notices", data={"text": "x"}) as r:
            assert r.status == 403
            assert "Phiên đăng nhập đã hết hạn" in await r.text()


async def test_login_gives_a_random_httponly_strict_session_cookie(served: Served) -> None:
    async with browser() as http:
        r = await login(http, served.url)
        assert r.status == 200 and str(r.url) == f"{served.url}/"
        set_cookie = r.history[0].headers.getall("Set-Cookie")
        session = next(c for c in set_cookie if c.startswith("motcua_session="))
        assert "HttpOnly" in session and "SameSite=Strict" in session and "Path=/" in session
        assert "Secure" not in session  # secure_cookies: false in these tests
        value = session.split(";")[0].split("=", 1)[1]
        assert len(value) >= 43  # 256 random bits
        assert "Tổng quan" in await r.text() and STAFF in await r.text()
    # The database keeps only a digest of the id.
    rows = await served.bo.accounts.db.fetch("SELECT id_hash FROM staff_sessions")
    assert rows and all(value not in r[0] for r in rows)


async def test_cookies_are_secure_by_default(config: Config) -> None:
    bo_config = BackofficeConfig(port=0)  # secure_cookies true: the default
    assert bo_config.secure_cookies is True
    async with open_served(config, bo_config) as served, ClientSession() as http:
        async with http.get(f"{served.url}/login") as r:
            cookie = r.headers["Set-Cookie"]
            assert cookie.startswith("motcua_login=") and "Secure" in cookie and "HttpOnly" in cookie


async def test_wrong_password_and_unknown_user_get_the_same_answer(served: Served) -> None:
    async with browser() as http:
        wrong = await login(http, served.url, password="khong-phai-mat-khau")
        unknown = await login(http, served.url, name="nguoi-la")
        for r in (wrong, unknown):
            assert r.status == 401
            assert LOGIN_REFUSED in await r.text()
        assert "motcua_session" not in {c.key for c in http.cookie_jar}
        async with http.get(f"{served.url}/", allow_redirects=False) as r:
            assert r.status == 303


async def test_five_failures_lock_the_account_even_with_the_right_password(served: Served) -> None:
    async with browser() as http:
        for _ in range(5):
            assert (await login(http, served.url, password="sai-mat-khau-roi")).status == 401
        locked = await login(http, served.url)
        assert locked.status == 429
        assert LOGIN_LOCKED.format(minutes=15) in await locked.text()
        async with http.get(f"{served.url}/", allow_redirects=False) as r:
            assert r.status == 303


async def test_failures_from_one_address_lock_it_for_every_name(served: Served) -> None:
    await served.bo.accounts.add("can-bo.hoa", PASSWORD)
    async with browser() as http:
        for name in ("a1", "b2", "c3", "d4", "e5"):
            await login(http, served.url, name=name, password="doan-bua-mat-khau")
        r = await login(http, served.url, name="can-bo.hoa")
        assert r.status == 429


async def test_a_login_form_without_its_token_is_refused(served: Served) -> None:
    async with browser() as http:
        async with http.get(f"{served.url}/login"):
            pass
        async with http.post(f"{served.url}/login", data={"name": STAFF, "password": PASSWORD}) as r:
            assert r.status == 403 and CSRF_REFUSED in await r.text()
        # A token that is not this browser's is refused too.
        async with http.post(
            f"{served.url}/login", data={"csrf": "x" * 43, "name": STAFF, "password": PASSWORD}
        ) as r:
            assert r.status == 403
        assert "motcua_session" not in {c.key for c in http.cookie_jar}


async def test_a_post_without_a_valid_token_does_nothing(served: Served) -> None:
    async with browser() as http:
        await login(http, served.url)
        for data in ({}, {"csrf": "forged-token-forged-token-forged-token-00"}):
            async with http.post(f"{served.url}/logout", data=data) as r:
                assert r.status == 403
                assert CSRF_REFUSED in await r.text()
        async with http.get(f"{served.url}/audit") as r:  # still logged in
            assert r.status == 200
            html = await r.text()
        assert "Đăng xuất" in html and html.count("<td>Đăng nhập</td>") == 1


async def test_logout_ends_the_session_for_good(served: Served) -> None:
    async with browser() as http:
        page = await login(http, served.url)
        cookie = next(c for c in http.cookie_jar if c.key == "motcua_session").value
        async with http.post(f"{served.url}/logout", data={"csrf": csrf_of(await page.text())}) as r:
            assert str(r.url).endswith("/login")
    async with ClientSession(cookies={"motcua_session": cookie}) as replay:
        async with replay.get(f"{served.url}/", allow_redirects=False) as r:
            assert r.status == 303  # the old cookie is worthless
    entries = await served.bo.audit.recent()
    assert [e.action for e in entries] == ["logout", "login"]


async def test_every_page_has_security_headers_and_is_not_cached(served: Served) -> None:
    async with browser() as http:
        await login(http, served.url)
        for path in ("/", "/login", "/procedures", "/nowhere"):
            async with http.get(f"{served.url}{path}") as r:
                csp = r.headers["Content-Security-Policy"]
                assert "frame-ancestors 'none'" in csp and "script-src 'none'" in csp
                assert r.headers["X-Content-Type-Options"] == "nosniff"
                assert r.headers["Cache-Control"] == "no-store"
        async with http.get(f"{served.url}/nowhere") as r:
            assert r.status == 404 and "Không tìm thấy trang này." in await r.text()


async def test_a_body_over_64_kb_is_refused(served: Served) -> None:
    async with browser() as http:
        page = await login(http, served.url)
        data = {"csrf": csrf_of(await page.text()), "text": "a" * 70_000}
        async with http.post(f"{served.url}/notices", data=data) as r:
            assert r.status == 413 and "quá lớn" in await r.text()


async def test_the_overview_shows_a_week_chart(served: Served) -> None:
    async with browser() as http:
        r = await login(http, served.url)
        html = await r.text()
    assert "Hôm nay" in html and "7 ngày qua" in html
    assert html.count('class="bar-all"') == 7 and "<svg" in html


# --- pages over the bot's data --------------------------------------------------------


@pytest.fixture
def own_catalogue(tmp_path: Path) -> Path:
    """A copy of the bundled catalogue with one entry reviewed long ago and one draft."""
    folder = tmp_path / "catalogue"
    shutil.copytree(ROOT / "procedures", folder, ignore=shutil.ignore_patterns(".cache"))
    khai_tu = folder / "ho-tich" / "khai-tu.yaml"
    text = khai_tu.read_text(encoding="utf-8")
    khai_tu.write_text(
        "\n".join("reviewed: 2020-01-15" if line.startswith("reviewed:") else line for line in text.splitlines()) + "\n",
        encoding="utf-8",
    )
    (folder / "drafts").mkdir(exist_ok=True)
    (folder / "drafts" / "tho-cung.yaml").write_text(
        "id: nhap-tho-cung\nname: Thủ tục nháp thờ cúng\nfield: nguoi-co-cong\ndraft: true\n", encoding="utf-8"
    )
    return folder


async def test_procedures_flag_drafts_and_entries_not_reviewed_for_a_year(
    config: Config, own_catalogue: Path, bo_config: BackofficeConfig
) -> None:
    config = replace(config, catalogue=replace(config.catalogue, dir=own_catalogue))
    async with open_served(config, bo_config) as served, browser() as http:
        await login(http, served.url)
        async with http.get(f"{served.url}/procedures") as r:
            html = await r.text()
    assert "1 chưa kiểm tra trong 12 tháng" in html and "1 bản nháp chờ duyệt" in html
    rows = html.split("<tr")
    draft = next(r for r in rows if "Thủ tục nháp thờ cúng" in r)
    assert 'class="draft"' in draft and "Bản nháp (motcua import)" in draft
    stale = next(r for r in rows if "ho-tich/khai-tu.yaml" in r)
    assert 'class="stale"' in stale and "15/01/2020" in stale and "Quá 12 tháng chưa kiểm tra" in stale
    fresh = next(r for r in rows if "ho-tich/khai-sinh.yaml" in r)
    assert "Quá 12 tháng" not in fresh
    # Drafts and stale entries come first.
    assert html.index("Thủ tục nháp thờ cúng") < html.index("ho-tich/khai-tu.yaml") < html.index("khai-sinh.yaml")


async def test_sync_runs_list_counts_and_rejected_rows(served: Served, tmp_path: Path) -> None:
    export = tmp_path / "xuat.csv"
    export.write_text(
        "Mã hồ sơ,Tên thủ tục,Trạng thái,Ngày tiếp nhận\n"
        "000.00.14.H56-261201-0001,Đăng ký khai sinh,Đang xử lý,01/12/2026\n"
        "000.00.14.H56-261201-0002,Đăng ký kết hôn,Không biết,01/12/2026\n",
        encoding="utf-8",
    )
    app = served.bo.app
    await sync_source(app.store, str(export), app.config.status.sync.columns)
    async with browser() as http:
        await login(http, served.url)
        async with http.get(f"{served.url}/sync") as r:
            html = await r.text()
    row = next(r for r in html.split("<tr") if "xuat.csv" in r)
    cells = [c.split("</td>")[0] for c in row.split("<td>")[1:]]
    # read, inserted, updated, unchanged, rejected
    assert cells[-5:] == ["2", "1", "0", "0", "1"]
    assert 'class="stale"' in row  # a run with rejected rows stands out


async def test_followers_are_counted_per_dossier_status(served: Served) -> None:
    store = served.bo.app.store
    # Demo dossiers: 261124-0008 is being processed, 261119-0013 awaits papers.
    await store.follow("telegram", "1", "1", "000.00.14.H56-261124-0008")
    await store.follow("zalo", "z", "z", "000.00.14.H56-261124-0008")
    await store.follow("telegram", "1", "1", "000.00.14.H56-261119-0013")
    async with browser() as http:
        await login(http, served.url)
        async with http.get(f"{served.url}/followers") as r:
            html = await r.text()
    assert "3 lượt theo dõi hồ sơ." in html
    rows = {r.split("</td>")[0].split("<td>")[-1]: r for r in html.split("<tr>")[2:]}
    processing = [c.split("</td>")[0] for c in rows["Đang xử lý"].split("<td>")[1:]]
    assert processing[2:] == ["1", "2"]  # one dossier followed, by two followers
    supplement = [c.split("</td>")[0] for c in rows["Yêu cầu bổ sung giấy tờ"].split("<td>")[1:]]
    assert supplement[2:] == ["1", "1"]


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        (2000, None),
        (2100, "Đã dùng quá 70% hạn mức."),
        (2600, "Đã dùng quá 85% hạn mức."),
        (2900, "Đã dùng quá 95% hạn mức."),
        (3000, "Đã dùng hết hạn mức"),
    ],
)
async def test_channel_health_warns_at_70_85_95_percent_of_the_zalo_quota(
    config: Config, bo_config: BackofficeConfig, sent: int, expected: str | None
) -> None:
    from bot.config import ChannelsConfig, ZaloConfig

    config = replace(config, channels=ChannelsConfig(zalo=ZaloConfig(token="")))
    async with open_served(config, bo_config, running_channels=lambda: {"zalo"}) as served, browser() as http:
        await served.bo.app.store.add_channel_usage("zalo", month_of(datetime.now()), sent)
        await login(http, served.url)
        async with http.get(f"{served.url}/channels") as r:
            html = await r.text()
    zalo = html.split("<h2>Zalo</h2>")[1]
    telegram = html.split("<h2>Telegram</h2>")[1].split("<h2>Zalo</h2>")[0]
    assert "Chưa cấu hình" in telegram and "Đã cấu hình" in zalo and "Đang kết nối" in zalo
    assert f"{sent:,}".replace(",", ".") + " / 3.000" in zalo
    if expected is None:
        assert "hạn mức." not in zalo and "hết hạn mức" not in zalo
    else:
        assert expected in zalo


async def test_the_pages_work_with_the_dossiers_in_postgresql(
    config: Config, bo_config: BackofficeConfig, pg_server, tmp_path: Path
) -> None:
    from .conftest import open_served

    url = pg_server.new_database()
    try:
        config = replace(config, database=replace(config.database, url=url))
        async with open_served(config, bo_config) as served:
            export = tmp_path / "xuat-pg.csv"
            export.write_text(
                "Mã hồ sơ,Tên thủ tục,Trạng thái\n000.00.14.H56-261201-0009,Đăng ký khai sinh,Đang xử lý\n",
                encoding="utf-8",
            )
            await sync_source(served.bo.app.store, str(export), served.bo.app.config.status.sync.columns)
            async with browser() as http:
                await login(http, served.url)
                pages = {}
                for path in ("/sync", "/followers", "/channels", "/"):
                    async with http.get(f"{served.url}{path}") as r:
                        assert r.status == 200, path
                        pages[path] = await r.text()
    finally:
        pg_server.drop_database(url)
    assert "xuat-pg.csv" in pages["/sync"]
    # The followers are counted on PostgreSQL too (the store's follower_counts).
    assert "lượt theo dõi hồ sơ" in pages["/followers"] and "<td>Đã trả kết quả</td><td>3</td>" in pages["/followers"]
    assert "Tình trạng kênh" in pages["/channels"]
