"""Adding a way people say a procedure ("cách gọi") to its catalogue file.

:func:`add_alias` writes the alias into the procedure's YAML file with a round-trip
parser (ruamel.yaml) so that comments, key order, quoting and indentation stay exactly
as staff wrote them: the file's only change is the new line. The catalogue is then
validated (which also refreshes the compiled copy); if it does not validate, the file is
put back as it was. The messages are for the desk's staff, in Vietnamese.

One call at a time per catalogue (the back office runs it in a worker thread).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ruamel.yaml.comments import CommentedSeq

from bot.errors import CatalogueError, MotcuaError
from bot.procedures.catalogue import Catalogue, load_catalogue
from bot.procedures.compiled import open_catalogue
from bot.procedures.normalize import clean, fold
from bot.procedures.yamlfile import NotAProcedureFile, load_round_trip, replace_checked

#: Longest alias accepted (characters): a way of asking, not a paragraph.
MAX_ALIAS_CHARS = 200


class AliasError(MotcuaError):
    """An alias cannot be added (the message says why, in Vietnamese, for staff)."""


def _check_text(text: str) -> str:
    alias = clean(text)
    if not fold(alias):
        raise AliasError("Cách gọi không được để trống (cần có chữ).")
    if len(alias) > MAX_ALIAS_CHARS:
        raise AliasError(f"Cách gọi dài quá {MAX_ALIAS_CHARS} ký tự; hãy viết ngắn gọn như người dân hay hỏi.")
    return alias


def _rewritten(original: str, alias: str, path: Path) -> str:
    """``original`` (a procedure file) with ``alias`` appended to its aliases, in its own
    format; AliasError when the round trip would change anything else."""
    try:
        loaded = load_round_trip(original)
    except NotAProcedureFile as exc:
        raise AliasError(exc.explain(path)) from None
    data, text = loaded.data, loaded.text
    aliases = data.get("aliases")
    if aliases is None:
        data.insert(list(data).index("name") + 1 if "name" in data else len(data), "aliases", CommentedSeq())
        aliases = data["aliases"]
    if not isinstance(aliases, CommentedSeq):
        raise AliasError(f"{path}: khóa aliases không phải một danh sách.")
    aliases.append(alias)
    new = loaded.dump()
    if not _only_lines_added(text, new):
        raise AliasError(
            f"{path}: không giữ nguyên được cách trình bày của tệp; hãy thêm cách gọi bằng trình soạn thảo."
        )
    return loaded.with_bom(new)


def _only_lines_added(before: str, after: str) -> bool:
    """Whether ``after`` is ``before`` with one block of one or two lines inserted."""
    old, new = before.splitlines(), after.splitlines()
    added = len(new) - len(old)
    if added not in (1, 2):
        return False
    i = 0
    while i < len(old) and old[i] == new[i]:
        i += 1
    return new[i + added :] == old[i:]


def _load_compiled(directory: Path) -> Catalogue:
    return open_catalogue(directory).catalogue


def add_alias(
    catalogue_dir: Path, procedure_id: str, text: str, *, validate: Callable[[Path], Catalogue] | None = None
) -> Path:
    """Add ``text`` as a way of asking for ``procedure_id``; returns the file written.

    Raises :class:`AliasError` for an empty or over-long text, an unknown id, an alias
    the catalogue already has (for this or another procedure), or a catalogue that does
    not validate (before, or after writing: then the file is restored). ``validate``
    loads the catalogue after writing (by default through the compiled copy, which it
    refreshes)."""
    validate = validate or _load_compiled
    alias = _check_text(text)
    try:
        catalogue = load_catalogue(catalogue_dir)
    except CatalogueError as exc:
        raise AliasError(f"Danh mục đang có lỗi, hãy sửa trước ({exc.problems[0]}).") from None
    proc = catalogue.get(procedure_id)
    if proc is None or proc.path is None:
        raise AliasError(f"Không có thủ tục mã «{procedure_id}» trong danh mục.")
    wanted = fold(alias)
    for other in catalogue:
        said = {fold(a) for a in (other.name, other.short_name or "", *other.aliases)}
        if wanted in said:
            if other.id == proc.id:
                raise AliasError(f"«{alias}» đã là một cách gọi của «{proc.title}».")
            raise AliasError(f"«{alias}» đã là cách gọi của thủ tục khác: «{other.title}» ({other.id}).")
    path = proc.path
    original = path.read_bytes()
    def read_back() -> None:
        written = validate(catalogue_dir).get(procedure_id)
        if written is None or alias not in written.aliases:
            raise CatalogueError([f"{path}: aliases: the new alias was not read back"])

    try:
        replace_checked(path, _rewritten(original.decode("utf-8"), alias, path).encode("utf-8"), original, read_back)
    except CatalogueError as exc:
        raise AliasError(
            f"Thêm cách gọi làm danh mục không hợp lệ nên tệp đã được khôi phục ({exc.problems[0]})."
        ) from None
    return path
