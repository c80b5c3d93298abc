"""The dossier store tests run on both backends: ``db`` (and the ``store`` opened on it)
is parametrized over SQLite and a real PostgreSQL server (tests/pgserver.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.dossiers.store import DossierStore, open_store

#: The data tables (not the run log), to compare whole databases.
DATA_TABLES = ("dossiers", "status_history", "follows", "outbox")


class Db:
    """One database of either backend: open stores on it, read it raw, compare it whole."""

    def __init__(self, kind: str, path: Path, url: str | None = None) -> None:
        self.kind = kind
        self.path = path
        self.url = url

    async def open(self) -> DossierStore:
        """A store on this database (again: a restart sees the same data)."""
        return await open_store(self.path, self.url)

    def query(self, sql: str, params: Sequence = ()) -> list[tuple]:
        """Rows of a raw query (``?`` placeholders on both backends), outside any store,
        seeing every commune."""
        if self.url is None:
            conn = sqlite3.connect(self.path)
            try:
                return conn.execute(sql, params).fetchall()
            finally:
                conn.close()
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            # Every commune's rows (the bot's own view): the tables are under row-level
            # security, and the test role owns them but is no superuser.
            conn.execute("SELECT set_config('motcua.commune', '*', false)")
            cur = conn.execute(sql.replace("?", "%s"), params or None)
            return cur.fetchall() if cur.description else []

    def dump(self, tables: Sequence[str] = DATA_TABLES) -> list[str]:
        """Every row of ``tables``, in order."""
        return [f"{t}:{r}" for t in tables for r in self.query(f"SELECT * FROM {t} ORDER BY 1, 2")]


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path):
    """An empty database: a SQLite file, or a fresh database on the test PostgreSQL server."""
    path = tmp_path / "motcua.sqlite3"
    if request.param == "sqlite":
        yield Db("sqlite", path)
        return
    server = request.getfixturevalue("pg_server")
    url = server.new_database()
    try:
        yield Db("postgres", path, url)
    finally:
        server.drop_database(url)


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
