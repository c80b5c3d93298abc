"""Several communes on one database: every staff-side row carries its commune, a
commune's view (``db.scoped(commune)``, what the back office gives a commune's staff)
sees only its own rows, and on PostgreSQL row-level security hides the rest even from
SQL that forgets to filter. Also: a SQLite file of the previous schema keeps its rows."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from bot.app import App
from bot.config import Config, DatabaseConfig
from bot.dialogue import Engine
from bot.messages import Incoming
from bot.procedures.catalogue import Catalogue
from bot.staff import activity, feedback, handovers, missed, notices
from bot.staff.activity import ActivityStore
from bot.staff.feedback import FeedbackStore
from bot.staff.handovers import HandoverStore
from bot.staff.hours import VIETNAM
from bot.staff.missed import MissedStore
from bot.staff.notices import PROVINCE, NoticeStore
from bot.staff.recorder import StaffRecorder
from bot.storage import Database
from bot.tenants import MIGRATIONS as RESIDENT_MIGRATIONS
from bot.tenants import ResidentStore
from tests.legacy import write_old_parts
from tests.staff.conftest import Place, sqlite_only

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=VIETNAM)
DAY = NOW.date()
#: Every staff-side table with a tenant key.
TENANT_TABLES = (
    *handovers.TENANT_TABLES, "notices", "activity", "activity_procedures", "missed", "ratings", "residents",
)


async def _two_communes_hand_overs(db: Database) -> tuple[int, int, int]:
    """Hand-overs of commune a (u1 on Zalo) and b (u1 on Zalo too, and u2 on Telegram),
    each with a reply queued and a post in its staff group."""
    base = await HandoverStore.create(db)
    a, b = base.for_commune("a"), base.for_commune("b")
    ha, opened_a = await a.ask("zalo", "u1", "c1", "gặp cán bộ xã A", [("resident", "hỏi"), ("bot", "Xin lỗi")])
    hb, opened_b = await b.ask("zalo", "u1", "c1", "gặp cán bộ xã B")  # the same resident, another commune
    hb2, _ = await b.ask("telegram", "u2", "c2", "cho tôi gặp cán bộ")
    assert opened_a and opened_b and len({ha, hb, hb2}) == 3
    assert await a.open_for("zalo", "u1") == ha and await b.open_for("zalo", "u1") == hb
    assert await a.open_for("telegram", "u2") is None
    assert await base.scoped("a").reply(ha, "Lan", "Chào ông")
    assert await base.scoped("b").reply(hb, "Minh", "Chào bà")
    await base.queue_post(ha, "-100111", "🔔 #a")
    await base.queue_post(hb, "-100222", "🔔 #b")
    await base.record_posted("-100111", ["5"], ha)
    await base.record_posted("-100222", ["6"], hb)
    return ha, hb, hb2


async def test_each_communes_view_lists_counts_and_gets_only_its_own_hand_overs(staff_db: Database) -> None:
    ha, hb, hb2 = await _two_communes_hand_overs(staff_db)
    everyone = HandoverStore(staff_db)
    view_a, view_b = everyone.scoped("a"), HandoverStore(staff_db.scoped("b"))
    assert [h.id for h in await view_a.list()] == [ha]
    assert sorted(h.id for h in await view_b.list()) == sorted([hb, hb2])
    assert len(await everyone.list()) == 3
    assert await view_a.counts() == {"waiting": 0, "answered": 1, "closed": 0}
    assert await view_b.counts() == {"waiting": 1, "answered": 1, "closed": 0}
    assert await view_a.replies.counts() == {"pending": 1} and await everyone.replies.counts() == {"pending": 2}
    mine = await view_a.get(ha)
    assert mine is not None and mine.question == "gặp cán bộ xã A"
    assert [m.text for m in mine.messages] == ["hỏi", "Xin lỗi", "gặp cán bộ xã A", "Chào ông"]
    assert await view_a.get(hb) is None and await view_b.get(ha) is None
    assert await view_a.handover_for_post("-100222", "6") is None
    assert await view_b.handover_for_post("-100222", "6") == hb
    # the rows made for a reply carry the hand-over's commune
    rows = await staff_db.fetch("SELECT commune FROM handover_replies ORDER BY id")
    assert rows == [("a",), ("b",)]


async def test_a_communes_view_cannot_reply_to_or_close_another_communes_hand_over(staff_db: Database) -> None:
    ha, hb, hb2 = await _two_communes_hand_overs(staff_db)
    view_a = HandoverStore(staff_db).scoped("a")
    assert not await view_a.reply(hb2, "Lan", "xen vào việc xã khác")
    assert not await view_a.close_handover(hb2, "Lan")
    assert not await view_a.close_handover(hb, "Lan")
    theirs = await HandoverStore(staff_db).scoped("b").get(hb2)
    assert theirs is not None and theirs.state == "waiting"
    assert [m.author for m in theirs.messages] == ["resident"]  # no reply was added
    assert await HandoverStore(staff_db).scoped("b").close_handover(hb2, "Minh")
    assert await view_a.close_handover(ha, "Lan")


async def test_each_communes_view_counts_only_its_own_messages_missed_questions_and_ratings(
    staff_db: Database, config: Config, catalogue: Catalogue
) -> None:
    recorder = await StaffRecorder.create(staff_db, clock=lambda: NOW.replace(tzinfo=None))
    engine_a = Engine.build(config, catalogue, recorder=recorder.for_commune("a"))
    engine_b = Engine.build(config, catalogue, recorder=recorder.for_commune("b"))
    await engine_a.handle(Incoming("zalo", "u1", "c1", "giá vàng hôm nay thế nào"))  # refused, kept
    await engine_a.handle(Incoming("zalo", "u2", "c2", "giá xăng hôm nay thế nào"))
    await engine_b.handle(Incoming("zalo", "u1", "c1", "lam giay khai sinh can gi"))
    await recorder.flush()
    await FeedbackStore(staff_db).add("khai-sinh", False, "zalo", NOW, commune="b")
    view_a, view_b = staff_db.scoped("a"), staff_db.scoped("b")
    assert (await ActivityStore(view_a).outcomes())["refused"] == 2
    assert (await ActivityStore(view_a).outcomes())["answered"] == 0
    assert (await ActivityStore(view_b).outcomes())["answered"] == 1
    assert (await ActivityStore(view_b).outcomes())["refused"] == 0
    assert await ActivityStore(view_a).procedures() == [] and await ActivityStore(view_b).procedures() == [("khai-sinh", 1)]
    assert [d.messages for d in await ActivityStore(view_a).daily()] == [2]
    assert (await ActivityStore(staff_db).outcomes())["refused"] == 2  # the province sees all
    assert await MissedStore(view_a).count() == 2 and await MissedStore(view_b).count() == 0
    assert sum(g.count for g in await MissedStore(view_a).groups()) == 2
    assert await MissedStore(view_b).groups() == []
    assert (await FeedbackStore(view_b).summary()).down == 1 and (await FeedbackStore(view_a).summary()).down == 0
    # the retention purge of one commune's view leaves the others' questions
    assert await MissedStore(view_b, retention_days=0).purge(DAY + timedelta(days=5)) == 0
    assert await MissedStore(staff_db).count() == 2
    await recorder.close()


async def test_notices_show_to_their_communes_residents_and_the_provinces_to_all(staff_db: Database) -> None:
    store = await NoticeStore.create(staff_db)
    of_a = await store.scoped("a").post("Xã A nghỉ chiều thứ Sáu.", NOW + timedelta(days=2), "Lan", now=NOW)
    of_b = await store.scoped("b").post("Xã B đổi giờ làm việc.", NOW + timedelta(days=2), "Minh", now=NOW)
    province = await store.scoped(PROVINCE).post("Toàn tỉnh nghỉ lễ.", NOW + timedelta(days=2), "Tỉnh", now=NOW)
    assert [n.id for n in await store.for_commune("a").current(NOW)] == [of_a, province]
    assert [n.id for n in await store.for_commune("b").current(NOW)] == [of_b, province]
    assert [n.id for n in await store.for_commune("c").current(NOW)] == [province]
    assert [n.id for n in await store.scoped("a").all()] == [of_a]  # a commune's staff manage their own
    assert not await store.scoped("a").remove(of_b, "Lan")
    assert not await store.scoped("a").remove(province, "Lan")
    assert sorted(n.id for n in await store.scoped(PROVINCE).all()) == sorted([of_a, of_b, province])
    assert await store.scoped("b").remove(of_b, "Minh")
    assert [n.id for n in await store.for_commune("b").current(NOW)] == [province]


async def _a_row_in_every_table(db: Database) -> None:
    await _two_communes_hand_overs(db)
    await (await NoticeStore.create(db)).scoped("a").post("Thông báo", NOW + timedelta(days=1), "Lan", now=NOW)
    await (await ActivityStore.create(db)).add(DAY, "zalo", activity.ANSWERED, "khai-sinh", commune="a")
    await (await MissedStore.create(db, today=DAY)).add(
        "giá vàng hôm nay", channel="zalo", reason=missed.REFUSED, top_ids=[], at=NOW, commune="a"
    )
    await (await FeedbackStore.create(db)).add("khai-sinh", True, "zalo", NOW, commune="b")
    await (await ResidentStore.create(db)).remember("zalo", "u1", "a")


async def test_an_unscoped_view_sees_no_staff_rows_at_all(place: Place) -> None:
    """The back office opens its database with no scope: until it names a commune, the
    stores show nothing, and on PostgreSQL the server itself returns no row of any
    staff table, even to SQL without a commune filter."""
    bot = await place.open()
    await _a_row_in_every_table(bot)
    for table in TENANT_TABLES:
        assert (await bot.fetchone(f"SELECT count(*) FROM {table}"))[0] > 0, table
    unscoped = await place.open(scope=None)
    try:
        assert await HandoverStore(unscoped).list() == []
        assert await HandoverStore(unscoped).counts() == {"waiting": 0, "answered": 0, "closed": 0}
        assert await HandoverStore(unscoped).get(1) is None and not await HandoverStore(unscoped).reply(1, "x", "y")
        assert await NoticeStore(unscoped).all() == [] and await MissedStore(unscoped).count() == 0
        assert sum((await ActivityStore(unscoped).outcomes()).values()) == 0
        assert (await FeedbackStore(unscoped).summary()).up == 0
        if place.kind == "postgres":
            for table in TENANT_TABLES:
                assert await unscoped.fetch(f"SELECT * FROM {table}") == [], table
            # a commune's view: the server returns only that commune's rows, unfiltered SQL or not
            rows = await unscoped.scoped("a").fetch("SELECT DISTINCT commune FROM handovers")
            assert rows == [("a",)]
            assert await unscoped.scoped("b").fetch("SELECT * FROM notices") == []
            assert await unscoped.scoped("a").run("UPDATE handovers SET state = 'closed'") == 1
    finally:
        await unscoped.close()
        await bot.close()


#: What each part's tables held before the tenant key (the first migration's text).
OLD_PARTS = {
    "handovers": handovers.MIGRATIONS[0]["sqlite"],
    "notices": notices.MIGRATIONS[0]["sqlite"],
    "activity": activity.MIGRATIONS[0]["sqlite"],
    "missed": missed.MIGRATIONS[0]["sqlite"],
    "feedback": feedback.MIGRATIONS[0]["sqlite"],
    "residents": RESIDENT_MIGRATIONS[0]["sqlite"],
}


@sqlite_only
async def test_a_database_file_of_the_previous_schema_opens_and_keeps_its_rows(place: Place) -> None:
    write_old_parts(place.path, OLD_PARTS)  # as the previous version made the file
    with sqlite3.connect(place.path) as old:
        old.execute(
            "INSERT INTO handovers (channel, user_id, chat_id, opened_at, updated_at) VALUES ('zalo', 'u1', 'c1', ?, ?)",
            (NOW.timestamp(), NOW.timestamp()),
        )
        old.execute(
            "INSERT INTO handover_messages (handover_id, at, author, text) VALUES (1, ?, 'resident', 'gặp cán bộ')",
            (NOW.timestamp(),),
        )
        old.execute(
            "INSERT INTO notices (text, until, posted_at, posted_by) VALUES ('Nghỉ lễ', ?, ?, 'Lan')",
            ((NOW + timedelta(days=3)).timestamp(), NOW.timestamp()),
        )
        old.execute("INSERT INTO activity VALUES (?, 'zalo', 'answered', 7)", (DAY.isoformat(),))
        old.execute("INSERT INTO activity_procedures VALUES (?, 'khai-sinh', 4)", (DAY.isoformat(),))
        old.execute(
            "INSERT INTO missed (at, day, channel, reason, text, key, top_ids) "
            "VALUES (?, ?, 'zalo', 'refused', 'giá vàng', 'gia vang', '[]')",
            (NOW.isoformat(), DAY.isoformat()),
        )
        old.execute("INSERT INTO ratings (at, day, channel, procedure_id, up) VALUES (?, ?, 'zalo', 'khai-sinh', 1)",
                    (NOW.isoformat(), DAY.isoformat()))
        old.execute("INSERT INTO residents VALUES ('zalo', 'u1', 'tan-hoa', 1.0)")
    for _ in range(2):  # migrated once, then opened as it is
        app = await App.open(Config(database=DatabaseConfig(path=place.path)))
        try:
            handover = await app.handovers.get(1)
            assert handover is not None and handover.question == "gặp cán bộ"
            assert await app.handovers.for_commune("").open_for("zalo", "u1") == 1
            assert await app.handovers.ask("zalo", "u1", "c1", "còn đó không") == (1, False)  # the same one
            assert [n.text for n in await app.notices.for_commune("").current(NOW)] == ["Nghỉ lễ"]
            assert app.recorder is not None
            assert (await app.recorder.activity.outcomes())["answered"] == 7
            assert await app.recorder.activity.procedures() == [("khai-sinh", 4)]
            assert await app.recorder.missed.count(DAY) == 1
            assert (await app.recorder.feedback.summary()).up == 1
            assert await ResidentStore(app.database).get("zalo", "u1") == "tan-hoa"
            # a one-commune install's rows are commune '': its own view sees them
            assert [h.id for h in await app.handovers.scoped("").list()] == [1]
        finally:
            await app.close()
    with sqlite3.connect(place.path) as conn:
        versions = dict(conn.execute("SELECT part, version FROM schema_parts"))
        communes = {t: conn.execute(f"SELECT DISTINCT commune FROM {t}").fetchall() for t in ("handovers", "missed")}
    assert versions["handovers"] == len(handovers.MIGRATIONS) and versions["activity"] == len(activity.MIGRATIONS)
    assert communes == {"handovers": [("",)], "missed": [("",)]}


async def test_one_resident_may_have_an_open_hand_over_in_two_communes_but_one_in_each(staff_db: Database) -> None:
    base = await HandoverStore.create(staff_db)
    first, _ = await base.for_commune("a").ask("zalo", "u1", "c1", "gặp cán bộ")
    again, opened = await base.for_commune("a").ask("zalo", "u1", "c1", "gặp cán bộ lần nữa")
    other, opened_b = await base.for_commune("b").ask("zalo", "u1", "c1", "gặp cán bộ")
    assert (first, False) == (again, opened) and opened_b and other != first
