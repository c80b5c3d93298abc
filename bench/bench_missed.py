"""Benchmark of the staff side's per-message recording and of grouping missed questions.

Measures, on a real WAL SQLite file in a temporary folder:

* ``StaffRecorder.record`` per message (p50, p99: what a reply waits for, queueing
  only) and the background writes per message (a count, plus a masked missed question
  for one message in three), beside the raw limit measured in the same run: one
  ``INSERT ... ON CONFLICT`` upsert through aiosqlite on the same file;
* ``MissedStore.groups`` on :data:`bot.staff.missed.MAX_ROWS` kept questions (the most a
  report or the back office page groups), varied the way residents vary a question.

    .venv/bin/python bench/bench_missed.py [--messages N]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import statistics
import tempfile
import time
from pathlib import Path

import aiosqlite

from bot.messages import Incoming, Intent, MatchInfo, Reply, Response
from bot.staff.missed import MAX_ROWS
from bot.staff.recorder import StaffRecorder

TOPICS = [
    "xác nhận khuyết tật", "giá vàng hôm nay", "đổi bằng lái xe", "xin việc làm ở xã", "vay vốn ngân hàng chính sách",
    "tiền điện tháng này", "cắt điện khi nào có lại", "đăng ký học lái xe", "hỗ trợ lũ lụt", "cấp nước sạch",
    "làm sổ đỏ cho đất rừng", "bảo hiểm xe máy", "tiêm phòng cho trẻ", "giấy phép karaoke", "xin cấp thẻ ngành",
]
OPENERS = ["", "cho hỏi ", "em muốn hỏi ", "bác ơi ", "xin hỏi "]
CLOSERS = ["", " ở đâu", " cần gì", " bao lâu", " thế nào ạ", " sdt 0912 345 678"]


def question(rng: random.Random) -> str:
    text = rng.choice(OPENERS) + rng.choice(TOPICS) + rng.choice(CLOSERS)
    return text if rng.random() < 0.5 else text.replace("ậ", "a").replace("ổ", "o").replace("ấ", "a")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def main(messages: int) -> None:
    rng = random.Random(12)
    with tempfile.TemporaryDirectory(prefix="bench-missed-") as tmp:
        db = Path(tmp) / "motcua.sqlite3"
        raw = await aiosqlite.connect(db, isolation_level=None)  # the baseline: one bare write each
        await raw.execute("PRAGMA journal_mode = WAL")
        await raw.execute("CREATE TABLE raw (k TEXT PRIMARY KEY, n INTEGER) WITHOUT ROWID")
        raw_times = []
        for i in range(messages):
            start = time.perf_counter()
            await raw.execute(
                "INSERT INTO raw (k, n) VALUES (?, 1) ON CONFLICT (k) DO UPDATE SET n = n + 1", (f"k{i % 50}",)
            )
            raw_times.append(time.perf_counter() - start)
        await raw.close()

        staff = await StaffRecorder.open(db)
        times = []
        answered = Response(Intent.PROCEDURE, [Reply("…", rate="khai-sinh")], [MatchInfo("khai-sinh", "", 90.0)])
        refused = Response(Intent.UNKNOWN, [Reply("…")], [MatchInfo("khai-tu", "", 30.0)])
        written = 0.0
        for batch in range(0, messages, 100):  # what arrives between two writer runs
            for i in range(batch, min(messages, batch + 100)):
                msg = Incoming("zalo", f"u{i % 40}", f"u{i % 40}", question(rng))
                start = time.perf_counter()
                await staff.record(msg, refused if i % 3 == 0 else answered)
                times.append(time.perf_counter() - start)
            start = time.perf_counter()
            await staff.flush()
            written += time.perf_counter() - start
        now = dt.datetime.now()
        for _ in range(MAX_ROWS):
            await staff.missed.add(question(rng), channel="zalo", reason="refused", top_ids=["khai-tu"], at=now)
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            groups = await staff.missed.groups(None, limit=50)
            best = min(best, time.perf_counter() - start)
        await staff.close()
    ms = 1000.0
    print(f"raw limit, one upsert through aiosqlite: p50 {statistics.median(raw_times) * ms:.2f} ms, "
          f"p99 {percentile(raw_times, 0.99) * ms:.2f} ms")
    print(f"StaffRecorder.record, what a reply waits for: p50 {statistics.median(times) * ms:.3f} ms, "
          f"p99 {percentile(times, 0.99) * ms:.3f} ms")
    print(f"background writes per message ({messages}, one in three kept as missed, masked): "
          f"{written / messages * ms:.2f} ms")
    print(f"MissedStore.groups on {MAX_ROWS} rows: {best * ms:.0f} ms (best of 3), {len(groups)} groups shown, "
          f"largest {groups[0].count} × «{groups[0].text}»")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    asyncio.run(main(parser.parse_args().messages))
