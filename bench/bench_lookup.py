"""Benchmark of dossier look-ups: by code, by tail, during a sync, through the desk.

Fills a database with N dossiers (default 1,000,000) straight through sqlite3, then prints,
each beside its baseline measured in the same run:

- ``Store.get`` next to a raw indexed ``SELECT`` by code on a plain sqlite3 connection;
- ``Store.codes_ending_with`` (the tail index) next to the ``LIKE '%-tail'`` scan it replaced;
- ``Store.get`` and the desk's answer while another connection holds a sync-like write
  transaction open, next to the same without it (reads must not wait on the writer);
- ``StatusDesk.answer`` (code finding, limits and their counters, look-up, wording).

    .venv/bin/python bench/bench_lookup.py [--rows N] [--lookups M] [--dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import Config  # noqa: E402
from bot.dossiers.desk import StatusDesk  # noqa: E402
from bot.dossiers.store import Store  # noqa: E402
from bot.messages import Incoming  # noqa: E402

FIRST_DAY = date(2024, 1, 1)


def code_of(i: int) -> str:
    """A real-shaped code: 10,000 dossiers a day (yymmdd-nnnn) from 2024 on."""
    day = FIRST_DAY + timedelta(days=i // 10_000)
    return f"000.00.14.H56-{day:%y%m%d}-{i % 10_000:04d}"


def fill(path: Path, rows: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO dossiers (code, procedure, applicant, phone, address, received, appointment, "
        "status, changed_at) VALUES (?, 'Đăng ký khai sinh', 'Nguyễn Văn An', '0912000101', 'Thôn 1', "
        "'2026-11-01', '2026-11-05', 'processing', 'x')",
        ((code_of(i),) for i in range(rows)),
    )
    conn.execute("COMMIT")
    conn.close()


def percentiles(samples: list[float]) -> str:
    s = sorted(samples)
    p50 = s[len(s) // 2]
    p99 = s[min(len(s) - 1, int(len(s) * 0.99))]
    return f"p50 {p50:.3f} ms  p99 {p99:.3f} ms"


async def timed(items: list[str], call: Callable[[str], Awaitable[object]]) -> list[float]:
    out = []
    for item in items:
        t = time.perf_counter()
        await call(item)
        out.append((time.perf_counter() - t) * 1000)
    return out


def timed_sync(items: list[str], call: Callable[[str], object]) -> list[float]:
    out = []
    for item in items:
        t = time.perf_counter()
        call(item)
        out.append((time.perf_counter() - t) * 1000)
    return out


async def run(rows: int, lookups: int, folder: Path) -> None:
    path = folder / "bench.sqlite3"
    store = await Store.open(path)
    t = time.perf_counter()
    fill(path, rows)
    print(f"{rows:,} dossiers written in {time.perf_counter() - t:.1f} s")
    rnd = random.Random(7)
    codes = [code_of(rnd.randrange(rows)) for _ in range(lookups)]
    tails = [c[-11:] for c in codes[: max(20, lookups // 20)]]
    raw = sqlite3.connect(path)
    try:
        base = timed_sync(codes, lambda c: raw.execute("SELECT * FROM dossiers WHERE code = ?", (c,)).fetchone())
        print(f"raw SELECT by code       {percentiles(base)}  (baseline)")
        print(f"Store.get                {percentiles(await timed(codes, store.get))}")
        like = timed_sync(
            tails, lambda t: raw.execute("SELECT code FROM dossiers WHERE code LIKE ? LIMIT 2", (f"%-{t}",)).fetchall()
        )
        print(f"LIKE '%-tail' scan       {percentiles(like)}  (baseline: the look-up it replaced)")
        print(f"codes_ending_with        {percentiles(await timed(tails, store.codes_ending_with))}  (tail index)")

        writer = sqlite3.connect(path, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE dossiers SET status = 'done' WHERE id % 10 = 0")
        try:
            held = await timed(codes, store.get)
            print(f"Store.get, sync writing  {percentiles(held)}  (writer still open: {writer.in_transaction})")
        finally:
            writer.execute("ROLLBACK")
            writer.close()

        config = Config()
        config.status.codes_per_hour = config.status.codes_per_day = 10**9
        config.status.lookups_per_minute = 10**9
        desk = StatusDesk(store, config, clock=time.time)
        n = iter(range(10**9))

        async def ask(code: str) -> object:
            i = next(n)
            return await desk.answer(Incoming("bench", f"user{i}", f"user{i}", code), code)

        print(f"desk.answer              {percentiles(await timed(codes, ask))}  (with persisted counters)")
    finally:
        raw.close()
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--dir", type=Path, default=None, help="where to put the database (default: a temp dir)")
    args = parser.parse_args()
    if args.dir:
        args.dir.mkdir(parents=True, exist_ok=True)
        asyncio.run(run(args.rows, args.lookups, args.dir))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(run(args.rows, args.lookups, Path(tmp)))


if __name__ == "__main__":
    main()
