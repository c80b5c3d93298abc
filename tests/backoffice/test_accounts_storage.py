"""Accounts and the audit log on both backends (a SQLite file and a real PostgreSQL
server whose role is no superuser, so row-level security applies), with communes."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.backoffice import accounts as accounts_module
from bot.backoffice import audit as audit_module
from bot.backoffice.accounts import PROVINCE, AccountError, AccountStore, LoginOutcome
from bot.backoffice.audit import AuditLog
from bot.storage import Database, open_database
from tests.backends import BACKENDS, Backend, backend
from tests.legacy import write_old_parts


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """An empty database seen by no commune (as the back office opens it)."""
    with backend(request, tmp_path, Backend) as where:
        database = await open_database(where.path, where.url, scope=None)
        try:
            yield database
        finally:
            await database.close()


async def test_accounts_carry_their_commune_into_the_login_and_the_session(db: Database) -> None:
    store = await AccountStore.create(db, max_failures=5, lockout_seconds=900, session_seconds=3600)
    await store.add("lan.tanhoa", "mat-khau-cua-lan", "tan-hoa")
    await store.add("hoa.binhan", "mat-khau-cua-hoa", "binh-an")
    await store.add("tinh.admin", "mat-khau-cua-tinh", PROVINCE)
    with pytest.raises(AccountError, match="already exists"):
        await store.add("lan.tanhoa", "mat-khau-khac-nua", "binh-an")
    assert [(a.name, a.commune) for a in await store.accounts()] == [
        ("hoa.binhan", "binh-an"), ("lan.tanhoa", "tan-hoa"), ("tinh.admin", PROVINCE),
    ]
    result = await store.login("lan.tanhoa", "mat-khau-cua-lan", "10.0.0.1")
    assert (result.outcome, result.account, result.commune) == (LoginOutcome.OK, "lan.tanhoa", "tan-hoa")
    assert (await store.login("lan.tanhoa", "sai-mat-khau", "10.0.0.1")).outcome is LoginOutcome.REFUSED
    session_id, session = await store.new_session("tinh.admin")
    assert session.provincial
    again = await store.session(session_id)
    assert again is not None and again.commune == PROVINCE and again.account == "tinh.admin"
    other_id, _ = await store.new_session("hoa.binhan")
    seen = await store.session(other_id)
    assert seen is not None and seen.commune == "binh-an" and not seen.provincial
    # A restart (the tables migrated again) keeps everything.
    again_store = await AccountStore.create(db)
    assert len(await again_store.names()) == 3


async def test_each_commune_reads_only_its_own_audit_entries(db: Database) -> None:
    log = await AuditLog.create(db)
    await log.scoped("tan-hoa").record("lan.tanhoa", "handover.reply", "1")
    await log.scoped("binh-an").record("hoa.binhan", "notice.post", "2", "đến 05/12/2026 17:00")
    await log.scoped(PROVINCE).record("tinh.admin", "catalogue.edit", "khai-sinh", "fee")
    await log.scoped(PROVINCE).record("tinh.admin", "handover.close", "3", commune="binh-an")
    tan_hoa = await log.scoped("tan-hoa").recent()
    assert [(e.staff, e.commune) for e in tan_hoa] == [("lan.tanhoa", "tan-hoa")]
    binh_an = await log.scoped("binh-an").recent()
    assert [(e.action, e.commune) for e in binh_an] == [("handover.close", "binh-an"), ("notice.post", "binh-an")]
    everything = await log.scoped(PROVINCE).recent()
    assert [e.commune for e in everything] == ["binh-an", PROVINCE, "binh-an", "tan-hoa"]
    assert await log.recent() == []  # no scope: nothing (fail closed)


async def test_row_level_security_hides_other_communes_audit_rows_even_without_a_filter(db: Database) -> None:
    if db.dialect != "postgres":
        pytest.skip("row-level security is PostgreSQL's (SQLite relies on the stores' filters)")
    log = await AuditLog.create(db)
    await log.scoped("tan-hoa").record("lan.tanhoa", "login")
    await log.scoped("binh-an").record("hoa.binhan", "login")
    # A query that forgot the commune filter, on a commune's view: the server hides the rest.
    assert await db.scoped("tan-hoa").fetch("SELECT staff FROM staff_audit") == [("lan.tanhoa",)]
    assert await db.fetch("SELECT staff FROM staff_audit") == []  # no scope: nothing
    assert len(await db.scoped(PROVINCE).fetch("SELECT staff FROM staff_audit")) == 2
    # A commune's view cannot write another commune's entry either.
    with pytest.raises(Exception, match="row-level security"):
        await log.scoped("tan-hoa").record("lan.tanhoa", "login", commune="binh-an")


async def test_an_sqlite_file_of_the_earlier_version_keeps_its_accounts_and_log(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    from argon2 import PasswordHasher

    write_old_parts(path, {
        "accounts": accounts_module.MIGRATIONS[0]["sqlite"],
        "audit": audit_module.MIGRATIONS[0]["sqlite"],
    })
    with sqlite3.connect(path) as old:  # rows the earlier version wrote
        old.execute(
            "INSERT INTO staff_accounts (name, password_hash, created_at) VALUES (?, ?, ?)",
            ("can-bo.lan", PasswordHasher().hash("mat-khau-rat-dai-2026"), 1.0),
        )
        old.execute(
            "INSERT INTO staff_audit (at, staff, action, target, detail) VALUES (1.0, 'can-bo.lan', 'login', '', '')"
        )
    old.close()
    db = await open_database(path, scope=None)
    try:
        store = await AccountStore.create(db)
        result = await store.login("can-bo.lan", "mat-khau-rat-dai-2026", "10.0.0.1")
        assert (result.outcome, result.commune) == (LoginOutcome.OK, "")
        log = await AuditLog.create(db)
        (entry,) = await log.scoped("").recent()
        assert (entry.staff, entry.action, entry.commune) == ("can-bo.lan", "login", "")
    finally:
        await db.close()
    conn = sqlite3.connect(path)
    try:
        versions = dict(conn.execute("SELECT part, version FROM schema_parts").fetchall())
    finally:
        conn.close()
    assert versions["accounts"] == len(accounts_module.MIGRATIONS) and versions["audit"] == len(audit_module.MIGRATIONS)
