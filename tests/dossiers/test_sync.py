"""Syncing dossiers from CSV, XLSX and JSON exports."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import unicodedata
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import Config, SyncColumns
from bot.errors import SyncError
from bot.dossiers.statuses import Status
from bot.dossiers.store import Store
from tests.dossiers.conftest import Db
from tests.fakes.server import serve_locally
from bot.dossiers.sync import ProgressPrinter, make_progress, run_scheduled_sync, seed_demo, sync_source

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = SyncColumns()
HEADER = [
    "Mã hồ sơ",
    "Tên thủ tục",
    "Chủ hồ sơ",
    "Số điện thoại",
    "Địa chỉ",
    "Ngày tiếp nhận",
    "Ngày hẹn trả",
    "Ngày trả kết quả",
    "Trạng thái",
]
ROWS = [
    ["000.00.14.H56-261120-0001", "Đăng ký khai sinh", "Nguyễn Văn An", "0912 000 101",
     "Thôn 1, xã Tân Hòa", "20/11/2026", "21/11/2026", "", "Đang xử lý"],
    ["000.00.14.H56-261121-0002", "Đăng ký kết hôn", "Trần Thị Bích", "0987000102",
     "Thôn 2, xã Tân Hòa", "21/11/2026 08:30", "26/11/2026", "", "Đã xử lý xong"],
    ["000.00.14.H56-261122-0003", "Đăng ký khai tử", "Lê Văn Cường", "0356000103",
     "Thôn 3, xã Tân Hòa", "2026-11-22", "2026-11-23T17:00:00", "2026-11-23", "Đã trả kết quả"],
]


def write_csv(path: Path, rows: list[list[str]], *, header: list[str] = HEADER,
              encoding: str = "utf-8", delimiter: str = ",", prefix: list[list[str]] = ()) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    for line in prefix:
        writer.writerow(line)
    writer.writerow(header)
    writer.writerows(rows)
    text = buf.getvalue()
    if encoding == "cp1258":
        path.write_bytes(encode_cp1258(text))
    else:
        path.write_bytes(text.encode(encoding))
    return path


TONE_MARKS = "\u0300\u0301\u0303\u0309\u0323"


def encode_cp1258(text: str) -> bytes:
    """Encode as legacy Windows-1258 does: base letters precomposed, tone marks combining."""
    out = bytearray()
    for ch in text:
        try:
            out += ch.encode("cp1258")
        except UnicodeEncodeError:
            decomposed = unicodedata.normalize("NFD", ch)
            tones = [c for c in decomposed if c in TONE_MARKS]
            base = "".join(c for c in decomposed if c not in TONE_MARKS)
            out += unicodedata.normalize("NFC", base).encode("cp1258")
            out += "".join(tones).encode("cp1258")
    return bytes(out)


#: The tables a sync writes (the run log too).
SYNC_TABLES = ("dossiers", "status_history", "follows", "outbox", "sync_runs")


def dump(path: Path) -> list[str]:
    """Every row a sync writes, from a SQLite file (see also ``Db.dump``)."""
    conn = sqlite3.connect(path)
    try:
        out = []
        for table in ("dossiers", "status_history", "follows", "outbox", "sync_runs"):
            out += [f"{table}:{r}" for r in conn.execute(f"SELECT * FROM {table} ORDER BY 1")]
        return out
    finally:
        conn.close()


async def test_csv_first_sync_then_unchanged_rerun(db: Db, store: Store, tmp_path: Path) -> None:
    src = write_csv(tmp_path / "export.csv", ROWS)
    report = await sync_source(store, str(src), COLUMNS)
    assert (report.read, report.inserted, report.updated, report.unchanged, report.rejected) == (3, 3, 0, 0, 0)
    d = await store.get("000.00.14.H56-261121-0002")
    assert d is not None
    assert d.status is Status.DONE and d.received == date(2026, 11, 21)
    assert d.phone == "0987000102" and d.applicant == "Trần Thị Bích"
    third = await store.get("000.00.14.H56-261122-0003")
    assert third is not None and third.appointment == date(2026, 11, 23) and third.returned == date(2026, 11, 23)
    first = await store.get("000.00.14.H56-261120-0001")
    assert first is not None and first.phone == "0912000101"
    before = db.dump(SYNC_TABLES)
    again = await sync_source(store, str(src), COLUMNS)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    assert not again.changed
    assert any("Không có thay đổi" in line for line in again.summary_lines())
    after = db.dump(SYNC_TABLES)
    assert [r for r in after if not r.startswith("sync_runs")] == [
        r for r in before if not r.startswith("sync_runs")
    ]


@pytest.mark.parametrize(
    ("encoding", "delimiter", "label"),
    [
        ("utf-8", ",", "UTF-8"),
        ("utf-8-sig", ",", "UTF-8 có BOM"),
        ("utf-16", "\t", "UTF-16"),  # Excel "Unicode Text"
        ("cp1258", ",", "Windows-1258"),
        ("utf-8", ";", "UTF-8"),
    ],
)
async def test_encodings_and_delimiters(store: Store, tmp_path: Path, encoding: str, delimiter: str, label: str) -> None:
    src = write_csv(tmp_path / "export.csv", ROWS, encoding=encoding, delimiter=delimiter)
    report = await sync_source(store, str(src), COLUMNS)
    assert report.inserted == 3 and report.rejected == 0, report.summary_lines()
    assert label in report.encoding
    d = await store.get("000.00.14.H56-261120-0001")
    assert d is not None
    assert d.applicant == "Nguyễn Văn An"  # NFC, equal to the precomposed text
    assert unicodedata.is_normalized("NFC", d.procedure) and d.procedure == "Đăng ký khai sinh"
    assert d.status is Status.PROCESSING


async def test_old_mac_line_endings(store: Store, tmp_path: Path) -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r").writerows([HEADER, *ROWS])
    path = tmp_path / "mac.csv"
    path.write_bytes(buf.getvalue().encode("utf-8"))
    report = await sync_source(store, str(path), COLUMNS)
    assert (report.inserted, report.rejected) == (3, 0), report.summary_lines()


async def test_cp1258_really_has_combining_marks(tmp_path: Path) -> None:
    raw = encode_cp1258("Đăng ký")
    assert raw.decode("cp1258") != "Đăng ký"  # decoded but decomposed: NFC is needed
    assert unicodedata.normalize("NFC", raw.decode("cp1258")) == "Đăng ký"


async def test_header_variants_title_rows_and_custom_columns(store: Store, tmp_path: Path) -> None:
    header = ["STT", "SO BIEN NHAN", "thủ tục", "Người nộp", "ĐIỆN THOẠI", "Thôn", "Ngày nhận",
              "Ngày hẹn trả kết quả", "Tình trạng:"]
    rows = [["1", *ROWS[0][:5], *ROWS[0][5:7], "Đang giải quyết"]]
    src = write_csv(tmp_path / "x.csv", rows, header=header,
                    prefix=[["DANH SÁCH HỒ SƠ"], ["Từ ngày 01/11/2026 đến 29/11/2026"], []])
    report = await sync_source(store, str(src), COLUMNS)
    assert report.inserted == 1, report.summary_lines()
    assert report.missing_columns == ["Ngày trả kết quả"]
    d = await store.get(ROWS[0][0])
    assert d is not None and d.status is Status.PROCESSING and d.address == "Thôn 1, xã Tân Hòa"

    custom = SyncColumns(code=["Số hồ sơ"], status=["Kết quả xử lý"])
    src2 = write_csv(tmp_path / "y.csv", [["X-1", "Mới"]], header=["Số hồ sơ", "Kết quả xử lý"])
    report = await sync_source(store, str(src2), custom)
    assert report.inserted == 1
    assert (await store.get("X-1")).status is Status.NEW  # type: ignore[union-attr]


async def test_bad_rows_are_rejected_with_row_numbers_and_the_rest_applied(store: Store, tmp_path: Path) -> None:
    rows = [
        ROWS[0],
        ["", "Đăng ký khai sinh", "A", "", "", "20/11/2026", "", "", "Đang xử lý"],          # line 3
        ["C-3", "x", "A", "", "", "31/02/2026", "", "", "Đang xử lý"],                       # line 4
        ["C-4", "x", "A", "", "", "20/11/2026", "", "", "Hoàn thành"],                       # line 5
        ["C-5", "x", "A", "", "", "20/11/2026", "26/11/26", "", "Đang xử lý"],               # line 6
        [ROWS[0][0].lower(), "x", "A", "", "", "", "", "", "Đã trả kết quả"],                # line 7
        ["", "", "", "", "", "", "", "", ""],                                                # blank
        ["C-8", "x", "A", "", "", "", "", "", ""],                                           # line 9
        ROWS[1],
    ]
    src = write_csv(tmp_path / "bad.csv", rows)
    report = await sync_source(store, str(src), COLUMNS)
    assert (report.read, report.inserted, report.rejected) == (8, 2, 6)
    reasons = {r.where: r.reason for r in report.rejections}
    assert "thiếu mã hồ sơ" in reasons["dòng 3"]
    assert "31/02/2026" in reasons["dòng 4"] and "Ngày tiếp nhận" in reasons["dòng 4"]
    assert "Hoàn thành" in reasons["dòng 5"]
    assert "Ngày hẹn trả" in reasons["dòng 6"]
    assert "trùng" in reasons["dòng 7"] and "dòng 2" in reasons["dòng 7"]
    assert "thiếu trạng thái" in reasons["dòng 9"]
    lines = "\n".join(report.summary_lines())
    assert "bị loại 6" in lines and "dòng 5:" in lines
    assert (await store.get(ROWS[0][0])).status is Status.PROCESSING  # type: ignore[union-attr]


async def test_status_change_records_history_and_queues_notifications(store: Store, tmp_path: Path) -> None:
    await sync_source(store, str(write_csv(tmp_path / "a.csv", ROWS)), COLUMNS)
    code = ROWS[0][0]
    await store.follow("telegram", "111", "111", code)
    await store.follow("zalo", "abc", "chat-abc", code)
    changed = [ROWS[0][:-1] + ["Đã xử lý xong"], ROWS[1][:4] + ["Thôn 9"] + ROWS[1][5:], ROWS[2]]
    report = await sync_source(store, str(write_csv(tmp_path / "b.csv", changed)), COLUMNS)
    assert (report.updated, report.unchanged, report.status_changes, report.notifications) == (2, 1, 1, 2)
    assert [h.new_status for h in await store.history(code)] == [Status.PROCESSING, Status.DONE]
    assert len(await store.history(ROWS[1][0])) == 1  # address change only: no new status
    assert await store.outbox_counts() == {"pending": 2}


async def test_unreadable_sources_are_clear_errors_and_change_nothing(db: Db, store: Store, tmp_path: Path) -> None:
    await sync_source(store, str(write_csv(tmp_path / "ok.csv", ROWS)), COLUMNS)
    before = db.dump(SYNC_TABLES)
    cases = {
        "missing.csv": None,
        "binary.csv": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50,
        "undecodable.csv": b"M\x81 h\x8d s\x90\n" * 10,
        "broken-utf8.csv": "Mã hồ sơ,Trạng thái\n".encode() + b"X-1,\xff\xfe\xfd\n",
        "old-excel.xls": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100,
        "no-header.csv": b"a,b,c\n1,2,3\n",
        "fake.xlsx": b"PK\x03\x04 not really a zip",
    }
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(SyncError) as err:
            await sync_source(store, str(path), COLUMNS)
        assert name in str(err.value), str(err.value)
    assert db.dump(SYNC_TABLES) == before


async def test_missing_code_column_names_the_expected_headers(store: Store, tmp_path: Path) -> None:
    src = write_csv(tmp_path / "x.csv", [["1", "Mới"]], header=["STT", "Trạng thái"])
    with pytest.raises(SyncError, match="'Mã hồ sơ' / 'Số biên nhận'"):
        await sync_source(store, str(src), COLUMNS)


async def test_decode_error_late_in_a_large_file_rolls_back(db: Db, store: Store, tmp_path: Path) -> None:
    await sync_source(store, str(write_csv(tmp_path / "ok.csv", ROWS)), COLUMNS)
    before = db.dump(SYNC_TABLES)
    rows = [[f"B-{i}", "Đăng ký khai sinh", "Nguyễn Văn An", "", "Thôn 1", "", "", "", "Đang xử lý"]
            for i in range(30_000)]
    src = write_csv(tmp_path / "big.csv", rows)
    src.write_bytes(src.read_bytes() + b"B-x,\xc3\x28,,,,,,,Moi\r\n")  # invalid UTF-8 after 1 MB
    assert src.stat().st_size > 1 << 20
    with pytest.raises(SyncError, match=r"dòng 30002"):
        await sync_source(store, str(src), COLUMNS)
    assert db.dump(SYNC_TABLES) == before


async def test_xlsx(store: Store, tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Hồ sơ"
    ws.append(["BÁO CÁO HỒ SƠ"])
    ws.append([])
    ws.append(HEADER)
    ws.append([ROWS[0][0], "Đăng ký khai sinh", "Nguyễn Văn An", 912000101, "Thôn 1",
               datetime(2026, 11, 20, 8, 30), date(2026, 11, 21), None, "Đang xử lý"])
    ws.append([ROWS[1][0], "Đăng ký kết hôn", "Trần Thị Bích", "0987000102", "Thôn 2",
               "21/11/2026", 46352, None, "DA XU LY XONG"])
    ws.append([None] * 9)
    ws.append(["X-3", "x", "y", None, None, "hôm qua", None, None, "Mới"])
    path = tmp_path / "export.xlsx"
    wb.save(path)
    report = await sync_source(store, str(path), COLUMNS)
    assert (report.read, report.inserted, report.rejected) == (3, 2, 1), report.summary_lines()
    assert report.rejections[0].where == "dòng 7"
    assert report.format == "XLSX"
    d = await store.get(ROWS[0][0])
    assert d is not None and d.received == date(2026, 11, 20) and d.phone == "912000101"
    d2 = await store.get(ROWS[1][0])
    assert d2 is not None and d2.status is Status.DONE and d2.appointment == date(2026, 11, 26)


def json_items() -> list[dict]:
    return [dict(zip(HEADER, r)) for r in ROWS]


@pytest.fixture
async def json_server():
    """A real HTTP server on 127.0.0.1 serving the paged JSON convention."""
    items = json_items()
    state = {"fail": False}

    async def paged(request: web.Request) -> web.Response:
        if state["fail"]:
            return web.Response(status=500, text="boom")
        page = int(request.query.get("page", "1"))
        chunk = items[(page - 1) * 2 : page * 2]
        nxt = f"?page={page + 1}" if page * 2 < len(items) else None
        return web.json_response({"items": chunk, "next": nxt})

    async def plain(request: web.Request) -> web.Response:
        return web.json_response(items)

    async def loop(request: web.Request) -> web.Response:
        return web.json_response({"items": [], "next": "/loop"})

    async def not_json(request: web.Request) -> web.Response:
        return web.Response(text="<html>login</html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/paged", paged)
    app.router.add_get("/plain", plain)
    app.router.add_get("/loop", loop)
    app.router.add_get("/html", not_json)
    runner, port = await serve_locally(app)
    yield f"http://127.0.0.1:{port}", state
    await runner.cleanup()


async def test_json_endpoint_paged_and_plain(store: Store, json_server) -> None:
    base, _ = json_server
    report = await sync_source(store, f"{base}/paged", COLUMNS)
    assert (report.read, report.inserted) == (3, 3), report.summary_lines()
    again = await sync_source(store, f"{base}/plain", COLUMNS)
    assert again.unchanged == 3 and not again.changed


async def test_json_endpoint_errors_change_nothing(db: Db, store: Store, json_server) -> None:
    base, state = json_server
    await sync_source(store, f"{base}/paged", COLUMNS)
    before = db.dump(SYNC_TABLES)
    for path, pattern in (("/loop", "lặp"), ("/html", "không phải JSON"), ("/missing", "HTTP 404")):
        with pytest.raises(SyncError, match=pattern):
            await sync_source(store, f"{base}{path}", COLUMNS)
    state["fail"] = True
    with pytest.raises(SyncError, match="HTTP 500"):
        await sync_source(store, f"{base}/paged", COLUMNS)
    with pytest.raises(SyncError, match="không kết nối"):
        await sync_source(store, "http://127.0.0.1:9/x", COLUMNS)
    assert db.dump(SYNC_TABLES) == before


async def test_local_json_file_and_bad_items(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"items": [*json_items(), 42, {"Mã hồ sơ": "Z-1", "Trạng thái": "??"}]}),
                    encoding="utf-8")
    report = await sync_source(store, str(path), COLUMNS)
    assert (report.read, report.inserted, report.rejected) == (5, 3, 2)
    assert [r.where for r in report.rejections] == ["mục 4", "mục 5"]
    empty = tmp_path / "empty.json"
    empty.write_text("[]", encoding="utf-8")
    report = await sync_source(store, str(empty), COLUMNS)
    assert (report.read, report.inserted, report.rejected) == (0, 0, 0)
    bad = tmp_path / "bad.json"
    bad.write_text('{"items": [', encoding="utf-8")
    with pytest.raises(SyncError, match="bad.json: dòng 1"):
        await sync_source(store, str(bad), COLUMNS)


async def test_progress_is_reported(store: Store, tmp_path: Path) -> None:
    rows = [[f"P-{i}", "x", "y", "", "", "", "", "", "Mới"] for i in range(12_000)]
    seen: list[int] = []
    await sync_source(store, str(write_csv(tmp_path / "p.csv", rows)), COLUMNS, progress=seen.append)
    assert seen[-1] == 12_000 and seen == sorted(seen) and len(seen) >= 3


def test_progress_printer_only_on_tty_or_large_files(tmp_path: Path) -> None:
    small = write_csv(tmp_path / "s.csv", ROWS)
    assert make_progress(str(small), io.StringIO()) is None

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    printer = make_progress(str(small), stream)
    assert isinstance(printer, ProgressPrinter)
    printer(5000)
    printer(120_000)
    printer.finish()
    assert "\r… đã đọc 5.000 dòng" in stream.getvalue() and "120.000" in stream.getvalue()
    assert stream.getvalue().endswith("\n")

    log = io.StringIO()  # not a terminal: quiet for small sources, a line per 100,000 rows
    quiet = ProgressPrinter(log)
    quiet(25)
    quiet.finish()
    assert log.getvalue() == ""
    for n in range(5000, 250_001, 5000):
        quiet(n)
    assert log.getvalue().splitlines() == ["… đã đọc 100.000 dòng", "… đã đọc 200.000 dòng"]


async def test_seed_demo_loads_once_with_dates_relative_to_today(store: Store) -> None:
    config = Config()
    report = await seed_demo(store, config, today=lambda: date(2026, 12, 9))
    assert report is not None and report.inserted >= 25 and report.rejected == 0
    statuses = {d.status for d in await store.in_statuses(list(Status))}
    assert statuses == set(Status)
    first = await store.get("000.00.14.H56-251120-0001")
    assert first is not None and first.received == date(2025, 11, 30)  # shifted by 10 days
    assert await seed_demo(store, config) is None  # not empty any more


async def test_demo_file_has_overdue_dossiers_and_all_hamlets() -> None:
    from bot.dossiers.desk import matches_hamlet
    from bot.dossiers.statuses import is_overdue

    with open(ROOT / "bot" / "dossiers" / "data" / "demo_dossiers.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert 20 <= len(rows) <= 30
    for n in range(1, 13):
        assert any(matches_hamlet(r["Địa chỉ"], f"Thôn {n}") for r in rows), n
    from bot.dossiers.statuses import parse_status

    overdue = [
        r for r in rows
        if is_overdue(parse_status(r["Trạng thái"]),  # type: ignore[arg-type]
                      datetime.strptime(r["Ngày hẹn trả"], "%d/%m/%Y").date(), date(2026, 11, 29))
    ]
    assert len(overdue) >= 2


async def test_scheduled_sync_runs_until_stopped(store: Store, tmp_path: Path) -> None:
    src = write_csv(tmp_path / "s.csv", ROWS)
    config = Config()
    config.status.sync.source = str(src)
    config.status.sync.interval_minutes = 0.0005
    stop = asyncio.Event()
    reports = []

    def on_report(report) -> None:
        reports.append(report)
        if len(reports) == 2:
            stop.set()

    await asyncio.wait_for(run_scheduled_sync(store, config, stop, on_report=on_report), 30)
    assert reports[0].inserted == 3 and reports[1].unchanged == 3
    config.status.sync.source = ""
    await run_scheduled_sync(store, config, asyncio.Event())  # returns at once


async def test_scheduled_sync_survives_a_bad_source(store: Store, tmp_path: Path, caplog) -> None:
    config = Config()
    config.status.sync.source = str(tmp_path / "nope.csv")
    config.status.sync.interval_minutes = 0.0005
    stop = asyncio.Event()
    task = asyncio.create_task(run_scheduled_sync(store, config, stop))
    while "nope.csv" not in caplog.text:
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 30)


def big_csv(path: Path, n: int, status: str = "Đang xử lý") -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for i in range(n):
            w.writerow([f"000.00.14.H56-260101-{i:07d}", "Đăng ký khai sinh", "Nguyễn Văn An",
                        "0912000101", f"Thôn {i % 12 + 1}, xã Tân Hòa", "20/11/2026", "25/11/2026", "",
                        status])
    return path


async def test_lookups_during_a_sync_see_old_or_new_never_partial(db: Db, store: Store, tmp_path: Path) -> None:
    await sync_source(store, str(big_csv(tmp_path / "a.csv", 60_000)), COLUMNS)
    src = big_csv(tmp_path / "b.csv", 60_000, status="Đã xử lý xong")
    task = asyncio.create_task(sync_source(store, str(src), COLUMNS))
    seen = []
    codes = ["000.00.14.H56-260101-0000000", "000.00.14.H56-260101-0059999"]
    while not task.done():
        assert (await store.get(codes[0])) is not None  # the bot's own connection
        # One statement reads one snapshot: both rows from before or both from after.
        rows = db.query("SELECT status FROM dossiers WHERE code IN (?, ?) ORDER BY code", codes)
        seen.append(tuple(r[0] for r in rows))
        await asyncio.sleep(0.005)
    report = await task
    assert report.updated == 60_000
    assert seen, "no look-up ran during the sync"
    # The sync is one transaction: a reader sees all old or all new, never a mix.
    assert all(a == b for a, b in seen)
    assert seen[0] == ("processing", "processing")
    assert (await store.get(codes[1])).status is Status.DONE  # type: ignore[union-attr]


async def test_cancelled_sync_rolls_back(db: Db, store: Store, tmp_path: Path) -> None:
    await sync_source(store, str(write_csv(tmp_path / "ok.csv", ROWS)), COLUMNS)
    before = db.dump(SYNC_TABLES)
    seen: list[int] = []
    task = asyncio.create_task(
        sync_source(store, str(big_csv(tmp_path / "big.csv", 100_000)), COLUMNS, progress=seen.append)
    )
    while not seen:
        await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert db.dump(SYNC_TABLES) == before


KILL_SCRIPT = """
import asyncio, sys
from pathlib import Path
from bot.config import SyncColumns
from bot.dossiers.store import open_store
from bot.dossiers.sync import sync_source

async def main():
    store = await open_store(Path(sys.argv[1]), sys.argv[4] or None)
    marker = Path(sys.argv[3])
    def progress(n):
        if n >= 20000 and not marker.exists():
            marker.write_text(str(n))
    await sync_source(store, sys.argv[2], SyncColumns(), progress=progress)
    await store.close()

asyncio.run(main())
"""


async def test_killed_sync_leaves_the_database_intact(db: Db, store: Store, tmp_path: Path) -> None:
    await sync_source(store, str(write_csv(tmp_path / "ok.csv", ROWS)), COLUMNS)
    await store.close()
    before = db.dump(SYNC_TABLES)
    src = big_csv(tmp_path / "big.csv", 400_000)
    marker = tmp_path / "marker"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(db.path), str(src), str(marker), db.url or ""],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        for _ in range(6000):
            if marker.exists() or proc.poll() is not None:
                break
            await asyncio.sleep(0.01)
        assert marker.exists(), "the sync did not start writing"
        assert proc.poll() is None, "the sync finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert db.dump(SYNC_TABLES) == before
    if db.kind == "sqlite":
        conn = sqlite3.connect(db.path)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
    reopened = await db.open()
    assert await reopened.count() == 3
    await reopened.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    content=st.one_of(
        st.binary(max_size=400),
        st.lists(st.lists(st.text(max_size=12), max_size=10), max_size=8).map(
            lambda rows: "\n".join([",".join(HEADER), *(",".join(r) for r in rows)]).encode("utf-8")
        ),
    )
)
async def test_any_file_gives_a_report_or_a_sync_error(store: Store, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fuzz.csv"
    path.write_bytes(content)
    try:
        report = await sync_source(store, str(path), COLUMNS)
    except SyncError as exc:
        assert "fuzz.csv" in str(exc)
    else:
        assert report.read == report.inserted + report.updated + report.unchanged + report.rejected
        assert all(isinstance(line, str) for line in report.summary_lines())


async def test_csv_xlsx_and_json_give_the_same_database(tmp_path: Path, json_server) -> None:
    base, _ = json_server
    csv_file = write_csv(tmp_path / "export.csv", ROWS)
    wb = openpyxl.Workbook()
    wb.active.append(HEADER)
    for row in ROWS:
        wb.active.append(row)
    xlsx_file = tmp_path / "export.xlsx"
    wb.save(xlsx_file)

    contents = []
    for name, source in (("csv", str(csv_file)), ("xlsx", str(xlsx_file)), ("json", f"{base}/paged")):
        db = await Store.open(tmp_path / f"{name}.sqlite3")
        try:
            report = await sync_source(db, source, COLUMNS)
            assert report.inserted == len(ROWS), report.summary_lines()
        finally:
            await db.close()
        with sqlite3.connect(tmp_path / f"{name}.sqlite3") as conn:
            contents.append(
                conn.execute(
                    "SELECT code, procedure, applicant, phone, address, received, appointment, "
                    "returned, status FROM dossiers ORDER BY code"
                ).fetchall()
            )
    assert contents[0] == contents[1] == contents[2]
    assert len(contents[0]) == len(ROWS)
