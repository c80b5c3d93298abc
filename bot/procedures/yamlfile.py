"""Editing one catalogue file in place, keeping its format: its comments, key order,
quotes, indentation, line ends and byte-order mark (ruamel.yaml's round trip), and
replacing it atomically, put back when the catalogue no longer validates. Used by
``motcua alias add`` and the back office's editor."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError
from ruamel.yaml.util import load_yaml_guess_indent


class NotAProcedureFile(ValueError):
    """The text is not YAML, or its top level is not a mapping (``reason`` says which:
    ``yaml`` or ``mapping``)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason

    def explain(self, name: object, what: str = "một thủ tục") -> str:
        """The sentence shown to staff for the file ``name``, which should hold ``what``."""
        if self.reason == "yaml":
            return f"{name}: không đọc được tệp YAML ({self})."
        return f"{name}: tệp không phải {what}."


@dataclass
class RoundTrip:
    """A file's text loaded for editing: change :attr:`data`, then :meth:`dump`."""

    data: CommentedMap
    #: The text as read, without its byte-order mark.
    text: str
    _yaml: YAML
    _bom: str
    _newline: str

    def dump(self) -> str:
        """The edited text (without the byte-order mark), in the file's line ends."""
        out = io.StringIO()
        self._yaml.dump(self.data, out)
        new = out.getvalue()
        return new.replace("\n", self._newline) if self._newline != "\n" else new

    def with_bom(self, text: str) -> str:
        """``text`` with the file's byte-order mark, if it had one."""
        return self._bom + text


def load_round_trip(original: str) -> RoundTrip:
    """``original`` (a procedure file's text) ready to edit in its own format; raises
    NotAProcedureFile."""
    bom = "\ufeff" if original.startswith("\ufeff") else ""
    text = original[len(bom):]
    newline = "\r\n" if "\r\n" in text else "\n"
    try:
        _, indent, block_seq_indent = load_yaml_guess_indent(text)
        rt = YAML(typ="rt")
        rt.preserve_quotes = True
        rt.width = 1_000_000  # never re-wrap long lines
        rt.indent(mapping=indent or 2, sequence=indent or 2, offset=block_seq_indent or 0)
        data = rt.load(text)
    except YAMLError as exc:
        raise NotAProcedureFile("yaml", type(exc).__name__) from None
    if not isinstance(data, CommentedMap):
        raise NotAProcedureFile("mapping")
    return RoundTrip(data, text, rt, bom, newline)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (readers never see half a file)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_checked(path: Path, data: bytes | None, original: bytes | None, check: Callable[[], None]) -> None:
    """Replace ``path`` with ``data`` (None: remove it), then run ``check`` (e.g. the
    catalogue still validates); when it raises, put ``original`` back (None: there was no
    file) and re-raise."""
    if data is not None:
        write_atomic(path, data)
    elif original is not None:
        path.unlink()
    try:
        check()
    except BaseException:
        if original is not None:
            write_atomic(path, original)
        else:
            path.unlink(missing_ok=True)
        raise
