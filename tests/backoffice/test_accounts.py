"""Staff accounts, sessions, lock-out and the audit log on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.backoffice.accounts import AccountError, AccountStore, LoginOutcome, same_token
from bot.backoffice.audit import AuditLog


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(tmp_path: Path):
    clock = Clock()
    accounts = await AccountStore.open(
        tmp_path / "db.sqlite3", clock=clock, max_failures=5, lockout_seconds=900, session_seconds=3600
    )
    await accounts.add("lan", "mat-khau-cua-lan")
    try:
        yield accounts, clock
    finally:
        await accounts.close()


async def test_accounts_are_checked_when_created(store) -> None:
    accounts, _ = store
    with pytest.raises(AccountError, match="already exists"):
        await accounts.add("lan", "mat-khau-khac-nua")
    with pytest.raises(AccountError, match="10 to 1024"):
        await accounts.add("hoa", "ngan")
    for bad in ("a", "tên có dấu", "x" * 41, "a b", "<script>"):
        with pytest.raises(AccountError, match="account name"):
            await accounts.add(bad, "mat-khau-du-dai")
    assert await accounts.names() == ["lan"]


async def test_login_outcomes(store) -> None:
    accounts, _ = store
    assert (await accounts.login("lan", "mat-khau-cua-lan", "10.0.0.1")).outcome is LoginOutcome.OK
    assert (await accounts.login("lan", "sai", "10.0.0.1")).outcome is LoginOutcome.REFUSED
    assert (await accounts.login("ai-do", "mat-khau-cua-lan", "10.0.0.1")).outcome is LoginOutcome.REFUSED
    assert (await accounts.login("LAN", "mat-khau-cua-lan", "10.0.0.1")).outcome is LoginOutcome.REFUSED


async def test_the_lock_out_lasts_its_time_then_lifts(store) -> None:
    accounts, clock = store
    for _ in range(5):
        assert (await accounts.login("lan", "doan", "10.0.0.1")).outcome is LoginOutcome.REFUSED
        clock.now += 60
    # From another address too: the account itself is locked.
    assert (await accounts.login("lan", "mat-khau-cua-lan", "10.0.0.2")).outcome is LoginOutcome.LOCKED
    clock.now += 900 - 5 * 60 + 1  # the first failure is now older than 15 minutes
    assert (await accounts.login("lan", "mat-khau-cua-lan", "10.0.0.2")).outcome is LoginOutcome.OK
    # A success clears the account's failures.
    assert (await accounts.login("lan", "doan", "10.0.0.3")).outcome is LoginOutcome.REFUSED
    assert (await accounts.login("lan", "mat-khau-cua-lan", "10.0.0.3")).outcome is LoginOutcome.OK


async def test_one_address_guessing_many_names_is_locked(store) -> None:
    accounts, _ = store
    for i in range(5):
        await accounts.login(f"ten-{i}", "doan", "10.0.0.9")
    assert (await accounts.login("lan", "mat-khau-cua-lan", "10.0.0.9")).outcome is LoginOutcome.LOCKED
    assert (await accounts.login("lan", "mat-khau-cua-lan", "10.0.0.1")).outcome is LoginOutcome.OK


async def test_sessions_expire_without_use_and_end_on_logout(store) -> None:
    accounts, clock = store
    session_id, session = await accounts.new_session("lan")
    assert (await accounts.session(session_id)).account == "lan"
    assert await accounts.session(session_id + "x") is None
    assert await accounts.session("") is None
    clock.now += 3000
    assert await accounts.session(session_id) is not None  # used: extended
    clock.now += 3000
    assert await accounts.session(session_id) is not None
    clock.now += 3601
    assert await accounts.session(session_id) is None  # an hour without use
    other, _ = await accounts.new_session("lan")
    await accounts.end_session(other)
    assert await accounts.session(other) is None
    assert same_token(session.csrf, session.csrf) and not same_token(None, session.csrf)
    assert not same_token(session.csrf[:-1], session.csrf)


async def test_the_audit_log_keeps_who_did_what(tmp_path: Path) -> None:
    audit = await AuditLog.open(tmp_path / "db.sqlite3")
    try:
        await audit.record("lan", "handover.reply", "12")
        await audit.record("hoa", "alias.add", "khai-sinh", "x" * 500)
        entries = await audit.recent()
    finally:
        await audit.close()
    assert [(e.staff, e.action, e.target) for e in entries] == [("hoa", "alias.add", "khai-sinh"), ("lan", "handover.reply", "12")]
    assert len(entries[0].detail) == 200
    assert entries[1].action_label == "Trả lời yêu cầu gặp cán bộ"
    # Reopened, the log is still there (a real file).
    again = await AuditLog.open(tmp_path / "db.sqlite3")
    try:
        assert len(await again.recent()) == 2
    finally:
        await again.close()
