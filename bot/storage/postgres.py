"""The :class:`~bot.storage.database.Database` on PostgreSQL (psycopg 3 and its pool).

Needs the ``postgres`` extra; imported only when a ``postgresql://`` URL is configured.
SQL arrives with ``?`` placeholders and is translated once per statement text. Each
transaction sets ``motcua.commune`` (see :mod:`bot.storage.tenancy`) when its view's
scope is not the pool's own; part versions live in ``motcua_schema``, beside the dossier
store's.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache

from bot.storage.database import ALL_COMMUNES, Database, Migration, StorageBusy, StorageError, statements
from bot.storage.tenancy import SETTING, setting_of

try:
    import psycopg
    from psycopg import errors as pg_errors
    from psycopg_pool import AsyncConnectionPool, PoolTimeout
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise StorageError(
        "database.url: PostgreSQL needs the driver: pip install 'motcua-bot[postgres]' "
        f"({exc.name} is missing)"
    ) from None

from bot.dossiers.pgstore import MIGRATE_LOCK, _safe_error, open_pool, redact_url

#: How long a statement waits for a row lock before StorageBusy (milliseconds).
LOCK_WAIT_MS = 2000
#: How long a transaction waits for a free connection of the pool before StorageBusy
#: (seconds): longer than a lock, since under load every connection may be in use for a
#: moment (the province benchmark saw 2 s run out).
POOL_WAIT_S = 10.0
_TOKENS = re.compile(r"'(?:[^']|'')*'|\?|%")


@lru_cache(maxsize=1024)
def to_psycopg(sql: str) -> str:
    """``sql`` with its ``?`` placeholders as ``%s`` and literal ``%`` doubled, leaving
    quoted strings alone."""

    def swap(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        return token.replace("%", "%%")

    return _TOKENS.sub(swap, sql)


class _Tx:
    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, params: Sequence = ()) -> list[tuple]:
        cur = await self._conn.execute(to_psycopg(sql), tuple(params))
        return await cur.fetchall() if cur.description is not None else []

    async def fetchone(self, sql: str, params: Sequence = ()) -> tuple | None:
        cur = await self._conn.execute(to_psycopg(sql), tuple(params))
        return await cur.fetchone() if cur.description is not None else None

    async def run(self, sql: str, params: Sequence = ()) -> int:
        cur = await self._conn.execute(to_psycopg(sql), tuple(params))
        return cur.rowcount

    async def insert(self, sql: str, params: Sequence = ()) -> int:
        row = await self.fetchone(sql, params)
        if row is None:
            raise StorageError("an INSERT ... RETURNING id returned no row")
        return int(row[0])


class PostgresDatabase(Database):
    """A PostgreSQL database through a small connection pool (opened by :meth:`open`)."""

    dialect = "postgres"

    def __init__(self, url: str, pool: AsyncConnectionPool, pool_scope: str | None, scope: str | None) -> None:
        self._url = url
        self.label = redact_url(url)
        self._pool = pool
        self._pool_scope = pool_scope
        self.scope = scope

    @classmethod
    async def open(cls, url: str, *, scope: str | None = ALL_COMMUNES, pool_size: int = 4) -> PostgresDatabase:
        """Connect a pool to ``url``; every connection starts with ``scope``."""
        label = redact_url(url)

        async def configure(conn: psycopg.AsyncConnection) -> None:
            await conn.execute("SELECT set_config(%s, %s, false)", (SETTING, setting_of(scope)))

        try:
            pool = await open_pool(url, pool_size, "motcua-storage", configure)
        except (PoolTimeout, psycopg.Error) as exc:
            raise StorageError(f"{label}: cannot connect to the database ({_safe_error(exc, url)})") from None
        return cls(url, pool, scope, scope)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Tx]:
        """See :meth:`Database.transaction`; StorageBusy when a row lock or a free
        connection is not had in time."""
        if self._pool.closed:
            raise StorageError(f"{self.label}: the database is closed")
        try:
            async with self._pool.connection(timeout=POOL_WAIT_S) as conn:
                async with conn.transaction():
                    await conn.execute(f"SET LOCAL lock_timeout = {LOCK_WAIT_MS}")
                    if self.scope != self._pool_scope:
                        await conn.execute("SELECT set_config(%s, %s, true)", (SETTING, setting_of(self.scope)))
                    yield _Tx(conn)
        except (PoolTimeout, pg_errors.LockNotAvailable, pg_errors.DeadlockDetected):
            raise StorageBusy(f"{self.label}: the database is busy") from None
        except psycopg.OperationalError as exc:
            raise StorageError(f"{self.label}: {_safe_error(exc, self._url)}") from None

    def scoped(self, commune: str) -> PostgresDatabase:
        """See :meth:`Database.scoped`."""
        return PostgresDatabase(self._url, self._pool, self._pool_scope, commune)

    async def migrate(self, part: str, migrations: Sequence[Migration]) -> None:
        """See :meth:`Database.migrate`: all missing steps in one transaction, under the
        advisory lock the dossier store's migrations take."""
        async with self._pool.connection() as conn:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS motcua_schema (part text PRIMARY KEY, version integer NOT NULL)"
                )
                cur = await conn.execute("SELECT version FROM motcua_schema WHERE part = %s", (part,))
                row = await cur.fetchone()
                version = int(row[0]) if row else 0
                if version > len(migrations):
                    raise StorageError(
                        f"{self.label}: the {part} tables are at version {version}, newer than "
                        f"this program knows ({len(migrations)}); upgrade motcua-bot"
                    )
                for number in range(version, len(migrations)):
                    for statement in statements(self.script(migrations[number])):
                        await conn.execute(statement.encode())
                if version < len(migrations):
                    await conn.execute(
                        "INSERT INTO motcua_schema (part, version) VALUES (%s, %s) "
                        "ON CONFLICT (part) DO UPDATE SET version = excluded.version",
                        (part, len(migrations)),
                    )

    async def close(self) -> None:
        """See :meth:`Database.close`."""
        if not self._pool.closed:
            await self._pool.close()
