"""The status desk: answers, limits, phone digits, follows and hamlet digests."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import Config, HamletHead
from bot.messages import Incoming, Intent
from bot.dossiers.desk import StatusDesk, matches_hamlet
from bot.dossiers.store import DossierRow, Store
from bot.dossiers.sync import seed_demo
from tests.dossiers.conftest import Db, postgres_only

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 29)
P = "000.00.14.H56"
READY = f"{P}-261127-0020"        # Đã xử lý xong, Thôn 7, Đinh Thị Xuân
OVERDUE = f"{P}-261118-0011"      # Đang xử lý, hẹn 24/11/2026, Thôn 11
SUPPLEMENT = f"{P}-261123-0014"   # Yêu cầu bổ sung giấy tờ, Thôn 3
RETURNED = f"{P}-251120-0001"     # Đã trả kết quả, Thôn 1, phone ...101


class Clock:
    """A hand-driven monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def demo_rows() -> list[dict[str, str]]:
    with open(ROOT / "bot" / "dossiers" / "data" / "demo_dossiers.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def make_config(**status: object) -> Config:
    config = Config()
    for key, value in status.items():
        setattr(config.status, key, value)
    config.hamlet_heads = [
        HamletHead("telegram", "head1", "Thôn 1"),
        HamletHead("telegram", "head3", "Thôn 3"),
        HamletHead("zalo", "head7", "thon 7"),
        HamletHead("zalo", "head7", "Thôn 12"),
    ]
    return config


@pytest.fixture
async def store(db: Db):
    """The demo dossiers, on each backend."""
    s = await db.open()
    await seed_demo(s, Config(), today=lambda: TODAY)
    yield s
    await s.close()


def msg(text: str = "", user: str = "u1", channel: str = "telegram") -> Incoming:
    return Incoming(channel=channel, user_id=user, chat_id=f"chat-{user}", text=text)


def desk_for(store: Store, clock: Clock | None = None, **status: object) -> StatusDesk:
    return StatusDesk(store, make_config(**status), today=lambda: TODAY, clock=clock or Clock())


async def test_answer_for_a_ready_dossier(store: Store) -> None:
    desk = desk_for(store)
    r = await desk.answer(msg(), f"hồ sơ {READY} xong chưa ạ")
    assert r.intent is Intent.STATUS and len(r.replies) == 1
    text = r.replies[0].text
    assert READY in text
    assert "Thủ tục: Đăng ký khai sinh" in text
    assert "Ngày tiếp nhận: 27/11/2026" in text and "Ngày hẹn trả: 28/11/2026" in text
    assert "Trạng thái: Đã xử lý xong" in text
    assert "mời ông/bà đến bộ phận một cửa nhận kết quả, mang theo giấy biên nhận" in text
    assert "Người nộp: Đinh T. X." in text
    assert "Xuân" not in text and "0976" not in text and "120" not in text.replace(READY, "")
    assert "Thôn 7" not in text
    (choice,) = r.replies[0].choices
    assert choice.label == "Theo dõi" and choice.data == f"follow:{READY}"


async def test_overdue_gets_an_apology_and_the_hotline(store: Store) -> None:
    desk = desk_for(store)
    text = (await desk.answer(msg(), OVERDUE)).replies[0].text
    assert "quá hạn" in text and "xin lỗi" in text and "5 ngày" in text
    assert Config().commune.hotline in text


async def test_several_codes_tails_and_sloppy_typing(store: Store) -> None:
    desk = desk_for(store)
    text = f"Nhờ xem giúp: {READY.lower()}, 261118 - 0011 và H56-261123-0014 nhé"
    assert desk.find_codes(text) == [READY, OVERDUE, SUPPLEMENT]
    assert desk.find_codes("000 00 14 h56 261127 0020") == [READY]
    assert desk.find_codes("gọi 0912 345 678 hoặc 091234 5678") == []
    assert desk.find_codes(f"{READY}999") == []  # a longer digit run is not this code
    r = await desk.answer(msg(), text)
    (reply,) = r.replies  # one message, easy to forward: one line per dossier
    lines = reply.text.splitlines()
    assert lines[0] == "Tình trạng 3 hồ sơ:"
    assert [line.split(" ")[1].rstrip(":") for line in lines[1:4]] == ["261127-0020", "261118-0011", "261123-0014"]
    assert "Yêu cầu bổ sung giấy tờ — mời đến Bộ phận Một cửa" in lines[3]
    assert "quá hẹn trả" in lines[2]
    assert len(reply.text) < 600
    assert [c.label for c in reply.choices] == [
        "Chi tiết 261127-0020", "Chi tiết 261118-0011", "Chi tiết 261123-0014",
    ]
    assert reply.choices[2].data == f"dossier:{SUPPLEMENT}"


async def test_two_dossiers_come_in_full_each_button_naming_its_dossier(store: Store) -> None:
    desk = desk_for(store)
    (reply,) = (await desk.answer(msg(), f"{READY} và {SUPPLEMENT}")).replies
    blocks = reply.text.split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == [f"Hồ sơ {READY}", f"Hồ sơ {SUPPLEMENT}"]
    assert "Yêu cầu bổ sung giấy tờ:" in blocks[1]
    assert [c.label for c in reply.choices] == ["Theo dõi 261127-0020", "Theo dõi 261123-0014"]


async def test_tail_completes_to_the_only_stored_code_with_another_prefix(store: Store) -> None:
    other = "000.00.14.H99-261201-0042"
    with store.sync_writer("t") as w:
        w.write([DossierRow(other, "Chứng thực chữ ký", None, "Võ Văn Tâm", "", "Thôn 2", "2026-12-01",
                            "2026-12-01", None, "done")])
        w.finish(read=1, rejected=0)
    desk = desk_for(store)
    r = await desk.answer(msg(), "mã 261201-0042")
    assert r.replies[0].text.startswith(f"Hồ sơ {other}")
    # The engine passes codes as find_codes() completed them: still resolved.
    (completed,) = desk.find_codes("261201-0042")
    assert "Đã đăng ký theo dõi" in (await desk.follow(msg(), completed)).replies[0].text
    assert await store.is_following("telegram", "u1", other)
    with store.sync_writer("t") as w:
        w.write([DossierRow("000.00.14.H77-261201-0042", "x", None, "y", "", "", None, None, None, "new")])
        w.finish(read=1, rejected=0)
    r = await desk.answer(msg(user="u2"), "mã 261201-0042")
    assert "nhiều hồ sơ" in r.replies[0].text


async def test_unknown_code_and_no_code(store: Store) -> None:
    desk = desk_for(store)
    r = await desk.answer(msg(), f"{P}-261130-9999")
    assert "Không tìm thấy hồ sơ" in r.replies[0].text and "giấy biên nhận" in r.replies[0].text
    assert not r.replies[0].choices
    r = await desk.answer(msg(), "hồ sơ của tôi đến đâu rồi")
    assert "giấy biên nhận" in r.replies[0].text and "QR" in r.replies[0].text
    assert r.intent is Intent.STATUS


async def test_returned_dossier_offers_no_follow(store: Store) -> None:
    desk = desk_for(store)
    r = await desk.answer(msg(), RETURNED)
    assert "Ngày trả kết quả: 21/11/2025" in r.replies[0].text
    assert r.replies[0].choices == ()


async def test_rate_limit_per_user(store: Store) -> None:
    clock = Clock()
    desk = desk_for(store, clock, lookups_per_minute=2)
    for _ in range(2):
        assert "Trạng thái" in (await desk.answer(msg(), READY)).replies[0].text
    refused = await desk.answer(msg(), READY)
    assert "nhiều lần" in refused.replies[0].text and "Trạng thái" not in refused.replies[0].text
    assert "Trạng thái" in (await desk.answer(msg(user="other"), READY)).replies[0].text
    clock.now += 61
    assert "Trạng thái" in (await desk.answer(msg(), READY)).replies[0].text


async def test_repeated_misses_slow_a_guesser_down(store: Store) -> None:
    clock = Clock()
    desk = desk_for(store, clock, max_misses=3, lookups_per_minute=100)
    r = await desk.answer(msg(), f"{P}-261130-0901 {P}-261130-0902")
    assert all("Không tìm thấy" in rep.text for rep in r.replies)
    await desk.answer(msg(), f"{P}-261130-0903")
    slowed = await desk.answer(msg(), READY)  # even a right code waits now
    assert "thử lại sau" in slowed.replies[0].text and "Trạng thái" not in slowed.replies[0].text
    clock.now += 601
    assert "Trạng thái" in (await desk.answer(msg(), READY)).replies[0].text


async def test_phone_digits_required(store: Store) -> None:
    clock = Clock()
    desk = desk_for(store, clock, require_phone_digits=True)
    assert await desk.pending(msg("101")) is None  # nothing asked yet
    ask = await desk.answer(msg(), READY)
    assert "3 chữ số cuối" in ask.replies[0].text and "Trạng thái" not in ask.replies[0].text
    assert await desk.pending(msg("thủ tục khai sinh cần gì")) is None  # not an answer
    wrong = await desk.pending(msg("999"))
    assert wrong is not None and "không khớp" in wrong.replies[0].text
    assert "Trạng thái" not in wrong.replies[0].text
    assert await desk.pending(msg("120")) is None  # the request was used up
    await desk.answer(msg(), READY)
    right = await desk.pending(msg("số cuối là 120"))
    assert right is not None and "Trạng thái: Đã xử lý xong" in right.replies[0].text
    # Verified: may follow it now.
    followed = await desk.follow(msg(), READY)
    assert "Đã đăng ký theo dõi" in followed.replies[0].text


async def test_phone_digits_full_number_and_expiry(store: Store) -> None:
    clock = Clock()
    desk = desk_for(store, clock, require_phone_digits=True)
    await desk.answer(msg(), READY)
    right = await desk.pending(msg("0976 000 120"))
    assert right is not None and "Trạng thái" in right.replies[0].text
    await desk.answer(msg(), READY)
    clock.now += 601
    assert await desk.pending(msg("120")) is None


async def test_phone_digits_one_guess_per_message(store: Store) -> None:
    desk = desk_for(store, require_phone_digits=True)
    await desk.answer(msg(), READY)
    short = await desk.pending(msg("12"))
    assert short is not None and "đúng 3 chữ số" in short.replies[0].text
    # Many groups are read as one number: only its last 3 digits count.
    guess = await desk.pending(msg("120 121 122 123"))
    assert guess is not None and "không khớp" in guess.replies[0].text


async def test_phone_digits_not_asked_of_a_hamlet_head_for_their_hamlet(store: Store) -> None:
    desk = desk_for(store, require_phone_digits=True)
    r = await desk.answer(msg(user="head3"), f"{SUPPLEMENT} {READY}")
    shown, ask = r.replies[0].text.split("\n\n")
    assert shown.startswith(f"Hồ sơ {SUPPLEMENT}")
    assert "3 chữ số cuối" in ask and READY in ask


async def test_follow_without_verification_is_refused(store: Store) -> None:
    desk = desk_for(store, require_phone_digits=True)
    r = await desk.follow(msg(), READY)
    assert "tra cứu hồ sơ trước" in r.replies[0].text
    assert not await store.is_following("telegram", "u1", READY)


async def test_follow_and_unfollow(store: Store) -> None:
    desk = desk_for(store)
    r = await desk.follow(msg(), "261127-0020")
    assert "Đã đăng ký theo dõi" in r.replies[0].text
    assert r.replies[0].choices[0].data == f"unfollow:{READY}"
    assert [f.chat_id for f in await store.followers(READY)] == ["chat-u1"]
    again = await desk.follow(msg(), READY)
    assert "đang theo dõi" in again.replies[0].text
    answer = await desk.answer(msg(), READY)
    assert answer.replies[0].choices[0].data == f"unfollow:{READY}"
    assert "không cần theo dõi" in (await desk.follow(msg(), RETURNED)).replies[0].text
    assert "Không tìm thấy" in (await desk.follow(msg(), f"{P}-261130-9999")).replies[0].text
    assert "gửi mã hồ sơ" in (await desk.follow(msg(), "")).replies[0].text
    await desk.follow(msg(), SUPPLEMENT)
    listing = await desk.unfollow(msg(), "")
    assert {c.data for c in listing.replies[0].choices} == {f"unfollow:{READY}", f"unfollow:{SUPPLEMENT}"}
    assert "Đã bỏ theo dõi" in (await desk.unfollow(msg(), "261127-0020")).replies[0].text
    assert "không theo dõi" in (await desk.unfollow(msg(), READY)).replies[0].text
    only = await desk.unfollow(msg(), "")
    assert f"Đã bỏ theo dõi hồ sơ {SUPPLEMENT}" in only.replies[0].text
    assert "không theo dõi hồ sơ nào" in (await desk.unfollow(msg(), "")).replies[0].text


async def test_digest_for_hamlet_heads_only(store: Store) -> None:
    desk = desk_for(store)
    refused = await desk.digest(msg(user="citizen"))
    assert "trưởng thôn" in refused.replies[0].text
    r = await desk.digest(msg(user="head1"))
    text = r.replies[0].text
    assert text.startswith("Thôn 1: hồ sơ cần lưu ý (ngày 29/11/2026)")
    assert f"{P}-261119-0013" in text and "Lý V. P." in text and "Cần bổ sung giấy tờ (1)" in text
    assert "261126-0010" not in text  # Thôn 10 is not Thôn 1
    assert "0388" not in text and "Phúc" not in text
    two = await desk.digest(msg(user="head7", channel="zalo"))
    assert len(two.replies) == 2
    assert "Đã có kết quả, mời đến nhận (1)" in two.replies[0].text and READY in two.replies[0].text
    assert "Quá hạn hẹn trả" in two.replies[1].text and "hẹn 26/11/2026" in two.replies[1].text
    assert "Đã có kết quả, mời đến nhận (1)" in two.replies[1].text


async def test_digest_when_nothing_needs_attention(store: Store) -> None:
    config = make_config()
    config.hamlet_heads = [HamletHead("telegram", "h", "Thôn Đông")]
    desk = StatusDesk(store, config, today=lambda: TODAY, clock=Clock())
    r = await desk.digest(msg(user="h"))
    assert "không có hồ sơ nào" in r.replies[0].text


@pytest.mark.parametrize(
    ("address", "hamlet", "expected"),
    [
        ("Thôn 3, xã Tân Hòa", "Thôn 3", True),
        ("thon 3 - xa Tan Hoa", "Thôn 3", True),
        ("THÔN 03, Tân Hòa", "thôn 3", True),
        ("Thôn 30, xã Tân Hòa", "Thôn 3", False),
        ("Thôn 13", "Thôn 3", False),
        ("Xóm Đồng, Thôn 5", "Thôn 5", True),
        ("Số 3 đường Thôn 5", "3", False),
        ("Thôn 3", "3", True),
        ("Thôn Đông Hòa", "thon dong", True),
        ("", "Thôn 3", False),
    ],
)
def test_matches_hamlet(address: str, hamlet: str, expected: bool) -> None:
    assert matches_hamlet(address, hamlet) is expected


async def test_no_reply_ever_shows_phone_address_or_full_name(store: Store) -> None:
    desk = desk_for(store, lookups_per_minute=1000, codes_per_hour=1000, codes_per_day=1000)
    rows = demo_rows()
    for row in rows:
        r = await desk.answer(msg(), row["Mã hồ sơ"])
        text = "\n".join(rep.text for rep in r.replies)
        digits = "".join(c for c in row["Số điện thoại"] if c.isdigit())
        assert digits not in text.replace(" ", "")
        assert row["Chủ hồ sơ"] not in text
        given = row["Chủ hồ sơ"].split()[-1]
        assert f" {given}" not in text.split("Người nộp:")[1].splitlines()[0]
        assert row["Địa chỉ"] not in text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
async def test_random_text_never_crashes(store: Store, text: str) -> None:
    desk = desk_for(store)
    for r in (await desk.answer(msg(), text), await desk.follow(msg(), text), await desk.unfollow(msg(), text)):
        assert r.intent is Intent.STATUS and r.replies
    assert await desk.pending(msg(text)) is None


# --- abuse: look-up limits (issue 9, item 1) ------------------------------------------------


def revealed(responses: list) -> set[str]:
    """The codes whose details (status) some reply showed."""
    shown = set()
    for r in responses:
        for reply in r.replies:
            for block in reply.text.split("\n\n"):
                first = block.splitlines()[0] if block else ""
                if first.startswith("Hồ sơ ") and "Trạng thái:" in block:
                    shown.add(first.removeprefix("Hồ sơ "))
                for line in block.splitlines():  # a compact list: "• 261127-0020 (...): status"
                    if line.startswith("• ") and ": " in line:
                        shown.add(f"{P}-{line[2:13]}")
    return shown


async def seed_many(store: Store, days: int = 20, per_day: int = 150) -> list[str]:
    """Dense, guessable codes: every sequence number of each day exists."""
    codes = [f"{P}-2611{d:02}-{n:04}" for d in range(1, days + 1) for n in range(1, per_day + 1)]
    with store.sync_writer("t") as w:
        w.write([DossierRow(c, "Đăng ký khai sinh", None, "Trần Văn Bình", "0912000999", "Thôn 2",
                            "2026-11-01", "2026-11-05", None, "processing") for c in codes])
        w.finish(read=len(codes), rejected=0)
    return codes


def guesses(codes: list[str], start: int, count: int) -> str:
    return " ".join(codes[(start + i) % len(codes)] for i in range(count))


async def test_attack_an_hour_of_dense_guessing_reveals_a_bounded_few(db: Db) -> None:
    store = await db.open()
    codes = await seed_many(store)
    clock = Clock()
    config = make_config()
    per_hour, per_day = config.status.codes_per_hour, config.status.codes_per_day
    desk = StatusDesk(store, config, today=lambda: TODAY, clock=clock)
    responses, sent = [], 0
    try:
        # One user sends a message of 20 fresh codes every second for an hour, with a restart
        # of the bot half-way (the counters come back from the database).
        for second in range(3600):
            if second == 1800:
                await store.close()
                store = await db.open()
                desk = StatusDesk(store, config, today=lambda: TODAY, clock=clock)
            responses.append(await desk.answer(msg(user="attacker"), guesses(codes, sent, 20)))
            sent += 20
            clock.now += 1
        hour = revealed(responses)
        assert 0 < len(hour) <= per_hour
        assert "thử lại sau" in responses[-1].replies[0].text
        # Keeps going for a day, one message a minute: the daily allowance bounds it.
        for _ in range(24 * 60):
            responses.append(await desk.answer(msg(user="attacker"), guesses(codes, sent, 20)))
            sent += 20
            clock.now += 60
        assert len(revealed(responses)) <= per_day
        # Forty accounts guessing together in one group chat share the chat's allowance.
        group = []
        for n in range(40):
            clock.now += 1
            member = Incoming("telegram", f"member{n}", "group-1", "")
            group.append(await desk.answer(member, guesses(codes, 1000 + 5 * n, 5)))
        assert 0 < len(revealed(group)) <= per_hour
    finally:
        await store.close()


async def test_each_code_counts_and_a_message_answers_at_most_a_few(store: Store) -> None:
    codes = [f"{P}-2611{d:02}-{d:04}" for d in range(1, 8)]  # demo codes 0001..0007 do not all exist
    desk = desk_for(store, lookups_per_minute=100)
    r = await desk.answer(msg(), " ".join([READY, OVERDUE, SUPPLEMENT, RETURNED, *codes]))
    text = r.replies[0].text
    assert len(revealed([r])) + text.count("Không tìm thấy hồ sơ") >= 5
    assert "Mỗi lần chỉ tra được 5 mã; 6 mã còn lại chưa được tra cứu" in text
    assert codes[-1] not in text
    # Three codes against an allowance of two look-ups a minute: the third is not looked up.
    desk = desk_for(store, lookups_per_minute=2)
    r = await desk.answer(msg(user="u2"), f"{READY} {OVERDUE} {SUPPLEMENT}")
    assert revealed([r]) == {READY, OVERDUE}
    assert "Còn 1 mã trong tin nhắn chưa được tra cứu" in r.replies[0].text


async def test_found_codes_count_too_but_asking_again_about_ones_own_does_not(store: Store) -> None:
    clock = Clock()
    desk = desk_for(store, clock, codes_per_hour=3)
    rows = [row["Mã hồ sơ"] for row in demo_rows()]
    seen = [await desk.answer(msg(), code) for code in rows[:4]]
    assert len(revealed(seen)) == 3
    assert "nhiều mã hồ sơ khác nhau" in seen[3].replies[0].text and "60 phút" in seen[3].replies[0].text
    # The same dossier again and again, over a whole day: always answered.
    for _ in range(48):
        clock.now += 1800
        assert revealed([await desk.answer(msg(), rows[0])]) == {rows[0]}


async def test_limits_are_shared_by_a_chat_and_survive_a_restart(db: Db) -> None:
    store = await db.open()
    await seed_demo(store, Config(), today=lambda: TODAY)
    clock = Clock()
    desk = desk_for(store, clock, lookups_per_minute=2)
    group = [Incoming("telegram", user, "group-9", "") for user in ("a", "b", "c")]
    assert revealed([await desk.answer(group[0], READY), await desk.answer(group[1], OVERDUE)]) == {READY, OVERDUE}
    assert "nhiều lần" in (await desk.answer(group[2], READY)).replies[0].text
    await store.close()
    store = await db.open()
    try:
        desk = desk_for(store, clock, lookups_per_minute=2)
        assert "nhiều lần" in (await desk.answer(group[2], READY)).replies[0].text
        # User "a" in a private chat: its own allowance (one look-up left) goes with it.
        assert revealed([await desk.answer(msg(user="a"), READY)]) == {READY}
        assert "nhiều lần" in (await desk.answer(msg(user="a"), READY)).replies[0].text
        clock.now += 61
        assert revealed([await desk.answer(group[2], READY)]) == {READY}
    finally:
        await store.close()


async def test_misses_are_counted_per_chat_and_persisted(db: Db) -> None:
    store = await db.open()
    await seed_demo(store, Config(), today=lambda: TODAY)
    clock = Clock()
    desk = desk_for(store, clock, max_misses=2, lookups_per_minute=100)
    await desk.answer(Incoming("zalo", "x", "g", ""), f"{P}-261130-0901")
    await desk.answer(Incoming("zalo", "y", "g", ""), f"{P}-261130-0902")
    await store.close()
    store = await db.open()
    try:
        desk = desk_for(store, clock, max_misses=2, lookups_per_minute=100)
        slowed = await desk.answer(Incoming("zalo", "z", "g", ""), READY)
        assert "không tìm thấy" in slowed.replies[0].text and "10 phút" in slowed.replies[0].text
    finally:
        await store.close()


# --- partial codes never reveal anything (item 2) --------------------------------------------

PARTIALS = [
    f"{P}-0020",          # the prefix and the sequence number of READY
    "0020",               # the sequence alone
    "261127",             # the date alone
    f"{P}-261127",        # the prefix and the date
    "H56-0020",
    "261127-002",         # a tail one digit short
    "61127-0020",
    f"{P}-261127-002",
]


@pytest.mark.parametrize("require_digits", [False, True])
@pytest.mark.parametrize("partial", PARTIALS)
async def test_partial_codes_never_reveal_nor_subscribe(store: Store, catalogue, partial: str,
                                                        require_digits: bool) -> None:
    from bot.dialogue import Engine

    desk = desk_for(store, require_phone_digits=require_digits, lookups_per_minute=1000)
    engine = Engine.build(make_config(require_phone_digits=require_digits), catalogue, status=desk)
    texts = [f"/theodoi {partial}", f"/tracuu {partial}", f"/start {partial}", f"hồ sơ {partial} xong chưa",
             f"theo dõi {partial}", partial]
    for text in texts:
        r = await engine.handle(Incoming("telegram", "u1", "chat-u1", text))
        shown = "\n".join(rep.text for rep in r.replies)
        assert READY not in shown and "261127-0020" not in shown, text
        assert "Trạng thái" not in shown and "Ngày tiếp nhận" not in shown and "Đinh" not in shown, text
        assert not any("follow:" in c.data for rep in r.replies for c in rep.choices), text
    for choice in (f"follow:{partial}", f"unfollow:{partial}"):
        r = await engine.handle(Incoming("telegram", "u1", "chat-u1", "Theo dõi", choice=choice))
        assert READY not in "\n".join(rep.text for rep in r.replies)
    assert await store.follows_of("telegram", "u1") == []
    # The whole code, or its documented tail, still works.
    r = await desk.follow(msg(user="u9"), "261127-0020")
    assert READY in r.replies[0].text


# --- a sync never holds up look-ups (item 7) -------------------------------------------------


async def test_lookups_and_follows_answer_while_a_sync_holds_the_database(tmp_path: Path, catalogue) -> None:
    import asyncio
    import sqlite3

    from bot.dialogue import Engine

    path = tmp_path / "motcua.sqlite3"
    store = await Store.open(path)
    await seed_demo(store, Config(), today=lambda: TODAY)
    clock = Clock()
    desk = desk_for(store, clock)
    engine = Engine.build(make_config(), catalogue, status=desk)
    writer = sqlite3.connect(path, isolation_level=None)  # a sync's long write transaction
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE dossiers SET status = 'returned'")
    try:
        async def ask(text: str):
            return await asyncio.wait_for(engine.handle(Incoming("telegram", "u1", "chat-u1", text)), 2.0)

        looked = await ask(READY)
        assert "Trạng thái: Đã xử lý xong" in looked.replies[0].text  # the committed data
        follow = await ask(f"/theodoi {READY}")
        assert "đang cập nhật" in follow.replies[0].text and "gửi lại sau" in follow.replies[0].text
        assert "đang cập nhật" in (await ask(f"/huytheodoi {READY}")).replies[0].text
        assert writer.in_transaction  # answered while the write transaction was still open
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert "Đã đăng ký theo dõi" in (await engine.handle(msg(f"/theodoi {READY}"))).replies[0].text
    await store.close()
    # The look-ups counted during the sync were written after it.
    conn = sqlite3.connect(path)
    try:
        (total,) = conn.execute("SELECT sum(lookups) FROM lookup_counts WHERE scope = 'u:telegram:u1'").fetchone()
    finally:
        conn.close()
    assert total == 3


# --- bounded work per message (item 8) -------------------------------------------------------


def old_digits_reply(text: str) -> str | None:
    """The previous regular expression (quadratic), as the reference for short texts."""
    import re

    m = re.fullmatch(r"[^\d]{0,40}?([\d][\d\s.,;/-]*)[\s.!]*", text)
    return "".join(re.findall(r"\d+", m.group(1))) if m else None


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="0123456789 .,;/-!x\n\tsố", max_size=60))
def test_digits_reply_reads_as_before(text: str) -> None:
    from bot.dossiers.desk import digits_reply

    assert digits_reply(text) == old_digits_reply(text)


async def test_a_huge_message_at_the_digits_step_is_read_only_in_part(store: Store, catalogue) -> None:
    import time as _time

    from bot.dialogue import Engine

    desk = desk_for(store, require_phone_digits=True)
    engine = Engine.build(make_config(require_phone_digits=True), catalogue, status=desk)
    await engine.handle(msg(READY))
    # Digits beyond what is read are not read: the work is bounded by the length cap.
    r = await desk.pending(msg("x" * 1990 + " " * 20 + "120"))
    assert r is None
    await engine.handle(msg(READY))
    nasty = "1" + " " * 32_000 + "x"  # 12 s with the old expression
    started = _time.perf_counter()
    r = await engine.handle(msg(nasty))
    assert _time.perf_counter() - started < 2.0
    assert r.replies and "Trạng thái" not in r.replies[0].text
    right = await engine.handle(msg("120" + " " * 32_000))
    assert "Trạng thái: Đã xử lý xong" in "\n".join(rep.text for rep in right.replies)


async def test_counters_that_cannot_be_written_still_limit(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "motcua.sqlite3"
    store = await Store.open(path)
    await seed_demo(store, Config(), today=lambda: TODAY)
    conn = sqlite3.connect(path)
    # Every counter write now fails, and not because a sync is busy (as a full disk would).
    conn.execute("CREATE TRIGGER full BEFORE INSERT ON lookup_counts BEGIN SELECT RAISE(ABORT, 'full'); END")
    conn.commit()
    conn.close()
    try:
        clock = Clock()
        desk = desk_for(store, clock, lookups_per_minute=2)
        assert revealed([await desk.answer(msg(), READY), await desk.answer(msg(), OVERDUE)]) == {READY, OVERDUE}
        assert "nhiều lần" in (await desk.answer(msg(), SUPPLEMENT)).replies[0].text
    finally:
        await store.close()


@postgres_only
async def test_counters_that_cannot_be_written_still_limit_on_postgresql(db: Db) -> None:
    store = await db.open()
    await seed_demo(store, Config(), today=lambda: TODAY)
    # Every counter write now fails, and not because a lock is held (as a full disk would).
    db.query(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'full'; END $$"
    )
    db.query("CREATE TRIGGER full_disk BEFORE INSERT ON lookup_counts FOR EACH ROW EXECUTE FUNCTION refuse()")
    try:
        clock = Clock()
        desk = desk_for(store, clock, lookups_per_minute=2)
        assert revealed([await desk.answer(msg(), READY), await desk.answer(msg(), OVERDUE)]) == {READY, OVERDUE}
        assert "nhiều lần" in (await desk.answer(msg(), SUPPLEMENT)).replies[0].text
    finally:
        await store.close()
    assert db.query("SELECT count(*) FROM lookup_counts") == [(0,)]


async def test_guessing_spread_over_many_accounts_meets_the_overall_limit(db: Db, tmp_path: Path) -> None:
    store = await db.open()
    codes = await seed_many(store, days=2, per_day=100)
    clock = Clock()
    desk = desk_for(store, clock, codes_per_hour_all=10)
    try:
        responses = []
        for n in range(60):  # sixty accounts, two fresh codes each, in separate private chats
            clock.now += 1
            responses.append(await desk.answer(msg(user=f"sock{n}"), guesses(codes, 2 * n, 2)))
        assert len(revealed(responses)) == 10
        assert "quá nhiều lượt tra cứu" in responses[-1].replies[0].text
        # A dossier someone looked up within the hour is still answered; new ones wait.
        assert revealed([await desk.answer(msg(user="resident"), codes[0])]) == {codes[0]}
        clock.now += 3600
        assert revealed([await desk.answer(msg(user="resident"), codes[150])]) == {codes[150]}
    finally:
        await store.close()
    # Off by default: the same traffic is bounded only per account.
    store = await Store.open(tmp_path / "other.sqlite3")
    codes = await seed_many(store, days=2, per_day=100)
    desk = desk_for(store, Clock())
    try:
        shown = [await desk.answer(msg(user=f"sock{n}"), guesses(codes, 2 * n, 2)) for n in range(30)]
        assert len(revealed(shown)) == 60
    finally:
        await store.close()
