"""Drafts from national records, and what changed between the catalogue and the database.

:func:`write_draft` turns a :class:`~bot.procedures.national.NationalRecord` into a draft
catalogue file that a person must review (``draft: true`` until then, which
``motcua validate`` reports). Each file keeps a ``national:`` snapshot of the record's
checkable facts, so :func:`differences` can later say exactly what the database changed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.procedures.catalogue import Catalogue, Procedure
from bot.procedures.national import NationalRecord
from bot.procedures.normalize import fold

_NUMBER = re.compile(r"\d{1,3}(?:[.,]\d{3})+|\d+")
_LAW_NUMBER = re.compile(r"\d+(?:\.\d+)?/\d{4}/[A-ZĐa-zđ\-]+")


def document_key(text: str) -> str:
    """A short fingerprint of one document's wording (case, spacing and diacritics aside)."""
    return hashlib.sha1(" ".join(fold(text).split()).encode()).hexdigest()[:10]


def snapshot(record: NationalRecord) -> dict[str, Any]:
    """The record's checkable facts, as kept under ``national:`` in a catalogue file."""
    return {
        "code": record.code,
        "decision": record.decision,
        "fees": list(record.amounts),
        "days": list(record.day_counts),
        "documents": [document_key(d) for d in record.documents],
        "legal_basis": list(record.legal_codes),
    }


def slug(name: str, limit: int = 60) -> str:
    """A kebab-case ASCII id for a procedure name."""
    words = re.findall(r"[a-z0-9]+", fold(name).replace("đ", "d"))
    out = ""
    for word in words:
        if len(out) + len(word) + 1 > limit:
            break
        out = f"{out}-{word}" if out else word
    return out or "thu-tuc"


def _fee_text(record: NationalRecord) -> tuple[str | None, list[str]]:
    """The fee as catalogue text (None = not posted) and notes about it."""
    paid = [f for f in record.fees if f.amount > 0]
    if paid:
        parts = []
        for fee in sorted(paid, key=lambda f: f.amount):
            amount = f"{fee.amount:,}".replace(",", ".") + " đồng"
            parts.append(f"{amount} ({fee.text})" if fee.text else amount)
        return "; ".join(dict.fromkeys(parts)) + ".", []
    described = [f.text for f in record.fees if f.text]
    if described:
        return "; ".join(dict.fromkeys(described)), []
    if record.fees:
        return None, ["Cơ sở dữ liệu ghi lệ phí 0 đồng mà không ghi là miễn: chưa rõ có thu hay không; cần hỏi lại trước khi ghi."]
    return None, ["Cơ sở dữ liệu không ghi lệ phí."]


def _time_text(record: NationalRecord) -> str | None:
    if not record.cases:
        return None
    limits = {c.describe() for c in record.cases}
    if len(limits) == 1:
        return limits.pop() + "."
    return "; ".join(f"{c.name}: {c.describe()}" if c.name else c.describe() for c in record.cases) + "."


def draft_data(record: NationalRecord, proc_id: str | None = None) -> dict[str, Any]:
    """The contents of a draft catalogue file for ``record``."""
    fee, notes = _fee_text(record)
    time_limit = _time_text(record)
    if time_limit is None:
        notes.append("Cơ sở dữ liệu không ghi thời hạn giải quyết theo từng trường hợp.")
    if not record.is_commune:
        notes.append("Cơ sở dữ liệu không ghi thủ tục này do cấp xã giải quyết: có thể phải là một mục chỉ đường (kind: referral).")
    published = f" ngày {record.decision_date:%d/%m/%Y}" if record.decision_date else ""
    decision = f", công bố theo {record.decision}{published}" if record.decision else ""
    data: dict[str, Any] = {
        "id": proc_id or slug(record.name),
        "draft": True,
        "name": record.name,
        "code": record.code,
        "field": record.field or "Chưa rõ",
        "aliases": [record.name],
        "conditions": list(record.conditions) or None,
        "documents": list(record.documents) or None,
        "steps": list(record.steps) or None,
        "time": time_limit,
        "fee": fee,
        "where": "; ".join(record.executing) if record.executing else None,
        "legal_basis": list(record.legal_basis) or None,
        "notes": notes or None,
        "source": [f"Cơ sở dữ liệu quốc gia về thủ tục hành chính, mã {record.code}: {record.url}{decision}"],
        "national": snapshot(record),
    }
    return {k: v for k, v in data.items() if v is not None}


_HEADER = """\
# DRAFT imported from the national procedure database by `motcua import`.
# A person must check every fact against the source, write the aliases people use,
# shorten the wording for a phone, then delete `draft: true`, add `reviewed: YYYY-MM-DD`
# and move the file into its field's folder. Until then `motcua validate` reports it.
"""


def write_draft(record: NationalRecord, out_dir: Path, proc_id: str | None = None) -> Path:
    """Write the draft file for ``record`` under ``out_dir``; returns its path."""
    data = draft_data(record, proc_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{data['id']}.yaml"
    text = _HEADER + yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


@dataclass(frozen=True)
class Difference:
    """One fact that differs between a catalogue entry and the database."""

    code: str
    entry: str
    what: str
    detail: str

    def __str__(self) -> str:
        return f"{self.code} ({self.entry}): {self.what}: {self.detail}"


def _numbers(text: str | None) -> set[int]:
    return {int(re.sub(r"[.,]", "", n)) for n in _NUMBER.findall(text or "")}


def _fmt(values: Any) -> str:
    return ", ".join(f"{v:,}".replace(",", ".") if isinstance(v, int) else str(v) for v in values) or "none"


def differences(proc: Procedure, record: NationalRecord) -> list[Difference]:
    """What the database says now that the entry does not (fee, time limit, documents,
    code, legal basis). Entries with a ``national:`` snapshot are compared with it;
    others by the numbers and law numbers their text states."""
    found: list[Difference] = []

    def add(what: str, detail: str) -> None:
        found.append(Difference(record.code, proc.id, what, detail))

    if proc.code != record.code:
        add("code", f"the file has {proc.code or 'no code'}, the database has {record.code}")
    snap = proc.national or {}
    if snap:
        if list(snap.get("fees") or []) != list(record.amounts):
            add("fee", f"was {_fmt(snap.get('fees') or [])} đồng, now {_fmt(record.amounts)} đồng")
        if list(snap.get("days") or []) != list(record.day_counts):
            add("time", f"was {_fmt(snap.get('days') or [])} days, now {_fmt(record.day_counts)} days")
        old_docs = list(snap.get("documents") or [])
        new_docs = {document_key(d): d for d in record.documents}
        added = [text for key, text in new_docs.items() if key not in old_docs]
        removed = sum(1 for key in old_docs if key not in new_docs)
        if added or removed:
            listed = "; ".join(f"«{t[:80]}»" for t in added[:3])
            add("documents", f"{len(added)} new or reworded{': ' + listed if listed else ''}; {removed} gone")
        old_laws = set(snap.get("legal_basis") or [])
        new_laws = [c for c in record.legal_codes if c not in old_laws]
        if new_laws:
            add("legal basis", "new in the database: " + "; ".join(new_laws))
        if snap.get("decision") and record.decision and snap.get("decision") != record.decision:
            add("decision", f"was published by {snap.get('decision')}, now by {record.decision}")
        return found
    stated_fees = _numbers(proc.fee)
    missing_fees = [a for a in record.amounts if a not in stated_fees]
    if missing_fees:
        add("fee", f"the database has {_fmt(missing_fees)} đồng, which the file's fee does not state")
    stated_days = _numbers(proc.time)
    missing_days = [d for d in record.day_counts if d not in stated_days]
    if missing_days:
        add("time", f"the database has {_fmt(missing_days)} days, which the file's time limit does not state")
    our_laws = " ".join(proc.legal_basis)
    new_laws = []
    for code in record.legal_codes:
        number = _LAW_NUMBER.search(code)
        if number and number.group(0).split("/")[0] + "/" + number.group(0).split("/")[1] not in our_laws:
            new_laws.append(code)
    if new_laws:
        add("legal basis", "the database cites, the file does not: " + "; ".join(new_laws))
    return found


def entry_for(catalogue: Catalogue, record: NationalRecord) -> Procedure | None:
    """The catalogue entry for a record: the one with its code, else the one with its name."""
    by_code = [p for p in catalogue if p.code == record.code]
    if by_code:
        return by_code[0]
    name = fold(record.name)
    return next((p for p in catalogue if fold(p.name) == name), None)
