"""The staff side's pages in a real headless browser (the system's Chromium): replying
to a hand-over, adding a missed question as an alias; with MOTCUA_SCREENSHOTS=folder, screenshots of the main pages on seeded
data (the README's pictures)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import STAFF, Served, log_in, needs_chromium
from .test_missed_pages import MISSED, ask
from .test_staff_pages import ask_for_a_person

pytestmark = needs_chromium


async def test_reply_to_a_hand_over_in_a_real_browser(page, served: Served) -> None:
    number = await ask_for_a_person(served)
    await log_in(page, served.url)
    assert await page.inner_text(".stat .big.alert") == "1"
    await page.click("nav >> text=Gặp cán bộ")
    await page.click(f"text=Yêu cầu số {number}")
    assert "Con tôi sinh ở Hàn Quốc" in await page.inner_text(".turns")
    reply = "Chào bác, bác mang giấy chứng sinh đã hợp pháp hóa lãnh sự đến xã nhé."
    await page.fill("#text", reply)
    await page.click("text=Gửi trả lời")
    assert await page.inner_text(".flash") == "Đã lưu câu trả lời; trợ lý đang gửi cho người dân."
    assert reply in await page.inner_text(".turn.staff")
    handover = await served.bo.handovers.get(number)
    assert handover.state == "answered" and handover.messages[-1].staff == STAFF
    await page.click("text=Đóng yêu cầu")
    assert page.url.endswith("/inbox?ok=closed")
    assert (await served.bo.handovers.get(number)).state == "closed"


async def test_add_an_alias_in_a_real_browser(page, served_copy: Served) -> None:
    served = served_copy
    await ask(served, MISSED, MISSED + " thì làm sao")
    await log_in(page, served.url)
    await page.click("nav >> text=Câu chưa trả lời được")
    group = page.locator("li.missed", has_text=MISSED).first
    await group.locator("select[name=procedure]").select_option("khai-sinh")
    await group.locator("input[name=text]").fill(MISSED)
    await group.locator("button[type=submit]").click()
    assert await page.inner_text(".flash") == "Đã thêm cách hỏi; trợ lý dùng ngay, không cần khởi động lại."
    (after,) = await ask(served, MISSED)
    assert after.to_json()["matches"][0]["id"] == "khai-sinh" and after.to_json()["intent"] == "procedure"
    await page.click("nav >> text=Nhật ký")
    assert "Thêm cách hỏi cho thủ tục" in await page.inner_text("table")


SCREENSHOTS = os.environ.get("MOTCUA_SCREENSHOTS", "")


@pytest.mark.skipif(not SCREENSHOTS, reason="takes the README's screenshots only with MOTCUA_SCREENSHOTS=folder")
async def test_take_screenshots_of_the_main_pages(browser, served_copy: Served) -> None:
    """Seeds a realistic day through the real engine, then photographs the main pages at
    a phone's width into $MOTCUA_SCREENSHOTS (overview, inbox, missed, procedures)."""
    from bot.messages import Incoming

    served = served_copy
    catalogue = served.bo.app.config.catalogue.dir
    khai_tu = catalogue / "ho-tich" / "khai-tu.yaml"
    khai_tu.write_text(
        "".join("reviewed: 2025-06-30\n" if line.startswith("reviewed:") else line
                for line in khai_tu.read_text(encoding="utf-8").splitlines(keepends=True)),
        encoding="utf-8",
    )
    await served.bo.app.reload_catalogue()
    (catalogue / "drafts").mkdir(exist_ok=True)
    (catalogue / "drafts" / "ho-tro-sinh-ke.yaml").write_text(
        "id: ho-tro-sinh-ke\nname: Hỗ trợ sinh kế cho hộ nghèo\nfield: Giảm nghèo\ndraft: true\n",
        encoding="utf-8",
    )
    engine = served.bo.app.engine
    questions = [
        "lam giay khai sinh can gi", "đk kết hôn mất bn tiền", "chứng thực bản sao ở xã đc ko",
        "làm hộ chiếu ở đâu", "tra cứu hồ sơ 261124-0008", "xin giấy phép nuôi ong mật", "cấp phép nuôi ong",
        "đăng ký cho bé mới đẻ", "bao nhieu tien", "trợ cấp người khuyết tật cần gì", "thủ tục nhận con nuôi",
    ]
    for i, text in enumerate(questions):
        await engine.handle(Incoming("zalo" if i % 3 else "telegram", f"r{i}", f"r{i}", text))
    for user, text in (("z7", "Con tôi sinh ở Hàn Quốc thì làm giấy khai sinh thế nào?"),
                       ("t8", "Tôi mất sổ hộ khẩu cũ, có cần làm lại không?")):
        channel = "zalo" if user.startswith("z") else "telegram"
        await engine.handle(Incoming(channel, user, user, "gặp cán bộ"))
        await engine.handle(Incoming(channel, user, user, text))
    await served.bo.app.recorder.flush()
    # The six days before: counts only (what the activity store keeps), a plausible week.
    from datetime import date, timedelta

    week = ((9, 3, 2, 1), (14, 4, 2, 0), (11, 2, 1, 1), (4, 1, 0, 0), (2, 0, 1, 0), (16, 3, 2, 1))
    for back, (answered, chose, refused, handover) in zip(range(6, 0, -1), week):
        day = date.today() - timedelta(days=back)
        for outcome, n in (("answered", answered), ("chose", chose), ("refused", refused), ("handover", handover)):
            for _ in range(n):
                await served.bo.activity.add(day, "zalo", outcome)
    folder = Path(SCREENSHOTS)
    folder.mkdir(parents=True, exist_ok=True)
    context = await browser.new_context(viewport={"width": 412, "height": 915}, device_scale_factor=1, locale="vi-VN")
    page = await context.new_page()
    try:
        await log_in(page, served.url)
        for name, path, full in (("overview", "/", True), ("inbox", "/inbox", True),
                                 ("missed", "/missed", True), ("procedures", "/procedures", False)):
            await page.goto(f"{served.url}{path}")
            await page.screenshot(path=str(folder / f"{name}.png"), full_page=full)
            assert (folder / f"{name}.png").stat().st_size > 5000
    finally:
        await context.close()
