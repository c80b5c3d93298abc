"""The dossier store tests run on both backends: ``db`` (and the ``store`` opened on it)
is parametrized over SQLite and a real PostgreSQL server (tests/backends.py)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from bot.dossiers.store import DossierStore, open_store
from tests.backends import BACKENDS, Backend, backend

#: The data tables (not the run log), to compare whole databases.
DATA_TABLES = ("dossiers", "status_history", "follows", "outbox")


class Db(Backend):
    """One database of either backend: open stores on it, read it raw, compare it whole."""

    async def open(self) -> DossierStore:
        """A store on this database (again: a restart sees the same data)."""
        return await open_store(self.path, self.url)

    def dump(self, tables: Sequence[str] = DATA_TABLES) -> list[str]:
        """Every row of ``tables``, in order."""
        return [f"{t}:{r}" for t in tables for r in self.query(f"SELECT * FROM {t} ORDER BY 1, 2")]


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """An empty database: a SQLite file, or a fresh database on the test PostgreSQL server."""
    with backend(request, tmp_path, Db) as where:
        yield where


@pytest.fixture
async def store(db: Db):
    """A store opened on ``db``, closed after the test."""
    s = await db.open()
    yield s
    await s.close()


#: For tests of what only the SQLite file does (WAL, its query plans, its locking).
sqlite_only = pytest.mark.parametrize("db", ["sqlite"], indirect=True)
#: For tests of what only the PostgreSQL store does (its schema table, locks, several workers).
postgres_only = pytest.mark.parametrize("db", ["postgres"], indirect=True)
