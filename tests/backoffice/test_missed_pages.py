"""Missed questions in the back office, through the real bot: the engine records what it
could not answer, the page groups them, and "add as an alias" rewrites the procedure's
YAML file and reloads the catalogue, so the next such question is answered."""

from __future__ import annotations

from datetime import date

from aiohttp import ClientSession, CookieJar

from bot.messages import Incoming

from .conftest import STAFF, Served, csrf_of, login

MISSED = "đăng ký cho bé mới đẻ"


def browser() -> ClientSession:
    return ClientSession(cookie_jar=CookieJar(unsafe=True))


async def ask(served: Served, *questions: str) -> list:
    """Each question from a different Zalo resident; the bot's responses, once the
    recorder has written what it keeps of them."""
    engine = served.bo.app.engine
    responses = [await engine.handle(Incoming("zalo", f"u{i}", f"u{i}", q)) for i, q in enumerate(questions)]
    await served.bo.app.recorder.flush()
    return responses


async def test_missed_questions_are_grouped_with_the_add_alias_form(served: Served) -> None:
    await ask(served, "xin giấy phép nuôi ong mật", "cấp phép nuôi ong", "bao nhieu tien", "gọi 0912345678 hỏi khai sinh cho con")
    async with browser() as http:
        await login(http, served.url)
        async with http.get(f"{served.url}/missed") as r:
            html = await r.text()
    group = next(g for g in html.split('<li class="card missed">')[1:] if "nuôi ong" in g)
    assert "2 lượt hỏi" in group and "Các câu tương tự" in group
    assert '<optgroup label="Trợ lý đoán">' in group and 'value="khai-sinh"' in group
    assert "Thêm làm cách hỏi của thủ tục" in group and 'name="csrf"' in group
    assert "0912345678" not in html  # kept masked


async def test_adding_an_alias_from_the_web_takes_effect_without_a_restart(served_copy: Served) -> None:
    served = served_copy
    (before,) = await ask(served, MISSED)
    assert before.to_json()["intent"] == "unknown"
    khai_sinh = served.bo.app.config.catalogue.dir / "ho-tich" / "khai-sinh.yaml"
    original = khai_sinh.read_text(encoding="utf-8")
    async with browser() as http:
        await login(http, served.url)
        async with http.get(f"{served.url}/missed") as r:
            html = await r.text()
        assert MISSED in html
        data = {"csrf": csrf_of(html), "text": MISSED, "procedure": "khai-sinh"}
        async with http.post(f"{served.url}/missed/alias", data=data) as r:
            assert str(r.url).endswith("/missed?ok=alias")
            assert "Đã thêm cách hỏi; trợ lý dùng ngay, không cần khởi động lại." in await r.text()
        async with http.post(f"{served.url}/missed/alias", data=data) as r:  # the same again
            assert r.status == 400 and "đã là một cách gọi của" in await r.text()
        async with http.post(f"{served.url}/missed/alias", data={**data, "procedure": "khong-co"}) as r:
            assert r.status == 400 and "Vui lòng chọn một thủ tục" in await r.text()
    written = khai_sinh.read_text(encoding="utf-8")
    assert MISSED in written and written.startswith(original.split("aliases:")[0])  # the rest kept
    (after,) = await ask(served, MISSED)
    answer = after.to_json()
    assert answer["intent"] == "procedure" and answer["matches"][0]["id"] == "khai-sinh"
    entry = (await served.bo.audit.recent())[0]
    assert (entry.staff, entry.action, entry.target, entry.detail) == (STAFF, "alias.add", "khai-sinh", MISSED)


async def test_the_overview_counts_today_s_messages_and_the_answer_rate(served: Served) -> None:
    # 2 answered, 1 choice offered, 1 refused.
    await ask(served, "lam giay khai sinh can gi", "đk kết hôn mất bn tiền", "sao y giấy khai sinh", "bao nhieu tien")
    async with browser() as http:
        r = await login(http, served.url)
        html = await r.text()
    today = html.split("<h2>Hôm nay</h2>")[1].split("</section>")[0]
    assert '<p class="big">4</p>' in today and "<strong>50%</strong>" in today
    week = html.split("<h2>7 ngày qua</h2>")[1].split("</section>")[0]
    assert "Hỏi lại cho rõ: 1 · Chưa trả lời được: 1 · Chuyển cán bộ: 0" in week
    bars = html.split('<rect class="bar-all"')
    assert len(bars) == 8 and 'height="80.0"' in bars[-1]  # today is the busiest day
    assert f"{date.today():%d/%m}" in html


async def test_two_aliases_added_at_once_to_one_file_are_both_kept(served_copy: Served) -> None:
    import asyncio

    served = served_copy
    async with browser() as http:
        page = await login(http, served.url)
        token = csrf_of(await page.text())
        texts = ("giấy tờ cho bé mới đẻ", "làm khai sanh cho cháu nội")
        posts = [
            http.post(f"{served.url}/missed/alias", data={"csrf": token, "text": t, "procedure": "khai-sinh"})
            for t in texts
        ]
        for r in await asyncio.gather(*posts):
            assert r.status == 200 and str(r.url).endswith("?ok=alias")
    written = (served.bo.app.config.catalogue.dir / "ho-tich" / "khai-sinh.yaml").read_text(encoding="utf-8")
    assert all(t in written for t in texts)
    assert {e.detail for e in await served.bo.audit.recent() if e.action == "alias.add"} == set(texts)
