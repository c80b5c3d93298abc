"""Turning an export's rows into dossier rows, or into the reason a row is rejected.

Values are checked on the way in: a cell longer than :data:`MAX_CELL_CHARS` (or than its
field's limit), a code with characters no code has, a value a spreadsheet would run as
a formula (``=HYPERLINK(...)``), a bad date or an unknown status rejects its row; text is
stripped of terminal escape codes and control or invisible characters
(:mod:`bot.dossiers.cleaning`), so that what reaches users and the operator's terminal
is safe. A code given as its tail only (``YYMMDD-NNNN``) is completed with the commune's
code prefix.

Work is split so that an unchanged row costs little: :meth:`RowParser.extract` gives
the normalised code and a fingerprint of the raw cells (compared with the stored one),
and only a new or changed row goes through :meth:`RowParser.parse`.
"""

from __future__ import annotations

import hashlib
import operator
import re
import unicodedata
import zlib
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from bot.dossiers.cleaning import FORMULA_START, clean_text, formula, shown
from bot.dossiers.statuses import parse_status

#: Longest cell kept from an export, in characters; a longer cell in a dossier column
#: rejects its row (cells of other columns are dropped unread).
MAX_CELL_CHARS = 1000
#: Longest value stored per field, in characters.
FIELD_LIMITS = {
    "code": 64,
    "procedure": 300,
    "applicant": 150,
    "phone": 40,
    "address": 300,
    "received": 40,
    "appointment": 40,
    "returned": 40,
    "status": 100,
}
#: Bumped whenever parsing changes, so that rows skipped by their source fingerprint are
#: parsed again by a new version.
PARSER_VERSION = "2"

FIELD_LABELS = {
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
DATE_FIELDS = ("received", "appointment", "returned")
_FIELD_ORDER = (
    "procedure", "applicant", "phone", "address", "received", "appointment", "returned", "status"
)
_DATE = re.compile(
    r"(?:\d{1,2}:\d{2}(?::\d{2})?\s+)?"
    r"(?:(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})|(\d{4})-(\d{1,2})-(\d{1,2}))"
    r"(?:(?:T|\s+)\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:\s*[AaPp][Mm])?(?:Z|[+-]\d{2}:?\d{2})?)?"
)
_SPACE = re.compile(r"\s+")
_NOT_DIGIT = re.compile(r"\D+")
#: What a stored code may contain.
_CODE = re.compile(r"[0-9A-Z][0-9A-Z._/\-]*")
#: A code given without the commune's prefix: YYMMDD-NNNN.
_TAIL = re.compile(r"\d{6}-\d{4}")
_MISS = object()
_LIMIT_APPLICANT = FIELD_LIMITS["applicant"]
_LIMIT_ADDRESS = FIELD_LIMITS["address"]
_LIMIT_PHONE = FIELD_LIMITS["phone"]
#: Caches are emptied when they grow past this many entries (bounded memory).
_CACHE_LIMIT = 100_000
_PROCEDURE_CACHE_LIMIT = 10_000


def serial_date(value: float) -> str | None:
    """A spreadsheet date stored as a number (days since 1899-12-30), when plausible."""
    if 20000 <= value <= 80000:
        return (date(1899, 12, 30) + timedelta(days=int(value))).isoformat()
    return None


def _text(value: Any) -> str | None:
    """A spreadsheet or JSON value as stripped NFC text; None when it is not a plain value."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = value.strip()
        return text if text.isascii() else unicodedata.normalize("NFC", text)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, (int, float, date)):
        return str(value).strip()
    return None  # a list, an object...


class RowParser:
    """Turns source rows into staged tuples (see :data:`bot.dossiers.store.STAGED_COLUMNS`)
    or rejection reasons, for one table (its header's positions)."""

    def __init__(
        self,
        positions: dict[str, list[int]],
        header: Sequence[Any],
        unit: str,
        procedure_ids: Callable[[str], str | None] | None,
        code_prefix: str | None,
    ) -> None:
        self._pos = {name: idx[0] for name, idx in positions.items()}
        self._address = positions.get("address", [])
        self._header = header
        self.unit = unit
        self._procedure_ids = procedure_ids
        self._prefix = code_prefix.strip().rstrip("-") if code_prefix else ""
        self._dates: dict[str, str | None] = {"": None}
        self._statuses: dict[str, str | None] = {}
        self._procedures: dict[str, tuple[str, str | None] | str] = {}
        self.code_at = self._pos["code"]
        self.mapped = sorted({*self._pos.values(), *self._address})
        # Cells after the last dossier column are never read (a sheet may be 16,384 wide).
        self.width = self.mapped[-1] + 1
        self._date_columns = [self._pos[n] for n in DATE_FIELDS if n in self._pos]
        # Missing fields read a sentinel "" appended after the row's last header column.
        self._complete = all(n in self._pos for n in _FIELD_ORDER)
        self._getter = operator.itemgetter(*(self._pos.get(n, self.width) for n in _FIELD_ORDER))
        # Fingerprint every mapped column (all address columns too) plus the parser version.
        self._fp_getter = operator.itemgetter(*self.mapped)  # code and status: always 2 or more
        # Mixed into every fingerprint, so that another parser version, other columns or
        # another code prefix make every row be parsed again.
        self._fp_mix = int.from_bytes(
            hashlib.blake2b(
                f"{PARSER_VERSION}\x1f{self.mapped}\x1f{self._prefix}".encode(), digest_size=8
            ).digest(),
            "big",
        ) >> 1
        #: ``parse(cells, code, fingerprint)``: the staged row (``code`` already normalised),
        #: or the rejection reason.
        self.parse = self._make_parse()

    def column(self, name: str) -> str:
        """The header of a field's column, safe to print."""
        return shown(str(self._header[self._pos[name]]), 60)

    def cells(self, values: Sequence[Any]) -> list[str] | str:
        """A spreadsheet or JSON row as text cells (only the dossier columns are read;
        the others are left empty), or the rejection reason of an oversized or
        non-plain value."""
        cells = [""] * self.width
        n = len(values)
        for i in self.mapped:
            if i >= n:
                continue
            v = values[i]
            if isinstance(v, str) and len(v) > MAX_CELL_CHARS:
                return self._too_long(i, len(v))
            text = _text(v)
            if text is None:
                return f"ô ở cột '{shown(str(self._header[i]), 60)}' không phải giá trị đơn (danh sách hoặc đối tượng)"
            cells[i] = text
        for i in self._date_columns:
            v = values[i] if i < n else None
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                cells[i] = serial_date(v) or cells[i]
        return cells

    def trim(self, values: Sequence[str]) -> list[str] | str:
        """A CSV row with a long line: the dossier columns checked against
        :data:`MAX_CELL_CHARS`, the others emptied."""
        cells = [""] * self.width
        n = len(values)
        for i in self.mapped:
            if i < n:
                if len(values[i]) > MAX_CELL_CHARS:
                    return self._too_long(i, len(values[i]))
                cells[i] = values[i]
        return cells

    def _too_long(self, i: int, length: int) -> str:
        column = shown(str(self._header[i]), 60)
        return f"ô ở cột '{column}' dài {length:,} ký tự (tối đa {MAX_CELL_CHARS:,})".replace(",", ".")

    def code(self, cells: Sequence[str]) -> str:
        """The row's normalised code (upper case, no spaces, completed with the prefix when
        only its tail is given), "" when missing."""
        code = cells[self.code_at].strip().upper()
        if " " in code or "\t" in code:
            code = _SPACE.sub("", code)
        if len(code) == 11 and code[6] == "-" and self._prefix and _TAIL.fullmatch(code):
            code = f"{self._prefix}-{code}"
        return code

    def fingerprint_parts(self) -> tuple[int, Callable[[Sequence[str]], tuple[str, ...]]]:
        """What :meth:`fingerprint` uses: the number mixed in (parser version, columns,
        prefix) and the getter of the dossier cells, for callers that inline it."""
        return self._fp_mix, self._fp_getter

    def digest(self, text: str) -> int:
        """The fingerprint of a row's raw text (cells joined, or its CSV line): CRC-32 and
        Adler-32 of its UTF-8 bytes, 63 bits together, mixed with the parser's settings.

        A fingerprint only lets an identical row be skipped unparsed: a changed row whose
        two checksums both stay the same (about one chance in 2^60) would be missed. They
        cost a third of a cryptographic hash, and this runs for every row of every sync.
        """
        try:
            data = text.encode()
        except UnicodeEncodeError:  # a lone surrogate, from JSON
            data = text.encode("utf-8", "surrogatepass")
        return (zlib.crc32(data) << 31 ^ zlib.adler32(data)) ^ self._fp_mix

    def fingerprint(self, cells: Sequence[str], text: str | None = None) -> int:
        """A stable 64-bit hash of the raw dossier cells (or of the row's raw ``text``)."""
        return self.digest("\x1f".join(self._fp_getter(cells)) if text is None else text)

    def missing_code(self) -> str:
        """The rejection reason of a row without a code."""
        return f"thiếu mã hồ sơ (cột '{self.column('code')}')"

    def unrouted(self, code: str, segment: str) -> str:
        """The rejection reason of a code whose agency segment is no configured commune's."""
        if not segment:
            return f"mã {code}: không có mã cơ quan (phần trước «-yymmdd-NNNN») để biết hồ sơ của xã nào"
        return (f"mã {code}: mã cơ quan «{segment}» không thuộc xã nào trong communes: "
                "(status.code_prefix của từng xã)")

    def duplicate(self, code: str, first: int) -> str:
        """The rejection reason of a code already seen in this source."""
        return f"mã {code} trùng với {self.unit} {first} (chỉ lấy lần xuất hiện đầu)"

    def _make_parse(self) -> Callable[..., tuple | str]:
        # A closure over locals: it runs once per new or changed row, and attribute and
        # global look-ups are a good part of its cost.
        getter, complete, address_columns = self._getter, self._complete, self._address
        several_addresses = len(address_columns) > 1
        statuses, dates, procedures = self._statuses, self._dates, self._procedures
        to_date, to_procedure, miss = self._date, self._procedure, _MISS
        code_ok, tail, space, not_digit = _CODE.fullmatch, _TAIL.fullmatch, _SPACE.sub, _NOT_DIGIT.sub
        limit_code, limit_applicant = FIELD_LIMITS["code"], FIELD_LIMITS["applicant"]
        limit_address, limit_phone = FIELD_LIMITS["address"], FIELD_LIMITS["phone"]
        starts_formula = FORMULA_START

        def parse(cells: Sequence[str], code: str, fp: int | None, commune: str = "") -> tuple | str:
            if len(code) > limit_code or code_ok(code) is None or (len(code) == 11 and tail(code)):
                return self._bad_code(code)
            procedure, applicant, phone, address, received, appointment, returned, raw_status = (
                getter(cells if complete else [*cells, ""])
            )
            # Procedure, status and dates are checked once per distinct value (cached).
            if len(applicant) > limit_applicant or len(address) > limit_address or len(phone) > limit_phone:
                return self._too_long_field(
                    code, (("applicant", applicant), ("address", address), ("phone", phone))
                )
            status = statuses.get(raw_status, miss)
            if status is miss:
                status = self._status(raw_status)
            if status is None:
                return self._bad_status(code, raw_status)
            try:
                r = dates.get(received, miss)
                received = to_date(received) if r is miss else r
                r = dates.get(appointment, miss)
                appointment = to_date(appointment) if r is miss else r
                r = dates.get(returned, miss)
                returned = to_date(returned) if r is miss else r
            except ValueError:
                return self._bad_date(code, cells)
            known = procedures.get(procedure)
            if known is None:
                known = to_procedure(procedure)
            if known.__class__ is str:
                return f"mã {code}: {known}"
            procedure, procedure_id = known  # type: ignore[misc]
            # Fast paths: most cells have nothing to clean (and are NFC already).
            applicant = applicant.strip() if applicant.isprintable() else clean_text(applicant)
            if "  " in applicant:
                applicant = space(" ", applicant)
            if several_addresses:
                parts = [clean_text(cells[i]) for i in address_columns]
                address = ", ".join(dict.fromkeys(p for p in parts if p))
                if len(address) > limit_address:
                    return self._too_long_field(code, (("address", address),))
            else:
                address = address.strip() if address.isprintable() else clean_text(address)
            if applicant and applicant[0] in starts_formula and formula(applicant):
                return self._formula(code, "applicant")
            if address and address[0] in starts_formula and formula(address):
                return self._formula(code, "address")
            phone = phone.strip()
            if phone and not phone.isdigit():
                phone = not_digit("", phone)
            return (code, procedure, procedure_id, applicant, phone, address, received,
                    appointment, returned, status, fp, commune)

        return parse

    def _bad_code(self, code: str) -> str:
        if len(code) > FIELD_LIMITS["code"]:
            return f"mã hồ sơ dài quá {FIELD_LIMITS['code']} ký tự (cột '{self.column('code')}')"
        if len(code) == 11 and _TAIL.fullmatch(code):  # not completed: no prefix configured
            return (
                f"mã {code} chỉ có phần cuối (ngày-số), thiếu tiền tố mã của xã: hãy đặt "
                "status.code_prefix trong tệp cấu hình"
            )
        return (
            f"mã hồ sơ '{shown(code)}' có ký tự không hợp lệ (chỉ chữ, số và . - _ /; "
            f"cột '{self.column('code')}')"
        )

    def _status(self, raw: str) -> str | None:
        text = clean_text(raw)
        parsed = parse_status(text) if len(text) <= FIELD_LIMITS["status"] else None
        status = parsed.value if parsed else None
        if len(self._statuses) < _CACHE_LIMIT:
            self._statuses[raw] = status
        return status

    def _bad_status(self, code: str, raw: str) -> str:
        text = clean_text(raw)
        if not text:
            return f"mã {code}: thiếu trạng thái (cột '{self.column('status')}')"
        return f"mã {code}: trạng thái không nhận ra '{shown(text, 60)}' (cột '{self.column('status')}')"

    def _too_long_field(self, code: str, values: Sequence[tuple[str, str]]) -> str:
        for name, value in values:
            if len(value) > FIELD_LIMITS[name]:
                return (
                    f"mã {code}: ô dài {len(value):,} ký tự, tối đa {FIELD_LIMITS[name]} "
                    f"(cột '{self.column(name)}')"
                ).replace(",", ".", 1)
        return f"mã {code}: ô quá dài"  # pragma: no cover - one of them was

    def _formula(self, code: str, name: str) -> str:
        # Personal data: the value itself is not repeated (reasons reach the log).
        return f"mã {code}: giá trị giống công thức bảng tính (cột '{self.column(name)}')"

    def _procedure(self, raw: str) -> tuple[str, str | None] | str:
        name = clean_text(raw)
        if len(name) > FIELD_LIMITS["procedure"]:
            result: tuple[str, str | None] | str = (
                f"ô dài {len(name):,} ký tự, tối đa {FIELD_LIMITS['procedure']} "
                f"(cột '{self.column('procedure')}')"
            ).replace(",", ".", 1)
        elif name and name[0] in FORMULA_START and formula(name):
            result = (
                f"giá trị giống công thức bảng tính '{shown(name, 30)}' "
                f"(cột '{self.column('procedure')}')"
            )
        else:
            ids = self._procedure_ids
            result = (name, (ids(name) or None) if ids and name else None)
        if len(self._procedures) > _PROCEDURE_CACHE_LIMIT:
            self._procedures.clear()
        self._procedures[raw] = result
        return result

    def _date(self, raw: str) -> str | None:
        """dd/mm/yyyy or ISO text → ISO ``yyyy-mm-dd``, cached; ValueError if bad."""
        text = raw.strip()
        if not text:
            iso = None
        else:
            m = _DATE.fullmatch(text) if len(text) <= FIELD_LIMITS["received"] else None
            if m is None:
                raise ValueError(raw)
            if m.group(3):
                day, month, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
            else:
                year, month, day = int(m.group(4)), int(m.group(5)), int(m.group(6))
            iso = date(year, month, day).isoformat()  # ValueError for 31/02/2026
        if len(self._dates) > _CACHE_LIMIT:
            self._dates.clear()
            self._dates[""] = None
        self._dates[raw] = iso
        return iso

    def _bad_date(self, code: str, cells: Sequence[str]) -> str:
        for name in DATE_FIELDS:
            i = self._pos.get(name)
            if i is None or i >= len(cells) or not cells[i]:
                continue
            try:
                self._date(cells[i])
            except ValueError:
                return f"mã {code}: ngày không hợp lệ '{shown(cells[i])}' (cột '{self.column(name)}')"
        return f"mã {code}: ngày không hợp lệ"  # pragma: no cover - one of them failed
