"""The provincial administrator in a real headless browser (the system's Chromium):
switching commune with the selector, and editing a procedure of the base catalogue."""

from __future__ import annotations

from pathlib import Path

from .conftest import log_in, needs_chromium
from .test_catalogue_edit import FILE, NEW_FEE, PROC, changed_lines
from .test_communes import ADMIN, PASSWORD, QUESTION_A, QUESTION_B, B, open_province

pytestmark = needs_chromium


async def test_the_admin_switches_commune_and_edits_the_base_catalogue_in_a_real_browser(page, tmp_path: Path) -> None:
    async with open_province(tmp_path) as p:
        path = p.catalogue / FILE
        before = path.read_text(encoding="utf-8")
        await log_in(page, p.url, ADMIN, PASSWORD)
        await page.click("nav >> text=Gặp cán bộ")
        inbox = await page.inner_text("main")
        assert QUESTION_A in inbox and QUESTION_B in inbox
        await page.select_option("#commune-choice", B)
        await page.click("form.commune-choice button")
        assert page.url.endswith(f"/inbox?commune={B}")
        inbox = await page.inner_text("main")
        assert QUESTION_B in inbox and QUESTION_A not in inbox
        assert "UBND xã Bình Minh" in await page.inner_text("header")
        # The base catalogue: from the procedures page to the procedure's form.
        await page.click("nav >> text=Thủ tục")
        await page.click(f"a[href^='/catalogue/{PROC}']")
        assert await page.input_value("#fee") == "Không thu phí, lệ phí."
        await page.fill("#fee", NEW_FEE)
        await page.click("form.facts button[type=submit]")
        assert await page.inner_text(".flash") == "Đã lưu thông tin thủ tục; trợ lý dùng ngay, không cần khởi động lại."
        assert await page.input_value("#fee") == NEW_FEE
        assert changed_lines(before, path.read_text(encoding="utf-8")) == [
            '-fee: "Không thu phí, lệ phí."', f'+fee: "{NEW_FEE}"',
        ]
        assert p.bo.app.catalogue.get(PROC).fee == NEW_FEE
        # A bad date: the Vietnamese message on the form, the file as it was.
        edited = path.read_bytes()
        await page.fill("#reviewed", "31/02/2026")
        await page.click("form.facts button[type=submit]")
        assert "Ngày rà soát không hợp lệ" in await page.inner_text("[role=alert]")
        assert path.read_bytes() == edited
        # The edit is the province's: in the log of every commune's view, not in B's.
        await page.click("nav >> text=Nhật ký")
        assert "Sửa thông tin thủ tục (danh mục chung)" not in await page.inner_text("main")
        await page.select_option("#commune-choice", "")
        await page.click("form.commune-choice button")
        assert "Sửa thông tin thủ tục (danh mục chung)" in await page.inner_text("table")
