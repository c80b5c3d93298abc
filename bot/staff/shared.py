"""What every staff-side store shares: the commune it writes for, and opening a
database of its own (the stores are usually made on the App's shared
:class:`~bot.storage.Database`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bot.storage import ALL_COMMUNES, Database, Migration, open_database


def writer_commune(db: Database, commune: str | None) -> str:
    """The commune a store writes for: ``commune`` when given, else ``db``'s scope when
    it names one commune, else '' (the single commune of a one-commune install)."""
    if commune is not None:
        return commune
    return db.scope if db.scope not in (None, ALL_COMMUNES) else ""


async def open_own(path: Path, url: str | None, part: str, migrations: Sequence[Migration]) -> Database:
    """A database for one store alone (the SQLite file at ``path``, or PostgreSQL at
    ``url``) with ``part``'s tables migrated."""
    db = await open_database(Path(path), url)
    try:
        await db.migrate(part, migrations)
    except BaseException:
        await db.close()
        raise
    return db
