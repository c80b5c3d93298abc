"""Synchronising dossiers from the one-stop system's exports (``motcua sync SOURCE``).

Sources (CSV, XLSX, JSON file or paged JSON endpoint) are read by :mod:`bot.dossiers.exports`.
Dates are ``dd/mm/yyyy`` (or ``d-m-yyyy``, ``dd.mm.yyyy``), optionally with a time, or
ISO ``yyyy-mm-dd``. A row without a code, with a bad date, an unknown status or a code
already seen earlier in the same source is rejected with its row number and reason, as is
one with an oversized, unsafe or formula-looking value (:mod:`bot.dossiers.rows`); the
rest is applied. Everything is written in one transaction: a source that cannot be read,
a file that changes while it is read, a crash or a kill leaves the database exactly as
it was. ``dry_run`` does everything but commit.

A provincial sync (``communes:`` configured; :func:`commune_routes`) reads one export
for the whole province and routes each row to the commune whose ``status.code_prefix`` is
the code's agency segment (the code without its ``-yymmdd-NNNN`` tail); a row whose
segment is no commune's, or a bare tail, is rejected with its row number. The report
adds each commune's figures (:attr:`SyncReport.communes`), also logged per run in
``sync_run_communes``; dossiers a commune has stored but the export does not list are
counted as its missing ones, never deleted.

Speed: per row, the hot loop only normalises the code, checks it is not a duplicate and
fingerprints the row's text; a batch is compared with the stored fingerprints in one
query and only new or changed rows are parsed, then written by set-based SQL
(:class:`bot.dossiers.store.DossierSyncWriter`).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TextIO

from bot.config import Config, SyncColumns
from bot.errors import SyncError
from bot.dossiers.exports import ColumnMap, ExportTable, fetch_json, is_url, json_table, open_export
from bot.dossiers.rows import FIELD_LABELS, RowParser
from bot.dossiers.store import CommuneCounts, DossierStore, DossierSyncWriter, WriteCounts

log = logging.getLogger(__name__)

#: Rows written per batch (and between progress calls).
BATCH_ROWS = 5000
#: Rejected rows kept with their reasons in a report (the count is always exact).
MAX_REJECTIONS_KEPT = 1000
#: The reference "today" of the fixed dates in the bundled demo export.
DEMO_REFERENCE_DAY = date(2026, 11, 29)

#: ``motcua sync`` exit statuses: every row applied; applied, but some rows rejected;
#: nothing applied (the source could not be read, changed while read, or every row was
#: rejected), which is also the status of every other operator error.
EXIT_OK = 0
EXIT_REJECTED_ROWS = 3
EXIT_NOTHING_APPLIED = 2


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
    #: Dossiers stored before the run that this source does not list (never deleted).
    missing: int = 0
    #: Rows of this source whose code was already stored.
    present: int = 0
    #: Whether this was a ``--dry-run`` (then the counts say what would have changed).
    dry_run: bool = False
    #: A provincial sync (``communes:``): each commune's figures, by id (every configured
    #: commune, and '' when dossiers of a former single-commune install are stored);
    #: empty for a single commune.
    communes: dict[str, CommuneCounts] = field(default_factory=dict)
    #: Rows of a provincial sync that no commune's code prefix matched (rejected).
    unrouted: int = 0

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

    @property
    def exit_status(self) -> int:
        """The ``motcua sync`` exit status for this run (see :data:`EXIT_OK` and after)."""
        if not self.rejected:
            return EXIT_OK
        return EXIT_REJECTED_ROWS if self.read > self.rejected else EXIT_NOTHING_APPLIED

    def summary_lines(self, max_rejections: int = 50) -> list[str]:
        """The lines ``motcua sync`` prints: source, counts, missing columns, each rejected row."""
        fmt = ", ".join(p for p in (self.format, self.encoding) if p)
        lines = [f"Nguồn: {self.source}" + (f" ({fmt})" if fmt else "")]
        if self.dry_run:
            lines.append("Chạy thử (--dry-run): không ghi gì vào cơ sở dữ liệu; các số dưới đây là "
                         "những gì sẽ thay đổi.")
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
        if self.missing:
            lines.append(
                f"Có {_n(self.missing)} hồ sơ đã lưu không có trong nguồn này (vẫn giữ, không xóa) "
                "(stored dossiers missing from this source)."
            )
        if self.missing_columns:
            lines.append("Không có cột: " + ", ".join(self.missing_columns) + " (để trống).")
        if self.communes:
            lines.extend(self.commune_lines())
        if self.rejections:
            lines.append("Dòng bị loại (rejected rows):")
            shown = self.rejections[:max_rejections]
            lines.extend(f"  {r.where}: {r.reason}" for r in shown)
            more = self.rejected - len(shown)
            if more > 0:
                lines.append(f"  … và {_n(more)} dòng khác.")
        lines.append(f"Thời gian: {self.seconds:.1f} giây.".replace(".", ",", 1))
        return lines


    def commune_lines(self, max_communes: int = 30) -> list[str]:
        """The per-commune table of a provincial sync: communes with changes or rejected
        rows only (at most ``max_communes``), then the count of the others."""
        changed = [(c, k) for c, k in sorted(self.communes.items()) if k.changed]
        quiet = len(self.communes) - len(changed)
        lines = [
            f"Theo xã: {_n(len(self.communes))} xã, {_n(len(changed))} xã có thay đổi hoặc dòng bị "
            f"loại, {_n(quiet)} xã không đổi; {_n(self.unrouted)} dòng không thuộc xã nào "
            "(per commune: communes, with changes, unchanged; rows of no commune)."
        ]
        if changed:
            head = ("xã", "đọc", "thêm", "cập nhật", "đổi TT", "thông báo", "loại", "thiếu")
            rows = [(c or "(một xã)", *(_n(getattr(k, f)) for f in _TABLE_FIGURES)) for c, k in changed[:max_communes]]
            widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
            for r in (head, *rows):
                lines.append("  " + "  ".join(
                    v.ljust(widths[i]) if i == 0 else v.rjust(widths[i]) for i, v in enumerate(r)
                ).rstrip())
            if len(changed) > max_communes:
                lines.append(f"  … và {_n(len(changed) - max_communes)} xã khác có thay đổi.")
        return lines


#: The figures of a commune's line in the table, in order.
_TABLE_FIGURES = ("read", "inserted", "updated", "status_changes", "notifications", "rejected", "missing")


def _n(number: int) -> str:
    return f"{number:,}".replace(",", ".")


# --- running ----------------------------------------------------------------------


class _Aborted(Exception):
    """The awaiting task was cancelled: roll back."""


@dataclass(frozen=True)
class _Options:
    """How one run reads and writes (what the caller asked for)."""

    procedure_ids: Callable[[str], str | None] | None = None
    code_prefix: str | None = None
    transform: Callable[[tuple], tuple] | None = None
    dry_run: bool = False
    #: A provincial sync: each commune's id by its code prefix (upper case).
    communes: Mapping[str, str] | None = None


class _Tally:
    """A provincial sync's per-commune figures that the reader counts (the writer counts
    the rest)."""

    def __init__(self) -> None:
        self.read: dict[str, int] = {}
        self.rejected: dict[str, int] = {}
        self.present: dict[str, int] = {}

    @staticmethod
    def add(counts: dict[str, int], commune: str, n: int = 1) -> None:
        counts[commune] = counts.get(commune, 0) + n


def _file_state(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


def _apply(
    store: DossierStore,
    source: str,
    open_table: Callable[[], ExportTable],
    progress: Callable[[int], None] | None,
    options: _Options,
    abort: threading.Event,
    path: Path | None = None,
) -> SyncReport:
    started = time.perf_counter()
    before = _file_state(path) if path is not None else None
    table = open_table()
    try:
        report = SyncReport(source=source, format=table.format, encoding=table.encoding)
        report.dry_run = options.dry_run
        report.missing_columns = [
            label for name, label in FIELD_LABELS.items() if name not in table.positions
        ]
        parser = RowParser(
            table.positions, table.header, table.unit, options.procedure_ids, options.code_prefix
        )
        changed = SyncError(
            f"{path}: tệp đã thay đổi trong khi đang đọc (có thể đang được xuất lại); "
            "không áp dụng gì: hãy chạy lại khi tệp đã xuất xong"
        )
        tally = _Tally() if options.communes is not None else None
        with store.sync_writer(source, dry_run=options.dry_run) as writer:
            stored = writer.stored_by_commune() if tally is not None else None
            try:
                _read(writer, table, parser, report, progress, options, abort, tally)
            except SyncError:
                # A file rewritten under the reader often reads as garbage: say why.
                if path is not None and _file_state(path) != before:
                    raise changed from None
                raise
            if abort.is_set():
                raise _Aborted
            if path is not None and _file_state(path) != before:
                raise changed
            report.missing = max(0, writer.stored_before - report.present)
            if tally is not None and stored is not None and options.communes is not None:
                _fill_communes(writer.counts, tally, stored, options.communes.values())
                report.communes = writer.counts.communes
            else:
                whole = writer.counts.of("")
                whole.read, whole.rejected, whole.missing = report.read, report.rejected, report.missing
                whole.unchanged = writer.counts.unchanged
            counts = writer.finish(read=report.read, rejected=report.rejected)
    except (SyncError, _Aborted):
        raise
    except store.database_errors as exc:
        raise SyncError(f"{store.label}: lỗi cơ sở dữ liệu, không thay đổi gì ({exc})") from None
    finally:
        table.close()
    if progress:
        progress(report.read)
    report.written = counts
    report.seconds = time.perf_counter() - started
    return report


def _fill_communes(
    counts: WriteCounts, tally: _Tally, stored: Mapping[str, int], configured: Iterable[str]
) -> None:
    """Complete the writer's per-commune counts with what the reader counted."""
    for commune in sorted({*configured, *stored, *tally.read}):
        c = counts.of(commune)
        c.read = tally.read.get(commune, 0)
        c.rejected = tally.rejected.get(commune, 0)
        c.missing = max(0, stored.get(commune, 0) - tally.present.get(commune, 0))
        c.unchanged = c.read - c.rejected - c.inserted - c.updated


def _read(
    writer: DossierSyncWriter,
    table: ExportTable,
    parser: RowParser,
    report: SyncReport,
    progress: Callable[[int], None] | None,
    options: _Options,
    abort: threading.Event,
    tally: _Tally | None = None,
) -> None:
    """Read every row of ``table`` and hand them to ``writer`` a batch at a time.

    The hot loop: per row, only the code, a duplicate check and the fingerprint; a batch
    is then compared with what is stored, and rows whose fingerprint matches are counted
    unchanged without being parsed. When nothing was stored, rows are parsed at once.

    A provincial sync (``options.communes``) routes each row by its code's agency segment
    (the code without its ``-yymmdd-NNNN`` tail): a row of no configured commune is
    rejected, and ``tally`` counts each commune's rows.
    """
    transform = options.transform
    routes = options.communes
    route = routes.get if routes is not None else None
    # A commune's rows fingerprint differently from the same text stored for another
    # (or for the single commune of a former install), so that a move is written.
    mixes = {c: zlib.crc32(c.encode()) << 1 for c in routes.values()} if routes is not None else {}
    add_to = _Tally.add
    read_by = tally.read if tally is not None else {}
    rejected_by = tally.rejected if tally is not None else {}
    present_by = tally.present if tally is not None else {}
    unit = table.unit
    plain = table.format == "CSV"
    width = parser.width
    code_at = parser.code_at
    cells_of = parser.cells
    complete = parser.code
    fp_mix, fp_cells = parser.fingerprint_parts()
    crc32, adler32 = zlib.crc32, zlib.adler32
    lines = table.lines  # CSV: the row's own text is hashed (no join of its cells)
    parse = parser.parse
    # Shifted demo rows differ from their source: never skip them by fingerprint.
    use_fingerprints = transform is None
    # Nothing stored and codes unique within a run: every row is new, nothing to compare.
    fresh = not writer.stored_before
    seen: dict[str, int] = {}
    claim = seen.setdefault
    pending: list[tuple[int, Any, str, int | None, str | None]] = []
    add = pending.append
    staged: list[tuple] = []
    stage = staged.append
    read = 0
    next_batch = BATCH_ROWS
    if fresh:
        writer.begin_bulk()

    def refuse(number: int, reason: str, code: str = "", commune: str | None = None) -> None:
        # Rejections are reported in row order: after the pending rows, when there are.
        if commune is not None and tally is not None:
            add_to(rejected_by, commune)
        if fresh:
            _reject(report, f"{unit} {number}", reason)
        else:
            add((number, reason, code, None, commune))

    def flush() -> None:
        known = writer.known([p[2] for p in pending if p[3] is not None]) if not fresh else {}
        get = known.get
        skipped = present = 0
        for number, cells, code, fp, commune in pending:
            if fp is None:
                _reject(report, f"{unit} {number}", cells)
                if code in known:
                    present += 1
                    if tally is not None and commune is not None:
                        add_to(present_by, commune)
                continue
            stored = get(code, _ABSENT)
            if stored is not _ABSENT:
                present += 1
                if tally is not None:
                    add_to(present_by, commune)
                if stored == fp and use_fingerprints:
                    skipped += 1
                    continue
            row = parse(cells, code, fp if use_fingerprints else None, commune)
            if row.__class__ is str:
                if tally is not None:
                    add_to(rejected_by, commune)
                _reject(report, f"{unit} {number}", row)  # type: ignore[arg-type]
                continue
            stage(transform(row) if transform else row)
        pending.clear()
        report.present += present
        writer.write_staged(staged, unchanged=skipped, new_codes=fresh)
        staged.clear()

    for number, values in table.rows:
        if values.__class__ is str:  # rejected by the reader (e.g. oversized)
            read += 1
            refuse(number, values)  # type: ignore[arg-type]
            continue
        if plain:
            if values.__class__ is not list:  # a LongRow: check its cells' sizes
                cells = parser.trim(values)
            elif len(values) >= width:
                cells = values
            else:
                cells = [*values, *([""] * (width - len(values)))]
        elif isinstance(values, (list, tuple)):
            cells = cells_of(values)
        else:  # pragma: no cover - readers yield lists, tuples or reasons
            read += 1
            refuse(number, "không phải một dòng dữ liệu")
            continue
        if cells.__class__ is str:
            read += 1
            refuse(number, cells)  # type: ignore[arg-type]
            continue
        # The code, normalised as RowParser.code does (inlined: this loop runs per row).
        code = cells[code_at].strip().upper()
        if " " in code or "\t" in code or len(code) == 11:
            code = complete(cells)  # type: ignore[arg-type]
        if not code:
            if _is_blank(values):
                continue  # blank line: exports often end with some
            read += 1
            refuse(number, parser.missing_code())
            continue
        read += 1
        commune = ""
        if route is not None:
            segment = code[:-12] if len(code) > 12 and code[-12] == "-" else ""
            found = route(segment)
            if found is None:
                report.unrouted += 1
                refuse(number, parser.unrouted(code, segment))
                continue
            commune = found
            add_to(read_by, commune)
        first = claim(code, number)
        if first != number:
            refuse(number, parser.duplicate(code, first), code, commune if route is not None else None)
            continue
        if lines is None:
            text = "\x1f".join(fp_cells(cells))  # type: ignore[arg-type]
        else:
            text = lines[0] if len(lines) == 1 else "".join(lines)
        try:
            data = text.encode()
        except UnicodeEncodeError:  # a lone surrogate, from JSON
            data = text.encode("utf-8", "surrogatepass")
        fp = (crc32(data) << 31 ^ adler32(data)) ^ fp_mix  # as RowParser.digest
        if commune:
            fp ^= mixes[commune]
        if fresh:
            row = parse(cells, code, fp if use_fingerprints else None, commune)  # type: ignore[arg-type]
            if row.__class__ is str:
                if tally is not None:
                    add_to(rejected_by, commune)
                _reject(report, f"{unit} {number}", row)  # type: ignore[arg-type]
            else:
                stage(transform(row) if transform else row)
        else:
            add((number, cells, code, fp, commune))
        if read >= next_batch:
            next_batch = read + BATCH_ROWS
            if abort.is_set():
                raise _Aborted
            report.read = read
            flush()
            if progress:
                progress(read)
    report.read = read
    flush()


_ABSENT = object()


def _is_blank(values: Sequence[Any]) -> bool:
    return not any(v.strip() if isinstance(v, str) else v is not None for v in values)


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
    store: DossierStore,
    source: str,
    columns: SyncColumns,
    *,
    progress: Callable[[int], None] | None = None,
    procedure_ids: Callable[[str], str | None] | None = None,
    code_prefix: str | None = None,
    dry_run: bool = False,
    communes: Mapping[str, str] | None = None,
) -> SyncReport:
    """Read ``source`` (a CSV/XLSX/JSON file path or a JSON URL) and upsert its dossiers.

    Raises :class:`SyncError` (database unchanged) when the source cannot be read at
    all, or a file changed while it was read. ``progress`` is called from a worker
    thread with the rows read so far; ``procedure_ids`` maps a procedure name to its
    catalogue id, where one matches; ``code_prefix`` completes codes given as their tail
    only; ``dry_run`` reads and checks everything and reports what would change, writing
    nothing. ``communes`` (see :func:`commune_routes`) makes it a provincial sync: each
    row goes to the commune whose code prefix is its code's agency segment, a row of no
    commune is rejected, and the report has each commune's figures.
    """
    cols = ColumnMap(columns)
    path: Path | None = None
    if is_url(source):
        items = await fetch_json(source)
        open_table = lambda: json_table(items, source, cols)  # noqa: E731
    else:
        path = Path(source).expanduser()
        open_table = lambda: open_export(path, cols)  # noqa: E731
    options = _Options(
        procedure_ids=procedure_ids, code_prefix=code_prefix, dry_run=dry_run,
        communes={k.upper(): v for k, v in communes.items()} if communes is not None else None,
    )
    return await _run_in_thread(
        lambda abort: _apply(store, source, open_table, progress, options, abort, path)
    )


def commune_routes(config: Config) -> dict[str, str] | None:
    """Each commune's id by its ``status.code_prefix`` when ``communes:`` is configured (a
    provincial sync); None for a single commune."""
    if not config.communes:
        return None
    return {entry.status.code_prefix.upper(): entry.id for entry in config.communes}


def sync_prefix(config: Config) -> str | None:
    """The prefix that completes codes given as their tail only: the commune's own, and
    none for a provincial sync (a tail names no commune: such rows are rejected)."""
    return None if config.communes else config.status.code_prefix


def _shift_dates(days: int) -> Callable[[tuple], tuple]:
    def shift(value: str | None) -> str | None:
        return (date.fromisoformat(value) + timedelta(days=days)).isoformat() if value else None

    def transform(row: tuple) -> tuple:
        # Staged rows: received, appointment and returned are columns 6 to 8.
        return (*row[:6], shift(row[6]), shift(row[7]), shift(row[8]), *row[9:])

    return transform


async def seed_demo(
    store: DossierStore,
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
    options = _Options(
        procedure_ids=procedure_ids,
        code_prefix=config.status.code_prefix,
        transform=_shift_dates((today() - DEMO_REFERENCE_DAY).days),
    )
    return await _run_in_thread(
        lambda abort: _apply(
            store, str(demo), lambda: open_export(Path(demo), cols), None, options, abort
        )
    )


async def run_scheduled_sync(
    store: DossierStore,
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
            report = await sync_source(
                store, settings.source, settings.columns, code_prefix=sync_prefix(config),
                communes=commune_routes(config),
            )
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
