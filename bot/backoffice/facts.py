"""Editing the facts of a procedure that staff most often change (fee, time limit,
documents, notes, review date) in its catalogue file, from the back office.

As :mod:`bot.procedures.aliases` does, the file is rewritten with a round-trip parser
(ruamel.yaml), so comments, key order, quoting and indentation stay as they were: only
the lines of the changed keys change (checked before writing). The catalogue is then
validated (refreshing its compiled copy); when it does not validate, the file is put back
as it was and the validation's message is given. Messages are for staff, in Vietnamese.

One edit at a time per catalogue (the back office holds its catalogue lock and runs
:func:`edit_facts` in a worker thread).
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    SingleQuotedScalarString,
)

from bot.errors import CatalogueError, MotcuaError
from bot.procedures.catalogue import Catalogue, Procedure
from bot.procedures.compiled import open_catalogue
from bot.procedures.yamlfile import NotAProcedureFile, load_round_trip, replace_checked

#: The keys this form edits, in the catalogue schema's order.
KEYS = ("documents", "time", "fee", "notes", "reviewed")
#: Where a missing key goes: after the first of these the file has.
_AFTER = {
    "fee": ("time", "steps", "looked_up", "documents"),
    "notes": ("legal_basis", "forms", "online", "where", "fee", "time"),
}
MAX_TEXT = 1000
MAX_ITEMS = 60
_LABELS = {"documents": "Giấy tờ cần nộp", "time": "Thời hạn giải quyết", "fee": "Phí, lệ phí",
           "notes": "Lưu ý", "reviewed": "Ngày rà soát"}
_TOP_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]*)\s*:")
_STYLES = (DoubleQuotedScalarString, SingleQuotedScalarString, LiteralScalarString, FoldedScalarString)


class FactsError(MotcuaError):
    """The facts cannot be saved (the message says why, in Vietnamese, for staff)."""


@dataclass(frozen=True)
class Facts:
    """What the form edits. ``fee`` '' and ``notes`` () mean "none" (the key is left out)."""

    documents: tuple[str, ...]
    time: str
    fee: str
    notes: tuple[str, ...]
    reviewed: dt.date

    def value(self, key: str) -> Any:
        """The value of ``key`` (one of :data:`KEYS`)."""
        return getattr(self, key)


def label(key: str) -> str:
    """The Vietnamese name of a key on the form."""
    return _LABELS.get(key, key)


def digest(data: bytes) -> str:
    """The fingerprint of a file's bytes (the form carries it, to notice an edit made
    elsewhere meanwhile)."""
    return hashlib.sha256(data).hexdigest()


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _lines(text: str, key: str) -> tuple[str, ...]:
    items = tuple(_one_line(line) for line in str(text).splitlines())
    items = tuple(item for item in items if item)
    if len(items) > MAX_ITEMS:
        raise FactsError(f"{label(key)}: nhiều nhất {MAX_ITEMS} dòng.")
    for item in items:
        if len(item) > MAX_TEXT:
            raise FactsError(f"{label(key)}: mỗi dòng không quá {MAX_TEXT} ký tự.")
    return items


def parse_form(form: Mapping[str, Any], today: dt.date) -> Facts:
    """The facts typed in the form (documents and notes one per line), checked; raises
    FactsError with the Vietnamese message to show."""
    documents = _lines(form.get("documents", ""), "documents")
    if not documents:
        raise FactsError("Giấy tờ cần nộp: cần ít nhất một dòng.")
    time = _one_line(form.get("time", ""))
    if not time:
        raise FactsError("Thời hạn giải quyết không được để trống.")
    fee = _one_line(form.get("fee", ""))
    for key, text in (("time", time), ("fee", fee)):
        if len(text) > MAX_TEXT:
            raise FactsError(f"{label(key)}: không quá {MAX_TEXT} ký tự.")
    notes = _lines(form.get("notes", ""), "notes")
    raw = str(form.get("reviewed", "")).strip()
    reviewed = None
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            reviewed = dt.datetime.strptime(raw, pattern).date()
            break
        except ValueError:
            continue
    if reviewed is None:
        raise FactsError("Ngày rà soát không hợp lệ; vui lòng nhập theo dạng ngày/tháng/năm, ví dụ 01/12/2026.")
    if reviewed > today:
        raise FactsError("Ngày rà soát không được ở sau hôm nay.")
    return Facts(documents, time, fee, notes, reviewed)


def _as_facts(data: Mapping[str, Any]) -> Facts:
    """The facts of a parsed procedure file (missing keys as "none")."""
    def texts(key: str) -> tuple[str, ...]:
        value = data.get(key) or ()
        return tuple(_one_line(v) for v in value) if isinstance(value, (list, tuple)) else ()

    reviewed = data.get("reviewed")
    return Facts(
        texts("documents"), _one_line(data.get("time") or ""), _one_line(data.get("fee") or ""), texts("notes"),
        reviewed if isinstance(reviewed, dt.date) else dt.date.min,
    )


def _facts_of(proc: Procedure) -> Facts:
    """The facts of a loaded catalogue entry."""
    return _as_facts({key: getattr(proc, key) for key in KEYS})


def read_facts(path: Path) -> tuple[Facts, str]:
    """The facts in the procedure file at ``path`` now, and the file's fingerprint."""
    data = path.read_bytes()
    try:
        parsed = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError):
        raise FactsError(f"{path.name}: không đọc được tệp.") from None
    if not isinstance(parsed, dict):
        raise FactsError(f"{path.name}: tệp không phải một thủ tục.")
    return _as_facts(parsed), digest(data)


def changed_keys(before: Facts, after: Facts) -> list[str]:
    """The keys whose values differ, in :data:`KEYS` order."""
    return [key for key in KEYS if before.value(key) != after.value(key)]


def _styled(old: Any, new: str) -> Any:
    """``new`` written in the style (quotes, block) ``old`` had."""
    for style in _STYLES:
        if isinstance(old, style):
            return style(new)
    return new


def _insert_key(data: CommentedMap, key: str, value: Any) -> None:
    anchors = [a for a in _AFTER.get(key, ()) if a in data]
    position = list(data).index(anchors[0]) + 1 if anchors else len(data)
    data.insert(position, key, value)


def _set_list(data: CommentedMap, key: str, items: tuple[str, ...]) -> None:
    """Make the list ``key`` hold ``items``, changing only the items that differ."""
    seq = data.get(key)
    if not items:
        if key in data:
            del data[key]
        return
    if not isinstance(seq, CommentedSeq):
        if key in data:
            data[key] = CommentedSeq(items)
        else:
            _insert_key(data, key, CommentedSeq(items))
        return
    old = [_one_line(v) for v in seq]
    for op, i1, i2, j1, j2 in reversed(difflib.SequenceMatcher(a=old, b=list(items), autojunk=False).get_opcodes()):
        if op == "equal":
            continue
        if op == "replace" and i2 - i1 == j2 - j1:
            for k in range(i2 - i1):
                seq[i1 + k] = _styled(seq[i1 + k], items[j1 + k])
            continue
        for k in range(i2 - 1, i1 - 1, -1):
            del seq[k]
        for k, item in enumerate(items[j1:j2]):
            seq.insert(i1 + k, item)


def _set_text(data: CommentedMap, key: str, text: str) -> None:
    if not text:
        if key in data:
            del data[key]
    elif key in data:
        data[key] = _styled(data[key], text)
    else:
        _insert_key(data, key, text)


def _blocks(text: str) -> dict[str, list[str]]:
    """The lines of each top-level key of a procedure file (a line before the first key
    belongs to '')."""
    blocks: dict[str, list[str]] = {"": []}
    current = ""
    for line in text.splitlines():
        found = _TOP_KEY.match(line)
        if found:
            current = found.group(1)
            blocks[current] = []
        blocks[current].append(line)
    return blocks


def _only_keys_changed(before: str, after: str, keys: list[str]) -> bool:
    """Whether ``after`` differs from ``before`` only in the blocks of ``keys``."""
    old, new = _blocks(before), _blocks(after)
    kept = [k for k in old if k not in keys]
    return kept == [k for k in new if k not in keys] and all(old[k] == new[k] for k in kept)


def rewritten(original: str, facts: Facts, path: Path) -> tuple[str, list[str]]:
    """``original`` (a procedure file's text) with ``facts``, in its own format, and the
    keys changed; FactsError when the round trip would change anything else."""
    try:
        loaded = load_round_trip(original)
    except NotAProcedureFile as exc:
        raise FactsError(exc.explain(path.name)) from None
    data, text = loaded.data, loaded.text
    keys = changed_keys(_as_facts(data), facts)
    if not keys:
        return original, []
    for key in keys:
        if key in ("documents", "notes"):
            _set_list(data, key, facts.value(key))
        elif key == "reviewed":
            data["reviewed"] = facts.reviewed
        else:
            _set_text(data, key, facts.value(key))
    new = loaded.dump()
    if not _only_keys_changed(text, new, keys) or _as_facts(yaml.safe_load(new)) != facts:
        raise FactsError(
            f"{path.name}: không giữ nguyên được cách trình bày của tệp; hãy sửa bằng trình soạn thảo."
        )
    return loaded.with_bom(new), keys


def _load_compiled(directory: Path) -> Catalogue:
    return open_catalogue(directory).catalogue


def edit_facts(
    path: Path,
    catalogue_dir: Path,
    procedure_id: str,
    facts: Facts,
    *,
    expected: str | None = None,
    validate: Callable[[Path], Catalogue] | None = None,
) -> list[str]:
    """Write ``facts`` into the procedure file at ``path`` (of ``procedure_id`` in the
    catalogue at ``catalogue_dir``); the keys changed (none: the file is left alone).

    Raises FactsError when the file changed since it was read (its fingerprint is not
    ``expected``), when it cannot be rewritten keeping its format, or when the catalogue
    does not validate afterwards (then the file is restored). ``validate`` loads the
    catalogue after writing (by default through the compiled copy, which it refreshes)."""
    validate = validate or _load_compiled
    original = path.read_bytes()
    if expected is not None and digest(original) != expected:
        raise FactsError("Tệp của thủ tục vừa được sửa ở nơi khác; vui lòng tải lại trang rồi sửa lại.")
    try:
        text = original.decode("utf-8")
    except UnicodeDecodeError:
        raise FactsError(f"{path.name}: tệp không phải văn bản UTF-8.") from None
    new, keys = rewritten(text, facts, path)
    if not keys:
        return []
    def read_back() -> None:
        written = validate(catalogue_dir).get(procedure_id)
        if written is None or written.path is None or written.path.resolve() != path.resolve():
            raise CatalogueError([f"{path}: the procedure was not read back"])
        if _facts_of(written) != facts:
            raise CatalogueError([f"{path}: the facts were not read back as written"])

    try:
        replace_checked(path, new.encode("utf-8"), original, read_back)
    except CatalogueError as exc:
        raise FactsError(
            f"Thông tin mới làm danh mục không hợp lệ nên tệp đã được giữ nguyên ({exc.problems[0]})."
        ) from None
    return keys


# --- a commune's local facts (its catalogue overlay) -----------------------------------


def _overlay_file(overlay: Path, procedure_id: str) -> Path | None:
    """The overlay's file for base procedure ``procedure_id`` (None: it has none yet)."""
    from bot.procedures.overlay import overlay_files

    for path in overlay_files(overlay):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and data.get("id") == procedure_id:
            return path
    return None


def _merged(base: Facts, data: Mapping[str, Any]) -> Facts:
    """The facts a commune serves: the base's, with the keys its local file gives."""
    own = _as_facts(data)
    return Facts(**{key: own.value(key) if key in data else base.value(key) for key in KEYS})


def read_local_facts(overlay: Path, procedure_id: str, base: Facts) -> tuple[Facts, list[str], str]:
    """The facts a commune serves for ``procedure_id`` (``base``: the base file's), the
    keys its overlay gives, and the overlay file's fingerprint ('' bytes when none)."""
    path = _overlay_file(overlay, procedure_id)
    if path is None:
        return base, [], digest(b"")
    raw = path.read_bytes()
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError):
        raise FactsError(f"{path.name}: không đọc được tệp thông tin riêng của xã.") from None
    data = data if isinstance(data, dict) else {}
    return _merged(base, data), [key for key in KEYS if key in data], digest(raw)


def edit_local_facts(
    overlay: Path,
    base_dir: Path,
    procedure_id: str,
    base: Facts,
    facts: Facts,
    *,
    expected: str | None = None,
    validate: Callable[[Path, Path], Catalogue] | None = None,
) -> list[str]:
    """Write ``facts`` as commune-local facts of base procedure ``procedure_id`` into the
    overlay folder ``overlay``: a key equal to the base's is left to the base (taken out
    of the local file), another is written there (the file is created when missing, with
    only ``id:`` and those keys; removed when none is left). The keys changed. The
    overlaid catalogue is validated afterwards (else the file is put back and FactsError
    says why); the base catalogue is never written."""
    if validate is None:
        from bot.procedures.overlay import load_overlaid as validate  # noqa: N813
    path = _overlay_file(overlay, procedure_id) or overlay / f"{procedure_id}.yaml"
    original = path.read_bytes() if path.exists() else None
    if expected is not None and digest(original or b"") != expected:
        raise FactsError("Tệp thông tin riêng của xã vừa được sửa ở nơi khác; vui lòng tải lại trang rồi sửa lại.")
    for key in ("fee", "notes"):
        if not facts.value(key) and base.value(key):
            raise FactsError(
                f"{label(key)}: thông tin riêng của xã không xóa được nội dung của danh mục chung; "
                "hãy ghi nội dung thay thế."
            )
    try:
        text = original.decode("utf-8") if original is not None else f"id: {procedure_id}\n"
    except UnicodeDecodeError:
        raise FactsError(f"{path.name}: tệp không phải văn bản UTF-8.") from None
    try:
        loaded = load_round_trip(text)
    except NotAProcedureFile as exc:
        raise FactsError(exc.explain(path.name, "thông tin của một thủ tục")) from None
    data, text = loaded.data, loaded.text
    keys = changed_keys(_merged(base, data), facts)
    if not keys:
        return []
    for key in keys:
        value = facts.value(key)
        if value == base.value(key):
            if key in data:
                del data[key]
        elif key in ("documents", "notes"):
            _set_list(data, key, value)
        elif key == "reviewed":
            data["reviewed"] = value
        else:
            _set_text(data, key, value)
    new = loaded.dump()
    if original is not None and not _only_keys_changed(text, new, keys):
        raise FactsError(f"{path.name}: không giữ nguyên được cách trình bày của tệp; hãy sửa bằng trình soạn thảo.")
    def read_back() -> None:
        written = validate(base_dir, overlay).get(procedure_id)
        if written is None or _facts_of(written) != facts:
            raise CatalogueError([f"{path}: the facts were not read back as written"])

    kept = loaded.with_bom(new).encode("utf-8") if [k for k in data if k != "id"] else None  # None: no local key left
    try:
        replace_checked(path, kept, original, read_back)
    except CatalogueError as exc:
        raise FactsError(
            f"Thông tin mới làm danh mục của xã không hợp lệ nên tệp đã được giữ nguyên ({exc.problems[0]})."
        ) from None
    return keys
