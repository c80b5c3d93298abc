"""The back office's pages over the staff side, through the real bot: a resident asks
for a person through the engine, staff answer in the web inbox; announcements posted on
the web reach the bot's replies; missed questions become aliases the bot answers."""

from __future__ import annotations

import time

from aiohttp import ClientSession, CookieJar

from bot.messages import Incoming

from .conftest import STAFF, Served, csrf_of, login


def browser() -> ClientSession:
    return ClientSession(cookie_jar=CookieJar(unsafe=True))


async def ask_for_a_person(served: Served, user: str = "u42") -> int:
    """A Zalo resident asks about a procedure, then for a person; the hand-over's id."""
    engine = served.bo.app.engine
    await engine.handle(Incoming("zalo", user, user, "lam giay khai sinh can gi"))
    await engine.handle(Incoming("zalo", user, user, "gặp cán bộ"))
    await engine.handle(Incoming("zalo", user, user, "Con tôi sinh ở Hàn Quốc thì làm thế nào?"))
    await served.bo.app.recorder.flush()
    (handover,) = await served.bo.handovers.list(state="waiting")
    return handover.id


async def test_the_inbox_lists_a_waiting_hand_over_with_its_turns(served: Served) -> None:
    number = await ask_for_a_person(served)
    async with browser() as http:
        overview = await login(http, served.url)
        assert '<p class="big alert">1</p>' in await overview.text()  # one waiting
        async with http.get(f"{served.url}/inbox") as r:
            inbox = await r.text()
        assert f"Yêu cầu số {number}" in inbox and "Đang chờ (1)" in inbox and "Zalo" in inbox
        async with http.get(f"{served.url}/inbox/{number}") as r:
            page = await r.text()
    assert "lam giay khai sinh can gi" in page and "trước khi yêu cầu" in page  # earlier turns
    assert "Con tôi sinh ở Hàn Quốc thì làm thế nào?" in page
    assert "Trả lời người dân (gửi trên Zalo)" in page and "Đóng yêu cầu" in page


async def test_a_reply_from_the_inbox_is_queued_for_the_resident_once_and_audited(served: Served) -> None:
    number = await ask_for_a_person(served)
    async with browser() as http:
        await login(http, served.url)
        async with http.get(f"{served.url}/inbox/{number}") as r:
            token = csrf_of(await r.text())
        reply = "Chào bác, bác mang giấy chứng sinh của Hàn Quốc đã hợp pháp hóa lãnh sự đến xã nhé."
        async with http.post(f"{served.url}/inbox/{number}/reply", data={"csrf": token, "text": reply}) as r:
            assert r.status == 200 and str(r.url).endswith(f"/inbox/{number}?ok=replied")
            page = await r.text()
        assert "Đã lưu câu trả lời; trợ lý đang gửi cho người dân." in page and reply in page
        assert f"Cán bộ {STAFF}" in page and "chờ gửi" in page
    handover = await served.bo.handovers.get(number)
    assert handover is not None and handover.state == "answered"
    due = await served.bo.handovers.due_replies("zalo", time.time() + 1, 10, 0)
    assert [(d.handover_id, d.user_id, d.text, d.staff) for d in due] == [(number, "u42", reply, STAFF)]
    (entry, _login) = await served.bo.audit.recent()
    assert (entry.staff, entry.action, entry.target) == (STAFF, "handover.reply", str(number))
    assert reply not in entry.detail  # the audit log never keeps what was said


async def test_closing_a_hand_over_without_a_reply(served: Served) -> None:
    number = await ask_for_a_person(served)
    async with browser() as http:
        await login(http, served.url)
        async with http.get(f"{served.url}/inbox/{number}") as r:
            token = csrf_of(await r.text())
        async with http.post(f"{served.url}/inbox/{number}/close", data={"csrf": token}) as r:
            assert str(r.url).endswith("/inbox?ok=closed") and "Đã đóng yêu cầu." in await r.text()
        async with http.post(f"{served.url}/inbox/{number}/reply", data={"csrf": token, "text": "muộn"}) as r:
            assert "Yêu cầu này đã được đóng hoặc không còn." in await r.text()
        async with http.get(f"{served.url}/inbox/{number}") as r:
            assert "Gửi trả lời" not in await r.text()  # no reply box on a closed one
        for bad in ({"csrf": token, "text": "   "}, {"csrf": token, "text": "x" * 2001}):
            async with http.post(f"{served.url}/inbox/{number}/reply", data=bad) as r:
                assert r.status == 400
        async with http.get(f"{served.url}/inbox/99999") as r:
            assert r.status == 404
    assert (await served.bo.handovers.get(number)).state == "closed"
    assert await served.bo.handovers.due_replies("zalo", time.time() + 1, 10, 0) == []
    assert [e.action for e in await served.bo.audit.recent()][:1] == ["handover.close"]


async def test_an_announcement_posted_on_the_web_is_added_to_replies_until_removed(served: Served) -> None:
    engine = served.bo.app.engine
    text = "Chiều thứ Sáu 04/12 bộ phận một cửa nghỉ để họp."
    async with browser() as http:
        await login(http, served.url)
        async with http.get(f"{served.url}/notices") as r:
            page = await r.text()
        token = csrf_of(page)
        async with http.post(f"{served.url}/notices", data={"csrf": token, "text": "x", "until": "2020-01-01T10:00"}) as r:
            assert r.status == 400 and "Thời điểm hết hạn phải ở sau bây giờ." in await r.text()
        async with http.post(f"{served.url}/notices", data={"csrf": token, "text": text, "until": "2099-12-31T17:00"}) as r:
            page = await r.text()
        assert "Đã đăng thông báo." in page and text in page and "Đang hiển thị" in page
        response = await engine.handle(Incoming("telegram", "7", "7", "khai sinh cần gì"))
        assert any(text in reply.text for reply in response.replies)
        (notice,) = await served.bo.notices.all()
        async with http.post(f"{served.url}/notices/{notice.id}/remove", data={"csrf": token}) as r:
            page = await r.text()
        assert "Đã gỡ thông báo." in page and "Đã gỡ" in page
    response = await engine.handle(Incoming("telegram", "8", "8", "khai sinh cần gì"))
    assert not any(text in reply.text for reply in response.replies)
    actions = [(e.action, e.target) for e in await served.bo.audit.recent()]
    assert actions[:2] == [("notice.remove", str(notice.id)), ("notice.post", str(notice.id))]
