"""The hand-over store, the relay's staff-group commands, and the engine's side of
hand-overs (real SQLite files; the channels are in test_handover_e2e.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from bot.config import Config, HandoverConfig
from bot.delivery import Deliverer
from bot.dialogue import Engine
from bot.errors import RecipientBlocked
from bot.messages import Incoming, Intent, Reply
from bot.procedures.catalogue import Catalogue
from bot.procedures.wording import CHOICE_HANDOVER
from bot.session import MAX_TURNS, TURN_CHARS
from bot.staff.handovers import ANSWERED_KEEPS_OPEN, HandoverStore
from bot.staff.hours import VIETNAM
from bot.staff.relay import HandoverRelay
from bot.storage import Database
from tests.staff.conftest import INTEGRITY

GROUP = "-1001112223334"
SATURDAY = datetime(2026, 12, 5, 10, 0, tzinfo=VIETNAM)
WEDNESDAY = datetime(2026, 12, 2, 9, 0, tzinfo=VIETNAM)


@pytest.fixture
async def store(staff_db: Database):
    """The hand-over store on the shared database (SQLite and PostgreSQL)."""
    s = await HandoverStore.create(staff_db)
    yield s
    await s.close()


def relay_for(store: HandoverStore, clock=lambda: WEDNESDAY, **delivery) -> HandoverRelay:  # type: ignore[no-untyped-def]
    return HandoverRelay(store, Config(handover=HandoverConfig(GROUP)), clock=clock, **delivery)


# -- the store ----------------------------------------------------------------------


async def test_one_open_hand_over_per_resident(store: HandoverStore) -> None:
    first, opened = await store.ask("zalo", "u1", "c1", "gặp cán bộ", [("resident", "hỏi gì đó"), ("bot", "Xin lỗi…")])
    again, reopened = await store.ask("zalo", "u1", "c1", "cho tôi gặp cán bộ")
    other, _ = await store.ask("telegram", "u1", "c9", "gặp cán bộ")  # same id, another channel
    assert (first, opened) == (again, not reopened) == (1, True)
    assert other == 2
    assert await store.add_message("zalo", "u1", "tôi ở thôn 3") == 1
    assert await store.add_message("zalo", "nobody", "xin chào") is None
    handover = await store.get(1)
    assert handover is not None and handover.question == "gặp cán bộ"
    assert [(m.author, m.earlier) for m in handover.messages] == [
        ("resident", True), ("bot", True), ("resident", False), ("resident", False), ("resident", False)
    ]
    assert await store.counts() == {"waiting": 2, "answered": 0, "closed": 0}


async def test_the_database_itself_refuses_a_second_open_hand_over(store: HandoverStore) -> None:
    await store.ask("zalo", "u1", "c1", "gặp cán bộ")
    with pytest.raises(INTEGRITY):
        await store.db.run(
            "INSERT INTO handovers (channel, user_id, chat_id, opened_at, updated_at) VALUES ('zalo', 'u1', 'c1', 0, 0)"
        )


async def test_reply_answer_close_and_the_states(store: HandoverStore) -> None:
    number, _ = await store.ask("zalo", "u1", "c1", "gặp cán bộ")
    assert not await store.reply(number, "Lan", "   ")
    assert not await store.reply(99, "Lan", "Chào ông")
    assert await store.reply(number, "Lan", "Chào ông, ông cần hỏi gì ạ?")
    assert (await store.get(number)).state == "answered"  # type: ignore[union-attr]
    await store.add_message("zalo", "u1", "tôi cần làm giấy khai sinh")
    assert (await store.get(number)).state == "waiting"  # type: ignore[union-attr]
    assert await store.close_handover(number, "Lan")
    assert not await store.close_handover(number, "Lan")
    assert not await store.reply(number, "Lan", "quá muộn")
    closed = await store.get(number)
    assert closed is not None and closed.state == "closed" and closed.closed_by == "Lan"
    assert [m.delivery for m in closed.messages if m.author == "staff"] == ["pending"]  # still delivered
    # A new request after the close opens a new hand-over.
    assert await store.ask("zalo", "u1", "c1", "gặp cán bộ") == (2, True)
    assert [h.state for h in await store.list()] == ["waiting", "closed"]
    assert [h.id for h in await store.list("closed")] == [1]
    with pytest.raises(ValueError):
        await store.list("lost")


async def test_an_answered_hand_over_left_alone_is_closed_by_the_next_request(store: HandoverStore) -> None:
    await store.ask("zalo", "u1", "c1", "gặp cán bộ", now=1000.0)
    await store.reply(1, "Lan", "Đã trả lời", now=1000.0)
    later = 1000.0 + ANSWERED_KEEPS_OPEN + 1
    assert await store.add_message("zalo", "u1", "hỏi chuyện khác", now=later) is None
    assert (await store.get(1)).closed_by == "tự động"  # type: ignore[union-attr]
    assert await store.ask("zalo", "u1", "c1", "gặp cán bộ", now=later) == (2, True)


# -- the relay ----------------------------------------------------------------------


async def test_the_group_post_shows_what_was_written_and_the_case_number(store: HandoverStore) -> None:
    relay = relay_for(store)
    msg = Incoming("zalo", "8100000000000000999", "8100000000000000999", "cho tôi gặp cán bộ")
    reply = await relay.request(msg, [("resident", "xin giấy phép bắn pháo hoa"), ("bot", "Xin lỗi, tôi chưa tìm thấy " * 20)])
    assert "yêu cầu #1" in reply.text and "ngoài giờ" not in reply.text
    (post,) = await store.due_posts(GROUP, 1e12, 10, 0)
    assert post.text.startswith("🔔 Yêu cầu #1 (Zalo)")
    assert "👤 xin giấy phép bắn pháo hoa" in post.text and "Người dân viết: «cho tôi gặp cán bộ»" in post.text
    assert "8100000000000000999" not in post.text
    assert max(len(line) for line in post.text.splitlines()) < 300  # earlier turns are cut


async def test_out_of_hours_the_resident_is_told_when_to_expect_an_answer(store: HandoverStore) -> None:
    reply = await relay_for(store, clock=lambda: SATURDAY).request(Incoming("zalo", "u", "c", "gặp cán bộ"), [])
    assert "Hiện ngoài giờ làm việc; cán bộ sẽ trả lời từ 7h30 thứ Hai, 07/12." in reply.text


async def test_staff_group_commands(store: HandoverStore) -> None:
    relay = relay_for(store)
    await relay.request(Incoming("zalo", "u", "c", "gặp cán bộ"), [])
    await store.record_posted(GROUP, ["500"], 1)
    assert await relay.staff_message(None, "Lan", "mọi người ăn trưa chưa") is None  # chatter
    assert "trả lời (Reply)" in (await relay.staff_message(None, "Lan", "/start") or "")
    assert "trả lời (Reply)" in (await relay.staff_message("999", "Lan", "trả lời nhầm tin") or "")
    assert "Chỉ gửi được tin nhắn chữ" in (await relay.staff_message("500", "Lan", "") or "")
    assert await relay.staff_message("500", "Lan", "Chào ông") is None  # queued, confirmed once sent
    assert await relay.staff_message(None, "Lan", "/dong 7") == "Không có yêu cầu #7 nào đang mở."
    assert await relay.staff_message(None, "Lan", "/dong@motcua_bot #1") == (
        "Đã đóng yêu cầu #1 (không gửi thêm gì cho người dân)."
    )
    assert relay.is_staff_chat(GROUP) and not relay.is_staff_chat("123")


async def test_a_resident_who_blocked_the_bot_is_reported_to_the_group(store: HandoverStore) -> None:
    relay = relay_for(store)
    await relay.request(Incoming("zalo", "u", "c", "gặp cán bộ"), [])
    await store.reply(1, "Lan", "Chào ông")

    async def blocked(chat_id: str, reply: Reply) -> None:
        raise RecipientBlocked(chat_id)

    assert await relay.replies.deliver_pending("zalo", blocked) == 0
    assert await store.replies.counts() == {"dropped": 1}
    posted: list[str] = []

    async def post(chat_id: str, reply: Reply) -> list[str]:
        posted.append(reply.text)
        return [str(len(posted))]

    assert await relay.posts.deliver_pending(GROUP, post) == 2
    assert "người dân đã chặn trợ lý" in posted[-1]
    assert await store.handover_for_post(GROUP, "2") == 1  # a reply to the warning is about #1 too


async def test_a_reply_that_keeps_failing_is_given_up_and_reported(store: HandoverStore) -> None:
    ticks = [0.0]
    relay = relay_for(store, clock=lambda: WEDNESDAY)
    relay.replies = Deliverer(relay.replies._queue, clock=lambda: ticks[0], max_attempts=2, base_delay=10)
    await relay.request(Incoming("zalo", "u", "c", "gặp cán bộ"), [])
    await store.reply(1, "Lan", "Chào ông")

    async def down(chat_id: str, reply: Reply) -> None:
        raise ConnectionError("Zalo down")

    assert await relay.replies.deliver_pending("zalo", down) == 0
    ticks[0] = 11.0
    assert await relay.replies.deliver_pending("zalo", down) == 0
    assert await store.replies.counts() == {"failed": 1}
    texts = [p.text for p in await store.due_posts(GROUP, 1e12, 10, 0)]
    assert any("Không gửi được trả lời #1" in t for t in texts)


# -- the engine ---------------------------------------------------------------------


@pytest.fixture
def engine_with(config: Config, catalogue: Catalogue):  # type: ignore[no-untyped-def]
    def build(store: HandoverStore | None, clock=lambda: WEDNESDAY) -> Engine:  # type: ignore[no-untyped-def]
        relay = relay_for(store, clock=clock) if store is not None else None
        return Engine.build(config, catalogue, handovers=relay, clock=clock)

    return build


@pytest.mark.parametrize(
    "text",
    ["gặp cán bộ", "hỏi người thật", "cho tôi nói chuyện với cán bộ", "cho toi noi chuyen voi can bo",
     "gap can bo", "tôi muốn gặp cán bộ một cửa", "/canbo"],
)
async def test_a_resident_can_ask_for_a_person_at_any_time(engine_with, store: HandoverStore, text: str) -> None:  # type: ignore[no-untyped-def]
    engine = engine_with(store)
    await engine.handle(Incoming("telegram", "u", "c", "lam giay khai sinh can gi"))
    response = await engine.handle(Incoming("telegram", "u", "c", text))
    assert response.intent is Intent.HANDOVER
    assert "yêu cầu #1" in response.replies[0].text
    handover = await store.get(1)
    assert handover is not None and [m.text for m in handover.messages][0] == "lam giay khai sinh can gi"


async def test_the_button_after_a_refusal_asks_for_a_person(engine_with, store: HandoverStore) -> None:  # type: ignore[no-untyped-def]
    engine = engine_with(store)
    refusal = await engine.handle(Incoming("zalo", "u", "c", "giá vàng hôm nay bao nhiêu"))
    assert refusal.intent is Intent.UNKNOWN
    assert CHOICE_HANDOVER in [c.data for r in refusal.replies for c in r.choices]
    response = await engine.handle(Incoming("zalo", "u", "c", "2"))  # Zalo: typed number of the choice
    assert response.intent is Intent.HANDOVER
    handover = await store.get(1)
    assert handover is not None and handover.question == ""  # the button adds no words
    assert [m.text for m in handover.messages][0] == "giá vàng hôm nay bao nhiêu"
    again = await engine.handle(Incoming("zalo", "u", "c", "Gặp cán bộ một cửa", choice=CHOICE_HANDOVER))
    assert "Yêu cầu #1 của ông/bà đã được chuyển" in again.replies[0].text
    posts = [p.text for p in await store.due_posts(GROUP, 1e12, 10, 0)]
    assert len(posts) == 2 and "lại bấm «Gặp cán bộ»" in posts[1]


async def test_without_hand_overs_the_hotline_is_given_kindly(engine_with) -> None:  # type: ignore[no-untyped-def]
    engine = engine_with(None)
    response = await engine.handle(Incoming("zalo", "u", "c", "gặp cán bộ"))
    assert response.intent is Intent.HANDOVER
    assert "0210 3800 000" in response.replies[0].text and "Dạ" in response.replies[0].text
    pressed = await engine.handle(Incoming("telegram", "u", "c", "Gặp cán bộ một cửa", choice=CHOICE_HANDOVER))
    assert "0210 3800 000" in pressed.replies[0].text


async def test_messages_while_waiting_reach_the_desk_and_the_bot_still_answers(engine_with, store: HandoverStore) -> None:  # type: ignore[no-untyped-def]
    engine = engine_with(store)
    await engine.handle(Incoming("zalo", "u", "c", "gặp cán bộ"))
    answer = await engine.handle(Incoming("zalo", "u", "c", "lam giay khai sinh can gi"))
    assert answer.intent is Intent.PROCEDURE  # the bot answers what it can
    unknown = await engine.handle(Incoming("zalo", "u", "c", "nhà tôi bị ngập, xã có hỗ trợ gì không"))
    assert unknown.intent is Intent.HANDOVER and "chuyển tin nhắn này" in unknown.replies[0].text
    await engine.handle(Incoming("zalo", "u", "c", "1"))  # a typed choice is not for the desk
    handover = await store.get(1)
    assert handover is not None
    assert [m.text for m in handover.messages if not m.earlier] == [
        "gặp cán bộ", "lam giay khai sinh can gi", "nhà tôi bị ngập, xã có hỗ trợ gì không"
    ]


async def test_a_failing_hand_over_table_never_stops_the_answers(engine_with, store: HandoverStore) -> None:  # type: ignore[no-untyped-def]
    engine = engine_with(store)
    await engine.handle(Incoming("zalo", "u", "c", "gặp cán bộ"))
    await store.db.run("DROP TABLE staff_posts")
    answer = await engine.handle(Incoming("zalo", "u", "c", "lam giay khai sinh can gi"))
    assert answer.intent is Intent.PROCEDURE


async def test_the_conversation_kept_for_a_hand_over_is_bounded(engine_with, store: HandoverStore) -> None:  # type: ignore[no-untyped-def]
    engine = engine_with(store)
    for i in range(10):
        await engine.handle(Incoming("zalo", "u", "c", f"câu hỏi số {i} " + "rất dài " * 100))
    await engine.handle(Incoming("zalo", "u", "c", "gặp cán bộ"))
    handover = await store.get(1)
    assert handover is not None
    earlier = [m for m in handover.messages if m.earlier]
    assert len(earlier) == MAX_TURNS and all(len(m.text) <= TURN_CHARS for m in earlier)
    assert earlier[-2].text.startswith("câu hỏi số 9")


async def test_the_desk_hours_answer_says_what_today_is(engine_with) -> None:  # type: ignore[no-untyped-def]
    saturday = engine_with(None, clock=lambda: SATURDAY)
    response = await saturday.handle(Incoming("zalo", "u", "c", "thứ 7 có làm việc không"))
    assert response.intent is Intent.HELP
    assert response.replies[0].text.startswith(
        "Hôm nay thứ Bảy, bộ phận một cửa nghỉ; làm việc trở lại từ 7h30 thứ Hai, 07/12.\nGiờ làm việc của Bộ phận Một cửa"
    )
    weekday = engine_with(None, clock=lambda: WEDNESDAY)
    text = (await weekday.handle(Incoming("zalo", "u", "c", "may gio lam viec"))).replies[0].text
    assert text.startswith("Hôm nay thứ Tư, bộ phận một cửa đang làm việc (đến 11h30).")
    # Other desk questions are unchanged.
    address = (await weekday.handle(Incoming("zalo", "u", "c", "địa chỉ ủy ban ở đâu"))).replies[0].text
    assert address.startswith("Địa chỉ:")


@pytest.mark.parametrize(
    ("text", "opening"),
    [
        ("thứ 7 có làm việc không", "Thứ Bảy 05/12 bộ phận một cửa nghỉ."),
        ("t7 co lam viec ko", "Thứ Bảy 05/12 bộ phận một cửa nghỉ."),
        ("chủ nhật có làm việc không", "Chủ nhật 06/12 bộ phận một cửa nghỉ."),
        ("thu 6 may gio lam viec", "Thứ Sáu 04/12 bộ phận một cửa có làm việc: 7h30–11h30, 13h30–17h00."),
        ("thứ 4 có làm việc không", "Hôm nay thứ Tư, bộ phận một cửa đang làm việc (đến 11h30)."),
    ],
)
async def test_hours_asked_for_a_named_day_are_answered_for_that_day(engine_with, text: str, opening: str) -> None:  # type: ignore[no-untyped-def]
    wednesday = engine_with(None, clock=lambda: WEDNESDAY)
    response = await wednesday.handle(Incoming("zalo", "u", "c", text))
    assert response.intent is Intent.HELP
    assert response.replies[0].text.split("\n")[0] == opening


async def test_a_holiday_from_the_config_is_named(config: Config, catalogue: Catalogue) -> None:
    from bot.config import Holiday, OfficeHoursConfig

    config = replace(config, office_hours=OfficeHoursConfig(holidays=[Holiday("2026-12-02", "tập huấn")]))
    engine = Engine.build(config, catalogue, clock=lambda: WEDNESDAY)
    text = (await engine.handle(Incoming("zalo", "u", "c", "hôm nay có làm việc không"))).replies[0].text
    assert text.startswith("Hôm nay thứ Tư, 02/12, là ngày nghỉ tập huấn, bộ phận một cửa nghỉ")


async def test_the_console_and_ask_open_no_hand_over(store: HandoverStore) -> None:
    relay = relay_for(store)
    reply = await relay.request(Incoming("cli", "ask-1", "ask-1", "gặp cán bộ"), [])
    assert "dòng lệnh" in reply.text and "0210 3800 000" in reply.text
    assert await relay.note(Incoming("console", "u", "c", "xin chào")) is None
    assert await store.counts() == {"waiting": 0, "answered": 0, "closed": 0}
    assert await store.due_posts(GROUP, 1e12, 10, 0) == []


async def test_a_thumbs_down_on_zalo_leads_to_a_person(engine_with, store: HandoverStore) -> None:  # type: ignore[no-untyped-def]
    engine = engine_with(store)
    answer = await engine.handle(Incoming("zalo", "u", "c", "lam giay khai sinh can gi"))
    assert answer.intent is Intent.PROCEDURE and answer.replies[-1].rate
    sorry = await engine.handle(Incoming("zalo", "u", "c", "0"))  # Zalo's "answer 0 if it was wrong"
    offered = [c for r in sorry.replies for c in r.choices]
    assert CHOICE_HANDOVER in [c.data for c in offered]
    number = [c.data for c in offered].index(CHOICE_HANDOVER) + 1
    response = await engine.handle(Incoming("zalo", "u", "c", str(number)))
    assert response.intent is Intent.HANDOVER
    handover = await store.get(1)
    assert handover is not None and handover.messages[0].text == "lam giay khai sinh can gi"
