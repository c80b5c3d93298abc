"""Activity counts per day, channel and outcome, and ratings: counts only, no text."""

from __future__ import annotations

import datetime as dt

from bot.staff.activity import ActivityStore, DayCount
from bot.staff.feedback import FeedbackStore
from tests.staff.conftest import Place

DAY = dt.date(2026, 12, 1)


async def test_daily_counts_per_channel_and_outcome(place: Place) -> None:
    store = await ActivityStore.open(place.path, place.url)
    for outcome in ("answered", "answered", "refused"):
        await store.add(DAY, "zalo", outcome, "khai-sinh" if outcome == "answered" else None)
    await store.add(DAY, "telegram", "chose")
    await store.add(DAY - dt.timedelta(days=3), "telegram", "answered", "ket-hon")
    assert await store.daily(DAY) == [
        DayCount(DAY, "telegram", 1, {"chose": 1}),
        DayCount(DAY, "zalo", 3, {"answered": 2, "refused": 1}),
    ]
    assert len(await store.daily(None)) == 3
    outcomes = await store.outcomes(None)
    assert outcomes["answered"] == 3 and outcomes["handover"] == 0 and outcomes["chose"] == 1
    assert await store.procedures(None) == [("khai-sinh", 2), ("ket-hon", 1)]
    await store.close()


async def test_ratings_summary(place: Place) -> None:
    store = await FeedbackStore.open(place.path, place.url)
    at = dt.datetime(2026, 12, 1, 8)
    await store.add("khai-sinh", True, "telegram", at)
    await store.add("khai-sinh", False, "zalo", at)
    await store.add("ket-hon", False, "zalo", at)
    await store.add("ket-hon", False, "zalo", at - dt.timedelta(days=40))
    summary = await store.summary(dt.date(2026, 11, 20))
    assert (summary.up, summary.down) == (1, 2)
    assert [(p.procedure_id, p.up, p.down) for p in summary.procedures] == [("ket-hon", 0, 1), ("khai-sinh", 1, 1)]
    await store.close()
