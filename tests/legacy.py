"""Database files as earlier versions of motcua-bot wrote them, for the tests that check
an upgrade keeps their rows."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path


def write_old_parts(path: Path, parts: Mapping[str, str]) -> None:
    """Create the SQLite file at ``path`` with each part's tables from its first (old)
    migration text, recorded at version 1 in ``schema_parts`` as the old code did."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_parts (part TEXT PRIMARY KEY, version INTEGER NOT NULL)")
        for part, text in parts.items():
            conn.executescript(text)
            conn.execute("INSERT INTO schema_parts (part, version) VALUES (?, 1)", (part,))
    conn.close()
