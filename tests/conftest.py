"""Shared fixtures: the bundled catalogue, a config with a database under tmp_path,
and a ready engine."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import settings

from bot.procedures.catalogue import Catalogue, load_catalogue
from bot.config import Config
from bot.app import App
from bot.dialogue import Engine

#: Loggers whose level `motcua`'s main() sets for the process (bot/cli.py).
_CLI_LOGGERS = ("aiosqlite", "httpx", "httpcore", "telegram", "tornado")


@pytest.fixture(autouse=True)
def _restore_logging():  # type: ignore[no-untyped-def]
    """A test that runs main() in this process leaves the log levels as it found them."""
    levels = {name: logging.getLogger(name).level for name in _CLI_LOGGERS}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)

ROOT = Path(__file__).resolve().parent.parent

# Property tests explore the same examples on every run: the suite stays deterministic.
settings.register_profile("deterministic", derandomize=True, database=None)
settings.load_profile("deterministic")


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    """The bundled catalogue (loaded once; it is read-only)."""
    return load_catalogue(ROOT / "procedures")


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """The embedded defaults, with the dossier database in a temporary folder."""
    base = Config()
    return replace(base, database=replace(base.database, path=tmp_path / "motcua.sqlite3"))


@pytest.fixture
async def app(config: Config) -> AsyncIterator[App]:
    """A whole bot (demo dossiers, staff-side stores) on the ``config`` fixture's database."""
    real = await App.open(config)
    try:
        yield real
    finally:
        await real.close()


@pytest.fixture
def engine(config: Config, catalogue: Catalogue) -> Engine:
    """An engine without a dossier database (status questions get the fallback)."""
    return Engine.build(config, catalogue)


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL server for the whole run (tests/pgserver.py), stopped at the end;
    the tests that need it are skipped, saying why, only when no server binaries exist."""
    from tests.pgserver import PgServer, find_bindir

    bindir = find_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (apt-get install postgresql)")
    server = PgServer(bindir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
