"""Procedure records of the national procedure database, as its public portal serves them.

The portal (Cổng Dịch vụ công quốc gia) publishes each procedure as a JSON "formality"
record: ``code``, ``name``, ``executionCases[].profileComponents[]`` (the papers),
``executionMethods[].fees[]``, ``cases[].processingDay`` (time limit per case),
``legalBasisesDetails[]``, ``unitGroupsExecuting[]``, ``procedureProposal`` (the
publishing decision), ``isWard`` (done at the commune) and more. :func:`parse_record`
reads one into a :class:`NationalRecord`, keeping only what the catalogue uses;
:class:`PortalClient` fetches records by national code.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import MotcuaError

#: The national public-service portal.
DEFAULT_PORTAL = "https://dichvucong.gov.vn"
#: Public page of one procedure, by its record id.
PAGE_URL = "{portal}/thu-tuc-hanh-chinh/{id}"
#: The portal's public JSON endpoints (POST, JSON body).
SEARCH_PATH = "/api/v1/submitting/formality/list-all-public-formality-by-citizen"
DETAIL_PATH = "/api/v1/configuring/formality/get-formality-by-citizen"
#: The portal's firewall refuses short User-Agents; it serves browsers.
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 motcua-bot"
)
#: Largest record file or response read, in bytes (real records are well under 1 MB).
MAX_RECORD_BYTES = 5_000_000

_CODE = re.compile(r"^\d\.\d{6}$")
_SPACES = re.compile(r"\s+")
# Zero-width and direction marks that pasted portal text carries inside words.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff"))


class NationalRecordError(MotcuaError):
    """A record that cannot be read, or a code the portal does not serve."""


@dataclass(frozen=True)
class Fee:
    """One fee line of a record: an amount in đồng (0 when none is stated) and its text."""

    kind: str
    amount: int
    text: str


@dataclass(frozen=True)
class Case:
    """One case (trường hợp) of a procedure and its time limit."""

    name: str
    days: int
    working_days: bool

    def describe(self) -> str:
        """The time limit in words, e.g. ``01 ngày làm việc``."""
        unit = "ngày làm việc" if self.working_days else "ngày"
        return f"{self.days:02d} {unit}"


@dataclass(frozen=True)
class NationalRecord:
    """What the catalogue takes from one record of the national database."""

    code: str
    name: str
    field: str
    record_id: str
    documents: tuple[str, ...]
    fees: tuple[Fee, ...]
    cases: tuple[Case, ...]
    legal_basis: tuple[str, ...]
    legal_codes: tuple[str, ...]
    executing: tuple[str, ...]
    steps: tuple[str, ...]
    conditions: tuple[str, ...]
    decision: str | None
    decision_date: dt.date | None
    is_commune: bool
    url: str

    @property
    def amounts(self) -> tuple[int, ...]:
        """The distinct fee amounts above zero, smallest first."""
        return tuple(sorted({f.amount for f in self.fees if f.amount > 0}))

    @property
    def day_counts(self) -> tuple[int, ...]:
        """The distinct time limits of its cases, in days, smallest first."""
        return tuple(sorted({c.days for c in self.cases if c.days > 0}))


def _clean(text: Any) -> str:
    """Text on one line with list dashes and surrounding blanks removed."""
    line = _SPACES.sub(" ", str(text or "").translate(_INVISIBLE)).strip()
    return line.lstrip("-–•*+ ").strip()


def _lines(text: Any) -> tuple[str, ...]:
    """Non-empty cleaned lines of a multi-line text field."""
    return tuple(c for c in (_clean(part) for part in str(text or "").splitlines()) if c)


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _amount(value: Any) -> int:
    try:
        return max(0, int(float(value)))
    except (TypeError, ValueError):
        return 0


def _date_of(millis: Any) -> dt.date | None:
    try:
        return dt.datetime.fromtimestamp(float(millis) / 1000, tz=dt.timezone.utc).date()
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _documents(data: dict[str, Any]) -> tuple[str, ...]:
    docs: list[str] = []
    groups = [_dict(g) for g in _list(data, "executionCases")]
    headed = len([g for g in groups if _list(g, "profileComponents")]) > 1
    for group in groups:
        heading = _clean(group.get("name")).rstrip(":")
        for comp in _list(group, "profileComponents"):
            name = _clean(_dict(comp).get("name"))
            if name:
                docs.append(f"{heading}: {name}" if headed and heading else name)
    for comp in _list(data, "profileComponents"):
        name = _clean(_dict(comp).get("name"))
        if name and name not in docs:
            docs.append(name)
    return tuple(docs)


def _fees(data: dict[str, Any]) -> tuple[Fee, ...]:
    raw = list(_list(data, "fees"))
    for method in _list(data, "executionMethods"):
        raw += _list(_dict(method), "fees")
    seen: dict[tuple[str, int, str], Fee] = {}
    for item in raw:
        item = _dict(item)
        fee = Fee(str(item.get("type") or "FEE"), _amount(item.get("value")), _clean(item.get("description")))
        seen.setdefault((fee.kind, fee.amount, fee.text), fee)
    return tuple(seen.values())


def _cases(data: dict[str, Any]) -> tuple[Case, ...]:
    cases = []
    for case in _list(data, "cases"):
        case = _dict(case)
        day = _dict(case.get("processingDay"))
        days = _amount(day.get("qty"))
        if days:
            cases.append(Case(_clean(case.get("name")), days, str(day.get("type")) != "DAY"))
    return tuple(cases)


def parse_record(payload: Any, origin: str, portal: str = DEFAULT_PORTAL) -> NationalRecord:
    """Read one portal record: the portal's response ``{"code": "OK", "data": {...}}`` or
    the bare record. ``origin`` names the file or code in error messages."""
    data = payload
    if isinstance(payload, dict) and isinstance(payload.get("data"), dict):
        data = payload["data"]
    if not isinstance(data, dict):
        raise NationalRecordError(f"{origin}: not a procedure record (expected a JSON object)")
    code = _clean(data.get("code") or data.get("codeNotation"))
    if not _CODE.match(code):
        raise NationalRecordError(f"{origin}: code: expected a national code such as 1.001193, got {code!r}")
    name = _clean(data.get("name"))
    if not name:
        raise NationalRecordError(f"{origin}: name: missing")
    name = re.sub(r"^Thủ tục\s+", "", name)
    name = name[:1].upper() + name[1:]
    category = _dict(data.get("category")) or next(
        (_dict(c) for c in _list(data, "categoriesDetails")), {}
    )
    legal = [_dict(item) for item in _list(data, "legalBasisesDetails")]
    proposal = _dict(data.get("procedureProposal"))
    record_id = _clean(data.get("id"))
    decision = _clean(proposal.get("proposalNumber") or proposal.get("decisionNumber") or data.get("decisionNo"))
    return NationalRecord(
        code=code,
        name=name,
        field=_clean(category.get("name")),
        record_id=record_id,
        documents=_documents(data),
        fees=_fees(data),
        cases=_cases(data),
        legal_basis=tuple(n for n in (_clean(item.get("name")) for item in legal) if n),
        legal_codes=tuple(c for c in (_clean(item.get("code")) for item in legal) if c),
        executing=tuple(
            n for n in (_clean(_dict(u).get("name")) for u in _list(data, "unitGroupsExecuting")) if n
        ),
        steps=tuple(line for step in _list(data, "executionSteps") for line in _lines(_dict(step).get("description"))),
        conditions=_lines(data.get("requirementsAndConditions")),
        decision=decision or None,
        decision_date=_date_of(proposal.get("decisionDate")),
        is_commune=bool(data.get("isWard")),
        url=PAGE_URL.format(portal=portal.rstrip("/"), id=record_id) if record_id else portal,
    )


def read_record_file(path: Path) -> NationalRecord:
    """The record in a JSON file (a portal response or a bare record)."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_RECORD_BYTES + 1)
    except OSError as exc:
        raise NationalRecordError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if len(raw) > MAX_RECORD_BYTES:
        raise NationalRecordError(f"{path}: larger than {MAX_RECORD_BYTES // 1_000_000} MB; not a procedure record")
    try:
        payload = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise NationalRecordError(f"{path}: not UTF-8 text") from exc
    except (json.JSONDecodeError, RecursionError) as exc:
        line = getattr(exc, "lineno", 1)
        raise NationalRecordError(f"{path}:{line}: not valid JSON") from exc
    return parse_record(payload, str(path))


def is_code(text: str) -> bool:
    """True for a national procedure code such as ``1.001193``."""
    return bool(_CODE.match(text))


class PortalClient:
    """Fetches records from the national portal's public JSON API, politely.

    Requests are spaced at least ``interval`` seconds apart (about 2 per second by
    default); the portal is only called when staff run ``motcua import``.
    """

    def __init__(self, portal: str = DEFAULT_PORTAL, interval: float = 0.5, timeout: float = 30.0) -> None:
        import httpx  # only staff's import command talks to the portal

        self.portal = portal.rstrip("/")
        self.interval = interval
        self._last = 0.0
        self._http = httpx.AsyncClient(
            base_url=self.portal,
            timeout=timeout,
            headers={
                "User-Agent": USER_AGENT,
                "Accept": "application/json, text/plain, */*",
                "Accept-Language": "vi-VN,vi;q=0.9",
                "Origin": self.portal,
                "Referer": self.portal + "/",
            },
        )

    async def close(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    async def __aenter__(self) -> PortalClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _post(self, path: str, body: dict[str, Any], what: str) -> Any:
        import httpx

        wait = self._last + self.interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last = time.monotonic()
        try:
            resp = await self._http.post(path, json=body)
        except httpx.HTTPError as exc:
            raise NationalRecordError(f"{what}: the portal did not answer ({type(exc).__name__})") from exc
        if len(resp.content) > MAX_RECORD_BYTES:
            raise NationalRecordError(f"{what}: the portal's answer is too large")
        if "json" not in resp.headers.get("content-type", ""):
            raise NationalRecordError(
                f"{what}: the portal answered HTTP {resp.status_code} with a page, not data (blocked or down?)"
            )
        if not resp.is_success:
            raise NationalRecordError(f"{what}: the portal answered HTTP {resp.status_code}")
        try:
            return resp.json()
        except (ValueError, RecursionError) as exc:
            raise NationalRecordError(f"{what}: the portal's answer is not valid JSON") from exc

    async def fetch(self, code: str) -> NationalRecord:
        """The current record of the procedure with this national code."""
        found = await self._post(
            SEARCH_PATH, {"limit": 50, "lastId": "", "q": code, "categoryId": "", "departmentCode": ""}, code
        )
        items = _list(_dict(_dict(found).get("data")), "items")
        match = next((_dict(i) for i in items if _clean(_dict(i).get("code")) == code and _dict(i).get("id")), None)
        if match is None:
            raise NationalRecordError(f"{code}: the portal has no procedure with this code")
        detail = await self._post(DETAIL_PATH, {"id": match["id"]}, code)
        return parse_record(detail, code, self.portal)
