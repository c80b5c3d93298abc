"""The staff side's pages in a real headless browser (the system's Chromium): replying
to a hand-over."""

from __future__ import annotations

from .conftest import STAFF, Served, log_in, needs_chromium
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
    assert await page.inner_text(".flash") == "Đã gửi câu trả lời cho người dân."
    assert reply in await page.inner_text(".turn.staff")
    handover = await served.bo.handovers.get(number)
    assert handover.state == "answered" and handover.messages[-1].staff == STAFF
    await page.click("text=Đóng yêu cầu")
    assert page.url.endswith("/inbox?ok=closed")
    assert (await served.bo.handovers.get(number)).state == "closed"
