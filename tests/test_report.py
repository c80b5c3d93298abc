"""`motcua report` on a seeded database (a real SQLite file), through the CLI process."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.messages import Feedback, Incoming, Intent, MatchInfo, Reply, Response
from bot.staff.recorder import StaffRecorder

TODAY = dt.date.today()
KHUYET_TAT = [
    "xin giấy xác nhận khuyết tật cho con",
    "xac nhan khuyet tat lam o dau",
    "làm giấy xác nhận khuyết tật cần gì",
    "xác nhận khuyết tật",
]


def motcua(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "--db", str(db), "report", *args],
        capture_output=True, text=True, timeout=120,
    )


def response(intent: Intent, proc: str | None = None, **extra) -> Response:
    matches = [MatchInfo(proc, proc, 90.0)] if proc else []
    return Response(intent, [Reply("…")], matches, **extra)


async def seed(db: Path) -> None:
    """Twelve people asked about xác nhận khuyết tật (refused), and other traffic;
    one refused question 40 days ago."""
    at = dt.datetime.combine(TODAY, dt.time(9))
    clock = {"now": at}
    staff = await StaffRecorder.open(db, clock=lambda: clock["now"])
    try:
        for i in range(12):
            clock["now"] = at - dt.timedelta(days=i % 3, minutes=i)
            text = KHUYET_TAT[i % 4] + (" sđt 0912 345 678" if i == 0 else "")
            await staff.record(Incoming("zalo" if i % 2 else "telegram", f"u{i}", f"u{i}", text),
                               response(Intent.UNKNOWN, "xac-dinh-muc-do-khuyet-tat"))
        clock["now"] = at
        for i in range(5):
            await staff.record(Incoming("zalo", "a", "a", "làm giấy khai sinh cần gì"),
                               response(Intent.PROCEDURE, "khai-sinh"))
        await staff.record(Incoming("telegram", "b", "b", "làm hộ chiếu"), response(Intent.REFERRAL, "ho-chieu"))
        await staff.record(Incoming("telegram", "c", "c", "trợ cấp"),
                           response(Intent.PROCEDURE, "tro-cap-xa-hoi", unsure=True))
        await staff.record(Incoming("telegram", "a", "a", "👎", choice="rate:down:khai-sinh"),
                           response(Intent.HELP, "khai-sinh", feedback=Feedback("khai-sinh", False, "khai sinh cho cháu")))
        await staff.record(Incoming("telegram", "d", "d", "👍", choice="rate:up:khai-sinh"),
                           response(Intent.HELP, "khai-sinh", feedback=Feedback("khai-sinh", True, "")))
        clock["now"] = at - dt.timedelta(days=40)
        await staff.record(Incoming("zalo", "e", "e", "giá vàng hôm nay"), response(Intent.UNKNOWN))
    finally:
        await staff.close()


@pytest.fixture
async def seeded(tmp_path: Path) -> Path:
    db = tmp_path / "motcua.sqlite3"
    await seed(db)
    return db


def test_report_json_has_every_section_and_the_missed_groups(seeded: Path) -> None:
    done = motcua(seeded, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report["channels"]) == {"telegram", "zalo"} and "month" in report  # kept as before
    assert report["since"] == (TODAY - dt.timedelta(days=30)).isoformat()
    outcomes = report["outcomes"]
    assert (outcomes["answered"], outcomes["chose"], outcomes["referred"], outcomes["refused"],
            outcomes["handover"], outcomes["rated"]) == (5, 1, 1, 12, 0, 2)
    assert sum(d["messages"] for d in report["days"]) == 21
    today = [d for d in report["days"] if d["day"] == TODAY.isoformat()]
    assert {d["channel"] for d in today} == {"telegram", "zalo"}
    assert report["procedures"][0] == {"id": "khai-sinh", "name": "Đăng ký khai sinh", "count": 5}
    assert report["ratings"]["up"] == 1 and report["ratings"]["down"] == 1
    top = report["missed"][0]
    assert top["count"] == 12 and top["text"] == "xác nhận khuyết tật"
    assert top["top_ids"] == ["xac-dinh-muc-do-khuyet-tat"]
    assert "xin giấy xác nhận khuyết tật cho con sđt «số điện thoại»" in top["examples"]
    texts = {g["text"]: g["count"] for g in report["missed"]}
    assert texts["trợ cấp"] == 1 and texts["khai sinh cho cháu"] == 1
    assert "giá vàng hôm nay" not in texts  # 40 days ago: before the default 30 days
    assert "0912" not in done.stdout


def test_report_since_a_date_and_in_plain_text(seeded: Path) -> None:
    old = (TODAY - dt.timedelta(days=45)).strftime("%d/%m/%Y")
    report = json.loads(motcua(seeded, "--json", "--since", old).stdout)
    assert "giá vàng hôm nay" in {g["text"] for g in report["missed"]}
    since_today = json.loads(motcua(seeded, "--json", "--since", TODAY.isoformat()).stdout)
    assert since_today["missed"][0]["count"] == 4  # the khuyết tật questions asked today
    text = motcua(seeded).stdout
    assert "Channel usage in" in text and "Messages since" in text
    assert "   12 × «xác nhận khuyết tật»  [best matches: xac-dinh-muc-do-khuyet-tat]" in text
    assert "khai-sinh (Đăng ký khai sinh): 1 👍, 1 👎" in text


def test_report_with_a_bad_date_says_so(seeded: Path) -> None:
    done = motcua(seeded, "--since", "hôm qua")
    assert done.returncode == 2 and "expected a date such as 2026-11-01" in done.stderr
