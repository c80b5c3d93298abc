"""Benchmark of the provincial sync: one export of a simulated province (150 communes,
2,000,000 dossiers by default; bench/province_data.py) routed to its communes, beside the
single-commune sync of the same file (the baseline: no ``communes:``, every dossier the
one commune's), on SQLite and PostgreSQL, in the same run: first sync, unchanged
re-sync, re-sync with 1% of statuses advanced. Each sync runs in a child process, so its
peak memory (max RSS) is its own.

PostgreSQL is a server started for the run from the distribution's binaries (durable:
fsync on), as bench/bench_stores.py does.

    .venv/bin/python bench/bench_province_sync.py [--dossiers N] [--communes C] [--only sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.province_data import write_changed_export, write_province  # noqa: E402

STEPS = ("first sync", "unchanged re-sync", "re-sync, 1% changed")


def child(args: argparse.Namespace) -> None:
    """One sync, in this process; prints its figures as one JSON line."""
    from bot.config import load_config
    from bot.dossiers.store import open_store
    from bot.dossiers.sync import commune_routes, sync_prefix, sync_source

    config = load_config(Path(args.config))

    async def go() -> dict[str, object]:
        store = await open_store(Path(args.db), args.url or None)
        try:
            started = time.perf_counter()
            if args.province:
                report = await sync_source(store, args.source, config.status.sync.columns,
                                           code_prefix=sync_prefix(config), communes=commune_routes(config))
            else:
                report = await sync_source(store, args.source, config.status.sync.columns, code_prefix=None)
            seconds = time.perf_counter() - started
        finally:
            await store.close()
        return {
            "seconds": seconds, "read": report.read, "inserted": report.inserted,
            "updated": report.updated, "unchanged": report.unchanged,
            "status_changes": report.status_changes, "rejected": report.rejected,
            "communes": len(report.communes),
            "changed_communes": sum(1 for c in report.communes.values() if c.changed),
            "table_lines": len(report.commune_lines()) if report.communes else 0,
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }

    print(json.dumps(asyncio.run(go())))


def run_child(config: Path, db: Path, url: str, source: Path, province: bool) -> dict:
    cmd = [sys.executable, __file__, "--child", "--config", str(config), "--db", str(db),
           "--url", url, "--source", str(source)] + (["--province"] if province else [])
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        sys.exit(f"sync failed: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dossiers", type=int, default=2_000_000)
    ap.add_argument("--communes", type=int, default=150)
    ap.add_argument("--only", choices=("sqlite", "postgres"), default=None)
    ap.add_argument("--dir", type=Path, default=None, help="work directory (default: a temporary one)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--province", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    ap.add_argument("--url", default="", help=argparse.SUPPRESS)
    ap.add_argument("--source", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    if args.dir:
        args.dir.mkdir(parents=True, exist_ok=True)
        bench(args, args.dir)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            bench(args, Path(tmp))


def bench(args: argparse.Namespace, work: Path) -> None:
    t = time.perf_counter()
    province = write_province(work, communes=args.communes, dossiers=args.dossiers, seed=1)
    changed = write_changed_export(province, work / "export-changed.csv", fraction=0.01)
    print(f"generated {args.dossiers:,} dossiers of {args.communes} communes "
          f"({province.export_path.stat().st_size / 1e6:.0f} MB, twice) in {time.perf_counter() - t:.1f} s")
    exports = (province.export_path, province.export_path, changed)
    backends = [b for b in ("sqlite", "postgres") if args.only in (None, b)]
    server = None
    results: dict[tuple[str, str], list[dict]] = {}
    try:
        for backend in backends:
            for mode in ("single", "province"):
                url = ""
                db = work / f"{backend}-{mode}.sqlite3"
                if backend == "postgres":
                    if server is None:
                        from tests.pgserver import PgServer, find_bindir

                        bindir = find_bindir()
                        if bindir is None:
                            sys.exit("no PostgreSQL server binaries: apt-get install postgresql")
                        server = PgServer(bindir, durable=True)
                        server.start()
                    url = server.new_database()
                results[(backend, mode)] = [
                    run_child(province.config_path, db, url, src, mode == "province") for src in exports
                ]
                if url and server is not None:
                    server.drop_database(url)
                db.unlink(missing_ok=True)
    finally:
        if server is not None:
            server.stop()
    print(f"{'':10s} {'':22s} {'one commune (baseline)':>30s}   {'province, routed':>30s}   ratio")
    for backend in backends:
        name = {"sqlite": "SQLite", "postgres": "PostgreSQL"}[backend]
        for i, step in enumerate(STEPS):
            a, b = results[(backend, "single")][i], results[(backend, "province")][i]
            same = (a["inserted"], a["status_changes"]) == (b["inserted"], b["status_changes"])
            print(f"{name:10s} {step:22s} {a['seconds']:7.1f} s {a['max_rss_mb']:6.0f} MB RSS"
                  f"{'':10s}{b['seconds']:7.1f} s {b['max_rss_mb']:6.0f} MB RSS"
                  f"{'':6s}{b['seconds'] / a['seconds']:5.2f}x   "
                  f"(inserted {b['inserted']:,}, updated {b['updated']:,}, status changes "
                  f"{b['status_changes']:,}; {b['changed_communes']}/{b['communes']} communes changed, "
                  f"{b['table_lines']} table lines{'' if same else '; COUNTS DIFFER'})")


if __name__ == "__main__":
    main()
