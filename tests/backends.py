"""One database of each backend for the store tests: a SQLite file under ``tmp_path``, or a
fresh database on the test PostgreSQL server (the ``pg_server`` fixture, tests/pgserver.py).

The stores' conftests parametrize a fixture over :data:`BACKENDS` and yield
:func:`backend` from it, with their own subclass of :class:`Backend` (what "open" means
differs: a :class:`~bot.storage.Database`, a dossier store)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

#: The parameters (and so the test ids) of a fixture that runs a test on both backends.
BACKENDS = ("sqlite", "postgres")


@dataclass(frozen=True)
class Backend:
    """Where a test's database is: ``path`` (SQLite; also set on PostgreSQL, for files
    kept beside it) or ``url`` (PostgreSQL, as the bot's role)."""

    kind: str
    path: Path
    url: str | None = None
    #: The same PostgreSQL database as its superuser (for raw reads past row-level security).
    admin_url: str | None = None

    def query(self, sql: str, params: Sequence = ()) -> list[tuple]:
        """Rows of a raw query (``?`` placeholders on both backends), outside any store,
        seeing every commune (PostgreSQL: as the superuser, which row-level security
        does not hold)."""
        if self.url is None:
            conn = sqlite3.connect(self.path)
            try:
                return conn.execute(sql, params).fetchall()
            finally:
                conn.close()
        import psycopg

        with psycopg.connect(self.admin_url or self.url, autocommit=True) as conn:
            cur = conn.execute(sql.replace("?", "%s"), params or None)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []


B = TypeVar("B", bound=Backend)


@contextmanager
def backend(request: pytest.FixtureRequest, tmp_path: Path, kind: type[B]) -> Iterator[B]:
    """An empty database of the backend ``request.param`` names, as a ``kind``; a
    PostgreSQL database is dropped afterwards."""
    path = tmp_path / "motcua.sqlite3"
    if request.param == "sqlite":
        yield kind("sqlite", path)
        return
    server = request.getfixturevalue("pg_server")
    url = server.new_database()
    try:
        yield kind("postgres", path, url, server.url(url.rsplit("/", 1)[1]))
    finally:
        server.drop_database(url)
