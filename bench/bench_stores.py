"""Benchmark of the two dossier stores, SQLite and PostgreSQL, on the same machine in the
same run: first sync of an N-row CSV export, an unchanged re-sync, a re-sync where a tenth
of the dossiers changed status, and p50/p99 of look-ups by code (``store.get``) and by
tail (``store.codes_ending_with``). SQLite, the embedded default, is the baseline each
PostgreSQL figure is compared with.

PostgreSQL is a server started for the run from the distribution's binaries (as
tests/pgserver.py does for the tests, but durable: fsync on), or the one at ``--url``
(an empty database: the tables are created and left there).

    .venv/bin/python bench/bench_stores.py [--rows N] [--lookups M] [--url postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_sync import code_of, generate, percentile  # noqa: E402

from bot.config import Config  # noqa: E402
from bot.dossiers.store import DossierStore, open_store  # noqa: E402
from bot.dossiers.sync import sync_source  # noqa: E402


def changed_copy(src: Path, dst: Path, every: int = 10) -> int:
    """``src`` with every ``every``-th dossier's status moved on; returns how many changed."""
    changed = 0
    with src.open(encoding="utf-8", newline="") as f, dst.open("w", encoding="utf-8", newline="") as out:
        reader, writer = csv.reader(f), csv.writer(out)
        writer.writerow(next(reader))
        for i, row in enumerate(reader):
            if i % every == 0:
                row[-1] = "Đã trả kết quả" if row[-1] != "Đã trả kết quả" else "Đang xử lý"
                changed += 1
            writer.writerow(row)
    return changed


async def timed_calls(items: list[str], call) -> list[float]:
    out = []
    for item in items:
        t = time.perf_counter()
        await call(item)
        out.append((time.perf_counter() - t) * 1000)
    return out


async def raw_select(path: Path, url: str | None, codes: list[str]) -> list[float]:
    """The same look-up by code on a bare driver connection: the floor under ``store.get``."""
    sql = "SELECT * FROM dossiers WHERE code = ?"
    if url is None:
        import sqlite3

        conn = sqlite3.connect(path)
        try:

            async def one(code: str) -> object:
                return conn.execute(sql, (code,)).fetchone()

            return await timed_calls(codes, one)
        finally:
            conn.close()
    import psycopg

    aconn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    try:

        async def one_pg(code: str) -> object:
            cur = await aconn.execute(sql.replace("?", "%s"), (code,))
            return await cur.fetchone()

        await timed_calls(codes[:200], one_pg)
        return await timed_calls(codes, one_pg)
    finally:
        await aconn.close()


async def measure(store: DossierStore, exports: list[Path], rows: int, lookups: int) -> dict[str, object]:
    """Figures of one store: the three syncs (seconds, report) and look-up latencies."""
    columns = Config().status.sync.columns
    figures: dict[str, object] = {}
    for label, src in zip(("first sync", "unchanged re-sync", "re-sync, 10% changed"), exports):
        t = time.perf_counter()
        report = await sync_source(store, str(src), columns)
        figures[label] = (time.perf_counter() - t, report)
    rnd = random.Random(7)
    codes = [code_of(rnd.randrange(rows)) for _ in range(lookups)]
    await timed_calls(codes[:200], store.get)  # warm the caches and prepared statements
    figures["get"] = await timed_calls(codes, store.get)
    figures["tail"] = await timed_calls([c[-11:] for c in codes], store.codes_ending_with)
    return figures


async def run(rows: int, lookups: int, url: str | None, workdir: Path) -> None:
    src = workdir / "export.csv"
    t = time.perf_counter()
    generate(src, rows)
    changed = changed_copy(src, workdir / "changed.csv")
    print(f"generated {rows:,} rows ({src.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s; "
          f"{changed:,} change status in the third export")
    exports = [src, src, workdir / "changed.csv"]
    server = None
    if url is None:
        from tests.pgserver import PgServer, find_bindir

        bindir = find_bindir()
        if bindir is None:
            sys.exit("no PostgreSQL server binaries: apt-get install postgresql, or give --url")
        server = PgServer(bindir, durable=True)
        server.start()
        url = server.new_database()
    try:
        results = {}
        for name, where in (("SQLite", None), ("PostgreSQL", url)):
            store = await open_store(workdir / "bench.sqlite3", where)
            try:
                results[name] = await measure(store, exports, rows, lookups)
            finally:
                await store.close()
            rnd = random.Random(7)
            codes = [code_of(rnd.randrange(rows)) for _ in range(lookups)]
            results[name]["raw"] = await raw_select(workdir / "bench.sqlite3", where, codes)  # type: ignore[index]
    finally:
        if server is not None:
            server.stop()
    lite, pg = results["SQLite"], results["PostgreSQL"]
    print(f"{'':24s} {'SQLite (baseline)':>28s}   {'PostgreSQL':>28s}   ratio")
    for label in ("first sync", "unchanged re-sync", "re-sync, 10% changed"):
        (s1, r1), (s2, r2) = lite[label], pg[label]  # type: ignore[misc]
        assert (r1.inserted, r1.updated, r1.unchanged) == (r2.inserted, r2.updated, r2.unchanged), label
        print(f"{label:24s} {s1:8.2f} s {rows / s1:11,.0f} rows/s   {s2:8.2f} s {rows / s2:11,.0f} rows/s"
              f"   {s2 / s1:4.2f}x   (inserted {r2.inserted:,} updated {r2.updated:,} unchanged {r2.unchanged:,})")
    for key, label in (("raw", "raw SELECT by code"), ("get", "store.get"), ("tail", "codes_ending_with")):
        a, b = lite[key], pg[key]  # type: ignore[index]
        print(f"{label:24s} p50 {percentile(a, 50):6.3f} / p99 {percentile(a, 99):6.3f} ms        "
              f"p50 {percentile(b, 50):6.3f} / p99 {percentile(b, 99):6.3f} ms        "
              f"   {percentile(b, 99) / percentile(a, 99):4.2f}x p99   ({lookups:,} look-ups)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=5_000)
    parser.add_argument("--url", default=None, help="an empty PostgreSQL database (default: start a server)")
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: a temporary one)")
    args = parser.parse_args()
    if args.dir:
        args.dir.mkdir(parents=True, exist_ok=True)
        asyncio.run(run(args.rows, args.lookups, args.url, args.dir))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(run(args.rows, args.lookups, args.url, Path(tmp)))


if __name__ == "__main__":
    main()
