"""Making text from an export safe to store, show to users and print on a terminal.

Exports are written by other systems (and sometimes edited by hand in a spreadsheet):
a value may carry terminal escape codes, control or invisible direction characters,
or a spreadsheet formula such as ``=HYPERLINK(...)``. :func:`clean_text` removes the
first kinds; :func:`formula` recognises the last, which a sync rejects as a bad row.
"""

from __future__ import annotations

import re
import unicodedata

# ESC sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), and two-byte ones.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -~]?|\x9b[0-?]*[ -/]*[@-~]?"
)
# Control characters (C0, DEL, C1), and invisible format characters that can reorder or
# hide text (bidirectional overrides, zero-width marks, BOM). Tabs and line breaks
# become spaces.
_INVISIBLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]")
_BLANKS = re.compile(r"[\t\n\x0b\x0c\r\u2028\u2029\s]+")

#: First characters that make a spreadsheet treat a cell as a formula.
FORMULA_START = frozenset("=+-@")
# After a leading + - @: a function call, a cell reference or arithmetic means a formula;
# "- Thôn 1" (a dash used as a bullet) or "+84 ..." (a phone number) do not.
_FORMULA_BODY = re.compile(
    r"\s*(?:[A-Za-z_][A-Za-z0-9_.]*\s*[(|!]|[A-Za-z]{1,3}\$?\d+\b|[\d.,\s]*[-+*/^&=<>][\d.(]|[=@+\-])"
)


def clean_text(value: str) -> str:
    """``value`` in NFC without escape sequences, control or invisible characters, with
    runs of whitespace collapsed to one space and the ends stripped."""
    if value.isprintable():
        text = value
    else:
        text = _ESCAPES.sub("", value)
        text = _INVISIBLE.sub("", text)
        text = _BLANKS.sub(" ", text)
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return text.strip()


def formula(value: str) -> bool:
    """Whether a spreadsheet would evaluate ``value`` (already cleaned) as a formula."""
    if not value or value[0] not in FORMULA_START:
        return False
    return value[0] == "=" or _FORMULA_BODY.match(value, 1) is not None


def shown(value: str, limit: int = 40) -> str:
    """``value`` cleaned and shortened to ``limit`` characters, for an operator message."""
    text = clean_text(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
