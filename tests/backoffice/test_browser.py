"""The back office driven in a real headless browser: the distribution's Chromium
(/usr/bin/chromium) through Playwright, against the back office over real HTTP on
127.0.0.1. Nothing is downloaded: Playwright only drives the system browser."""

from __future__ import annotations

from aiohttp import web

from bot.backoffice.security import CSRF_REFUSED
from bot.backoffice.web import LOGIN_LOCKED, LOGIN_REFUSED

from .conftest import STAFF, Served, log_in, needs_chromium

pytestmark = needs_chromium


async def test_login_in_a_real_browser_then_the_pages(page, served: Served) -> None:
    await page.goto(f"{served.url}/procedures")
    assert page.url == f"{served.url}/login"  # sent to the login page first
    await log_in(page, served.url)
    assert page.url == f"{served.url}/"
    assert await page.inner_text("h1") == "Tổng quan"
    assert STAFF in await page.inner_text("header")
    cookies = {c["name"]: c for c in await page.context.cookies()}
    assert cookies["motcua_session"]["httpOnly"] and cookies["motcua_session"]["sameSite"] == "Strict"
    # The menu reaches every page.
    for label, heading in (("Thủ tục", "Thủ tục"), ("Nạp hồ sơ", "Nạp dữ liệu hồ sơ"),
                           ("Người theo dõi", "Người theo dõi hồ sơ"), ("Kênh", "Tình trạng kênh"),
                           ("Nhật ký", "Nhật ký thao tác")):
        await page.click(f"nav >> text={label}")
        assert await page.inner_text("h1") == heading
    assert "Đăng nhập" in await page.inner_text("table")  # the audit log has the login
    await page.click("text=Đăng xuất")
    assert page.url == f"{served.url}/login"
    await page.goto(f"{served.url}/")
    assert page.url == f"{served.url}/login"


async def test_wrong_password_in_a_real_browser(page, served: Served) -> None:
    await log_in(page, served.url, password="mat-khau-sai-roi")
    assert page.url == f"{served.url}/login"
    assert await page.inner_text(".error") == LOGIN_REFUSED
    await log_in(page, served.url, name="khong-co-ai")
    assert await page.inner_text(".error") == LOGIN_REFUSED
    assert "motcua_session" not in {c["name"] for c in await page.context.cookies()}


async def test_lock_out_in_a_real_browser(page, served: Served) -> None:
    for _ in range(5):
        await log_in(page, served.url, password="doan-mat-khau-mai")
        assert await page.inner_text(".error") == LOGIN_REFUSED
    await log_in(page, served.url)  # the right password, too late
    assert await page.inner_text(".error") == LOGIN_LOCKED.format(minutes=15)
    assert page.url == f"{served.url}/login"


async def test_a_forged_post_without_the_token_is_refused(page, served: Served) -> None:
    await log_in(page, served.url)
    # A page elsewhere on this machine posts a form to the back office: the browser sends
    # the session cookie (same site), but the page cannot know the token.
    async def forged(request: web.Request) -> web.Response:
        return web.Response(
            content_type="text/html",
            text=f'<form method="post" action="{served.url}/logout"><button id="go">Nhận quà</button></form>',
        )

    attacker = web.Application()
    attacker.router.add_get("/", forged)
    runner = web.AppRunner(attacker)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        await page.goto(f"http://127.0.0.1:{port}/")
        async with page.expect_navigation():
            await page.click("#go")
        assert await page.inner_text(".error") == CSRF_REFUSED
    finally:
        await runner.cleanup()
    # A form of the back office itself with its token removed is refused the same way.
    await page.goto(f"{served.url}/procedures")
    await page.evaluate("document.querySelector('form.logout input[name=csrf]').remove()")
    await page.click("text=Đăng xuất")
    assert await page.inner_text(".error") == CSRF_REFUSED
    # Neither logged the staff member out.
    await page.goto(f"{served.url}/")
    assert await page.inner_text("h1") == "Tổng quan"
