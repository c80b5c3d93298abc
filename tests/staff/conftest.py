"""The staff-side stores' tests run on both backends: ``place`` (a SQLite file, or a fresh
database on the test PostgreSQL server, tests/pgserver.py) is parametrized over both;
``staff_db`` is the shared :class:`~bot.storage.Database` the App would open there."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from bot.config import Config
from bot.storage import Database, open_database

try:
    import psycopg

    #: What the database raises for a broken constraint, on either backend.
    INTEGRITY: tuple[type[Exception], ...] = (sqlite3.IntegrityError, psycopg.IntegrityError)
    #: What a statement on a dropped table raises, on either backend.
    MISSING_TABLE: tuple[type[Exception], ...] = (sqlite3.OperationalError, psycopg.errors.UndefinedTable)
except ImportError:  # pragma: no cover - the test extras bring psycopg
    INTEGRITY = (sqlite3.IntegrityError,)
    MISSING_TABLE = (sqlite3.OperationalError,)


@dataclass(frozen=True)
class Place:
    """Where a test's database is: ``path`` (SQLite) or ``url`` (PostgreSQL)."""

    kind: str
    path: Path
    url: str | None = None
    #: The same PostgreSQL database as its superuser (for raw reads past RLS).
    admin_url: str | None = None

    async def open(self, scope: str | None = "*") -> Database:
        """The database here, seen with ``scope``."""
        return await open_database(self.path, self.url, scope=scope)

    def query(self, sql: str, params: Sequence = ()) -> list[tuple]:
        """Rows of a raw query (``?`` placeholders), outside any store (PostgreSQL: as
        the superuser, which row-level security does not hold)."""
        if self.url is None:
            conn = sqlite3.connect(self.path)
            try:
                return conn.execute(sql, params).fetchall()
            finally:
                conn.close()
        with psycopg.connect(self.admin_url or self.url, autocommit=True) as conn:
            cur = conn.execute(sql.replace("?", "%s"), params or None)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []


@pytest.fixture(params=["sqlite", "postgres"])
def place(request: pytest.FixtureRequest, tmp_path: Path):
    """An empty database of each backend."""
    path = tmp_path / "motcua.sqlite3"
    if request.param == "sqlite":
        yield Place("sqlite", path)
        return
    server = request.getfixturevalue("pg_server")
    url = server.new_database()
    try:
        yield Place("postgres", path, url, server.url(url.rsplit("/", 1)[1]))
    finally:
        server.drop_database(url)


@pytest.fixture
async def staff_db(place: Place) -> AsyncIterator[Database]:
    """The shared database at ``place``, seeing every commune (as the bot's processes)."""
    db = await place.open()
    yield db
    await db.close()


@pytest.fixture
def config(place: Place) -> Config:
    """The embedded defaults with the database at ``place`` (so the root conftest's
    ``app`` runs on both backends too)."""
    base = Config()
    return replace(base, database=replace(base.database, path=place.path, url=place.url))


#: For tests of what only the SQLite file does.
sqlite_only = pytest.mark.parametrize("place", ["sqlite"], indirect=True)
