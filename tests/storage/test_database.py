"""The portable database layer, run on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.backends import BACKENDS, Backend, backend

from bot.storage import (
    ALL_COMMUNES,
    Database,
    StorageError,
    open_database,
    tenant_clause,
    tenant_guard_sql,
)

NOTES = [
    "CREATE TABLE notes (id @SERIAL, commune TEXT NOT NULL DEFAULT '', body TEXT NOT NULL, at @FLOAT)",
    "ALTER TABLE notes ADD COLUMN stars INTEGER NOT NULL DEFAULT 0",
]
GUARDED = [*NOTES, {"sqlite": "SELECT 1", "postgres": tenant_guard_sql("notes")}]


@pytest.fixture(params=BACKENDS)
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str | None]]:
    """A database location of each backend: (SQLite path, PostgreSQL URL or None); a
    PostgreSQL database is dropped afterwards."""
    with backend(request, tmp_path, Backend) as place:
        yield place.path, place.url


@pytest.fixture
async def db(where: tuple[Path, str | None]) -> AsyncIterator[Database]:
    database = await open_database(*where)
    await database.migrate("notes", NOTES)
    yield database
    await database.close()


async def test_insert_returns_ids_and_reads_back(db: Database) -> None:
    first = await db.insert("INSERT INTO notes (body, at) VALUES (?, ?) RETURNING id", ("một", 1.5))
    second = await db.insert("INSERT INTO notes (body, at) VALUES (?, ?) RETURNING id", ("hai", 1764600000.25))
    assert second > first
    assert await db.fetch("SELECT body, at FROM notes ORDER BY id") == [("một", 1.5), ("hai", 1764600000.25)]
    assert await db.fetchone("SELECT body FROM notes WHERE id = ?", (second,)) == ("hai",)
    assert await db.fetchone("SELECT body FROM notes WHERE id = ?", (second + 100,)) is None


async def test_question_marks_and_percent_inside_strings_are_left_alone(db: Database) -> None:
    await db.run("INSERT INTO notes (body) VALUES ('hồ sơ đến đâu rồi? 100%')")
    await db.run("INSERT INTO notes (body) VALUES (?)", ("it's ? and %",))
    rows = await db.fetch("SELECT body FROM notes WHERE body LIKE '%?%' AND body <> ? ORDER BY id", ("x",))
    assert rows == [("hồ sơ đến đâu rồi? 100%",), ("it's ? and %",)]


async def test_run_counts_changed_rows(db: Database) -> None:
    for body in ("a", "b", "c"):
        await db.run("INSERT INTO notes (body) VALUES (?)", (body,))
    assert await db.run("UPDATE notes SET stars = 1 WHERE body <> ?", ("a",)) == 2
    assert await db.run("DELETE FROM notes WHERE body = ?", ("zzz",)) == 0


async def test_a_failing_transaction_leaves_nothing(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.run("INSERT INTO notes (body) VALUES (?)", ("half",))
            raise RuntimeError("crash in the middle")
    assert await db.fetch("SELECT body FROM notes") == []


async def test_concurrent_transactions_do_not_mix(db: Database) -> None:
    """Two coroutines' read-modify-write on one counter: neither update is lost."""
    await db.run("INSERT INTO notes (body, stars) VALUES ('counter', 0)")

    async def bump() -> None:
        for _ in range(20):
            async with db.transaction() as tx:
                row = await tx.fetchone("SELECT stars FROM notes WHERE body = 'counter' FOR UPDATE" if db.dialect == "postgres" else "SELECT stars FROM notes WHERE body = 'counter'")
                assert row is not None
                await asyncio.sleep(0)
                await tx.run("UPDATE notes SET stars = ? WHERE body = 'counter'", (row[0] + 1,))

    await asyncio.gather(bump(), bump(), bump())
    assert await db.fetchone("SELECT stars FROM notes WHERE body = 'counter'") == (60,)


async def test_migrations_apply_once_and_refuse_a_newer_schema(where: tuple[Path, str | None]) -> None:
    db = await open_database(*where)
    try:
        await db.migrate("notes", NOTES[:1])
        await db.run("INSERT INTO notes (body) VALUES ('kept')")
        await db.migrate("notes", NOTES)  # adds the column, keeps the row
        await db.migrate("notes", NOTES)  # nothing left to do
        assert await db.fetch("SELECT body, stars FROM notes") == [("kept", 0)]
        with pytest.raises(StorageError, match="newer than this program knows"):
            await db.migrate("notes", NOTES[:1])
    finally:
        await db.close()


async def test_a_failed_migration_keeps_the_previous_version(where: tuple[Path, str | None]) -> None:
    db = await open_database(*where)
    try:
        await db.migrate("notes", NOTES[:1])
        with pytest.raises(Exception):
            await db.migrate("notes", [NOTES[0], "ALTER TABLE no_such_table ADD COLUMN x INTEGER"])
        await db.migrate("notes", NOTES)  # still at version 1: step 2 applies now
        assert await db.fetch("SELECT stars FROM notes") == []
    finally:
        await db.close()


def test_a_file_that_is_not_a_database_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match="bot.sqlite3: not a usable motcua database"):
        asyncio.run(open_database(path))


async def test_a_bad_url_is_named_without_its_password(pg_server) -> None:
    url = pg_server.new_database().replace("postgresql://", "postgresql://u:s3cret@") + "_missing"
    with pytest.raises(StorageError) as caught:
        await open_database(Path("unused"), url)
    assert "s3cret" not in str(caught.value)


async def _seed_two_communes(db: Database) -> None:
    for commune, body in (("a", "của xã A"), ("b", "của xã B"), ("a", "cũng của A"), ("", "chưa rõ xã")):
        await db.run("INSERT INTO notes (commune, body) VALUES (?, ?)", (commune, body))


async def test_tenant_clause_limits_a_view_to_its_commune(db: Database) -> None:
    await _seed_two_communes(db)

    async def seen(view: Database) -> list[str]:
        where, params = tenant_clause(view)
        return [r[0] for r in await view.fetch(f"SELECT body FROM notes WHERE {where} ORDER BY id", params)]

    assert await seen(db.scoped("a")) == ["của xã A", "cũng của A"]
    assert await seen(db.scoped("b")) == ["của xã B"]
    assert await seen(db.scoped("")) == ["chưa rõ xã"]  # a one-commune install's rows
    everything = ["của xã A", "của xã B", "cũng của A", "chưa rõ xã"]
    assert await seen(db.scoped(ALL_COMMUNES)) == everything
    assert await seen(db) == everything  # the bot's own view


async def test_row_level_security_hides_other_communes_even_without_a_filter(pg_server, tmp_path: Path) -> None:
    url = pg_server.new_database()
    bot_db = await open_database(tmp_path, url)  # the bot's processes: every commune
    office = await open_database(tmp_path, url, scope=None)  # the back office: none until scoped
    try:
        await bot_db.migrate("notes", GUARDED)
        await _seed_two_communes(bot_db)
        unfiltered = "SELECT body FROM notes ORDER BY id"
        assert await office.fetch(unfiltered) == []  # fail closed, even for rows of commune ''
        assert [r[0] for r in await office.scoped("b").fetch(unfiltered)] == ["của xã B"]
        assert len(await office.scoped(ALL_COMMUNES).fetch(unfiltered)) == 4
        # nor can a commune's view change, or write, another commune's rows
        assert await office.scoped("b").run("UPDATE notes SET stars = 5") == 1
        with pytest.raises(Exception, match="row-level security"):
            await office.scoped("b").run("INSERT INTO notes (commune, body) VALUES ('a', 'giả mạo')")
        assert await bot_db.fetch("SELECT commune, stars FROM notes ORDER BY id") == [("a", 0), ("b", 5), ("a", 0), ("", 0)]
        # the setting is per transaction: a scoped view leaves the pooled connection as it was
        assert await office.fetch(unfiltered) == []
    finally:
        await office.close()
        await bot_db.close()
