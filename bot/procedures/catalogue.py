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
from bot.procedures.durations import parse_age

KIND_PROCEDURE = "procedure"
KIND_REFERRAL = "referral"
KIND_FAMILY = "family"

# LibYAML's parser when PyYAML has it (much faster on large catalogues); same results.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

# key -> (expected type, required for procedures, required for referrals)
_STR, _LIST, _DATE = "text", "list of text", "date (YYYY-MM-DD)"
_BOOL, _SNAPSHOT = "true or false", "snapshot of the national record (written by motcua import)"
_SCHEMA: dict[str, tuple[str, bool, bool]] = {
    "id": (_STR, True, True),
    "kind": (_STR, False, False),
    "name": (_STR, True, True),
    "short_name": (_STR, False, False),
    "code": (_STR, False, False),
    "field": (_STR, True, True),
    "summary": (_STR, False, False),
    "conditions": (_LIST, False, False),
    "online": (_STR, False, False),
    "combines": (_LIST, False, False),
    "aliases": (_LIST, True, True),
    "documents": (_LIST, True, False),
    "looked_up": (_LIST, False, False),
    "steps": (_LIST, False, False),
    "time": (_STR, True, False),
    "fee": (_STR, False, False),
    "where": (_STR, True, True),
    "forms": (_LIST, False, False),
    "legal_basis": (_LIST, False, False),
    "notes": (_LIST, False, False),
    "source": (_LIST, True, True),
    "reviewed": (_DATE, True, True),
    "draft": (_BOOL, False, False),
    "national": (_SNAPSHOT, False, False),
}

#: Sub-folders of a catalogue that the bot does not load (drafts await review).
SKIPPED_FOLDERS = ("drafts",)

# A family member's keys beyond id and when (see procedures/README.md, "Families").
_MEMBER_FACTS = ("foreign_of", "border_of", "abroad_of")
_FACTS = ("foreign", "border", "abroad")
_MEMBER_OPTIONAL = ("said", "answers", "age_over", *_MEMBER_FACTS)
_MEMBER_KEYS = {"id", "when", *_MEMBER_OPTIONAL}

# The keys of a family file (kind: family): key -> (expected type, required).
_MEMBERS = "list of members (- id: ..., when: ...)"
_FAMILY_SCHEMA: dict[str, tuple[str, bool]] = {
    "id": (_STR, True),
    "kind": (_STR, True),
    "name": (_STR, True),
    "field": (_STR, True),
    "aliases": (_LIST, False),
    "question": (_STR, True),
    "default": (_STR, True),
    "members": (_MEMBERS, True),
    "notes": (_LIST, False),
    "source": (_LIST, True),
    "reviewed": (_DATE, True),
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
    #: Who may file and on what conditions (đối tượng, điều kiện).
    conditions: tuple[str, ...] = ()
    #: Papers the desk looks up itself (national databases), so people need not bring them.
    looked_up: tuple[str, ...] = ()
    #: Whether and where it can be filed online (VNeID, Cổng Dịch vụ công).
    online: str | None = None
    #: The national record's checkable facts when the file was imported (motcua import).
    national: dict[str, Any] | None = field(default=None, hash=False, compare=False)
    path: Path | None = None

    @property
    def title(self) -> str:
        """The name shown in replies: the short name where the official one is long."""
        return self.short_name or self.name

    @property
    def is_referral(self) -> bool:
        """True for an entry that redirects elsewhere rather than a procedure of the desk."""
        return self.kind == KIND_REFERRAL


#: The answers a family member may stand for (``answers:``), to a yes/no question.
ANSWERS = ("có", "không")


@dataclass(frozen=True)
class FamilyMember:
    """One variant of a family, the situation it is for, phrases that, said in a
    question, answer the family's question for this variant ("sổ cũng không còn"), and
    the yes or no answer to a yes/no question that means this variant (``answers``:
    ``"có"`` or ``"không"``; None when not said)."""

    id: str
    when: str
    said: tuple[str, ...] = ()
    answers: str | None = None
    #: ``age_over``: the age (or time since birth) past which this member fits, as written
    #: ("60 ngày"), and in days.
    age_over: str | None = None
    age_days: float | None = None
    #: The procedures this member stands for when a question states a foreign element
    #: (``foreign_of``), a neighbouring country in a border commune (``border_of``), or
    #: that the event was already registered abroad (``abroad_of``).
    foreign_of: tuple[str, ...] = ()
    border_of: tuple[str, ...] = ()
    abroad_of: tuple[str, ...] = ()

    def replaces(self, fact: str) -> tuple[str, ...]:
        """The ids this member stands for when a question states ``fact``."""
        return {"foreign": self.foreign_of, "border": self.border_of, "abroad": self.abroad_of}.get(fact, ())


@dataclass(frozen=True)
class Family:
    """Procedures people ask for with the same words, told apart by one question.

    "mất giấy khai sinh" is usually a copy of the record (the default) and only
    sometimes a new registration; :attr:`question` is what the desk would ask.
    """

    id: str
    name: str
    field: str
    question: str
    default: str
    members: tuple[FamilyMember, ...]
    source: tuple[str, ...]
    reviewed: dt.date
    aliases: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    path: Path | None = None

    @property
    def others(self) -> tuple[FamilyMember, ...]:
        """The members other than the default, in file order."""
        return tuple(m for m in self.members if m.id != self.default)


#: The labels of the catalogue's folders when people browse it.
DEFAULT_GROUP_LABELS = Path(__file__).resolve().parent / "data" / "groups.yaml"


@dataclass(frozen=True)
class Group:
    """The desk's procedures of one catalogue folder, as people browse them."""

    key: str
    label: str
    procedures: tuple[Procedure, ...]


def load_group_labels(path: Path = DEFAULT_GROUP_LABELS) -> dict[str, str]:
    """Folder name -> browsing label, from the bundled data file."""
    with path.open(encoding="utf-8") as fh:
        raw = yaml.load(fh, Loader=_Loader) or {}
    return {str(k): str(v) for k, v in raw.items()}


@dataclass
class Catalogue:
    """All entries, by id, in a stable order (field, then name), and their families."""

    procedures: dict[str, Procedure] = field(default_factory=dict)
    families: dict[str, Family] = field(default_factory=dict)

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

    def groups(self, labels: dict[str, str]) -> list[Group]:
        """The desk's procedures by catalogue folder, the busiest folder first, families'
        common cases first within it; each labelled from ``labels`` or, failing that, by
        its most common field."""
        folders: dict[str, list[Procedure]] = {}
        for p in self:
            if not p.is_referral:
                folders.setdefault(p.path.parent.name if p.path else p.field, []).append(p)
        common = {f.default for f in self.families.values()}  # the usual cases lead
        groups = []
        for key, procs in folders.items():
            procs.sort(key=lambda p: (p.id not in common, p.title))
            fields = [p.field for p in procs]
            label = labels.get(key) or max(set(fields), key=lambda f: (fields.count(f), f))
            groups.append(Group(key, label, tuple(procs)))
        return sorted(groups, key=lambda g: (-len(g.procedures), g.label))

    def families_of(self, proc_id: str) -> list[Family]:
        """The families that have this procedure as a member."""
        return [f for f in self.families.values() if any(m.id == proc_id for m in f.members)]


def _check_value(kind: str, value: Any) -> str | None:
    """A description of what is wrong with ``value`` for ``kind``, or None if it is fine."""
    if kind == _STR:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"{value} is a bare number: write it as text in quotes, with its unit (e.g. \"8.000 đồng\")"
        if not isinstance(value, str) or not value.strip():
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
    elif kind == _BOOL:
        if not isinstance(value, bool):
            return "expected true or false"
    elif kind == _SNAPSHOT:
        if not isinstance(value, dict):
            return "expected a mapping (written by motcua import; delete it rather than edit it)"
    elif kind == _MEMBERS:
        if not isinstance(value, list) or len(value) < 2:
            return "expected a list of at least two members (- id: ..., when: ...)"
        for i, item in enumerate(value):
            if not isinstance(item, dict) or not {"id", "when"} <= set(item) <= _MEMBER_KEYS:
                return f"item {i + 1}: expected the keys id and when (and optionally {', '.join(_MEMBER_OPTIONAL)})"
            for key in _MEMBER_FACTS:
                ids = item.get(key, [])
                if not isinstance(ids, list) or not all(isinstance(x, str) and _ID.match(x) for x in ids):
                    return f"item {i + 1}: {key}: expected a list of procedure ids"
            if "answers" in item and item["answers"] not in ANSWERS:
                return f"item {i + 1}: answers: expected \"có\" or \"không\" (the answer to the question that means this member)"
            if not all(isinstance(item[k], str) and item[k].strip() for k in ("id", "when")):
                return f"item {i + 1}: id and when must be non-empty text"
            said = item.get("said", [])
            if not isinstance(said, list) or not all(isinstance(w, str) and w.strip() for w in said):
                return f"item {i + 1}: said: expected a list of phrases"
    return None


def _tab_problems(text: str, path: Path) -> list[str]:
    """A problem for each line indented with a tab (YAML allows only spaces)."""
    return [
        f"{path}:{n}: a tab character in the indentation; indent with spaces"
        for n, line in enumerate(text.splitlines(), 1)
        if "\t" in line[: len(line) - len(line.lstrip())]
    ]


def _run_on_items(node: yaml.Node, lines: list[str]) -> int | None:
    """The number of the first list item that swallowed an over-indented ``- `` line."""
    if not isinstance(node, yaml.SequenceNode):
        return None
    for i, item in enumerate(node.value, 1):
        if isinstance(item, yaml.ScalarNode) and not item.style:  # plain (unquoted)
            following = lines[item.start_mark.line + 1 : item.end_mark.line + 1]
            if any(line.strip().startswith("- ") for line in following):
                return i
    return None


def _read_yaml(text: str, path: Path) -> tuple[dict[str, Any] | None, dict[str, int], list[str]]:
    """A file's mapping, the line of each top-level key, and any problems."""
    tabs = _tab_problems(text, path)
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
        return None, {}, tabs or [f"{path}:{line}: YAML syntax error: {getattr(exc, 'problem', None) or exc}"]
    if not isinstance(data, dict) or node is None or not isinstance(node, yaml.MappingNode):
        return None, {}, [f"{path}:1: expected a mapping of keys (id:, name:, ...)"]
    problems: list[str] = list(tabs)
    lines: dict[str, int] = {}
    text_lines = text.splitlines()
    for key_node, value_node in node.value:
        key = str(key_node.value)
        line = key_node.start_mark.line + 1
        if key in lines:
            problems.append(f"{path}:{line}: {key}: duplicate key (first on line {lines[key]})")
        lines.setdefault(key, line)
        item = _run_on_items(value_node, text_lines)
        if item is not None:
            problems.append(
                f"{path}:{line}: {key}: item {item} runs on over several lines: a '- ' line indented "
                "deeper than the others is read as part of the item above; line the dashes up"
            )
    return data, lines, problems


def _check_keys(
    data: dict[str, Any], lines: dict[str, int], path: Path, schema: dict[str, tuple[str, bool]]
) -> list[str]:
    """Unknown, missing and mistyped keys of one file, against ``schema``."""
    problems = [
        f"{path}:{lines.get(str(key), 1)}: {key}: unknown key" for key in data if str(key) not in schema
    ]
    draft = data.get("draft") is True
    if draft:
        problems.append(
            f"{path}:{lines['draft']}: draft: not yet reviewed (imported by motcua import): check every "
            "fact, then delete this line and set reviewed: to the date you checked them"
        )
    for key, (vtype, required) in schema.items():
        if key not in data or data[key] is None:
            if required and not (draft and key == "reviewed"):
                problems.append(f"{path}:{lines.get(key, 1)}: {key}: missing required key")
            continue
        problem = _check_value(vtype, data[key])
        if problem:
            problems.append(f"{path}:{lines[key]}: {key}: {problem}")
    entry_id = data.get("id")
    if isinstance(entry_id, str):
        if not _ID.match(entry_id):
            problems.append(f"{path}:{lines['id']}: id: must be a kebab-case ASCII slug, got {entry_id!r}")
        elif entry_id != path.stem:
            problems.append(f"{path}:{lines['id']}: id: {entry_id!r} differs from the file name {path.stem!r}")
    return problems


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return None if value is None else str(value).strip()


def _texts(data: dict[str, Any], key: str) -> tuple[str, ...]:
    return tuple(str(v).strip() for v in data.get(key) or ())


def parse_entry(text: str, path: Path) -> tuple[Procedure | Family | None, list[str]]:
    """Parse one catalogue file's text: a procedure, a referral or a family.

    Returns the entry (None if invalid) and the problems found.
    """
    data, lines, problems = _read_yaml(text, path)
    if data is None:
        return None, problems
    kind = data.get("kind", KIND_PROCEDURE)
    if kind == KIND_FAMILY:
        problems += _check_keys(data, lines, path, _FAMILY_SCHEMA)
        if not problems:
            problems += _age_problems(data["members"], text, path)
        if problems:
            return None, problems
        return (
            Family(
                id=data["id"],
                name=_text(data, "name") or "",
                field=_text(data, "field") or "",
                question=_text(data, "question") or "",
                default=_text(data, "default") or "",
                members=tuple(
                    FamilyMember(
                        m["id"].strip(),
                        m["when"].strip(),
                        tuple(w.strip() for w in m.get("said", ())),
                        m.get("answers"),
                        m.get("age_over"),
                        parse_age(m["age_over"]) if "age_over" in m else None,
                        *(tuple(m.get(key) or ()) for key in _MEMBER_FACTS),
                    )
                    for m in data["members"]
                ),
                aliases=_texts(data, "aliases"),
                notes=_texts(data, "notes"),
                source=_texts(data, "source"),
                reviewed=data["reviewed"],
                path=path,
            ),
            [],
        )
    if kind not in (KIND_PROCEDURE, KIND_REFERRAL):
        problems.append(
            f"{path}:{lines.get('kind', 1)}: kind: must be 'procedure', 'referral' or 'family', got {kind!r}"
        )
        kind = KIND_PROCEDURE
    schema = {key: (vtype, req_ref if kind == KIND_REFERRAL else req_proc)
              for key, (vtype, req_proc, req_ref) in _SCHEMA.items()}
    problems += _check_keys(data, lines, path, schema)
    if problems:
        return None, problems
    return (
        Procedure(
            id=data["id"],
            kind=kind,
            name=_text(data, "name") or "",
            code=_text(data, "code"),
            short_name=_text(data, "short_name"),
            field=_text(data, "field") or "",
            summary=_text(data, "summary"),
            conditions=_texts(data, "conditions"),
            online=_text(data, "online"),
            aliases=_texts(data, "aliases"),
            documents=_texts(data, "documents"),
            looked_up=_texts(data, "looked_up"),
            steps=_texts(data, "steps"),
            time=_text(data, "time"),
            fee=_text(data, "fee"),
            where=_text(data, "where") or "",
            forms=_texts(data, "forms"),
            legal_basis=_texts(data, "legal_basis"),
            combines=_texts(data, "combines"),
            national=data.get("national"),
            notes=_texts(data, "notes"),
            source=_texts(data, "source"),
            reviewed=data["reviewed"],
            path=path,
        ),
        [],
    )


def _line_of(path: Path, key: str) -> int:
    """The line where top-level ``key`` starts in ``path`` (1 if not found)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next((n for n, text in enumerate(lines, 1) if text.startswith(f"{key}:")), 1)


def _check_references(procs: list[Procedure], families: list[Family], broken: set[str]) -> list[str]:
    """Problems with ids that name other entries (combines, family members).

    Ids in ``broken`` belong to files that failed already: naming them is no new problem.
    """
    by_id = {p.id: p for p in procs}
    problems: list[str] = []
    # (fact key, procedure id) -> the member standing for it, and its file: one only.
    standing: dict[tuple[str, str], tuple[str, Path]] = {}
    for proc in procs:
        for other in proc.combines:
            if other not in by_id and other not in broken and proc.path is not None:
                problems.append(f"{proc.path}:{_line_of(proc.path, 'combines')}: combines: unknown id {other!r}")
    for fam in families:
        assert fam.path is not None
        if fam.id in by_id:
            problems.append(f"{fam.path}:1: id: {fam.id!r} is also a procedure's id")
        member_ids = [m.id for m in fam.members]
        for member in member_ids:
            proc = by_id.get(member)
            if proc is None and member in broken:
                continue
            if proc is None:
                problems.append(f"{fam.path}:{_line_of(fam.path, 'members')}: members: unknown id {member!r}")
            elif proc.is_referral:
                problems.append(f"{fam.path}:{_line_of(fam.path, 'members')}: members: {member!r} is a referral")
        if len(set(member_ids)) != len(member_ids):
            problems.append(f"{fam.path}:{_line_of(fam.path, 'members')}: members: an id is listed twice")
        if fam.default not in member_ids and fam.default not in broken:
            problems.append(f"{fam.path}:{_line_of(fam.path, 'default')}: default: {fam.default!r} is not a member")
        text = fam.path.read_text(encoding="utf-8") if any(m.replaces(f) for m in fam.members for f in _FACTS) else ""
        for member in fam.members:
            for key in _MEMBER_FACTS:
                for other in getattr(member, key):
                    where = f"{fam.path}:{_member_line(text, member.id, key)}: members: {member.id}: {key}"
                    if other not in by_id:
                        if other not in broken:
                            problems.append(f"{where}: unknown id {other!r}")
                    elif by_id[other].is_referral:
                        problems.append(f"{where}: {other!r} is a referral")
                    elif (key, other) in standing and standing[key, other][0] != member.id:
                        first, path = standing[key, other]
                        problems.append(f"{where}: {other!r} is already replaced by {first!r} (in {path})")
                    else:
                        standing[key, other] = (member.id, fam.path)
    return problems


def _age_problems(members: list[dict[str, Any]], text: str, path: Path) -> list[str]:
    """A problem for each member whose ``age_over`` is not a number and a unit."""
    return [
        f"{path}:{_member_line(text, m['id'], 'age_over')}: members: {m['id']}: age_over: expected a number "
        'and a unit in quotes, e.g. "60 ngày", "18 tuổi"'
        for m in members
        if "age_over" in m and (not isinstance(m["age_over"], str) or parse_age(m["age_over"]) is None)
    ]


def _member_line(text: str, member: str, key: str) -> int:
    """The line of ``key`` under the member ``member`` in a family file's ``text`` (the
    member's line, or 1, if not found)."""
    lines = text.splitlines()
    start = next((n for n, t in enumerate(lines, 1) if t.strip() in (f"- id: {member}", f"- id: \"{member}\"")), 1)
    for n in range(start, len(lines) + 1):
        text = lines[n - 1].strip()
        if text.startswith(f"{key}:"):
            return n
        if n > start and text.startswith("- id:"):
            break
    return start


def load_catalogue(directory: Path) -> Catalogue:
    """Load and validate every ``*.yaml`` under ``directory``.

    Raises :class:`CatalogueError` listing every problem found.
    """
    if not directory.is_dir():
        raise CatalogueError([f"{directory}: catalogue folder not found"])
    problems: list[str] = []
    procs: list[Procedure] = []
    families: list[Family] = []
    first_seen: dict[str, Path] = {}
    broken: set[str] = set()
    for path in sorted(directory.rglob("*.yaml")):
        top = path.relative_to(directory).parts[0]
        if top in SKIPPED_FOLDERS or top.startswith("."):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            problems.append(f"{path}:1: not UTF-8 text ({exc.reason})")
            continue
        entry, file_problems = parse_entry(text, path)
        problems += file_problems
        if entry is None:
            broken.add(path.stem)
            continue
        if entry.id in first_seen:
            problems.append(f"{path}:1: id: duplicate id {entry.id!r} (also in {first_seen[entry.id]})")
            continue
        first_seen[entry.id] = path
        (families if isinstance(entry, Family) else procs).append(entry)
    problems += _check_references(procs, families, broken)
    if not procs and not problems:
        problems.append(f"{directory}: no procedure files (*.yaml) found")
    if problems:
        raise CatalogueError(problems)
    procs.sort(key=lambda p: (p.is_referral, p.path.parent.name if p.path else "", p.name))
    return Catalogue({p.id: p for p in procs}, {f.id: f for f in sorted(families, key=lambda f: f.id)})


def situations(catalogue: Catalogue) -> Catalogue:
    """A catalogue of the situations that families describe: one entry per family, with
    the family's id, name and aliases, so they can be matched like procedures."""
    entries = {
        f.id: Procedure(
            id=f.id, name=f.name, field=f.field, aliases=f.aliases, where="",
            source=f.source, reviewed=f.reviewed, path=f.path,
        )
        for f in catalogue.families.values()
    }
    return Catalogue(entries)
