"""Syncing hostile or broken exports: unsafe text, oversized cells, damaged files, files
rewritten while read; what the operator is told (missing dossiers, exit statuses, --dry-run);
codes given as their tail only and header variants."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import shutil
import sqlite3
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import openpyxl
import pytest
import yaml

from bot.config import SyncColumns
from bot.dossiers.exports import MAX_LINE_CHARS, MAX_XLSX_TEXT_BYTES
from bot.dossiers.rows import MAX_CELL_CHARS
from bot.dossiers.statuses import Status
from bot.dossiers.store import Store
from bot.dossiers.sync import sync_source
from bot.errors import SyncError
from tests.dossiers.conftest import Db, sqlite_only
from tests.dossiers.test_sync import COLUMNS, HEADER, ROWS, SYNC_TABLES, big_csv, dump, write_csv

ROOT = Path(__file__).resolve().parents[2]
UNSAFE = ("\x1b", "\x07", "\x00", "\u202e", "\u200b", "\x9b", "\u2066", "\ufeff")


def row(code: str, status: str = "Đang xử lý", procedure: str = "Đăng ký khai sinh",
        applicant: str = "Nguyễn Văn An", address: str = "Thôn 1, xã Tân Hòa") -> list[str]:
    return [code, procedure, applicant, "0912000101", address, "20/11/2026", "25/11/2026", "", status]


def write_xlsx(path: Path, rows: list[list], header: list[str] = HEADER) -> Path:
    wb = openpyxl.Workbook()
    wb.active.append(header)
    for r in rows:
        wb.active.append(r)
    wb.save(path)
    return path


def stored_text(db: Db) -> list[str]:
    return [v for r in db.query("SELECT procedure, applicant, address FROM dossiers") for v in r]


# --- item 6: text is cleaned, formulas rejected --------------------------------------

HOSTILE = [
    row("C-1", procedure="Đăng ký \x1b[2J\x1b[31mkhai sinh\x1b[0m"),                     # 2
    row("C-2", applicant="Trần\u202e Thị\x07 Bích\x01", address="Thôn\t2,\r\nxã Tân Hòa"),  # 3
    row("C-3", procedure='=HYPERLINK("http://evil.example","Bấm vào đây")'),             # 4
    row("C-4", applicant="+cmd|' /C calc'!A0"),                                           # 5
    row("C-5", address="@SUM(A1:A9)"),                                                   # 6
    row("C-6", address="-2+3"),                                                          # 7
    row("C-7", address="- Thôn 7, xã Tân Hòa", status="Đang xử lý\x1b]0;pwned\x07"),   # 8
    row("C-8", status="\x1b[31mHỏng\x1b[0m lắm"),                                        # 9
]


def check_hostile(report, db: Db, lines: list[int]) -> None:
    """``lines``: where rows C-3 to C-6 and C-8 end (a CSV row may span lines)."""
    reasons = {r.where: r.reason for r in report.rejections}
    c3, c4, c5, c6, c8 = (f"dòng {n}" for n in lines)
    assert set(reasons) == {c3, c4, c5, c6, c8}, reasons
    for where in (c3, c4, c5, c6):
        assert "công thức" in reasons[where]
    assert "Tên thủ tục" in reasons[c3] and "Chủ hồ sơ" in reasons[c4]
    assert "Địa chỉ" in reasons[c5]
    assert "cmd" not in reasons[c4]  # personal fields are not repeated
    assert "Hỏng lắm" in reasons[c8]
    text = "\n".join(report.summary_lines())
    assert not any(c in text for c in UNSAFE), repr(text)
    values = stored_text(db)
    assert values and not any(c in v for v in values for c in UNSAFE), values
    assert "Đăng ký khai sinh" in values and "Trần Thị Bích" in values
    assert "Thôn 2, xã Tân Hòa" in values and "- Thôn 7, xã Tân Hòa" in values
    assert not any(v.startswith(("=", "+", "@")) for v in values)


async def test_csv_text_is_cleaned_and_formulas_are_rejected(db: Db, store: Store, tmp_path: Path) -> None:
    report = await sync_source(store, str(write_csv(tmp_path / "x.csv", HOSTILE)), COLUMNS)
    assert (report.read, report.inserted, report.rejected) == (8, 3, 5), report.summary_lines()
    check_hostile(report, db, [5, 6, 7, 8, 10])  # C-2's address holds a line break
    d = await store.get("C-7")
    assert d is not None and d.status is Status.PROCESSING


async def test_xlsx_text_is_cleaned_and_formulas_are_rejected(db: Db, store: Store, tmp_path: Path) -> None:
    # XML cannot hold most C0 controls: a sheet's escapes come as C1 CSI (0x9B) and
    # invisible format characters instead. Formula-looking text is stored as text.
    def xlsx_text(cell: str) -> str:
        return (cell.replace("\x1b]0;pwned\x07", "\u2066").replace("\x1b[", "\x9b")
                .replace("\x07", "\u200b").replace("\x01", "\ufeff"))

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Hồ sơ\u202e\x9b2J"  # shown in the report
    ws.append(HEADER)
    for r, values in enumerate(HOSTILE, start=2):
        for c, value in enumerate(values, start=1):
            cell = ws.cell(row=r, column=c, value=xlsx_text(value))
            cell.data_type = "s"  # as text, not as a formula to evaluate
    path = tmp_path / "x.xlsx"
    wb.save(path)
    report = await sync_source(store, str(path), COLUMNS)
    assert report.format == "XLSX"
    assert (report.read, report.inserted, report.rejected) == (8, 3, 5), report.summary_lines()
    check_hostile(report, db, [4, 5, 6, 7, 9])


async def test_unsafe_header_names_are_not_echoed(store: Store, tmp_path: Path) -> None:
    header = [*HEADER[:-1], "Trạng thái\x1b[8m"]
    src = write_csv(tmp_path / "h.csv", [row("H-1", status="???")], header=header)
    report = await sync_source(store, str(src), SyncColumns(status=["Trạng thái\x1b[8m"]))
    assert report.rejected == 1
    assert "\x1b" not in report.rejections[0].reason


# --- item 11: sizes -------------------------------------------------------------------


def raw_csv(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(lines), encoding="utf-8", newline="")
    return path


def csv_line(cells: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow(cells)
    return buf.getvalue()


async def test_oversized_csv_cells_reject_only_their_rows(store: Store, tmp_path: Path) -> None:
    fake_rows = "".join(csv_line(row(f"FAKE-{i}")) for i in range(3))
    big_quoted = ("lorem, ipsum \"quoted\"\n" + fake_rows) * 40_000  # ~7 MB, many lines
    lines = [
        csv_line(HEADER),
        csv_line(row("OK-1")),                                               # line 2
        csv_line(row("BIG-1", procedure="x" * 200_000)),                     # 3: unquoted, one line
        csv_line(row("OK-2")),                                               # 4
        csv_line(row("BIG-2", procedure=big_quoted)),                        # 5...: quoted, multi-line
        csv_line(row("OK-3")),
        csv_line(row("BIG-3", applicant='"' + "y" * (MAX_LINE_CHARS + 10))),  # one line over the limit
        csv_line(row("OK-4")),
        csv_line(row("BIG-4", applicant="z" * (MAX_CELL_CHARS + 1))),        # under csv's limit
        csv_line([*row("OK-5"), "note " * 5000]),                            # long unmapped cell
        csv_line(row("OK-6")),
    ]
    src = raw_csv(tmp_path / "big.csv", lines)
    assert src.stat().st_size > 8_000_000
    tracemalloc.start()
    try:
        report = await sync_source(store, str(src), COLUMNS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40_000_000, peak  # the big cells are never held whole
    assert report.inserted == 6, report.summary_lines()
    assert await store.count() == 6
    assert all([await store.get(f"OK-{i}") for i in range(1, 7)])
    assert not any([await store.get(f"FAKE-{i}") for i in range(3)])  # not split into rows
    where = [r.where for r in report.rejections]
    assert where[:2] == ["dòng 3", "dòng 5"], report.rejections
    big2_lines = big_quoted.count("\n")
    assert where[2] == f"dòng {5 + big2_lines + 2}", (where, big2_lines)
    assert "quá dài" in report.rejections[0].reason
    assert "BIG-4" in report.rejections[3].reason or "Chủ hồ sơ" in report.rejections[3].reason
    assert report.rejected == 4
    ok6 = await store.get("OK-6")
    assert ok6 is not None and ok6.status is Status.PROCESSING


def xlsx_with_big_cell(path: Path, rows: list[list[str]], big: str) -> Path:
    """An XLSX file whose cell "BIG" holds ``big`` (openpyxl itself truncates cells to
    Excel's 32,767 characters; other writers, or a crafted file, need not)."""
    write_xlsx(path.with_suffix(".tmp.xlsx"), rows)
    with zipfile.ZipFile(path.with_suffix(".tmp.xlsx")) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                assert b">BIG<" in data
                data = data.replace(b">BIG<", b">" + big.encode() + b"<")
            dst.writestr(info.filename, data)
    return path


async def test_xlsx_large_cell_rejects_its_row_and_huge_one_refuses_the_file(
    db: Db, store: Store, tmp_path: Path
) -> None:
    rows = [row("OK-1"), row("BIG-1", procedure="BIG"), row("OK-2")]
    path = xlsx_with_big_cell(tmp_path / "big.xlsx", rows, "Đăng ký " * 400_000)  # 3.2M characters
    tracemalloc.start()
    try:
        report = await sync_source(store, str(path), COLUMNS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (report.inserted, report.rejected) == (2, 1), report.summary_lines()
    assert report.rejections[0].where == "dòng 3" and "Tên thủ tục" in report.rejections[0].reason
    assert "3.200.000" in report.rejections[0].reason
    assert peak < 60_000_000, peak
    before = db.dump(SYNC_TABLES)
    huge = xlsx_with_big_cell(tmp_path / "huge.xlsx", [row("OK-3"), row("HUGE", applicant="BIG")],
                              "a" * (MAX_XLSX_TEXT_BYTES + 10))
    tracemalloc.start()
    try:
        with pytest.raises(SyncError, match="huge.xlsx: .*8 MB") as err:
            await sync_source(store, str(huge), COLUMNS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000, peak  # refused before the cell is read
    assert "\n" not in str(err.value)
    assert db.dump(SYNC_TABLES) == before


async def test_broken_xlsx_sheet_is_a_one_line_error(db: Db, store: Store, tmp_path: Path) -> None:
    good = write_xlsx(tmp_path / "good.xlsx", [row(f"X-{i}") for i in range(2000)])
    await sync_source(store, str(write_csv(tmp_path / "ok.csv", ROWS)), COLUMNS)
    before = db.dump(SYNC_TABLES)
    broken = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data[: len(data) * 2 // 3] + b"<row r='99999'><c r='A1' t='s'><v>1</v></c><garbage"
            dst.writestr(info, data)
    with pytest.raises(SyncError) as err:
        await sync_source(store, str(broken), COLUMNS)
    message = str(err.value)
    assert "broken.xlsx" in message and "\n" not in message, message
    assert db.dump(SYNC_TABLES) == before


async def test_deep_or_odd_json_is_a_clear_error_or_a_rejected_row(store: Store, tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    with pytest.raises(SyncError, match="deep.json: .*sâu"):
        await sync_source(store, str(deep), COLUMNS)
    items = [
        dict(zip(HEADER, row("J-1"))),
        {**dict(zip(HEADER, row("J-2"))), "Tên thủ tục": {"nested": [1, 2, {"x": "y" * 100}]}},
        {**dict(zip(HEADER, row("J-3"))), "Chủ hồ sơ": "q" * 1_000_000},
        {**dict(zip(HEADER, row("J-4"))), "Ghi chú": "n" * 1_000_000},  # not a dossier field
    ]
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps(items), encoding="utf-8")
    report = await sync_source(store, str(odd), COLUMNS)
    assert (report.inserted, report.rejected) == (2, 2), report.summary_lines()
    reasons = {r.where: r.reason for r in report.rejections}
    assert "không phải giá trị đơn" in reasons["mục 2"] and "1.000.000" in reasons["mục 3"]
    d = await store.get("J-4")
    assert d is not None and len(d.procedure) < 100


async def test_export_rewritten_while_read_is_refused(db: Db, store: Store, tmp_path: Path) -> None:
    await sync_source(store, str(write_csv(tmp_path / "ok.csv", ROWS)), COLUMNS)
    before = db.dump(SYNC_TABLES)
    src = big_csv(tmp_path / "live.csv", 30_000)
    content = src.read_bytes()

    def rewrite(rows_read: int) -> None:
        if rows_read and rows_read < 30_000:  # mid-read: the exporter writes the file again
            src.write_bytes(content.replace(b"\xc4\x90ang x\xe1\xbb\xad l\xc3\xbd", b"Moi"))

    with pytest.raises(SyncError, match="live.csv: tệp đã thay đổi trong khi đang đọc") as err:
        await sync_source(store, str(src), COLUMNS, progress=rewrite)
    assert "không áp dụng gì" in str(err.value)
    assert db.dump(SYNC_TABLES) == before


async def test_dossiers_missing_from_an_export_are_counted_not_deleted(store: Store, tmp_path: Path) -> None:
    await sync_source(store, str(write_csv(tmp_path / "a.csv", ROWS)), COLUMNS)
    report = await sync_source(store, str(write_csv(tmp_path / "b.csv", ROWS[1:])), COLUMNS)
    assert report.missing == 1 and report.unchanged == 2
    lines = "\n".join(report.summary_lines())
    assert "1 hồ sơ đã lưu không có trong nguồn này" in lines
    assert ROWS[0][2] not in lines and ROWS[0][0] not in lines  # a count, no personal data
    assert await store.count() == 3 and await store.get(ROWS[0][0]) is not None
    full = await sync_source(store, str(write_csv(tmp_path / "a.csv", ROWS)), COLUMNS)
    assert full.missing == 0


async def test_dry_run_reports_and_writes_nothing(db: Db, store: Store, tmp_path: Path) -> None:
    await sync_source(store, str(write_csv(tmp_path / "a.csv", ROWS)), COLUMNS)
    await store.follow("telegram", "1", "1", ROWS[0][0])
    await store.close()
    db_bytes = db.path.read_bytes() if db.kind == "sqlite" else b""
    before = db.dump(SYNC_TABLES)
    changed = [ROWS[0][:-1] + ["Đã xử lý xong"], ROWS[1], row("NEW-1")]
    reopened = await db.open()
    try:
        report = await sync_source(reopened, str(write_csv(tmp_path / "b.csv", changed)), COLUMNS, dry_run=True)
    finally:
        await reopened.close()
    assert (report.inserted, report.updated, report.unchanged, report.missing) == (1, 1, 1, 1)
    assert (report.status_changes, report.notifications) == (1, 1)
    assert any("--dry-run" in line for line in report.summary_lines())
    assert db.dump(SYNC_TABLES) == before
    if db.kind == "sqlite":
        assert db.path.read_bytes() == db_bytes


# --- item 12: tail-only codes, header variants ---------------------------------------


async def test_tail_only_codes_take_the_configured_prefix(store: Store, tmp_path: Path) -> None:
    src = write_csv(tmp_path / "t.csv", [row("261120-0007"), row(" 261121-0008 "), row("000.00.14.H56-261122-0009")])
    report = await sync_source(store, str(src), COLUMNS, code_prefix="000.00.14.H56")
    assert report.inserted == 3, report.summary_lines()
    assert await store.get("000.00.14.H56-261120-0007") is not None
    assert await store.get("000.00.14.H56-261121-0008") is not None
    again = write_csv(tmp_path / "t2.csv", [row("000.00.14.H56-261120-0007"), row("261120-0007")])
    report = await sync_source(store, str(again), COLUMNS, code_prefix="000.00.14.H56")
    assert report.rejected == 1 and "trùng" in report.rejections[0].reason  # the same dossier

    other = await Store.open(tmp_path / "other.sqlite3")
    try:
        report = await sync_source(other, str(src), COLUMNS, code_prefix="")
    finally:
        await other.close()
    assert (report.inserted, report.rejected) == (1, 2)
    assert "status.code_prefix" in report.rejections[0].reason


async def test_header_variants_of_one_stop_exports(store: Store, tmp_path: Path) -> None:
    header = ["STT", "Số hồ sơ", "Tên TTHC", "Người đứng tên", "Số ĐT", "Địa chỉ liên hệ",
              "Ngày nhận hồ sơ", "Hẹn trả", "Ngày trả KQ", "Tình trạng xử lý"]
    src = write_csv(tmp_path / "v.csv", [["1", *row("V-1")]], header=header)
    report = await sync_source(store, str(src), COLUMNS)
    assert report.inserted == 1 and not report.missing_columns, report.summary_lines()
    d = await store.get("V-1")
    assert d is not None and d.procedure == "Đăng ký khai sinh" and d.applicant == "Nguyễn Văn An"
    assert str(d.appointment) == "2026-11-25" and d.status is Status.PROCESSING
    header2 = ["Mã biên nhận", "Thủ tục hành chính", "Ngày hẹn", "Trạng thái hồ sơ"]
    src2 = write_csv(tmp_path / "w.csv", [["V-2", "Chứng thực", "01/12/2026", "Mới đăng ký"]], header=header2)
    report = await sync_source(store, str(src2), COLUMNS)
    assert report.inserted == 1, report.summary_lines()
    assert str((await store.get("V-2")).appointment) == "2026-12-01"  # type: ignore[union-attr]


def test_example_config_lists_the_built_in_columns() -> None:
    example = yaml.safe_load((ROOT / "config.example.yaml").read_text(encoding="utf-8"))
    built_in = {
        # The English field names and the unaccented "Ma ho so" are built in but not shown.
        name: [n for n in names if n not in (name, "Ma ho so")]
        for name, names in vars(SyncColumns()).items()
    }
    assert example["status"]["sync"]["columns"] == built_in


# --- the command line -----------------------------------------------------------------


def motcua(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "--db", str(tmp / "cli.sqlite3"), "sync", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )


def test_sync_exit_statuses_and_dry_run(tmp_path: Path) -> None:
    good = write_csv(tmp_path / "good.csv", ROWS)
    some_bad = write_csv(tmp_path / "some.csv", [*ROWS, row("B-1", status="??")])
    all_bad = write_csv(tmp_path / "bad.csv", [row("B-1", status="??"), row("", status="Mới")])
    done = motcua(tmp_path, str(good))
    assert done.returncode == 0, done.stderr
    db = tmp_path / "cli.sqlite3"
    shutil.copy(db, tmp_path / "copy.sqlite3")
    before = dump(db)
    dry = motcua(tmp_path, "--dry-run", str(some_bad))
    assert dry.returncode == 3, (dry.stdout, dry.stderr)
    assert "--dry-run" in dry.stdout and "bị loại 1" in dry.stdout
    assert dump(db) == before and db.read_bytes() == (tmp_path / "copy.sqlite3").read_bytes()
    assert motcua(tmp_path, str(some_bad)).returncode == 3
    nothing = motcua(tmp_path, str(all_bad))
    assert nothing.returncode == 2 and "bị loại 2" in nothing.stdout
    missing = motcua(tmp_path, str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "nope.csv" in missing.stderr and "Traceback" not in missing.stderr
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    dry_new = motcua(fresh, "--dry-run", str(good))
    assert dry_new.returncode == 0 and "thêm mới 3" in dry_new.stdout
    assert not (fresh / "cli.sqlite3").exists()


# --- guarantees kept by the faster writer ----------------------------------------------


async def test_a_change_is_recorded_and_notified_once(store: Store, tmp_path: Path) -> None:
    await sync_source(store, str(write_csv(tmp_path / "a.csv", ROWS)), COLUMNS)
    code = ROWS[0][0]
    await store.follow("telegram", "1", "1", code)
    changed = write_csv(tmp_path / "b.csv", [ROWS[0][:-1] + ["Đã xử lý xong"], *ROWS[1:]])
    first = await sync_source(store, str(changed), COLUMNS)
    again = await sync_source(store, str(changed), COLUMNS)
    assert (first.updated, first.status_changes, first.notifications) == (1, 1, 1)
    assert (again.updated, again.unchanged, again.status_changes, again.notifications) == (0, 3, 0, 0)
    assert [h.new_status for h in await store.history(code)] == [Status.PROCESSING, Status.DONE]
    assert await store.outbox_counts() == {"pending": 1}


async def test_same_data_written_differently_is_unchanged_and_refingerprinted(
    db: Db, store: Store, tmp_path: Path
) -> None:
    await sync_source(store, str(write_csv(tmp_path / "a.csv", ROWS)), COLUMNS)
    before = [r for r in db.dump(SYNC_TABLES) if r.startswith("dossiers:")]
    respaced = [[f"  {c}  " if i in (1, 2) else c for i, c in enumerate(r)] for r in ROWS]
    src = write_csv(tmp_path / "b.csv", respaced)
    report = await sync_source(store, str(src), COLUMNS)
    assert (report.updated, report.unchanged) == (0, 3)
    after = [r for r in db.dump(SYNC_TABLES) if r.startswith("dossiers:")]
    assert after != before  # new fingerprints: the next run skips these rows unparsed
    assert db.query("SELECT count(DISTINCT changed_at) FROM dossiers")[0][0] == 1
    assert (await sync_source(store, str(src), COLUMNS)).unchanged == 3


async def test_rows_are_parsed_again_when_the_code_prefix_changes(db: Db, store: Store, tmp_path: Path) -> None:
    src = write_csv(tmp_path / "t.csv", [row("261120-0007")])
    first = await sync_source(store, str(src), COLUMNS, code_prefix="000.00.14.H56")
    other = await sync_source(store, str(src), COLUMNS, code_prefix="000.00.14.H99")
    assert first.inserted == 1 and other.inserted == 1
    assert await store.get("000.00.14.H99-261120-0007") is not None


def index_list(db: Db) -> list[tuple]:
    """The database's indexes (name and definition) on either backend."""
    if db.kind == "sqlite":
        return index_sql(db.path)
    return db.query("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1")


def index_sql(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name"
        ).fetchall()


@sqlite_only
async def test_first_load_builds_the_indexes_once_and_a_failed_one_keeps_them(
    store: Store, tmp_path: Path
) -> None:
    indexes = index_sql(store.path)
    assert any(name == "dossiers_status" for name, _ in indexes)
    src = big_csv(tmp_path / "big.csv", 12_000)
    src.write_bytes(src.read_bytes() + b"B-x,\xc3\x28,,,,,,,Moi\r\n")  # fails after 2 batches
    with pytest.raises(SyncError, match="dòng 12002"):
        await sync_source(store, str(src), COLUMNS)
    assert index_sql(store.path) == indexes and await store.count() == 0
    report = await sync_source(store, str(big_csv(tmp_path / "ok.csv", 12_000)), COLUMNS)
    assert report.inserted == 12_000
    assert index_sql(store.path) == indexes
    with sqlite3.connect(store.path) as conn:
        plan = " ".join(str(r) for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT code FROM dossiers WHERE status = 'processing'"))
        assert "dossiers_status" in plan
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM status_history").fetchone()[0] == 12_000


async def test_json_endpoint_size_and_depth_are_bounded(store: Store, monkeypatch) -> None:
    from aiohttp import web

    from bot.dossiers import exports
    from tests.fakes.server import serve_locally

    items = [dict(zip(HEADER, row(f"W-{i}"))) for i in range(50)]

    async def big(request: web.Request) -> web.Response:
        return web.json_response(items)

    async def deep(request: web.Request) -> web.Response:
        return web.Response(text="[" * 100_000 + "]" * 100_000, content_type="application/json")

    app = web.Application()
    app.router.add_get("/big", big)
    app.router.add_get("/deep", deep)
    runner, port = await serve_locally(app)
    try:
        base = f"http://127.0.0.1:{port}"
        with pytest.raises(SyncError, match="/deep: JSON lồng nhau quá sâu"):
            await sync_source(store, f"{base}/deep", COLUMNS)
        assert (await sync_source(store, f"{base}/big", COLUMNS)).inserted == 50
        monkeypatch.setattr(exports, "MAX_JSON_BYTES", 2000)  # a smaller budget, same code
        with pytest.raises(SyncError, match="quá lớn"):
            await sync_source(store, f"{base}/big", COLUMNS)
    finally:
        await runner.cleanup()


async def test_killed_first_load_leaves_the_empty_database_and_its_indexes(
    db: Db, store: Store, tmp_path: Path
) -> None:
    import os
    import signal

    from tests.dossiers.test_sync import KILL_SCRIPT

    await store.close()
    before, indexes = db.dump(SYNC_TABLES), index_list(db)
    src = big_csv(tmp_path / "big.csv", 400_000)
    marker = tmp_path / "marker"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(db.path), str(src), str(marker), db.url or ""],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        for _ in range(6000):
            if marker.exists() or proc.poll() is not None:
                break
            await asyncio.sleep(0.01)
        assert marker.exists() and proc.poll() is None, "the sync did not start writing"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert db.dump(SYNC_TABLES) == before and index_list(db) == indexes
    if db.kind == "sqlite":
        with sqlite3.connect(db.path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    reopened = await db.open()
    try:
        assert await reopened.count() == 0
    finally:
        await reopened.close()
