"""Per-part schema migrations for the staff side's tables.

The dossier store versions its schema with SQLite's ``user_version``. The staff side's
stores share that database file but each owns its tables, so each keeps its own version
in ``schema_parts`` (one row per part: ``handovers``, ``missed``, ``accounts``, ...).
:func:`open_part` opens a connection and brings one part up to date.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import aiosqlite

from bot.errors import MotcuaError

#: How long a staff-side write waits for another writer (a sync) before giving up.
WRITE_WAIT_MS = 2000


class SchemaError(MotcuaError):
    """A staff-side table cannot be opened or migrated (message names the file)."""


async def migrate(conn: aiosqlite.Connection, path: Path, part: str, migrations: Sequence[str]) -> None:
    """Apply the migrations of ``part`` that ``conn``'s database does not have yet.

    Each migration runs in one transaction with its version bump, so a failure leaves
    the part at its previous version.
    """
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_parts (part TEXT PRIMARY KEY, version INTEGER NOT NULL)"
    )
    async with conn.execute("SELECT version FROM schema_parts WHERE part = ?", (part,)) as cur:
        row = await cur.fetchone()
    version = int(row[0]) if row else 0
    if version > len(migrations):
        raise SchemaError(
            f"{path}: the {part} tables are at version {version}, newer than this program "
            f"knows ({len(migrations)}); upgrade motcua-bot"
        )
    for number in range(version, len(migrations)):
        await conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(migrations[number]):
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO schema_parts (part, version) VALUES (?, ?) "
                "ON CONFLICT (part) DO UPDATE SET version = excluded.version",
                (part, number + 1),
            )
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (no semicolons inside our DDL's strings)."""
    return [s.strip() for s in script.split(";") if s.strip()]


async def open_part(path: Path, part: str, migrations: Sequence[str]) -> aiosqlite.Connection:
    """A connection to the database at ``path`` (created if missing) with ``part``'s
    tables migrated; WAL mode, foreign keys on, writes wait at most :data:`WRITE_WAIT_MS`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise SchemaError(f"{path}: cannot open the database ({exc})") from None
    try:
        await conn.execute(f"PRAGMA busy_timeout = {WRITE_WAIT_MS}")
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute("PRAGMA synchronous = NORMAL")
        await migrate(conn, path, part, migrations)
    except sqlite3.DatabaseError as exc:
        await conn.close()
        raise SchemaError(f"{path}: not a usable motcua database ({exc})") from None
    except BaseException:
        await conn.close()
        raise
    return conn
