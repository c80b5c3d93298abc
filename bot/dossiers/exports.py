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
values mean is :mod:`bot.dossiers.rows`'s business.

Memory stays bounded whatever the file holds: CSV lines are read at most
:data:`MAX_LINE_CHARS` at a time and a record with a longer line, or a field over the
csv module's limit, becomes one rejected row (skipped to its real end, quotes and all);
XLSX parts are checked for a text longer than :data:`MAX_XLSX_TEXT_BYTES` before
openpyxl (read-only) sees them; JSON is read up to :data:`MAX_JSON_BYTES`.
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
from typing import Any, BinaryIO, TextIO
from urllib.parse import urljoin

import httpx

from bot.config import SyncColumns
from bot.dossiers.cleaning import shown
from bot.dossiers.rows import MAX_CELL_CHARS
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
    """A source's rows after its header: (row label, values) pairs; values is the
    rejection reason instead when the reader itself rejects the row (e.g. oversized)."""

    format: str
    encoding: str
    unit: str
    header: Sequence[Any]
    positions: dict[str, list[int]]
    rows: Iterator[tuple[int, Sequence[Any] | str]]
    close: Callable[[], None] = lambda: None
    #: CSV only: the text lines of the row just yielded (valid until the next row), for
    #: fingerprinting the row without joining its cells.
    lines: list[str] | None = None


def _find_header(
    rows: Iterator[tuple[int, Sequence[Any]]], columns: ColumnMap, source: str, note: str
) -> tuple[Sequence[Any], dict[str, list[int]]]:
    for count, (_, values) in enumerate(rows):
        positions = columns.match(values) if not isinstance(values, str) else None
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


#: Longest physical CSV line read at once (characters); a longer line is one bad row,
#: skipped without being kept in memory.
MAX_LINE_CHARS = 1 << 20


def oversized_reason(unit: str) -> str:
    """Why a row with a cell or line over the size limits was rejected."""
    return (
        f"{unit} quá dài (một ô hơn {CSV_FIELD_LIMIT:,} ký tự hoặc cả {unit} hơn "
        f"{MAX_LINE_CHARS:,} ký tự): bỏ qua cả {unit}"
    ).replace(",", ".")


#: The csv module's per-field limit (read, never changed: it is process-wide).
CSV_FIELD_LIMIT = csv.field_size_limit()


class LongRow(list):
    """A CSV row read from a line longer than :data:`MAX_CELL_CHARS`: the reader of the
    rows checks its cells' sizes before keeping any."""


class _CsvLines:
    """Physical lines of a CSV text stream, NFC-normalised and counted, each at most
    :data:`MAX_LINE_CHARS` long.

    ``kept`` holds the lines of the record being read (the reader clears it after each
    record) so that an oversized record can be skipped to its real end, quotes and all.
    A line too long to keep is replaced by an empty line (closing an open quote) after
    the rest of its record is skipped, and ``oversized`` is set.
    """

    def __init__(self, stream: TextIO, delimiter: str) -> None:
        self._stream = stream
        self._delimiter = delimiter
        self.line = 0
        self.kept: list[str] = []
        self.oversized = False
        #: Whether a line of the current record is longer than MAX_CELL_CHARS.
        self.long = False

    def __iter__(self) -> Iterator[str]:
        readline = self._stream.readline
        limit = MAX_LINE_CHARS
        kept = self.kept
        normalize = unicodedata.normalize
        while True:
            text = readline(limit)
            if not text:
                return
            if len(text) >= limit and text[-1] not in "\r\n":
                yield self._skip_long_line(text)
                continue
            self.line += 1
            if not text.isascii():
                text = normalize("NFC", text)
            if len(text) > MAX_CELL_CHARS:
                self.long = True
            kept.append(text)
            yield text

    def _skip_long_line(self, piece: str) -> str:
        state = _scan("".join(self.kept), _START, self._delimiter)
        quoted_before = state == _QUOTED
        self.line += 1
        state = _scan(piece, state, self._delimiter)
        self._drain(state, piece)
        self.oversized = True
        return '"\n' if quoted_before else "\n"

    def skip_rest_of_record(self) -> None:
        """After csv gave up on the current record (a field over its limit): read on to the
        record's end, as csv would have found it."""
        state = _scan("".join(self.kept), _START, self._delimiter)
        if state == _QUOTED:
            self._drain(state, "\n")

    def _drain(self, state: int, last: str) -> None:
        # Read pieces until the end of a physical line where no quoted field is open.
        readline = self._stream.readline
        while not (last[-1:] in ("\n", "\r") and state != _QUOTED):
            last = readline(MAX_LINE_CHARS)
            if not last:
                return
            if last[-1] in "\r\n":
                self.line += 1
            state = _scan(last, state, self._delimiter)


# States of csv's parser that matter for finding where a record ends.
_START, _FIELD, _QUOTED, _QUOTE_IN_QUOTED = range(4)


def _scan(text: str, state: int, delimiter: str) -> int:
    """The csv module's (default dialect, non-strict) parser state after ``text``."""
    special = re.compile(f"[{re.escape(delimiter)}\r\n]")
    i, n = 0, len(text)
    while i < n:
        if state == _QUOTED:
            j = text.find('"', i)
            if j < 0:
                return _QUOTED
            state, i = _QUOTE_IN_QUOTED, j + 1
        elif state == _QUOTE_IN_QUOTED:
            c = text[i]
            state = _QUOTED if c == '"' else _START if c == delimiter or c in "\r\n" else _FIELD
            i += 1
        elif state == _START and text[i] == '"':
            state, i = _QUOTED, i + 1
        else:
            m = special.search(text, i)
            if m is None:
                return _FIELD
            state, i = _START, m.end()
    return state


def _bad_line(path: Path, encoding: str) -> int:
    """The line (1-based) holding the first byte that does not decode as ``encoding``."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    breaks = 0
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                text = exc.object[: exc.start].decode(encoding, errors="replace")
                return breaks + text.count("\n") + text.count("\r") - text.count("\r\n") + 1
            breaks += text.count("\n") + text.count("\r") - text.count("\r\n")
    return breaks + 1


def _open_csv(path: Path, columns: ColumnMap) -> ExportTable:
    with path.open("rb") as f:
        head = f.read(1 << 20)
    encoding = _detect_encoding(path, head)
    sample = head[: 1 << 16].decode(encoding, errors="replace")
    counts = {d: sample.count(d) for d in (",", ";", "\t")}
    delimiter = max(counts, key=lambda d: counts[d])
    # newline="": csv sees every line break (\r\n, \n and old Mac Excel's bare \r) itself.
    stream = path.open(encoding=encoding, newline="", errors="strict")
    lines = _CsvLines(stream, delimiter)
    reader = csv.reader(lines, delimiter=delimiter)
    label = {"utf-8-sig": "UTF-8 có BOM", "utf-8": "UTF-8", "cp1258": "Windows-1258"}.get(
        encoding, "UTF-16"
    )
    too_long = oversized_reason("dòng")

    def rows() -> Iterator[tuple[int, Sequence[Any] | str]]:
        kept = lines.kept
        next_record = reader.__next__
        number = 0
        while True:
            kept.clear()  # here, not after the yield: the consumer may read them
            try:
                values = next_record()
            except StopIteration:
                return
            except UnicodeDecodeError:
                raise SyncError(
                    f"{path}: dòng {_bad_line(path, encoding)}: không đọc được theo bảng mã "
                    f"{label}; hãy xuất lại tệp"
                ) from None
            except csv.Error as exc:
                if "field larger than field limit" not in str(exc):
                    raise SyncError(f"{path}: dòng {lines.line}: lỗi định dạng CSV ({exc})") from None
                lines.skip_rest_of_record()
                lines.long = False
                yield number + 1, too_long
                number = lines.line
                continue
            if lines.oversized:
                lines.oversized = lines.long = False
                yield number + 1, too_long
                number = lines.line
                continue
            number = lines.line
            if lines.long:
                lines.long = False
                yield number, LongRow(values)
                continue
            yield number, values

    it = rows()
    try:
        header, positions = _find_header(it, columns, str(path), f" (đọc theo bảng mã {label})")
    except BaseException:
        stream.close()
        raise
    sep = {",": "dấu phẩy", ";": "dấu chấm phẩy", "\t": "tab"}[delimiter]
    return ExportTable(
        "CSV", f"{label}, phân cách bằng {sep}", "dòng", header, positions, it, stream.close, lines.kept
    )


#: Longest text between two XML tags in an XLSX part (a cell's or a shared string's
#: text), in bytes; a file with a longer one is refused before openpyxl reads it, which
#: would hold it whole in memory.
MAX_XLSX_TEXT_BYTES = 8 << 20
#: Largest uncompressed part of an XLSX file (a sheet, the shared strings...).
MAX_XLSX_PART_BYTES = 1 << 30


def _one_line(exc: BaseException) -> str:
    """An exception as one printable line (its text may quote the file)."""
    text = shown(str(exc), 200)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _check_xlsx_parts(path: Path) -> None:
    """Refuse an XLSX file whose parts are too big to read with bounded memory."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SyncError(f"{path}: không đọc được tệp Excel XLSX ({_one_line(exc)})") from None
    with archive:
        for info in archive.infolist():
            if not info.filename.endswith(".xml"):
                continue
            if info.file_size > MAX_XLSX_PART_BYTES:
                raise SyncError(
                    f"{path}: phần '{info.filename}' của tệp Excel quá lớn "
                    f"({info.file_size >> 20} MB, tối đa {MAX_XLSX_PART_BYTES >> 20} MB)"
                )
            try:
                with archive.open(info) as part:
                    longest = _longest_text(part)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
                raise SyncError(f"{path}: tệp Excel XLSX bị hỏng ({_one_line(exc)})") from None
            except Exception as exc:  # zlib.error and others from a damaged archive
                raise SyncError(f"{path}: tệp Excel XLSX bị hỏng ({_one_line(exc)})") from None
            if longest > MAX_XLSX_TEXT_BYTES:
                raise SyncError(
                    f"{path}: tệp Excel có một ô dài hơn {MAX_XLSX_TEXT_BYTES >> 20} MB "
                    f"(trong '{info.filename}'); không đọc tệp này: hãy xuất lại"
                )


def _longest_text(stream: BinaryIO, chunk_size: int = 1 << 20) -> int:
    """A lower bound of the longest run without '<' in an XML stream that is exact when
    the run is longer than ``chunk_size`` (all that matters here)."""
    longest, position, last = 0, 0, 0
    while chunk := stream.read(chunk_size):
        first = chunk.find(b"<")
        if first < 0:
            longest = max(longest, position + len(chunk) - last)
        else:
            longest = max(longest, position + first - last)
            last = position + chunk.rfind(b"<")
        position += len(chunk)
    return max(longest, position - last)


def _open_xlsx(path: Path, columns: ColumnMap) -> ExportTable:
    import openpyxl  # imported here: only XLSX sources need it

    _check_xlsx_parts(path)
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds of errors on damaged files
        raise SyncError(f"{path}: không đọc được tệp Excel XLSX ({_one_line(exc)})") from None
    try:
        error = SyncError(f"{path}: tệp Excel không có trang nào")
        sheets = [workbook.active, *workbook.worksheets]
        for sheet in dict.fromkeys(s for s in sheets if s is not None):
            it = _sheet_rows(path, sheet)
            try:
                header, positions = _find_header(it, columns, str(path), "")
            except SyncError as exc:
                error = exc
                continue
            title = shown(str(sheet.title), 60)
            return ExportTable("XLSX", f"trang '{title}'", "dòng", header, positions, it, workbook.close)
        raise error
    except SyncError:
        workbook.close()
        raise
    except Exception as exc:
        workbook.close()
        raise SyncError(f"{path}: không đọc được tệp Excel XLSX ({_one_line(exc)})") from None


def _sheet_rows(path: Path, sheet: Any) -> Iterator[tuple[int, Sequence[Any]]]:
    """A sheet's rows, numbered; a damaged sheet (found while reading) is a SyncError."""
    n = 0
    try:
        for n, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield n, values
    except SyncError:
        raise
    except Exception as exc:
        raise SyncError(
            f"{path}: trang '{shown(str(sheet.title), 60)}' bị hỏng sau dòng {n} ({_one_line(exc)}); "
            "không áp dụng gì"
        ) from None


#: Largest JSON file, or total of a JSON endpoint's pages, read in one run (bytes).
MAX_JSON_BYTES = 256 << 20


def json_table(items: list[Any], source: str, columns: ColumnMap) -> ExportTable:
    """The table of a JSON export's items (objects; anything else is a rejected row)."""
    keys: dict[str, None] = {}
    for item in items:
        if isinstance(item, dict):
            keys.update(dict.fromkeys(map(str, item)))
    positions = columns.match(list(keys))
    if positions is None:
        if not items:  # an empty export is valid: nothing to read
            header, positions = ["code", "status"], {"code": [0], "status": [1]}
        else:
            raise SyncError(
                f"{source}: các mục JSON không có khóa mã hồ sơ ({columns.expected('code')}) "
                f"và trạng thái ({columns.expected('status')})"
            )
    else:
        # Only the keys of dossier fields are read, in their header order.
        all_keys = list(keys)
        header = [all_keys[i] for i in sorted({i for idx in positions.values() for i in idx})]
        positions = columns.match(header) or positions

    def rows() -> Iterator[tuple[int, Sequence[Any] | str]]:
        for n, item in enumerate(items, start=1):
            if isinstance(item, dict):
                yield n, [item.get(k) for k in header]
            else:
                yield n, "không phải đối tượng JSON"

    return ExportTable("JSON", "", "mục", header, positions, rows())


def _items_of(data: Any, where: str) -> tuple[list[Any], Any]:
    if isinstance(data, list):
        return data, None
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        return data["items"], data.get("next")
    raise SyncError(f'{where}: cần một danh sách JSON hoặc đối tượng {{"items": [...], "next": ...}}')


def _parse_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SyncError(f"{where}: dòng {exc.lineno}, cột {exc.colno}: JSON không hợp lệ ({exc.msg})") from None
    except RecursionError:
        raise SyncError(f"{where}: JSON lồng nhau quá sâu; không đọc được") from None


def _read_json_file(path: Path) -> list[Any]:
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise SyncError(f"{path}: tệp JSON quá lớn ({size >> 20} MB, tối đa {MAX_JSON_BYTES >> 20} MB)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise SyncError(f"{path}: tệp JSON phải là UTF-8") from None
    data = _parse_json(text, str(path))
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
    budget = MAX_JSON_BYTES
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client:
        while next_url:
            if next_url in seen or len(seen) >= MAX_PAGES:
                raise SyncError(f"{url}: phân trang lặp lại hoặc quá {MAX_PAGES} trang (tại {next_url})")
            seen.add(next_url)
            try:
                async with client.stream(
                    "GET", next_url, headers={"Accept": "application/json"}
                ) as response:
                    if response.status_code >= 400:
                        raise SyncError(f"{next_url}: máy chủ trả lỗi HTTP {response.status_code}")
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > budget:
                            raise SyncError(
                                f"{url}: dữ liệu JSON quá lớn (hơn {MAX_JSON_BYTES >> 20} MB tính "
                                "cả các trang); không đọc"
                            )
                    page_url = str(response.url)
            except httpx.HTTPError as exc:
                raise SyncError(f"{next_url}: không kết nối được ({type(exc).__name__}: {exc})") from None
            budget -= len(body)
            try:
                text = bytes(body).decode("utf-8-sig")
            except UnicodeDecodeError:
                raise SyncError(f"{next_url}: trả về không phải JSON (không phải UTF-8)") from None
            try:
                data = json.loads(text)
            except ValueError:
                raise SyncError(f"{next_url}: trả về không phải JSON hợp lệ") from None
            except RecursionError:
                raise SyncError(f"{next_url}: JSON lồng nhau quá sâu; không đọc được") from None
            page, nxt = _items_of(data, next_url)
            items.extend(page)
            if nxt is not None and not isinstance(nxt, str):
                raise SyncError(f"{next_url}: 'next' phải là URL hoặc null")
            next_url = urljoin(page_url, nxt) if nxt else None
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
