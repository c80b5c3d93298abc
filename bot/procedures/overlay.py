"""A commune's catalogue: the provincial base catalogue plus the commune's overlay folder.

The overlay folder holds three kinds of change, so that a decree change is edited once,
in the base:

- **additions**: a procedure (or family) file whose id is not in the base, written and
  validated like any catalogue file;
- **local facts**: a file named after an id of the base (``khai-sinh.yaml``) giving
  ``id:`` and only the keys it replaces (``where:``, ``fee:``, ...); every other key
  comes from the base file;
- **removals**: ``overlay.yaml`` with ``remove:``, a list of base ids the commune does
  not handle.

Problems are reported like the base catalogue's, as ``file:line: key: problem``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from bot.errors import CatalogueError
from bot.procedures import catalogue as cat
from bot.procedures.catalogue import Catalogue, Family, Procedure, load_catalogue, parse_entry

#: The overlay's own settings file (removals); every other ``*.yaml`` is an entry.
OVERLAY_FILE = "overlay.yaml"
#: Keys a local-facts file may not change: what kind of entry it is.
_FIXED = ("kind", "draft")


def overlay_files(overlay: Path) -> list[Path]:
    """The entry files of an overlay folder (not ``overlay.yaml``, drafts or hidden folders)."""
    found = []
    for path in sorted(overlay.rglob("*.yaml")):
        rel = path.relative_to(overlay).parts
        if rel[0] in cat.SKIPPED_FOLDERS or rel[0].startswith(".") or rel == (OVERLAY_FILE,):
            continue
        found.append(path)
    return found


def _removals(overlay: Path, base: Catalogue, problems: list[str]) -> dict[str, int]:
    """The ids ``overlay.yaml`` removes, with their lines."""
    path = overlay / OVERLAY_FILE
    if not path.is_file():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problems.append(f"{path}:1: not UTF-8 text ({exc.reason})")
        return {}
    data, lines, found = cat._read_yaml(text, path)
    problems += found
    if data is None:
        return {}
    for key in data:
        if key != "remove":
            problems.append(f"{path}:{lines.get(str(key), 1)}: {key}: unknown key (expected remove)")
    items = data.get("remove") or []
    if not isinstance(items, list):
        problems.append(f"{path}:{lines.get('remove', 1)}: remove: expected a list of procedure ids")
        return {}
    removed: dict[str, int] = {}
    item_lines = _item_lines(text, "remove")
    for i, item in enumerate(items):
        line = item_lines[i] if i < len(item_lines) else lines.get("remove", 1)
        if not isinstance(item, str) or (base.get(item) is None and item not in base.families):
            problems.append(f"{path}:{line}: remove: {item!r} is not an id of the base catalogue")
            continue
        removed[item] = line
    return removed


def _item_lines(text: str, key: str) -> list[int]:
    """The 1-based line of each item of the top-level list ``key`` in ``text``."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    if not isinstance(node, yaml.MappingNode):
        return []
    for knode, vnode in node.value:
        if knode.value == key and isinstance(vnode, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in vnode.value]
    return []


def _facts(path: Path, data: dict[str, Any], lines: dict[str, int], base: Procedure) -> tuple[Procedure | None, list[str]]:
    """``base`` with the keys of a local-facts file replaced, or the file's problems."""
    problems = []
    changes: dict[str, Any] = {}
    for key, value in data.items():
        key = str(key)
        line = lines.get(key, 1)
        if key == "id":
            if value != path.stem:
                problems.append(f"{path}:{line}: id: {value!r} differs from the file name {path.stem!r}")
            continue
        if key in _FIXED:
            problems.append(f"{path}:{line}: {key}: an overlay cannot change it (add a new entry instead)")
            continue
        if key not in cat._SCHEMA:
            problems.append(f"{path}:{line}: {key}: unknown key")
            continue
        vtype = cat._SCHEMA[key][0]
        if value is None:
            problems.append(f"{path}:{line}: {key}: empty (leave the key out to keep the base's value)")
            continue
        problem = cat._check_value(vtype, value)
        if problem:
            problems.append(f"{path}:{line}: {key}: {problem}")
            continue
        if key in ("reviewed", "national"):
            changes[key] = value
        elif vtype == cat._LIST:
            changes[key] = cat._texts(data, key)
        else:
            changes[key] = cat._text(data, key)
    if problems:
        return None, problems
    return dataclasses.replace(base, **changes), []


def load_overlaid(base_dir: Path, overlay: Path | None) -> Catalogue:
    """The base catalogue in ``base_dir`` with ``overlay`` applied (the base alone when
    None). Raises :class:`CatalogueError` listing every problem, the base's included."""
    base = load_catalogue(base_dir)
    if overlay is None:
        return base
    if not overlay.is_dir():
        raise CatalogueError([f"{overlay}: overlay folder not found"])
    problems: list[str] = []
    removed = _removals(overlay, base, problems)
    procs: dict[str, Procedure] = {p.id: p for p in base if p.id not in removed}
    families: dict[str, Family] = {f.id: f for f in base.families.values() if f.id not in removed}
    added: dict[str, Path] = {}
    for path in overlay_files(overlay):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            problems.append(f"{path}:1: not UTF-8 text ({exc.reason})")
            continue
        data, lines, found = cat._read_yaml(text, path)
        if data is None or found:
            problems += found
            continue
        entry_id = data.get("id")
        if entry_id in removed:
            problems.append(f"{path}:{lines.get('id', 1)}: id: {entry_id!r} is also removed in {OVERLAY_FILE}")
            continue
        if isinstance(entry_id, str) and entry_id in procs:
            proc, found = _facts(path, data, lines, procs[entry_id])
            problems += found
            if proc is not None:
                procs[entry_id] = proc
            continue
        if isinstance(entry_id, str) and entry_id in families:
            problems.append(f"{path}:{lines.get('id', 1)}: id: {entry_id!r} is a family of the base; "
                            "families cannot take local facts")
            continue
        entry, found = parse_entry(text, path)
        problems += found
        if entry is None:
            continue
        if entry.id in added:
            problems.append(f"{path}:1: id: duplicate id {entry.id!r} (also in {added[entry.id]})")
            continue
        added[entry.id] = path
        if isinstance(entry, Family):
            families[entry.id] = entry
        else:
            procs[entry.id] = entry
    # A removed id that remaining entries still name is a problem of the removal.
    where = overlay / OVERLAY_FILE
    for gone, line in removed.items():
        for fam in families.values():
            if any(m.id == gone for m in fam.members):
                problems.append(f"{where}:{line}: remove: {gone!r} is a member of family {fam.id!r}; remove the family too")
        for proc in procs.values():
            if gone in proc.combines:
                problems.append(f"{where}:{line}: remove: {gone!r} is combined with {proc.id!r}; remove that one too")
    problems += cat._check_references(list(procs.values()), list(families.values()), set(removed))
    if problems:
        raise CatalogueError(problems)
    ordered = sorted(procs.values(), key=lambda p: (p.is_referral, p.path.parent.name if p.path else "", p.name))
    return Catalogue({p.id: p for p in ordered}, {f: families[f] for f in sorted(families)})
