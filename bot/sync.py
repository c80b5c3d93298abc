"""Synchronising dossiers from the one-stop system's exports (``motcua sync SOURCE``).

Sources:

* **CSV** file: UTF-8 (with or without BOM), UTF-16 with BOM as Excel saves "Unicode
  Text" (usually tab-separated), or legacy Windows-1258. The delimiter (comma,
  semicolon or tab) is detected. Text is NFC-normalised after decoding.
* **XLSX** file (the first sheet that has a header row).
* **JSON**: a local ``.json`` file or an ``http(s)://`` URL. Paging convention: the
  endpoint returns either a plain JSON list of dossier objects, or an object
  ``{"items": [...], "next": URL-or-null}``; ``next`` may be relative (``"?page=2"``)
  and is resolved against the page's own URL. Pages are fetched until ``next`` is null.
  Object keys are column names, exactly like export headers.

Headers are matched to fields through :class:`bot.config.SyncColumns`, ignoring case,
diacritics and punctuation; the header row may follow a few title rows. Dates are
``dd/mm/yyyy`` (or ``d-m-yyyy``, ``dd.mm.yyyy``), optionally with a time, or ISO
``yyyy-mm-dd``. A row without a code, with a bad date, an unknown status or a code
already seen earlier in the same source is rejected with its row number and reason;
the rest is applied. Everything is written in one transaction: a source that cannot be
read, a crash or a kill leaves the database exactly as it was.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import hashlib
import json
import logging
import operator
import re
import sqlite3
import sys
import threading
import time
import unicodedata
import zipfile
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, Any, BinaryIO, TextIO
from urllib.parse import urljoin

import httpx

from bot.config import Config, SyncColumns
from bot.errors import SyncError
from bot.normalize import fold
from bot.statuses import parse_status
from bot.store import DossierRow, Store

log = logging.getLogger(__name__)

#: Rows written per batch (and between progress calls).
BATCH_ROWS = 5000
#: Rejected rows kept with their reasons in a report (the count is always exact).
MAX_REJECTIONS_KEPT = 1000
#: Rows searched for the header row (exports often start with title lines).
HEADER_SEARCH_ROWS = 20
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
_REQUIRED = ("code", "status")
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
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    status_changes: int = 0
    notifications: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0

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


# --- column mapping ---------------------------------------------------------------


class _Columns:
    """Which header positions hold which field."""

    def __init__(self, columns: SyncColumns) -> None:
        self._by_folded: dict[str, str] = {}
        for f in fields(SyncColumns):
            for name in getattr(columns, f.name):
                self._by_folded.setdefault(fold(name), f.name)
        self.aliases = columns

    def match(self, header: Sequence[Any]) -> dict[str, list[int]] | None:
        """Field → positions in ``header``, or None when code or status is missing."""
        found: dict[str, list[int]] = {}
        for i, cell in enumerate(header):
            if cell is None:
                continue
            name = self._by_folded.get(fold(str(cell)))
            if name is not None:
                found.setdefault(name, []).append(i)
        if all(k in found for k in _REQUIRED):
            return found
        return None

    def expected(self, name: str) -> str:
        """The accepted headers for a field, quoted, for error messages."""
        return " / ".join(f"'{a}'" for a in getattr(self.aliases, name))


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


# --- sources ----------------------------------------------------------------------


@dataclass
class _Table:
    """A source's rows after its header: (row label, values) pairs."""

    format: str
    encoding: str
    unit: str
    header: Sequence[Any]
    positions: dict[str, list[int]]
    rows: Iterator[tuple[int, Sequence[Any]]]
    close: Callable[[], None] = lambda: None


def _find_header(
    rows: Iterator[tuple[int, Sequence[Any]]], columns: _Columns, source: str, note: str
) -> tuple[Sequence[Any], dict[str, list[int]]]:
    for count, (_, values) in enumerate(rows):
        positions = columns.match(values)
        if positions is not None:
            return values, positions
        if count + 1 >= HEADER_SEARCH_ROWS:
            break
    raise SyncError(
        f"{source}: không tìm thấy dòng tiêu đề trong {HEADER_SEARCH_ROWS} dòng đầu: cần cột mã hồ "
        f"sơ ({columns.expected('code')}) và cột trạng thái ({columns.expected('status')}){note}"
    )


_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]")


def _detect_encoding(path: Path, head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:
        even, odd = head[0::2].count(0), head[1::2].count(0)
        if odd > len(head) // 4 and even == 0:
            return "utf-16-le"
        if even > len(head) // 4 and odd == 0:
            return "utf-16-be"
        raise SyncError(f"{path}: không phải tệp văn bản CSV (có byte NUL); hãy xuất lại thành CSV hoặc XLSX")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError as exc:
        utf8_error = exc
    if _UTF8_MULTIBYTE.search(head):
        raise SyncError(
            f"{path}: tệp UTF-8 bị hỏng (byte không hợp lệ ở vị trí {utf8_error.start}); "
            "hãy xuất lại tệp"
        )
    try:
        head.decode("cp1258")
    except UnicodeDecodeError:
        raise SyncError(
            f"{path}: không đọc được bảng mã của tệp (không phải UTF-8, UTF-16 hay Windows-1258); "
            "hãy lưu lại thành CSV UTF-8"
        ) from None
    return "cp1258"


class _LineDecoder:
    """Decodes a byte stream line by line (ASCII-compatible encodings) and NFC-normalises,
    so that a decoding error names its exact line."""

    def __init__(self, stream: BinaryIO, encoding: str) -> None:
        self._stream = stream
        self._encoding = encoding
        self.line = 0

    def __iter__(self) -> Iterator[str]:
        encoding = self._encoding
        for chunk in self._stream:
            # Lines end in \n, \r\n or, from old Mac Excel, a bare \r.
            cr = chunk.find(b"\r")
            pieces = chunk.splitlines(keepends=True) if 0 <= cr < len(chunk) - 2 else (chunk,)
            for raw in pieces:
                self.line += 1
                text = raw.decode(encoding)
                if self.line == 1 and encoding == "utf-8-sig":
                    encoding = "utf-8"
                yield text if text.isascii() else unicodedata.normalize("NFC", text)


class _TextLines:
    """Lines of a text stream (UTF-16), NFC-normalised, counted."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.line = 0

    def __iter__(self) -> Iterator[str]:
        for text in self._stream:
            self.line += 1
            yield text if text.isascii() else unicodedata.normalize("NFC", text)


def _open_csv(path: Path, columns: _Columns) -> _Table:
    with path.open("rb") as f:
        head = f.read(1 << 20)
    encoding = _detect_encoding(path, head)
    sample = head[: 1 << 16].decode(encoding, errors="replace")
    counts = {d: sample.count(d) for d in (",", ";", "\t")}
    delimiter = max(counts, key=lambda d: counts[d])
    lines: _LineDecoder | _TextLines
    if encoding.startswith("utf-16"):
        stream: IO = path.open(encoding=encoding, newline="", errors="strict")
        lines = _TextLines(stream)
    else:
        stream = path.open("rb")
        lines = _LineDecoder(stream, encoding)
    reader = csv.reader(lines, delimiter=delimiter)
    label = {"utf-8-sig": "UTF-8 có BOM", "utf-8": "UTF-8", "cp1258": "Windows-1258"}.get(
        encoding, "UTF-16"
    )

    def rows() -> Iterator[tuple[int, Sequence[Any]]]:
        try:
            for values in reader:
                yield reader.line_num, values
        except UnicodeDecodeError:
            # _TextLines counts a line once read; _LineDecoder before decoding it.
            line = lines.line + 1 if isinstance(lines, _TextLines) else lines.line
            raise SyncError(
                f"{path}: dòng {line}: không đọc được theo bảng mã {label}; hãy xuất lại tệp"
            ) from None
        except csv.Error as exc:
            raise SyncError(f"{path}: dòng {reader.line_num}: lỗi định dạng CSV ({exc})") from None

    it = rows()
    try:
        header, positions = _find_header(it, columns, str(path), f" (đọc theo bảng mã {label})")
    except BaseException:
        stream.close()
        raise
    sep = {",": "dấu phẩy", ";": "dấu chấm phẩy", "\t": "tab"}[delimiter]
    return _Table("CSV", f"{label}, phân cách bằng {sep}", "dòng", header, positions, it, stream.close)


def _open_xlsx(path: Path, columns: _Columns) -> _Table:
    import openpyxl  # imported here: only XLSX sources need it

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise SyncError(f"{path}: không đọc được tệp Excel XLSX ({exc})") from None
    except Exception as exc:  # openpyxl raises many kinds of errors on damaged files
        raise SyncError(f"{path}: không đọc được tệp Excel XLSX ({type(exc).__name__})") from None
    try:
        error = SyncError(f"{path}: tệp Excel không có trang nào")
        sheets = [workbook.active, *workbook.worksheets]
        for sheet in dict.fromkeys(s for s in sheets if s is not None):
            it = ((n, values) for n, values in enumerate(sheet.iter_rows(values_only=True), start=1))
            try:
                header, positions = _find_header(it, columns, str(path), "")
            except SyncError as exc:
                error = exc
                continue
            return _Table("XLSX", f"trang '{sheet.title}'", "dòng", header, positions, it, workbook.close)
        raise error
    except SyncError:
        workbook.close()
        raise
    except Exception as exc:
        workbook.close()
        raise SyncError(f"{path}: không đọc được tệp Excel XLSX ({type(exc).__name__}: {exc})") from None


def _json_table(items: list[Any], source: str, columns: _Columns) -> _Table:
    keys: dict[str, None] = {}
    for item in items:
        if isinstance(item, dict):
            keys.update(dict.fromkeys(map(str, item)))
    header = list(keys)
    positions = columns.match(header)
    if positions is None:
        if not items:  # an empty export is valid: nothing to read
            header, positions = ["code", "status"], {"code": [0], "status": [1]}
        else:
            raise SyncError(
                f"{source}: các mục JSON không có khóa mã hồ sơ ({columns.expected('code')}) "
                f"và trạng thái ({columns.expected('status')})"
            )

    def rows() -> Iterator[tuple[int, Sequence[Any]]]:
        for n, item in enumerate(items, start=1):
            yield n, ([item.get(k) for k in header] if isinstance(item, dict) else None)

    return _Table("JSON", "", "mục", header, positions, rows())


def _items_of(data: Any, where: str) -> tuple[list[Any], Any]:
    if isinstance(data, list):
        return data, None
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        return data["items"], data.get("next")
    raise SyncError(f'{where}: cần một danh sách JSON hoặc đối tượng {{"items": [...], "next": ...}}')


def _read_json_file(path: Path) -> list[Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise SyncError(f"{path}: tệp JSON phải là UTF-8") from None
    except json.JSONDecodeError as exc:
        raise SyncError(f"{path}: dòng {exc.lineno}, cột {exc.colno}: JSON không hợp lệ ({exc.msg})") from None
    items, next_page = _items_of(data, str(path))
    if next_page:
        raise SyncError(f"{path}: tệp JSON không được có 'next' (phân trang chỉ dùng với URL)")
    return items


#: Most pages a JSON endpoint may return in one run (guards against endless paging).
MAX_PAGES = 10_000


async def fetch_json(url: str, *, timeout: float = 30.0) -> list[Any]:
    """Every item of a paged JSON endpoint (see the module docstring for the convention)."""
    items: list[Any] = []
    seen: set[str] = set()
    next_url: str | None = url
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client:
        while next_url:
            if next_url in seen or len(seen) >= MAX_PAGES:
                raise SyncError(f"{url}: phân trang lặp lại hoặc quá {MAX_PAGES} trang (tại {next_url})")
            seen.add(next_url)
            try:
                response = await client.get(next_url, headers={"Accept": "application/json"})
            except httpx.HTTPError as exc:
                raise SyncError(f"{next_url}: không kết nối được ({type(exc).__name__}: {exc})") from None
            if response.status_code >= 400:
                raise SyncError(f"{next_url}: máy chủ trả lỗi HTTP {response.status_code}")
            try:
                data = response.json()
            except ValueError:
                raise SyncError(f"{next_url}: trả về không phải JSON") from None
            page, nxt = _items_of(data, next_url)
            items.extend(page)
            if nxt is not None and not isinstance(nxt, str):
                raise SyncError(f"{next_url}: 'next' phải là URL hoặc null")
            next_url = urljoin(str(response.url), nxt) if nxt else None
    return items


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def _open_file(path: Path, columns: _Columns) -> _Table:
    if not path.is_file():
        raise SyncError(f"{path}: không tìm thấy tệp")
    try:
        with path.open("rb") as f:
            magic = f.read(8)
    except OSError as exc:
        raise SyncError(f"{path}: không mở được tệp ({exc.strerror})") from None
    if magic.startswith(b"PK\x03\x04"):
        return _open_xlsx(path, columns)
    if magic == _OLE_MAGIC:
        raise SyncError(
            f"{path}: định dạng Excel 97-2003 (.xls) chưa được hỗ trợ; hãy lưu thành .xlsx hoặc CSV"
        )
    if path.suffix.lower() == ".json":
        return _json_table(_read_json_file(path), str(path), columns)
    return _open_csv(path, columns)


# --- running ----------------------------------------------------------------------


class _Aborted(Exception):
    """The awaiting task was cancelled: roll back."""


def _apply(
    store: Store,
    source: str,
    open_table: Callable[[], _Table],
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
    report.inserted = counts.inserted
    report.updated = counts.updated
    report.unchanged = counts.unchanged
    report.status_changes = counts.status_changes
    report.notifications = counts.notifications
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
    cols = _Columns(columns)
    if _is_url(source):
        items = await fetch_json(source)
        open_table = lambda: _json_table(items, source, cols)  # noqa: E731
    else:
        path = Path(source).expanduser()
        open_table = lambda: _open_file(path, cols)  # noqa: E731
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
    store: Store, config: Config, *, today: Callable[[], date] = date.today
) -> SyncReport | None:
    """Load ``status.demo_data`` when the store has no dossier; None when nothing was done.

    The demo file's dates are written relative to 29/11/2026; they are shifted so that
    this day becomes ``today()``, keeping "overdue" and "ready" dossiers meaningful.
    """
    demo = config.status.demo_data
    if demo is None or not await store.is_empty():
        return None
    cols = _Columns(config.status.sync.columns)
    transform = _shift_dates((today() - DEMO_REFERENCE_DAY).days)
    return await _run_in_thread(
        lambda abort: _apply(
            store, str(demo), lambda: _open_file(Path(demo), cols), None, None, transform, abort
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
    if not _is_url(source):
        try:
            if Path(source).expanduser().stat().st_size >= LARGE_FILE_BYTES:
                return ProgressPrinter(stream)
        except OSError:
            pass
    return None
