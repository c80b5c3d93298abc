"""Reading the one-stop system's exports: CSV, XLSX and JSON, as a header and rows.

* **CSV** file: UTF-8 (with or without BOM), UTF-16 with BOM as Excel saves "Unicode
  Text" (usually tab-separated), or legacy Windows-1258. The delimiter (comma, semicolon
  or tab) is detected. Text is NFC-normalised after decoding.
* **XLSX** file (the first sheet that has a header row).
* **JSON**: a local ``.json`` file or an ``http(s)://`` URL: a plain list of dossier
  objects, or pages ``{"items": [...], "next": URL-or-null}`` (``next`` may be relative,
  ``"?page=2"``, and is resolved against the page's own URL).

Headers are matched to dossier fields through :class:`bot.config.SyncColumns`, ignoring
case, diacritics and punctuation; the header row may follow a few title rows. What the
values mean is :mod:`bot.dossiers.sync`'s business.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any, BinaryIO, TextIO
from urllib.parse import urljoin

import httpx

from bot.config import SyncColumns
from bot.errors import SyncError
from bot.procedures.normalize import fold

#: Rows searched for the header row (exports often start with title lines).
HEADER_SEARCH_ROWS = 20
#: Fields without which a header row is not recognised.
REQUIRED_FIELDS = ("code", "status")

class ColumnMap:
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
        if all(k in found for k in REQUIRED_FIELDS):
            return found
        return None

    def expected(self, name: str) -> str:
        """The accepted headers for a field, quoted, for error messages."""
        return " / ".join(f"'{a}'" for a in getattr(self.aliases, name))




@dataclass
class ExportTable:
    """A source's rows after its header: (row label, values) pairs."""

    format: str
    encoding: str
    unit: str
    header: Sequence[Any]
    positions: dict[str, list[int]]
    rows: Iterator[tuple[int, Sequence[Any]]]
    close: Callable[[], None] = lambda: None


def _find_header(
    rows: Iterator[tuple[int, Sequence[Any]]], columns: ColumnMap, source: str, note: str
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


def _open_csv(path: Path, columns: ColumnMap) -> ExportTable:
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
    return ExportTable("CSV", f"{label}, phân cách bằng {sep}", "dòng", header, positions, it, stream.close)


def _open_xlsx(path: Path, columns: ColumnMap) -> ExportTable:
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
            return ExportTable("XLSX", f"trang '{sheet.title}'", "dòng", header, positions, it, workbook.close)
        raise error
    except SyncError:
        workbook.close()
        raise
    except Exception as exc:
        workbook.close()
        raise SyncError(f"{path}: không đọc được tệp Excel XLSX ({type(exc).__name__}: {exc})") from None


def json_table(items: list[Any], source: str, columns: ColumnMap) -> ExportTable:
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

    return ExportTable("JSON", "", "mục", header, positions, rows())


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


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def open_export(path: Path, columns: ColumnMap) -> ExportTable:
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
        return json_table(_read_json_file(path), str(path), columns)
    return _open_csv(path, columns)
