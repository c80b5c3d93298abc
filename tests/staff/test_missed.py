"""Missed questions are kept masked, purged after the retention, grouped by similarity."""

from __future__ import annotations

import datetime as dt
import sqlite3

from bot.staff.missed import MAX_ROWS, MissedStore
from tests.staff.conftest import Place

NOW = dt.datetime(2026, 12, 1, 9, 30)
KHUYET_TAT = [
    "xin giấy xác nhận khuyết tật cho con",
    "xac nhan khuyet tat lam o dau",
    "làm giấy xác nhận khuyết tật cần gì",
    "xác nhận khuyết tật",
    "cấp đổi giấy xác nhận khuyết tật",
    "Xác nhận khuyết tật cho mẹ, sđt 0912 345 678",
]


async def test_questions_are_stored_masked_in_the_database_file(place: Place) -> None:
    store = await MissedStore.open(place.path, today=NOW.date(), url=place.url)
    await store.add("tôi là Nguyễn Văn An, sđt 0912345678, hồ sơ 261119-0013", channel="zalo",
                    reason="refused", top_ids=["a", "b"], at=NOW)
    await store.close()
    ((text,),) = place.query("SELECT text FROM missed")
    dump = "\n".join(map(str, place.query("SELECT * FROM missed")))
    if place.kind == "sqlite":
        with sqlite3.connect(place.path) as conn:
            dump += "\n".join(conn.iterdump())
    assert text == "tôi là «họ tên», sđt «số điện thoại», hồ sơ «mã hồ sơ»"
    for secret in ("0912345678", "Nguyễn", "261119"):
        assert secret not in dump


async def test_similar_questions_form_one_group_with_a_count(place: Place) -> None:
    store = await MissedStore.open(place.path, today=NOW.date(), url=place.url)
    for i, text in enumerate(KHUYET_TAT * 2):
        await store.add(text, channel="telegram", reason="refused", top_ids=["xac-dinh-muc-do-khuyet-tat"],
                        at=NOW + dt.timedelta(minutes=i))
    await store.add("giá vàng hôm nay", channel="zalo", reason="refused", top_ids=[], at=NOW)
    await store.add("đăng ký kết hôn với người nước ngoài", channel="zalo", reason="unsure",
                    top_ids=["ket-hon-nuoc-ngoai", "ket-hon"], at=NOW)
    await store.add("chưa đúng", channel="zalo", reason="down", top_ids=["ket-hon"], at=NOW)
    groups = await store.groups(None)
    await store.close()
    top = groups[0]
    assert top.count == 12 and top.text == "xác nhận khuyết tật"
    assert top.top_ids == ("xac-dinh-muc-do-khuyet-tat",) and top.reasons == {"refused": 12}
    assert "Xác nhận khuyết tật cho mẹ, sđt «số điện thoại»" in top.examples
    assert sorted(g.count for g in groups[1:]) == [1, 1, 1]
    assert {g.text for g in groups[1:]} == {"giá vàng hôm nay", "đăng ký kết hôn với người nước ngoài", "chưa đúng"}


async def test_since_and_limit(place: Place) -> None:
    store = await MissedStore.open(place.path, today=NOW.date(), url=place.url)
    await store.add("giá vàng hôm nay", channel="zalo", reason="refused", top_ids=[], at=NOW - dt.timedelta(days=10))
    await store.add("xác nhận khuyết tật", channel="zalo", reason="refused", top_ids=[], at=NOW)
    assert [g.text for g in await store.groups(NOW.date() - dt.timedelta(days=1))] == ["xác nhận khuyết tật"]
    assert len(await store.groups(None, limit=1)) == 1
    await store.close()


async def test_old_questions_are_purged_at_open_and_by_purge(place: Place) -> None:
    store = await MissedStore.open(place.path, retention_days=90, today=NOW.date(), url=place.url)
    await store.add("giá vàng hôm nay", channel="zalo", reason="refused", top_ids=[], at=NOW - dt.timedelta(days=91))
    await store.add("giá xăng hôm nay", channel="zalo", reason="refused", top_ids=[], at=NOW - dt.timedelta(days=89))
    await store.close()
    store = await MissedStore.open(place.path, retention_days=90, today=NOW.date(), url=place.url)
    assert await store.count() == 1
    assert await store.purge(NOW.date() + dt.timedelta(days=2)) == 1
    assert await store.count() == 0
    await store.close()


async def test_grouping_considers_a_bounded_number_of_rows(place: Place) -> None:
    store = await MissedStore.open(place.path, today=NOW.date(), url=place.url)
    for i in range(MAX_ROWS + 50):
        await store.add(f"câu hỏi lạ số {i} về chuyện {i % 7} khác", channel="zalo", reason="refused",
                        top_ids=[], at=NOW)
    groups = await store.groups(None, limit=10_000)
    assert sum(g.count for g in groups) == MAX_ROWS
    await store.close()
