"""Each staff-side part migrates its own tables in the shared database file."""

from __future__ import annotations

import pytest

from bot.staff.schema import SchemaError, open_part

PART_V1 = ("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)",)
PART_V2 = PART_V1 + ("ALTER TABLE notes ADD COLUMN author TEXT; CREATE INDEX notes_author ON notes (author)",)


async def test_a_part_is_created_then_upgraded_in_place(tmp_path):
    db = tmp_path / "bot.sqlite3"
    conn = await open_part(db, "notes", PART_V1)
    await conn.execute("INSERT INTO notes (text) VALUES ('kept')")
    await conn.close()

    conn = await open_part(db, "notes", PART_V2)
    async with conn.execute("SELECT text, author FROM notes") as cur:
        assert await cur.fetchall() == [("kept", None)]
    async with conn.execute("SELECT part, version FROM schema_parts") as cur:
        assert await cur.fetchall() == [("notes", 2)]
    await conn.close()


async def test_parts_are_versioned_apart(tmp_path):
    db = tmp_path / "bot.sqlite3"
    a = await open_part(db, "notes", PART_V2)
    b = await open_part(db, "other", ("CREATE TABLE other (x INTEGER)",))
    async with b.execute("SELECT part, version FROM schema_parts ORDER BY part") as cur:
        assert await cur.fetchall() == [("notes", 2), ("other", 1)]
    await a.close()
    await b.close()


async def test_a_newer_file_is_refused_with_its_name(tmp_path):
    db = tmp_path / "bot.sqlite3"
    conn = await open_part(db, "notes", PART_V2)
    await conn.close()
    with pytest.raises(SchemaError, match=r"bot\.sqlite3.*notes.*version 2.*upgrade"):
        await open_part(db, "notes", PART_V1)


async def test_a_failed_migration_leaves_the_previous_version(tmp_path):
    db = tmp_path / "bot.sqlite3"
    conn = await open_part(db, "notes", PART_V1)
    await conn.close()
    broken = PART_V1 + ("ALTER TABLE notes ADD COLUMN extra TEXT; CREATE TABLE notes (id INTEGER)",)
    with pytest.raises(Exception):
        await open_part(db, "notes", broken)
    conn = await open_part(db, "notes", PART_V1)
    async with conn.execute("PRAGMA table_info(notes)") as cur:
        assert [r[1] for r in await cur.fetchall()] == ["id", "text"]
    await conn.close()


async def test_garbage_file_is_one_line_naming_it(tmp_path):
    db = tmp_path / "bot.sqlite3"
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(SchemaError, match=r"bot\.sqlite3: not a usable"):
        await open_part(db, "notes", PART_V1)
