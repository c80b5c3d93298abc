"""The procedure catalogue: loading and validating ``procedures/**/*.yaml``.

The schema is documented in ``procedures/README.md``. :func:`load_catalogue` collects
every problem in every file (YAML syntax, unknown or missing keys, wrong types,
duplicate ids) before failing, so that ``motcua validate`` can list them all as
``file:line: key: problem``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.errors import CatalogueError

KIND_PROCEDURE = "procedure"
KIND_REFERRAL = "referral"

# LibYAML's parser when PyYAML has it (much faster on large catalogues); same results.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

# key -> (expected type, required for procedures, required for referrals)
_STR, _LIST, _DATE = "text", "list of text", "date (YYYY-MM-DD)"
_SCHEMA: dict[str, tuple[str, bool, bool]] = {
    "id": (_STR, True, True),
    "kind": (_STR, False, False),
    "name": (_STR, True, True),
    "short_name": (_STR, False, False),
    "code": (_STR, False, False),
    "field": (_STR, True, True),
    "summary": (_STR, False, False),
    "combines": (_LIST, False, False),
    "aliases": (_LIST, True, True),
    "documents": (_LIST, True, False),
    "steps": (_LIST, False, False),
    "time": (_STR, True, False),
    "fee": (_STR, False, False),
    "where": (_STR, True, True),
    "forms": (_LIST, False, False),
    "legal_basis": (_LIST, False, False),
    "notes": (_LIST, False, False),
    "source": (_LIST, True, True),
    "reviewed": (_DATE, True, True),
}


@dataclass(frozen=True)
class Procedure:
    """One catalogue entry: a procedure of the desk, or a referral elsewhere."""

    id: str
    name: str
    field: str
    aliases: tuple[str, ...]
    where: str
    source: tuple[str, ...]
    reviewed: dt.date
    kind: str = KIND_PROCEDURE
    code: str | None = None
    short_name: str | None = None
    summary: str | None = None
    documents: tuple[str, ...] = ()
    steps: tuple[str, ...] = ()
    time: str | None = None
    fee: str | None = None
    forms: tuple[str, ...] = ()
    legal_basis: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    #: Ids of the procedures this one does in a single application ("liên thông").
    combines: tuple[str, ...] = ()
    path: Path | None = None

    @property
    def title(self) -> str:
        """The name shown in replies: the short name where the official one is long."""
        return self.short_name or self.name

    @property
    def is_referral(self) -> bool:
        """True for an entry that redirects elsewhere rather than a procedure of the desk."""
        return self.kind == KIND_REFERRAL


@dataclass
class Catalogue:
    """All entries, by id, in a stable order (field, then name)."""

    procedures: dict[str, Procedure] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.procedures)

    def __iter__(self):
        return iter(self.procedures.values())

    def get(self, proc_id: str) -> Procedure | None:
        """The entry with this id, or None."""
        return self.procedures.get(proc_id)

    def fields(self) -> list[str]:
        """The fields (lĩnh vực) of the desk's own procedures, the busiest first."""
        counts: dict[str, int] = {}
        for p in self:
            if not p.is_referral:
                counts[p.field] = counts.get(p.field, 0) + 1
        return sorted(counts, key=lambda f: (-counts[f], f))

    def in_field(self, field_name: str) -> list[Procedure]:
        """The desk's procedures of one field."""
        return [p for p in self if p.field == field_name and not p.is_referral]


def _check_value(kind: str, value: Any) -> str | None:
    """A description of what is wrong with ``value`` for ``kind``, or None if it is fine."""
    if kind == _STR:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)) or not str(value).strip():
            return "expected non-empty text"
    elif kind == _LIST:
        if isinstance(value, str):
            return "expected a list (one '- ' item per line)"
        if not isinstance(value, list):
            return "expected a list of text"
        for i, item in enumerate(value):
            if isinstance(item, dict):
                return f"item {i + 1}: contains ': ', so YAML read it as a mapping; put the item in quotes"
            if not isinstance(item, (str, int, float)) or isinstance(item, bool) or not str(item).strip():
                return f"item {i + 1}: expected non-empty text"
    elif kind == _DATE:
        if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
            return "expected a date such as 2026-11-29"
    return None


def parse_procedure(text: str, path: Path) -> tuple[Procedure | None, list[str]]:
    """Parse one procedure file's text; returns the entry (None if invalid) and problems."""
    problems: list[str] = []
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        return None, [f"{path}:{line}: YAML syntax error: {getattr(exc, 'problem', None) or exc}"]
    if not isinstance(data, dict) or node is None or not isinstance(node, yaml.MappingNode):
        return None, [f"{path}:1: expected a mapping of keys (id:, name:, ...)"]

    lines: dict[str, int] = {}
    for key_node, _ in node.value:
        key = str(key_node.value)
        line = key_node.start_mark.line + 1
        if key in lines:
            problems.append(f"{path}:{line}: {key}: duplicate key (first on line {lines[key]})")
        lines.setdefault(key, line)

    kind = data.get("kind", KIND_PROCEDURE)
    if kind not in (KIND_PROCEDURE, KIND_REFERRAL):
        problems.append(f"{path}:{lines.get('kind', 1)}: kind: must be 'procedure' or 'referral', got {kind!r}")
        kind = KIND_PROCEDURE
    for key in data:
        if str(key) not in _SCHEMA:
            problems.append(f"{path}:{lines.get(str(key), 1)}: {key}: unknown key")
    for key, (vtype, req_proc, req_ref) in _SCHEMA.items():
        required = req_ref if kind == KIND_REFERRAL else req_proc
        if key not in data or data[key] is None:
            if required:
                problems.append(f"{path}:{lines.get(key, 1)}: {key}: missing required key")
            continue
        problem = _check_value(vtype, data[key])
        if problem:
            problems.append(f"{path}:{lines[key]}: {key}: {problem}")
    proc_id = data.get("id")
    if isinstance(proc_id, str):
        if not _ID.match(proc_id):
            problems.append(f"{path}:{lines['id']}: id: must be a kebab-case ASCII slug, got {proc_id!r}")
        elif proc_id != path.stem:
            problems.append(f"{path}:{lines['id']}: id: {proc_id!r} differs from the file name {path.stem!r}")
    if problems:
        return None, problems

    def text_of(key: str) -> str | None:
        value = data.get(key)
        return None if value is None else str(value).strip()

    def list_of(key: str) -> tuple[str, ...]:
        return tuple(str(v).strip() for v in data.get(key) or ())

    return (
        Procedure(
            id=proc_id,
            kind=kind,
            name=text_of("name") or "",
            code=text_of("code"),
            short_name=text_of("short_name"),
            field=text_of("field") or "",
            summary=text_of("summary"),
            aliases=list_of("aliases"),
            documents=list_of("documents"),
            steps=list_of("steps"),
            time=text_of("time"),
            fee=text_of("fee"),
            where=text_of("where") or "",
            forms=list_of("forms"),
            legal_basis=list_of("legal_basis"),
            combines=list_of("combines"),
            notes=list_of("notes"),
            source=list_of("source"),
            reviewed=data["reviewed"],
            path=path,
        ),
        [],
    )


def load_catalogue(directory: Path) -> Catalogue:
    """Load and validate every ``*.yaml`` under ``directory``.

    Raises :class:`CatalogueError` listing every problem found.
    """
    if not directory.is_dir():
        raise CatalogueError([f"{directory}: catalogue folder not found"])
    problems: list[str] = []
    entries: list[Procedure] = []
    first_seen: dict[str, Path] = {}
    for path in sorted(directory.rglob("*.yaml")):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            problems.append(f"{path}:1: not UTF-8 text ({exc.reason})")
            continue
        proc, file_problems = parse_procedure(text, path)
        problems += file_problems
        if proc is None:
            continue
        if proc.id in first_seen:
            problems.append(f"{path}:1: id: duplicate id {proc.id!r} (also in {first_seen[proc.id]})")
            continue
        first_seen[proc.id] = path
        entries.append(proc)
    known = {p.id for p in entries}
    for proc in entries:
        for other in proc.combines:
            if other not in known and proc.path is not None:
                line = next(
                    (n for n, text in enumerate(proc.path.read_text(encoding="utf-8").splitlines(), 1)
                     if text.startswith("combines")),
                    1,
                )
                problems.append(f"{proc.path}:{line}: combines: unknown id {other!r}")
    if not entries and not problems:
        problems.append(f"{directory}: no procedure files (*.yaml) found")
    if problems:
        raise CatalogueError(problems)
    entries.sort(key=lambda p: (p.is_referral, p.path.parent.name if p.path else "", p.name))
    return Catalogue({p.id: p for p in entries})
