"""Synchronising dossiers from the one-stop system's exports (``motcua sync SOURCE``).

Sources (CSV, XLSX, JSON file or paged JSON endpoint) are read by :mod:`bot.dossiers.exports`.
Dates are ``dd/mm/yyyy`` (or ``d-m-yyyy``, ``dd.mm.yyyy``), optionally with a time, or
ISO ``yyyy-mm-dd``. A row without a code, with a bad date, an unknown status or a code
already seen earlier in the same source is rejected with its row number and reason;
the rest is applied. Everything is written in one transaction: a source that cannot be
read, a crash or a kill leaves the database exactly as it was.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import operator
import re
import sqlite3
import sys
import threading
import time
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from bot.config import Config, SyncColumns
from bot.errors import SyncError
from bot.dossiers.exports import ColumnMap, ExportTable, fetch_json, is_url, json_table, open_export
from bot.dossiers.statuses import parse_status
from bot.dossiers.store import DossierRow, Store, WriteCounts

log = logging.getLogger(__name__)

#: Rows written per batch (and between progress calls).
BATCH_ROWS = 5000
#: Rejected rows kept with their reasons in a report (the count is always exact).
MAX_REJECTIONS_KEPT = 1000
#: The reference "today" of the fixed dates in the bundled demo export.
DEMO_REFERENCE_DAY = date(2026, 11, 29)

_FIELD_LABELS = {
    "code": "Mã hồ sơ",
    "procedure": "Tên thủ tục",
    "applicant": "Chủ hồ sơ",
    "phone": "Số điện thoại",
    "address": "Địa chỉ",
    "received": "Ngày tiếp nhận",
    "appointment": "Ngày hẹn trả",
    "returned": "Ngày trả kết quả",
    "status": "Trạng thái",
}
_DATE_FIELDS = ("received", "appointment", "returned")


@dataclass(frozen=True)
class Rejection:
    """A row that was not applied, and why (``where`` is e.g. "dòng 7" or "mục 3")."""

    where: str
    reason: str


@dataclass
class SyncReport:
    """What one sync run read and did."""

    source: str
    format: str = ""
    encoding: str = ""
    read: int = 0
    rejected: int = 0
    #: What the database writer did (inserted, updated, unchanged, status changes...).
    written: WriteCounts = field(default_factory=WriteCounts)
    rejections: list[Rejection] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def inserted(self) -> int:
        """New dossiers."""
        return self.written.inserted

    @property
    def updated(self) -> int:
        """Dossiers whose data changed."""
        return self.written.updated

    @property
    def unchanged(self) -> int:
        """Dossiers read again exactly as stored."""
        return self.written.unchanged

    @property
    def status_changes(self) -> int:
        """Dossiers whose status changed (recorded in the history)."""
        return self.written.status_changes

    @property
    def notifications(self) -> int:
        """Notifications queued for followers."""
        return self.written.notifications

    @property
    def changed(self) -> bool:
        """Whether the run changed any dossier."""
        return bool(self.inserted or self.updated)

    def summary_lines(self, max_rejections: int = 50) -> list[str]:
        """The lines ``motcua sync`` prints: source, counts, missing columns, each rejected row."""
        fmt = ", ".join(p for p in (self.format, self.encoding) if p)
        lines = [f"Nguồn: {self.source}" + (f" ({fmt})" if fmt else "")]
        lines.append(
            f"Đọc {_n(self.read)} dòng: thêm mới {_n(self.inserted)}, cập nhật {_n(self.updated)}, "
            f"không đổi {_n(self.unchanged)}, bị loại {_n(self.rejected)} "
            "(read / inserted / updated / unchanged / rejected)."
        )
        if self.status_changes or self.notifications:
            lines.append(
                f"Đổi trạng thái: {_n(self.status_changes)} hồ sơ; "
                f"thông báo chờ gửi: {_n(self.notifications)}."
            )
        if not self.changed:
            lines.append("Không có thay đổi nào: dữ liệu giống hệt lần đồng bộ trước (nothing changed).")
        if self.missing_columns:
            lines.append("Không có cột: " + ", ".join(self.missing_columns) + " (để trống).")
        if self.rejections:
            lines.append("Dòng bị loại (rejected rows):")
            shown = self.rejections[:max_rejections]
            lines.extend(f"  {r.where}: {r.reason}" for r in shown)
            more = self.rejected - len(shown)
            if more > 0:
                lines.append(f"  … và {_n(more)} dòng khác.")
        lines.append(f"Thời gian: {self.seconds:.1f} giây.".replace(".", ",", 1))
        return lines


def _n(number: int) -> str:
    return f"{number:,}".replace(",", ".")


# --- values -----------------------------------------------------------------------

_DATE = re.compile(
    r"(?:\d{1,2}:\d{2}(?::\d{2})?\s+)?"
    r"(?:(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})|(\d{4})-(\d{1,2})-(\d{1,2}))"
    r"(?:(?:T|\s+)\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:\s*[AaPp][Mm])?(?:Z|[+-]\d{2}:?\d{2})?)?"
)
_SPACE = re.compile(r"\s+")


class _DateParser:
    """dd/mm/yyyy or ISO text → ISO ``yyyy-mm-dd``, cached by the raw text; ValueError if bad."""

    def __init__(self) -> None:
        self._cache: dict[str, str | None] = {}

    def __call__(self, raw: str) -> str | None:
        try:
            return self._cache[raw]
        except KeyError:
            pass
        text = raw.strip()
        if not text:
            iso = None
        else:
            m = _DATE.fullmatch(text)
            if m is None:
                raise ValueError(raw)
            if m.group(3):
                day, month, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
            else:
                year, month, day = int(m.group(4)), int(m.group(5)), int(m.group(6))
            iso = date(year, month, day).isoformat()  # ValueError for 31/02/2026
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[raw] = iso
        return iso


def _serial_date(value: float) -> str | None:
    """A spreadsheet date stored as a number (days since 1899-12-30), when plausible."""
    if 20000 <= value <= 80000:
        return (date(1899, 12, 30) + timedelta(days=int(value))).isoformat()
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        text = value.strip()
        return text if text.isascii() else unicodedata.normalize("NFC", text)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    return str(value).strip()


_FIELD_ORDER = (
    "code", "procedure", "applicant", "phone", "address", "received", "appointment", "returned", "status"
)
_NOT_DIGIT = re.compile(r"\D+")


#: Bumped whenever parsing changes, so that rows skipped by their source fingerprint are
#: parsed again by a new version.
PARSER_VERSION = "1"


class _RowParser:
    """Turns source rows into :class:`DossierRow` values or rejection reasons.

    Work is split so that an unchanged row costs little: :meth:`cells` and :meth:`code`
    extract, :meth:`fingerprint` hashes the raw cells (compared with the stored one),
    and only a new or changed row goes through :meth:`parse`.
    """

    def __init__(
        self,
        positions: dict[str, list[int]],
        header: Sequence[Any],
        unit: str,
        procedure_ids: Callable[[str], str | None] | None,
    ) -> None:
        self._pos = {name: idx[0] for name, idx in positions.items()}
        self._address = positions.get("address", [])
        self._header = header
        self._unit = unit
        self._procedure_ids = procedure_ids
        self._dates = _DateParser()
        self._statuses: dict[str, str | None] = {}
        self._seen: dict[str, int] = {}
        # Missing fields read a sentinel "" appended after the row's last header column.
        self._width = len(header)
        self._date_columns = [self._pos[n] for n in _DATE_FIELDS if n in self._pos]
        self._code_at = self._pos["code"]
        getter_positions = [self._pos.get(n, self._width) for n in _FIELD_ORDER]
        self._getter = operator.itemgetter(*getter_positions)
        # Fingerprint every mapped column (all address columns too) plus the parser version.
        fp_positions = [*getter_positions, *self._address[1:]]
        self._fp_getter = operator.itemgetter(*fp_positions)
        self._fp_seed = f"{PARSER_VERSION}\x1f{fp_positions}\x1f"

    def _column(self, name: str) -> str:
        return str(self._header[self._pos[name]]).strip()

    def cells(self, values: Sequence[Any], plain: bool) -> list[str]:
        """The row as stripped-or-not strings, one per header column, plus the "" sentinel.
        ``plain``: every cell is already an NFC string (a CSV row)."""
        width = self._width
        if plain and len(values) == width:
            return [*values, ""]
        cells = [_text(v) for v in values[:width]]
        cells += [""] * (width + 1 - len(cells))
        for i in self._date_columns:
            v = values[i] if i < len(values) else None
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                cells[i] = _serial_date(v) or cells[i]
        return cells

    def code(self, cells: list[str]) -> str:
        """The row's normalised code (upper case, no spaces), "" when missing."""
        code = cells[self._code_at].strip().upper()
        if " " in code or "\t" in code:
            code = _SPACE.sub("", code)
        return code

    @staticmethod
    def is_blank(cells: list[str]) -> bool:
        """Whether every cell is empty or spaces."""
        return not any(c.strip() for c in cells)

    def fingerprint(self, cells: list[str]) -> int:
        """A stable 64-bit hash of the raw mapped cells."""
        text = self._fp_seed + "\x1f".join(self._fp_getter(cells))
        return int.from_bytes(
            hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big", signed=True
        )

    def claim(self, code: str, number: int) -> str | None:
        """Record the code's first row; the rejection reason if it was seen before."""
        first = self._seen.get(code)
        if first is not None:
            return f"mã {code} trùng với {self._unit} {first} (chỉ lấy lần xuất hiện đầu)"
        self._seen[code] = number
        return None

    def missing_code(self) -> str:
        """The rejection reason of a row without a code."""
        return f"thiếu mã hồ sơ (cột '{self._column('code')}')"

    def parse(self, cells: list[str], code: str) -> DossierRow | str:
        """The row with its already normalised ``code``, or the rejection reason."""
        if len(code) > 64:
            return f"mã hồ sơ dài quá 64 ký tự (cột '{self._column('code')}')"
        _, procedure, applicant, phone, address, received, appointment, returned, raw_status = (
            self._getter(cells)
        )
        status = self._statuses.get(raw_status, "?")
        if status == "?":
            parsed = parse_status(raw_status)
            status = parsed.value if parsed else None
            if len(self._statuses) < 10_000:
                self._statuses[raw_status] = status
        if status is None:
            shown = raw_status.strip()
            if not shown:
                return f"mã {code}: thiếu trạng thái (cột '{self._column('status')}')"
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            return f"mã {code}: trạng thái không nhận ra '{shown}' (cột '{self._column('status')}')"
        dates = self._dates
        try:
            received = dates(received) if received else None
            appointment = dates(appointment) if appointment else None
            returned = dates(returned) if returned else None
        except ValueError:
            return self._bad_date(code, cells)
        procedure = procedure.strip()
        applicant = applicant.strip()
        if "  " in applicant or "\t" in applicant:
            applicant = _SPACE.sub(" ", applicant)
        phone = phone.strip()
        if phone and not phone.isdigit():
            phone = _NOT_DIGIT.sub("", phone)
        if len(self._address) > 1:
            parts = [cells[i].strip() for i in self._address]
            address = ", ".join(dict.fromkeys(p for p in parts if p))
        else:
            address = address.strip()
        procedure_id = (self._procedure_ids(procedure) or None) if self._procedure_ids and procedure else None
        return DossierRow(
            code, procedure, procedure_id, applicant, phone, address, received, appointment,
            returned, status,
        )

    def _bad_date(self, code: str, cells: list[str]) -> str:
        for name in _DATE_FIELDS:
            i = self._pos.get(name)
            if i is None or not cells[i]:
                continue
            try:
                self._dates(cells[i])
            except ValueError:
                shown = cells[i].strip()[:40]
                return f"mã {code}: ngày không hợp lệ '{shown}' (cột '{self._column(name)}')"
        return f"mã {code}: ngày không hợp lệ"  # pragma: no cover - one of them failed


# --- running ----------------------------------------------------------------------


class _Aborted(Exception):
    """The awaiting task was cancelled: roll back."""


def _apply(
    store: Store,
    source: str,
    open_table: Callable[[], ExportTable],
    progress: Callable[[int], None] | None,
    procedure_ids: Callable[[str], str | None] | None,
    transform: Callable[[DossierRow], DossierRow] | None,
    abort: threading.Event,
) -> SyncReport:
    started = time.perf_counter()
    table = open_table()
    report = SyncReport(source=source, format=table.format, encoding=table.encoding)
    report.missing_columns = [
        label for name, label in _FIELD_LABELS.items() if name not in table.positions
    ]
    parser = _RowParser(table.positions, table.header, table.unit, procedure_ids)
    plain = table.format == "CSV"
    # Shifted demo rows differ from their source: never skip them by fingerprint.
    use_fingerprints = transform is None
    unit = table.unit

    def flush(pending: list[tuple[int, list[str] | None]]) -> None:
        codes = [parser.code(cells) if cells is not None else "" for _, cells in pending]
        known = writer.known([c for c in codes if c])
        rows: list[DossierRow] = []
        prints: list[int | None] = []
        skipped = 0
        for (number, cells), code in zip(pending, codes):
            if cells is None:
                report.read += 1
                _reject(report, f"{unit} {number}", "không phải đối tượng JSON")
                continue
            if not code:
                if parser.is_blank(cells):
                    continue  # blank line: exports often end with some
                report.read += 1
                _reject(report, f"{unit} {number}", parser.missing_code())
                continue
            report.read += 1
            duplicate = parser.claim(code, number)
            if duplicate is not None:
                _reject(report, f"{unit} {number}", duplicate)
                continue
            fp = parser.fingerprint(cells) if use_fingerprints else None
            stored = known.get(code)
            if stored is not None and fp is not None and stored.fingerprint == fp:
                skipped += 1
                continue
            row = parser.parse(cells, code)
            if row.__class__ is str:
                _reject(report, f"{unit} {number}", row)  # type: ignore[arg-type]
                continue
            rows.append(transform(row) if transform else row)  # type: ignore[arg-type]
            prints.append(fp)
        writer.write(rows, fingerprints=prints, known=known, unchanged=skipped)

    try:
        with store.sync_writer(source) as writer:
            pending: list[tuple[int, list[str] | None]] = []
            for number, values in table.rows:
                if values.__class__ is not list and not isinstance(values, (list, tuple)):
                    pending.append((number, None))  # not a JSON object: rejected in order
                elif values:
                    pending.append((number, parser.cells(values, plain)))
                if len(pending) >= BATCH_ROWS:
                    if abort.is_set():
                        raise _Aborted
                    flush(pending)
                    pending = []
                    if progress:
                        progress(report.read)
            if pending:
                flush(pending)
            if abort.is_set():
                raise _Aborted
            counts = writer.finish(read=report.read, rejected=report.rejected)
    except SyncError:
        raise
    except _Aborted:
        raise
    except sqlite3.Error as exc:
        raise SyncError(f"{store.path}: lỗi cơ sở dữ liệu, không thay đổi gì ({exc})") from None
    finally:
        table.close()
    if progress:
        progress(report.read)
    report.written = counts
    report.seconds = time.perf_counter() - started
    return report


def _reject(report: SyncReport, where: str, reason: str) -> None:
    report.rejected += 1
    if len(report.rejections) < MAX_REJECTIONS_KEPT:
        report.rejections.append(Rejection(where, reason))


async def _run_in_thread(fn: Callable[[threading.Event], SyncReport]) -> SyncReport:
    abort = threading.Event()
    future = asyncio.get_running_loop().run_in_executor(None, fn, abort)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        abort.set()  # the worker rolls back at its next batch
        try:
            await future
        except BaseException:
            pass
        raise


async def sync_source(
    store: Store,
    source: str,
    columns: SyncColumns,
    *,
    progress: Callable[[int], None] | None = None,
    procedure_ids: Callable[[str], str | None] | None = None,
) -> SyncReport:
    """Read ``source`` (a CSV/XLSX/JSON file path or a JSON URL) and upsert its dossiers.

    Raises :class:`SyncError` (database unchanged) when the source cannot be read at
    all. ``progress`` is called from a worker thread with the rows read so far;
    ``procedure_ids`` maps a procedure name to its catalogue id, where one matches.
    """
    cols = ColumnMap(columns)
    if is_url(source):
        items = await fetch_json(source)
        open_table = lambda: json_table(items, source, cols)  # noqa: E731
    else:
        path = Path(source).expanduser()
        open_table = lambda: open_export(path, cols)  # noqa: E731
    return await _run_in_thread(
        lambda abort: _apply(store, source, open_table, progress, procedure_ids, None, abort)
    )


def _shift_dates(days: int) -> Callable[[DossierRow], DossierRow]:
    def shift(value: str | None) -> str | None:
        return (date.fromisoformat(value) + timedelta(days=days)).isoformat() if value else None

    def transform(row: DossierRow) -> DossierRow:
        return row._replace(
            received=shift(row.received),
            appointment=shift(row.appointment),
            returned=shift(row.returned),
        )

    return transform


async def seed_demo(
    store: Store,
    config: Config,
    *,
    today: Callable[[], date] = date.today,
    procedure_ids: Callable[[str], str | None] | None = None,
) -> SyncReport | None:
    """Load ``status.demo_data`` when the store has no dossier; None when nothing was done.

    The demo file's dates are written relative to 29/11/2026; they are shifted so that
    this day becomes ``today()``, keeping "overdue" and "ready" dossiers meaningful.
    """
    demo = config.status.demo_data
    if demo is None or not await store.is_empty():
        return None
    cols = ColumnMap(config.status.sync.columns)
    transform = _shift_dates((today() - DEMO_REFERENCE_DAY).days)
    return await _run_in_thread(
        lambda abort: _apply(
            store, str(demo), lambda: open_export(Path(demo), cols), None, procedure_ids, transform, abort
        )
    )


async def run_scheduled_sync(
    store: Store,
    config: Config,
    stop: asyncio.Event,
    *,
    on_report: Callable[[SyncReport], Awaitable[None] | None] | None = None,
    logger: logging.Logger = log,
) -> None:
    """Sync from ``status.sync.source`` now and every ``status.sync.interval_minutes``
    until ``stop`` is set. Failures are logged and retried at the next interval.
    Returns at once when no source or interval is configured."""
    settings = config.status.sync
    if not settings.source or settings.interval_minutes <= 0:
        return
    interval = settings.interval_minutes * 60
    while not stop.is_set():
        try:
            report = await sync_source(store, settings.source, settings.columns)
        except SyncError as exc:
            logger.error("scheduled sync failed: %s", exc)
        except Exception:
            logger.exception("scheduled sync failed unexpectedly")
        else:
            logger.info(
                "scheduled sync: %s", " | ".join(report.summary_lines(max_rejections=10))
            )
            if on_report is not None:
                result = on_report(report)
                if asyncio.iscoroutine(result):
                    await result
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except asyncio.TimeoutError:
            pass


class ProgressPrinter:
    """Prints "rows read" to a stream while a sync runs; call :meth:`finish` after it.

    On a terminal it updates one line as rows are read; otherwise (a log, a cron mail)
    it prints a line per :data:`LARGE_SOURCE_ROWS` rows, so small syncs stay quiet.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._last = 0

    def __call__(self, rows: int) -> None:
        step = 50_000 if self._tty else LARGE_SOURCE_ROWS
        if rows < self._last + step and (self._last or not self._tty):
            return
        self._last = rows
        text = f"… đã đọc {_n(rows)} dòng"
        self._stream.write(f"\r{text}" if self._tty else f"{text}\n")
        self._stream.flush()

    def finish(self) -> None:
        """End the progress line (on a terminal)."""
        if self._tty and self._last:
            self._stream.write("\n")
            self._stream.flush()


#: Off a terminal, progress is printed once per this many rows (so only for large sources).
LARGE_SOURCE_ROWS = 100_000
#: Files at least this big get a progress indicator even when stderr is not a terminal.
LARGE_FILE_BYTES = 20 * 1024 * 1024


def make_progress(source: str, stream: TextIO | None = None) -> ProgressPrinter | None:
    """A progress printer for ``motcua sync`` when ``stream`` (stderr) is a terminal or
    the source file is large; otherwise None."""
    stream = stream if stream is not None else sys.stderr
    if stream.isatty():
        return ProgressPrinter(stream)
    if not is_url(source):
        try:
            if Path(source).expanduser().stat().st_size >= LARGE_FILE_BYTES:
                return ProgressPrinter(stream)
        except OSError:
            pass
    return None
