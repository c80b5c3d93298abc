"""The dossier store on SQLite and on PostgreSQL: schema, sync writer, follows and outbox.

Each test taking ``store`` or ``db`` runs on both backends (tests/dossiers/conftest.py)."""

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
    DossierStore,
    Store,
    StoreBusy,
    StoreError,
)
from bot.dossiers import pgstore
from tests.dossiers.conftest import Db, postgres_only, sqlite_only


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


async def write(store: DossierStore, rows: list[DossierRow], source: str = "test") -> None:
    with store.sync_writer(source) as w:
        w.write(rows)
        w.finish(read=len(rows), rejected=0)


def migrations(db: Db) -> int:
    return len(MIGRATIONS if db.kind == "sqlite" else pgstore.MIGRATIONS)


async def test_open_creates_directories_wal_and_schema(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "sub" / "dir" / "motcua.sqlite3")
    try:
        assert store.path.exists()
        assert await store.schema_version() == len(MIGRATIONS)
        conn = sqlite3.connect(store.path)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()
        assert await store.is_empty()
    finally:
        await store.close()


async def test_open_migrates_an_empty_database(store: DossierStore, db: Db) -> None:
    assert await store.schema_version() == migrations(db)
    assert await store.is_empty() and await store.count() == 0


async def test_reopening_keeps_data_and_does_not_migrate_again(db: Db) -> None:
    s = await db.open()
    await write(s, [row("A-1")])
    await s.close()
    s = await db.open()
    assert await s.count() == 1
    assert await s.schema_version() == migrations(db)
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


async def test_writer_inserts_updates_and_skips_unchanged(store: DossierStore) -> None:
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


async def test_status_changes_go_to_history_and_outbox_per_follower(store: DossierStore) -> None:
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


async def test_writer_rolls_back_everything_on_error(store: DossierStore, db: Db) -> None:
    await write(store, [row("A-1")])
    before = db.dump()
    with pytest.raises(RuntimeError):
        with store.sync_writer("bad") as w:
            w.write([row("A-1", "done"), row("A-9")])
            raise RuntimeError("crash midway")
    assert db.dump() == before
    assert len(await store.sync_runs()) == 1


async def test_dry_run_writer_reports_and_writes_nothing(store: DossierStore, db: Db) -> None:
    await write(store, [row("A-1")])
    await store.follow("telegram", "u1", "c1", "A-1")
    before = db.dump(("dossiers", "status_history", "follows", "outbox", "sync_runs"))
    with store.sync_writer("dry", dry_run=True) as w:
        w.write([row("A-1", "done"), row("A-2")])
        counts = w.finish(read=2, rejected=0)
    assert (counts.inserted, counts.status_changes, counts.notifications) == (1, 1, 1)
    assert db.dump(("dossiers", "status_history", "follows", "outbox", "sync_runs")) == before


async def test_follows(store: DossierStore) -> None:
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


async def test_codes_ending_with_takes_only_a_whole_tail(store: DossierStore) -> None:
    await write(store, [row("X.H56-251120-0001"), row("Y.H99-251120-0001"), row("X-25%20_1"), row("Z-0001")])
    assert sorted(await store.codes_ending_with("251120-0001")) == [
        "X.H56-251120-0001",
        "Y.H99-251120-0001",
    ]
    # A sequence alone, a date alone or wildcards never find anything.
    for partial in ("0001", "251120", "25%20_1", "%", "_____0-0001", "251120-000"):
        assert await store.codes_ending_with(partial) == [], partial


@sqlite_only
async def test_tail_lookup_uses_the_tail_index(store: DossierStore) -> None:
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


async def test_lookup_counters_add_up_and_survive_reopening(db: Db) -> None:
    s = await db.open()
    await s.record_lookups([LookupCount("u:t:1", 100, 2, 1)], [LookupCode("u:t:1", 42, 100)])
    await s.record_lookups(
        [LookupCount("u:t:1", 100, 1, 0), LookupCount("c:t:9", 5, 1, 1)],
        [LookupCode("u:t:1", 42, 160), LookupCode("u:t:1", 7, 50)],
    )
    await s.close()
    s = await db.open()
    try:
        counts, codes = await s.lookup_counters(counts_since=50, codes_since=60)
        assert counts == [LookupCount("u:t:1", 100, 3, 1)]
        assert codes == [LookupCode("u:t:1", 42, 160)]
        await s.record_lookups([], [], forget_counts_before=101, forget_codes_before=100)
        assert await s.lookup_counters(0, 0) == ([], [LookupCode("u:t:1", 42, 160)])
    finally:
        await s.close()


@sqlite_only
async def test_reads_never_wait_on_a_sync_and_quick_writes_give_up(store: DossierStore) -> None:
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


async def test_outbox_claim_retry_fail_and_drop(store: DossierStore) -> None:
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


async def test_in_statuses(store: DossierStore) -> None:
    await write(store, [row("A-1", "done"), row("A-2", "returned"), row("A-3", "supplement")])
    found = await store.in_statuses([Status.DONE, Status.SUPPLEMENT])
    assert [d.code for d in found] == ["A-1", "A-3"]


# --- PostgreSQL only ----------------------------------------------------------------


@postgres_only
async def test_pg_newer_schema_and_unreachable_servers_are_clear_errors(db: Db) -> None:
    s = await db.open()
    await s.close()
    db.query("UPDATE motcua_schema SET version = ? WHERE part = 'dossiers'", (len(pgstore.MIGRATIONS) + 1,))
    with pytest.raises(StoreError, match="newer"):
        await db.open()
    # Nothing listens on this port: the error names the URL, never its password.
    with pytest.raises(StoreError) as info:
        await pgstore.PgStore.open("postgresql://motcua:s3cret-pw@127.0.0.1:1/motcua")
    assert "127.0.0.1:1/motcua" in str(info.value) and "s3cret-pw" not in str(info.value)


def test_redact_url_hides_passwords() -> None:
    assert pgstore.redact_url("postgresql://bot:pa%40ss@db.example:5432/x") == "postgresql://bot:***@db.example:5432/x"
    assert pgstore.redact_url("postgresql://db/x?password=hunter2&sslmode=require") == (
        "postgresql://db/x?password=***&sslmode=require"
    )
    assert pgstore.redact_url("postgresql://bot@db/x") == "postgresql://bot@db/x"


@postgres_only
async def test_pg_migration_is_applied_once_by_processes_opening_at_once(db: Db) -> None:
    stores = await asyncio.gather(*(db.open() for _ in range(4)))
    try:
        assert [await s.schema_version() for s in stores] == [len(pgstore.MIGRATIONS)] * 4
        assert db.query("SELECT part, version FROM motcua_schema") == [("dossiers", len(pgstore.MIGRATIONS))]
    finally:
        for s in stores:
            await s.close()


@postgres_only
async def test_pg_tail_lookup_uses_the_tail_index(store: DossierStore, db: Db) -> None:
    await write(store, [row(f"000.00.14.H56-2511{d:02}-{n:04}") for d in range(1, 29) for n in range(40)])
    import psycopg

    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")
        plan = " ".join(r[0] for r in conn.execute(f"EXPLAIN {pgstore.TAIL_QUERY}", ("251120-0001", 2)))
    assert "dossiers_tail" in plan and "Seq Scan" not in plan
    assert await store.codes_ending_with("251120-0007") == ["000.00.14.H56-251120-0007"]


@postgres_only
async def test_pg_reads_never_wait_on_a_sync_and_quick_writes_give_up(store: DossierStore, db: Db) -> None:
    import psycopg

    code = "000.00.14.H56-251120-0001"
    await write(store, [row(code)])
    await store.follow("telegram", "u1", "c1", code)
    # A sync's open transaction has changed the dossier, and another one holds u1's follow.
    writer = psycopg.connect(db.url)
    writer.execute("SELECT set_config('motcua.commune', '*', false)")  # row-level security
    assert writer.execute("UPDATE dossiers SET status = 'done'").rowcount == 1
    writer.execute("SELECT * FROM follows WHERE user_id = 'u1' FOR UPDATE")
    try:
        started = time.monotonic()
        got = await asyncio.wait_for(store.get(code), 2.0)
        assert got is not None and got.status is Status.PROCESSING  # the committed data
        assert await asyncio.wait_for(store.codes_ending_with("251120-0001"), 2.0)
        assert await asyncio.wait_for(store.follows_of("telegram", "u1"), 2.0) == [code]
        assert await asyncio.wait_for(store.follow("telegram", "u2", "c2", code), 2.0)  # no conflict: no wait
        await asyncio.wait_for(store.record_lookups([LookupCount("u", 1, 1, 0)], []), 1.0)
        assert time.monotonic() - started < 1.0
        started = time.monotonic()
        with pytest.raises(StoreBusy):  # the same row as the held lock: gives up after a second
            await asyncio.wait_for(store.follow("telegram", "u1", "c9", code), 3.0)
        assert 0.9 < time.monotonic() - started < 2.5
    finally:
        writer.rollback()
        writer.close()
    assert (await store.get(code)).status is Status.PROCESSING  # type: ignore[union-attr]
    assert [f.chat_id for f in await store.followers(code)] == ["c1", "c2"]


@postgres_only
async def test_pg_claims_from_two_connections_never_take_a_row_twice(db: Db) -> None:
    first, second = await db.open(), await db.open()
    try:
        codes = [f"A-{n}" for n in range(60)]
        await write(first, [row(c) for c in codes])
        for c in codes:
            await first.follow("telegram", "u1", "c1", c)
        await write(first, [row(c, "done") for c in codes])
        due = await first.due_notifications("telegram", now=1e12, limit=100)
        assert len(due) == 60
        # Both stores try every row at once, three times each.
        attempts = [
            (name, n.id, s.claim_notification(n.id, 100.0, stale_before=50.0))
            for i, n in enumerate(due)
            for name, s in ((("a", first), ("b", second)) if i % 2 else (("b", second), ("a", first))) * 2
        ]
        results = await asyncio.gather(*(a[2] for a in attempts))
        won: dict[int, list[str]] = {}
        for (name, nid, _), ok in zip(attempts, results):
            if ok:
                won.setdefault(nid, []).append(name)
        assert sorted(won) == sorted(n.id for n in due)
        assert all(len(names) == 1 for names in won.values())
        assert await first.outbox_counts() == {"sending": 60}
    finally:
        await first.close()
        await second.close()


async def test_inbox_hand_back_keeps_order_survives_reopening_and_forgets(db: Db) -> None:
    s = await db.open()
    await s.hand_back("zalo", ['{"n": 1}', '{"n": 2}'])
    await s.hand_back("telegram", ['{"t": 1}'])
    await s.hand_back("zalo", ['{"n": 3}'])
    await s.hand_back("zalo", [])
    await s.close()
    s = await db.open()
    try:
        kept = await s.handed_back("zalo")
        assert [p for _, p in kept] == ['{"n": 1}', '{"n": 2}', '{"n": 3}']
        await s.forget_handed_back([kept[0][0], kept[2][0]])
        assert [p for _, p in await s.handed_back("zalo")] == ['{"n": 2}']
        assert [p for _, p in await s.handed_back("telegram")] == ['{"t": 1}']
    finally:
        await s.close()


async def test_channel_usage_adds_up_per_month_and_users_once(store: DossierStore) -> None:
    await store.add_channel_usage("zalo", "2026-12", 3)
    await store.add_channel_usage("zalo", "2026-12", 4)
    await store.add_channel_usage("telegram", "2026-12", 1)
    await store.add_channel_usage("zalo", "2027-01", 2)
    assert await store.channel_usage("2026-12") == {"zalo": 7, "telegram": 1}
    await store.add_channel_users("zalo", ["u1", "u2", "u1"])
    await store.add_channel_users("zalo", ["u2", "u3"])
    assert await store.channel_users("zalo") == {"u1", "u2", "u3"}
    assert await store.channel_users("telegram") == set()


async def test_two_sync_runs_at_once_apply_one_after_the_other(store: DossierStore) -> None:
    import threading

    entered_second = threading.Event()
    seen: dict[str, int] = {}

    def second_run() -> None:
        with store.sync_writer("second") as w:
            entered_second.set()
            seen["stored_before"] = w.stored_before
            w.write([row("A-1", "done"), row("B-1")])
            seen["changes"] = w.finish(read=2, rejected=0).status_changes

    with store.sync_writer("first") as w:
        w.write([row("A-1")])
        w.finish(read=1, rejected=0)
        thread = threading.Thread(target=second_run)
        thread.start()
        await asyncio.sleep(0.5)
        assert not entered_second.is_set()  # waits for the first run to end
    await asyncio.to_thread(thread.join, 30)
    assert seen == {"stored_before": 1, "changes": 1}  # it saw the first run's dossier
    assert [h.new_status for h in await store.history("A-1")] == [Status.PROCESSING, Status.DONE]
    assert [r.source for r in await store.sync_runs()] == ["second", "first"]
