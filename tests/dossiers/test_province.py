"""One provincial sync split to communes, the dossier tables keyed by commune, row-level
security on PostgreSQL, and one commune's desk never revealing another's dossier."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from bench.province_data import Province, write_changed_export, write_province
from bot.config import Config, SyncColumns, load_config
from bot.dialogue import Intent
from bot.dossiers.desk import StatusDesk
from bot.dossiers.statuses import Status
from bot.dossiers.store import DossierStore
from bot.dossiers.sync import EXIT_REJECTED_ROWS, commune_routes, sync_prefix, sync_source
from bot.errors import SyncError
from bot.messages import Incoming
from bot.tenants import tenant_configs
from tests.dossiers.conftest import Db, postgres_only

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = SyncColumns()
TABLES = ("dossiers", "status_history", "follows", "outbox", "sync_runs", "sync_run_communes")


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Province:
    """Three communes, 900 dossiers (300 each), in one provincial export."""
    return write_province(tmp_path_factory.mktemp("province"), communes=3, dossiers=900, seed=3)


def config_of(province: Province) -> Config:
    return load_config(province.config_path)


async def province_sync(store: DossierStore, province: Province, source: Path | None = None, **kw):
    config = config_of(province)
    return await sync_source(
        store, str(source or province.export_path), COLUMNS, code_prefix=sync_prefix(config),
        communes=commune_routes(config), **kw,
    )


def export_rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))[1:]


async def test_province_export_is_split_to_communes(db: Db, store: DossierStore, province: Province) -> None:
    report = await province_sync(store, province)
    assert (report.read, report.inserted, report.rejected) == (900, 900, 0)
    by_commune = dict(db.query("SELECT commune, count(*) FROM dossiers GROUP BY commune"))
    assert by_commune == {"xa-001": 300, "xa-002": 300, "xa-003": 300}
    # Every dossier went to the commune its code's agency segment names.
    for i in (0, 1, 2, 451, 899):
        row = db.query("SELECT commune FROM dossiers WHERE code = ?", (province.code(i),))
        assert row == [(province.commune_of(i).id,)]
    assert dict(db.query("SELECT commune, count(*) FROM status_history GROUP BY commune")) == by_commune
    assert {c: (k.read, k.inserted, k.unchanged) for c, k in report.communes.items()} == {
        c: (300, 300, 0) for c in by_commune
    }
    runs = db.query("SELECT commune, read, inserted FROM sync_run_communes ORDER BY commune")
    assert runs == [("xa-001", 300, 300), ("xa-002", 300, 300), ("xa-003", 300, 300)]
    text = "\n".join(report.summary_lines())
    assert "Theo xã: 3 xã, 3 xã có thay đổi" in text and "xa-002" in text
    # The commune's own view: its figures of the run, its dossiers only.
    scoped = store.scoped("xa-002")
    assert await scoped.count() == 300
    [run] = await scoped.sync_runs()
    assert (run.read, run.inserted) == (300, 300)
    assert await scoped.get(province.code(0)) is None  # xa-001's
    assert (await scoped.get(province.code(1))).commune == "xa-002"  # type: ignore[union-attr]
    assert {d.commune for d in await scoped.in_statuses(list(Status))} == {"xa-002"}


async def test_unknown_segment_and_bare_tail_are_rejected_with_their_line(
    db: Db, store: DossierStore, province: Province, tmp_path: Path
) -> None:
    rows = export_rows(province.export_path)[:6]
    stranger = ["000.09.99.H56-250301-0001", *rows[0][1:]]
    tail_only = ["250301-0002", *rows[0][1:]]
    path = tmp_path / "mixed.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(export_rows_header(province.export_path))
        w.writerows([rows[0], rows[1], stranger, rows[2], tail_only, *rows[3:]])
    report = await province_sync(store, province, path)
    assert (report.read, report.inserted, report.rejected, report.unrouted) == (8, 6, 2, 2)
    assert report.exit_status == EXIT_REJECTED_ROWS
    where = {r.where: r.reason for r in report.rejections}
    assert "000.09.99.H56" in where["dòng 4"] and "không thuộc xã nào" in where["dòng 4"]
    assert "250301-0002" in where["dòng 6"] and "không có mã cơ quan" in where["dòng 6"]
    assert db.query("SELECT count(*) FROM dossiers WHERE code LIKE '000.09.99%'") == [(0,)]
    text = "\n".join(report.summary_lines())
    assert "dòng 4: mã 000.09.99.H56-250301-0001: mã cơ quan «000.09.99.H56» không thuộc xã nào" in text


def export_rows_header(path: Path) -> list[str]:
    with open(path, encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh))


async def test_failed_province_sync_leaves_the_previous_data(
    db: Db, store: DossierStore, province: Province, tmp_path: Path
) -> None:
    await province_sync(store, province)
    before = db.dump(TABLES)
    changed = write_changed_export(province, tmp_path / "changed.csv", fraction=0.5)
    data = changed.read_bytes()
    # Enough rows that several batches are written before the bad bytes are reached.
    many = data + b"".join(
        f"000.00.01.H56-27{i // 50 % 12 + 1:02d}{i % 28 + 1:02d}-{i % 9999 + 1:04d},x,y,,,,,,Mới đăng ký\n".encode()
        for i in range(30_000)
    ) + b"000.00.01.H56-280101-0001,\xc3\x28,,,,,,,Moi\n"
    bad = tmp_path / "bad.csv"
    bad.write_bytes(many)
    assert bad.stat().st_size > 1 << 20  # beyond the reader's first read: batches get written
    with pytest.raises(SyncError):
        await province_sync(store, province, bad)
    assert db.dump(TABLES) == before


async def test_rerun_changes_nothing_and_changes_notify_per_commune(
    db: Db, store: DossierStore, province: Province, tmp_path: Path
) -> None:
    await province_sync(store, province)
    for i in range(12):  # followers in every commune
        assert await store.follow("telegram", f"u{i}", f"c{i}", province.code(i))
    assert dict(db.query("SELECT commune, count(*) FROM follows GROUP BY commune")) == {
        "xa-001": 4, "xa-002": 4, "xa-003": 4
    }
    before = db.dump(TABLES[:4])
    again = await province_sync(store, province)
    assert (again.inserted, again.updated, again.status_changes, again.notifications) == (0, 0, 0, 0)
    assert {c: (k.read, k.unchanged, k.missing) for c, k in again.communes.items()} == {
        c: (300, 300, 0) for c in ("xa-001", "xa-002", "xa-003")
    }
    assert db.dump(TABLES[:4]) == before
    assert "Theo xã: 3 xã, 0 xã có thay đổi" in "\n".join(again.summary_lines())

    changed = write_changed_export(province, tmp_path / "changed.csv", fraction=0.2)
    old, new = export_rows(province.export_path), export_rows(changed)
    moved = [i for i, (a, b) in enumerate(zip(old, new)) if a[8] != b[8]]
    assert moved
    report = await province_sync(store, province, changed)
    expected: dict[str, int] = {}
    for i in moved:
        expected[province.commune_of(i).id] = expected.get(province.commune_of(i).id, 0) + 1
    assert {c: k.status_changes for c, k in report.communes.items() if k.status_changes} == expected
    followed = [i for i in moved if i < 12]
    assert report.notifications == len(followed)
    notes = dict(db.query("SELECT commune, count(*) FROM outbox GROUP BY commune"))
    assert sum(notes.values()) == len(followed)
    for i in followed:
        assert notes[province.commune_of(i).id] >= 1
    stored = await store.commune_counts(report.written.run_id)
    assert {c: k.status_changes for c, k in stored.items()} == {
        c: expected.get(c, 0) for c in ("xa-001", "xa-002", "xa-003")
    }
    # Dossiers absent from an export are kept and counted per commune, never deleted.
    half = tmp_path / "half.csv"
    with open(half, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(export_rows_header(changed))
        w.writerows(r for r in new if not r[0].startswith("000.00.03."))
    partial = await province_sync(store, province, half)
    assert partial.communes["xa-003"].missing == 300 and partial.communes["xa-001"].missing == 0
    assert await store.count() == 900


async def test_single_commune_files_keep_working_with_an_empty_commune(db: Db, store: DossierStore) -> None:
    report = await sync_source(store, str(ROOT / "bot/dossiers/data/demo_dossiers.csv"), COLUMNS,
                               code_prefix="000.00.14.H56")
    assert report.inserted > 0 and not report.communes
    assert db.query("SELECT DISTINCT commune FROM dossiers") == [("",)]
    [run] = await store.sync_runs(commune="")
    assert run.inserted == report.inserted


async def test_former_single_commune_dossiers_move_to_their_commune(
    db: Db, store: DossierStore, province: Province
) -> None:
    # The same export loaded first without communes: (one commune, ''), then as a province.
    await sync_source(store, str(province.export_path), COLUMNS)
    assert db.query("SELECT DISTINCT commune FROM dossiers") == [("",)]
    report = await province_sync(store, province)
    assert report.updated == 900 and report.status_changes == 0
    assert dict(db.query("SELECT commune, count(*) FROM dossiers GROUP BY commune")) == {
        "xa-001": 300, "xa-002": 300, "xa-003": 300
    }


def test_motcua_sync_prints_the_commune_table(province: Province, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(province.config_path.read_text(encoding="utf-8").replace(
        "path: province.sqlite3", f"path: {tmp_path / 'p.sqlite3'}"), encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(config), "sync", str(province.export_path)],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr
    assert "Theo xã: 3 xã, 3 xã có thay đổi" in run.stdout
    assert "xa-003" in run.stdout and "Traceback" not in run.stderr


# --- row-level security (PostgreSQL) -----------------------------------------------


@postgres_only
async def test_row_level_security_per_commune(
    db: Db, store: DossierStore, province: Province, tmp_path: Path, pg_server
) -> None:
    import psycopg

    assert db.url is not None
    # The store runs as the database's owner, an ordinary role (tests/pgserver.py): the
    # syncs below are written under FORCE ROW LEVEL SECURITY.
    await province_sync(store, province)
    assert await store.follow("telegram", "u1", "c1", province.code(0))
    assert await store.follow("telegram", "u2", "c2", province.code(1))
    changed = write_changed_export(province, tmp_path / "changed.csv", fraction=1.0)
    await province_sync(store, province, changed)
    assert await store.count() == 900
    assert await store.scoped("xa-001").count() == 300
    name = db.url.rsplit("/", 1)[1]
    reader = f"{name}_reader"
    with psycopg.connect(pg_server.url(), autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{reader}" LOGIN NOSUPERUSER NOBYPASSRLS')
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{reader}"')
    tables = ("dossiers", "status_history", "follows", "outbox", "sync_run_communes")
    with psycopg.connect(pg_server.url(name, reader), autocommit=True) as conn:
        def seen(table: str) -> set[str]:
            return {r[0] for r in conn.execute(f"SELECT DISTINCT commune FROM {table}")}

        for table in tables:
            assert seen(table) == set(), table  # no setting: nothing
        conn.execute("SET motcua.commune = 'xa-001'")
        for table in tables:
            assert seen(table) == {"xa-001"}, table
        assert conn.execute("SELECT count(*) FROM dossiers").fetchone() == (300,)
        conn.execute("SET motcua.commune = 'xa-002'")
        assert conn.execute(
            "SELECT count(*) FROM dossiers WHERE code = %s", (province.code(0),)
        ).fetchone() == (0,)
        conn.execute("SET motcua.commune = '*'")
        assert seen("dossiers") == {"xa-001", "xa-002", "xa-003"}
    with psycopg.connect(db.url, autocommit=True) as conn:  # the owner too (FORCE)
        assert conn.execute("SELECT count(*) FROM dossiers").fetchone() == (0,)
        conn.execute("SET motcua.commune = 'xa-003'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE dossiers SET commune = 'xa-001'")


# --- one commune's desk and another's dossier ---------------------------------------


async def test_a_communes_desk_never_reveals_another_communes_dossier(
    store: DossierStore, province: Province
) -> None:
    await province_sync(store, province)
    configs = tenant_configs(config_of(province))
    desk_a = StatusDesk(store, configs["xa-001"], own_codes_only=True)
    desk_b = StatusDesk(store, configs["xa-002"], own_codes_only=True)
    # A tail that xa-001 has too: the tail finds xa-001's own dossier, never xa-002's.
    shared = province.code(4).split("-", 1)[1]
    assert province.commune_of(4).id == "xa-002"
    own = await store.get(f"{configs['xa-001'].status.code_prefix}-{shared}")
    assert own is not None and own.commune == "xa-001"
    r = await desk_a.answer(Incoming("telegram", "u1", "c1", shared), shared)
    assert own.code in " ".join(x.text for x in r.replies)
    assert province.code(4) not in " ".join(x.text for x in r.replies)
    # A tail only xa-002 has: xa-001's desk knows nothing of it, however it is typed.
    only_b = "251231-0049"
    async with _extra(store, f"{configs['xa-002'].status.code_prefix}-{only_b}", "xa-002"):
        for n, guess in enumerate((only_b, f"H56-{only_b}", f"{only_b[:6]} {only_b[7:]}", "251231-0049 ạ")):
            r = await desk_a.answer(Incoming("telegram", f"g{n}", f"g{n}", guess), guess)
            text = " ".join(x.text for x in r.replies)
            assert "Phạm" not in text and "Đăng ký khai sinh" not in text, guess
            assert "Không tìm thấy hồ sơ" in text, text
        r = await desk_b.answer(Incoming("telegram", "b", "b", only_b), only_b)
        assert "Đăng ký khai sinh" in " ".join(x.text for x in r.replies)


class _extra:
    """A dossier of ``commune`` written for one test block (then left: stores are per test)."""

    def __init__(self, store: DossierStore, code: str, commune: str) -> None:
        self.store, self.code, self.commune = store, code, commune

    async def __aenter__(self) -> None:
        import asyncio

        from bot.dossiers.store import DossierRow

        def write() -> None:
            with self.store.sync_writer("extra") as w:
                w.write([DossierRow(self.code, "Đăng ký khai sinh", None, "Phạm Văn Bảo", "0912000999",
                                    "Thôn 2", "2025-12-31", "2026-01-05", None, "processing")],
                        commune=self.commune)
                w.finish(read=1, rejected=0)

        await asyncio.get_running_loop().run_in_executor(None, write)

    async def __aexit__(self, *exc: object) -> None:
        return None


async def test_scheduled_sync_of_a_province_routes_to_communes(
    db: Db, store: DossierStore, province: Province
) -> None:
    import asyncio

    from bot.dossiers.sync import run_scheduled_sync

    config = config_of(province)
    config.status.sync.source = str(province.export_path)
    config.status.sync.interval_minutes = 0.0005
    stop = asyncio.Event()
    reports = []

    def on_report(report) -> None:
        reports.append(report)
        stop.set()

    await asyncio.wait_for(run_scheduled_sync(store, config, stop, on_report=on_report), 30)
    assert {c: k.inserted for c, k in reports[0].communes.items()} == {
        "xa-001": 300, "xa-002": 300, "xa-003": 300
    }
    assert db.query("SELECT count(*) FROM dossiers WHERE commune = ''") == [(0,)]


async def test_reads_of_one_commune_by_prefix_or_id_hold_only_its_dossiers(
    store: DossierStore, province: Province
) -> None:
    await province_sync(store, province)
    prefix = province.communes[1].prefix
    by_prefix = await store.in_statuses(list(Status), code_prefix=prefix)
    by_id = await store.in_statuses(list(Status), commune="xa-002")
    assert len(by_prefix) == 300 and [d.code for d in by_prefix] == [d.code for d in by_id]
    assert all(d.code.startswith(f"{prefix}-") for d in by_prefix)
    counts = await store.scoped("xa-003").follower_counts()
    assert sum(c.dossiers for c in counts) == 300 and sum(c.followers for c in counts) == 0
    assert await store.follow("telegram", "u", "c", province.code(2))  # xa-003's
    counts = await store.scoped("xa-003").follower_counts()
    assert sum(c.followers for c in counts) == 1
    assert sum(c.followers for c in await store.scoped("xa-001").follower_counts()) == 0
    assert await store.history(province.code(2), commune="xa-001") == []
    assert len(await store.history(province.code(2), commune="xa-003")) == 1
