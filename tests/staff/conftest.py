"""The staff-side stores' tests run on both backends: ``place`` (a SQLite file, or a fresh
database on the test PostgreSQL server: tests/backends.py) is parametrized over both;
``staff_db`` is the shared :class:`~bot.storage.Database` the App would open there."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.config import Config
from bot.storage import Database, open_database
from tests.backends import BACKENDS, Backend, backend

try:
    import psycopg

    #: What the database raises for a broken constraint, on either backend.
    INTEGRITY: tuple[type[Exception], ...] = (sqlite3.IntegrityError, psycopg.IntegrityError)
    #: What a statement on a dropped table raises, on either backend.
    MISSING_TABLE: tuple[type[Exception], ...] = (sqlite3.OperationalError, psycopg.errors.UndefinedTable)
except ImportError:  # pragma: no cover - the test extras bring psycopg
    INTEGRITY = (sqlite3.IntegrityError,)
    MISSING_TABLE = (sqlite3.OperationalError,)


class Place(Backend):
    """Where a test's database is: ``path`` (SQLite) or ``url`` (PostgreSQL)."""

    async def open(self, scope: str | None = "*") -> Database:
        """The database here, seen with ``scope``."""
        return await open_database(self.path, self.url, scope=scope)


@pytest.fixture(params=BACKENDS)
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Place]:
    """An empty database of each backend."""
    with backend(request, tmp_path, Place) as where:
        yield where


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
