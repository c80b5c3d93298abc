"""The :class:`~bot.storage.database.Database` on one SQLite file (aiosqlite).

One connection, in WAL mode, shared by every store and view of the file; its
transactions take turns (an asyncio lock), since statements of two coroutines on one
connection would otherwise mix into one transaction. Writers from other processes (a
``motcua sync`` beside a running bot) are waited for at most :data:`WRITE_WAIT_MS`.
Plain reads go through a second, read-only connection, so a transaction waiting for
another process's writer never holds up a read (a resident's reply reads the staff
tables while the background recorder waits out a sync).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiosqlite

from bot.storage.database import ALL_COMMUNES, Database, Migration, StorageBusy, StorageError, statements

#: How long a write waits for another process's writer before giving up.
WRITE_WAIT_MS = 2000


class _Tx:
    """Statements on the connection while it is held by one transaction."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, params: Sequence = ()) -> list[tuple]:
        # fetched in one step: a half-read cursor would keep an old snapshot open
        return [tuple(row) for row in await self._conn.execute_fetchall(sql, tuple(params))]

    async def fetchone(self, sql: str, params: Sequence = ()) -> tuple | None:
        rows = await self.fetch(sql, params)
        return rows[0] if rows else None

    async def run(self, sql: str, params: Sequence = ()) -> int:
        cursor = await self._conn.execute(sql, tuple(params))
        try:
            return cursor.rowcount
        finally:
            await cursor.close()

    async def insert(self, sql: str, params: Sequence = ()) -> int:
        row = await self.fetchone(sql, params)
        if row is None:
            raise StorageError("an INSERT ... RETURNING id returned no row")
        return int(row[0])


@dataclass
class _Shared:
    conn: aiosqlite.Connection
    #: For plain reads (WAL: they see the last commit and wait for no writer).
    reader: aiosqlite.Connection
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed: bool = False


class SQLiteDatabase(Database):
    """A SQLite file (opened with :meth:`open`)."""

    dialect = "sqlite"

    def __init__(self, path: Path, shared: _Shared, scope: str | None) -> None:
        self.path = path
        self.label = str(path)
        self.scope = scope
        self._shared = shared

    @classmethod
    async def open(cls, path: Path, *, scope: str | None = ALL_COMMUNES) -> SQLiteDatabase:
        """Open (creating it and its folder if missing) the database file at ``path``."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = await aiosqlite.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"{path}: cannot open the database ({exc})") from None
        try:
            await conn.execute(f"PRAGMA busy_timeout = {WRITE_WAIT_MS}")
            await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA foreign_keys = ON")
            await conn.execute("PRAGMA synchronous = NORMAL")
            await conn.execute("SELECT count(*) FROM sqlite_master")  # is it a database at all?
        except sqlite3.DatabaseError as exc:
            await conn.close()
            raise StorageError(f"{path}: not a usable motcua database ({exc})") from None
        try:
            reader = await aiosqlite.connect(path, isolation_level=None)
            await reader.execute(f"PRAGMA busy_timeout = {WRITE_WAIT_MS}")
            await reader.execute("PRAGMA query_only = ON")
        except (OSError, sqlite3.Error) as exc:
            await conn.close()
            raise StorageError(f"{path}: cannot open the database ({exc})") from None
        return cls(path, _Shared(conn, reader), scope)

    @property
    def connection(self) -> aiosqlite.Connection:
        """The shared connection (for code that predates this interface)."""
        return self._shared.conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Tx]:
        """See :meth:`Database.transaction`; StorageBusy when another process holds
        the write lock longer than :data:`WRITE_WAIT_MS`."""
        shared = self._shared
        if shared.closed:
            raise StorageError(f"{self.label}: the database is closed")
        async with shared.lock:
            try:
                await shared.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise StorageBusy(f"{self.label}: the database is busy") from None
                raise
            try:
                yield _Tx(shared.conn)
            except BaseException:
                await shared.conn.execute("ROLLBACK")
                raise
            await shared.conn.execute("COMMIT")

    async def fetch(self, sql: str, params: Sequence = ()) -> list[tuple]:
        """All rows of a query (a plain read: it waits for no writer, of this process or
        another; it reads the last committed data)."""
        shared = self._shared
        if shared.closed:
            raise StorageError(f"{self.label}: the database is closed")
        return await _Tx(shared.reader).fetch(sql, params)

    async def fetchone(self, sql: str, params: Sequence = ()) -> tuple | None:
        """The first row of a query, or None (a plain read, as :meth:`fetch`)."""
        rows = await self.fetch(sql, params)
        return rows[0] if rows else None

    def scoped(self, commune: str) -> SQLiteDatabase:
        """See :meth:`Database.scoped`."""
        return SQLiteDatabase(self.path, self._shared, commune)

    async def migrate(self, part: str, migrations: Sequence[Migration]) -> None:
        """See :meth:`Database.migrate` (versions in the ``schema_parts`` table)."""
        async with self.transaction() as tx:
            await tx.run("CREATE TABLE IF NOT EXISTS schema_parts (part TEXT PRIMARY KEY, version INTEGER NOT NULL)")
            row = await tx.fetchone("SELECT version FROM schema_parts WHERE part = ?", (part,))
        version = int(row[0]) if row else 0
        if version > len(migrations):
            raise StorageError(
                f"{self.label}: the {part} tables are at version {version}, newer than this "
                f"program knows ({len(migrations)}); upgrade motcua-bot"
            )
        for number in range(version, len(migrations)):
            async with self.transaction() as tx:
                for statement in statements(self.script(migrations[number])):
                    await tx.run(statement)
                await tx.run(
                    "INSERT INTO schema_parts (part, version) VALUES (?, ?) "
                    "ON CONFLICT (part) DO UPDATE SET version = excluded.version",
                    (part, number + 1),
                )

    async def close(self) -> None:
        """See :meth:`Database.close`."""
        shared = self._shared
        if not shared.closed:
            shared.closed = True
            await shared.conn.close()
            await shared.reader.close()
