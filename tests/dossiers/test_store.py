"""The SQLite dossier store: schema, sync writer, follows and outbox."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from bot.dossiers.statuses import Status
from bot.dossiers.store import (
    MIGRATIONS,
    TAIL_QUERY,
    DossierRow,
    LookupCode,
    LookupCount,
    Store,
    StoreBusy,
    StoreError,
)


def row(code: str, status: str = "processing", **fields: str | None) -> DossierRow:
    base = dict(
        code=code,
        procedure="Đăng ký khai sinh",
        procedure_id=None,
        applicant="Nguyễn Văn An",
        phone="0912000101",
        address="Thôn 1, xã Tân Hòa",
        received="2026-11-20",
        appointment="2026-11-25",
        returned=None,
        status=status,
    )
    base.update(fields)
    return DossierRow(**base)  # type: ignore[arg-type]


def dump(path: Path) -> list[str]:
    """Every row of the data tables (not the run log), to compare whole databases."""
    conn = sqlite3.connect(path)
    try:
        out = []
        for table in ("dossiers", "status_history", "follows", "outbox"):
            out += [f"{table}:{r}" for r in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2")]
        return out
    finally:
        conn.close()


async def write(store: Store, rows: list[DossierRow], source: str = "test") -> None:
    with store.sync_writer(source) as w:
        w.write(rows)
        w.finish(read=len(rows), rejected=0)


@pytest.fixture
async def store(tmp_path: Path):
    s = await Store.open(tmp_path / "sub" / "dir" / "motcua.sqlite3")
    yield s
    await s.close()


async def test_open_creates_directories_wal_and_schema(store: Store, tmp_path: Path) -> None:
    assert store.path.exists()
    assert await store.schema_version() == len(MIGRATIONS)
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert await store.is_empty()


async def test_reopening_keeps_data_and_does_not_migrate_again(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    s = await Store.open(path)
    await write(s, [row("A-1")])
    await s.close()
    s = await Store.open(path)
    assert await s.count() == 1
    assert await s.schema_version() == len(MIGRATIONS)
    await s.close()


async def test_newer_schema_and_non_database_files_are_clear_errors(tmp_path: Path) -> None:
    newer = tmp_path / "newer.sqlite3"
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        await Store.open(newer)
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="junk.sqlite3"):
        await Store.open(junk)


async def test_writer_inserts_updates_and_skips_unchanged(store: Store) -> None:
    await write(store, [row("A-1"), row("A-2", "done")])
    d = await store.get("A-1")
    assert d is not None and d.status is Status.PROCESSING
    assert str(d.received) == "2026-11-20"
    with store.sync_writer("again") as w:
        w.write([row("A-1"), row("A-2", "done", address="Thôn 2"), row("A-3", "new")])
        counts = w.finish(read=3, rejected=0)
    assert (counts.inserted, counts.updated, counts.unchanged, counts.status_changes) == (1, 1, 1, 0)
    assert (await store.get("A-2")).address == "Thôn 2"  # type: ignore[union-attr]
    runs = await store.sync_runs()
    assert [r.source for r in runs] == ["again", "test"]
    assert (runs[0].read, runs[0].inserted, runs[0].updated, runs[0].unchanged) == (3, 1, 1, 1)


async def test_status_changes_go_to_history_and_outbox_per_follower(store: Store) -> None:
    await write(store, [row("A-1"), row("A-2")])
    assert await store.follow("telegram", "u1", "c1", "A-1")
    assert await store.follow("zalo", "u2", "c2", "A-1")
    with store.sync_writer("s") as w:
        w.write([row("A-1", "done"), row("A-2", "supplement")])
        counts = w.finish(read=2, rejected=0)
    assert counts.status_changes == 2 and counts.notifications == 2
    history = await store.history("A-1")
    assert [(h.old_status, h.new_status) for h in history] == [
        (None, Status.PROCESSING),
        (Status.PROCESSING, Status.DONE),
    ]
    due = await store.due_notifications("telegram", now=1e12)
    assert [(n.code, n.chat_id, n.new_status) for n in due] == [("A-1", "c1", Status.DONE)]
    assert len(await store.due_notifications("zalo", now=1e12)) == 1
    assert await store.outbox_counts() == {"pending": 2}


async def test_writer_rolls_back_everything_on_error(store: Store) -> None:
    await write(store, [row("A-1")])
    before = dump(store.path)
    with pytest.raises(RuntimeError):
        with store.sync_writer("bad") as w:
            w.write([row("A-1", "done"), row("A-9")])
            raise RuntimeError("crash midway")
    assert dump(store.path) == before
    assert len(await store.sync_runs()) == 1


async def test_follows(store: Store) -> None:
    await write(store, [row("A-1"), row("A-2")])
    assert await store.follow("telegram", "u1", "c1", "A-1")
    assert not await store.follow("telegram", "u1", "c9", "A-1")  # already; chat updated
    assert await store.follow("telegram", "u1", "c1", "A-2")
    assert await store.follows_of("telegram", "u1") == ["A-1", "A-2"]
    assert [f.chat_id for f in await store.followers("A-1")] == ["c9"]
    assert await store.is_following("telegram", "u1", "A-1")
    assert not await store.is_following("zalo", "u1", "A-1")
    assert await store.unfollow("telegram", "u1", "A-1")
    assert not await store.unfollow("telegram", "u1", "A-1")
    assert await store.follows_of("telegram", "u1") == ["A-2"]


async def test_codes_ending_with_takes_only_a_whole_tail(store: Store) -> None:
    await write(store, [row("X.H56-251120-0001"), row("Y.H99-251120-0001"), row("X-25%20_1"), row("Z-0001")])
    assert sorted(await store.codes_ending_with("251120-0001")) == [
        "X.H56-251120-0001",
        "Y.H99-251120-0001",
    ]
    # A sequence alone, a date alone or wildcards never find anything.
    for partial in ("0001", "251120", "25%20_1", "%", "_____0-0001", "251120-000"):
        assert await store.codes_ending_with(partial) == [], partial


async def test_tail_lookup_uses_the_tail_index(store: Store) -> None:
    await write(store, [row(f"000.00.14.H56-2511{d:02}-{n:04}") for d in range(1, 29) for n in range(40)])
    conn = sqlite3.connect(store.path)
    try:
        plan = " ".join(r[-1] for r in conn.execute(f"EXPLAIN QUERY PLAN {TAIL_QUERY}", ("251120-0001", 2)))
    finally:
        conn.close()
    assert "USING INDEX dossiers_tail" in plan and "SCAN" not in plan
    assert await store.codes_ending_with("251120-0007") == ["000.00.14.H56-251120-0007"]


async def test_migration_from_version_1_indexes_existing_codes(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0] + "\nPRAGMA user_version = 1;")
    conn.execute(
        "INSERT INTO dossiers (code, status, changed_at) VALUES ('000.00.14.H56-251120-0001', 'new', 'x')"
    )
    conn.commit()
    conn.close()
    s = await Store.open(path)
    try:
        assert await s.schema_version() == len(MIGRATIONS)
        assert await s.codes_ending_with("251120-0001") == ["000.00.14.H56-251120-0001"]
        assert await s.lookup_counters(0, 0) == ([], [])
    finally:
        await s.close()


async def test_lookup_counters_add_up_and_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    s = await Store.open(path)
    await s.record_lookups([LookupCount("u:t:1", 100, 2, 1)], [LookupCode("u:t:1", 42, 100)])
    await s.record_lookups(
        [LookupCount("u:t:1", 100, 1, 0), LookupCount("c:t:9", 5, 1, 1)],
        [LookupCode("u:t:1", 42, 160), LookupCode("u:t:1", 7, 50)],
    )
    await s.close()
    s = await Store.open(path)
    try:
        counts, codes = await s.lookup_counters(counts_since=50, codes_since=60)
        assert counts == [LookupCount("u:t:1", 100, 3, 1)]
        assert codes == [LookupCode("u:t:1", 42, 160)]
        await s.record_lookups([], [], forget_counts_before=101, forget_codes_before=100)
        assert await s.lookup_counters(0, 0) == ([], [LookupCode("u:t:1", 42, 160)])
    finally:
        await s.close()


async def test_reads_never_wait_on_a_sync_and_quick_writes_give_up(store: Store) -> None:
    await write(store, [row("000.00.14.H56-251120-0001")])
    await store.follow("telegram", "u1", "c1", "000.00.14.H56-251120-0001")
    # A sync-like writer holds the write lock (and has uncommitted changes) on another connection.
    writer = sqlite3.connect(store.path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE dossiers SET status = 'done'")
    try:
        started = time.monotonic()
        got = await asyncio.wait_for(store.get("000.00.14.H56-251120-0001"), 2.0)
        assert got is not None and got.status is Status.PROCESSING  # the committed data
        assert await asyncio.wait_for(store.codes_ending_with("251120-0001"), 2.0)
        assert await asyncio.wait_for(store.follows_of("telegram", "u1"), 2.0)
        assert time.monotonic() - started < 1.0
        with pytest.raises(StoreBusy):
            await asyncio.wait_for(store.follow("telegram", "u2", "c2", "000.00.14.H56-251120-0001"), 2.0)
        with pytest.raises(StoreBusy):
            await asyncio.wait_for(store.record_lookups([LookupCount("u", 1, 1, 0)], []), 0.5)
        # Several desk writes at once do not queue up behind each other: all give up in time,
        # and a counter write never waits for them.
        started = time.monotonic()
        follows = asyncio.gather(
            *(store.follow("telegram", f"v{n}", "c", "000.00.14.H56-251120-0001") for n in range(5)),
            return_exceptions=True,
        )
        await asyncio.sleep(0)
        with pytest.raises(StoreBusy):
            await asyncio.wait_for(store.record_lookups([LookupCount("u", 1, 1, 0)], []), 0.1)
        assert await asyncio.wait_for(store.get("000.00.14.H56-251120-0001"), 0.5) is not None
        assert all(isinstance(r, StoreBusy) for r in await follows)
        assert time.monotonic() - started < 1.8
        assert writer.in_transaction  # all of this happened while the write was still open
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert await store.follow("telegram", "u2", "c2", "000.00.14.H56-251120-0001")


async def test_outbox_claim_retry_fail_and_drop(store: Store) -> None:
    await write(store, [row("A-1"), row("A-2")])
    await store.follow("telegram", "u1", "c1", "A-1")
    await store.follow("telegram", "u1", "c1", "A-2")
    await write(store, [row("A-1", "done"), row("A-2", "done")])
    first, second = await store.due_notifications("telegram", now=1e12)
    assert await store.claim_notification(first.id)
    assert not await store.claim_notification(first.id)  # never twice
    await store.notification_retry(first.id, next_attempt_at=100.0, error="timeout")
    assert [n.id for n in await store.due_notifications("telegram", now=99.0)] == [second.id]
    again = await store.due_notifications("telegram", now=100.0)
    assert again[0].id == first.id and again[0].attempts == 1
    assert await store.claim_notification(first.id)
    await store.notification_failed(first.id, "gave up")
    assert await store.drop_recipient("telegram", "u1") == 2
    assert await store.follows_of("telegram", "u1") == []
    assert await store.outbox_counts("telegram") == {"failed": 1, "dropped": 1}


async def test_in_statuses(store: Store) -> None:
    await write(store, [row("A-1", "done"), row("A-2", "returned"), row("A-3", "supplement")])
    found = await store.in_statuses([Status.DONE, Status.SUPPLEMENT])
    assert [d.code for d in found] == ["A-1", "A-3"]
