"""Staff accounts, login sessions and the lock-out after failed logins.

Passwords are hashed with argon2id (argon2-cffi's defaults). A login always runs one
argon2 verification, against a dummy hash when the account does not exist, so an unknown
name and a wrong password take the same time and get the same answer. Session ids are
random (256 bits), sent to the browser only; the database keeps their SHA-256, so a copy
of the database does not give anyone a login. Each session has its own CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import aiosqlite
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bot.errors import MotcuaError
from bot.staff.schema import open_part

PART = "accounts"

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE staff_accounts (
        name TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE staff_sessions (
        id_hash TEXT PRIMARY KEY,
        account TEXT NOT NULL REFERENCES staff_accounts (name) ON DELETE CASCADE,
        csrf TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE TABLE staff_login_failures (
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX staff_login_failures_key ON staff_login_failures (scope, key, at)
    """,
)

#: Account names: letters, digits and . _ - (shown in the audit log), 2 to 40 characters.
_NAME = re.compile(r"[A-Za-z0-9._-]{2,40}")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024


class AccountError(MotcuaError):
    """An account cannot be created (the message says why)."""


class LoginOutcome(Enum):
    """What a login attempt came to."""

    OK = "ok"
    REFUSED = "refused"  # unknown name or wrong password: never told apart
    LOCKED = "locked"


@dataclass(frozen=True)
class LoginResult:
    """The outcome of a login, and the account when it succeeded."""

    outcome: LoginOutcome
    account: str | None = None


@dataclass(frozen=True)
class Session:
    """A logged-in browser: whose, its CSRF token, and until when."""

    account: str
    csrf: str
    expires_at: float


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def valid_name(name: str) -> bool:
    """Whether ``name`` is an acceptable account name."""
    return bool(_NAME.fullmatch(name))


class AccountStore:
    """Accounts, sessions and failed logins in the shared database (part ``accounts``)."""

    def __init__(
        self,
        conn: aiosqlite.Connection,
        *,
        max_failures: int = 5,
        lockout_seconds: float = 15 * 60,
        session_seconds: float = 8 * 3600,
        clock: Callable[[], float] = time.time,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self._conn = conn
        self._max_failures = max_failures
        self._lockout = lockout_seconds
        self._session_seconds = session_seconds
        self._clock = clock
        self._hasher = hasher or PasswordHasher()
        # Verified against when the account does not exist, so that both cases cost the same.
        self._dummy_hash = self._hasher.hash(secrets.token_hex(16))

    @classmethod
    async def open(cls, path: Path, **kwargs) -> AccountStore:
        """Open the store on the database at ``path`` (migrating its tables)."""
        return cls(await open_part(path, PART, MIGRATIONS), **kwargs)

    async def close(self) -> None:
        """Close the connection."""
        await self._conn.close()

    # --- accounts ---------------------------------------------------------------------

    async def add(self, name: str, password: str) -> None:
        """Create the account ``name``; raises AccountError for a bad name, a short
        password or a name already taken."""
        if not valid_name(name):
            raise AccountError(
                f"{name!r}: an account name is 2 to 40 letters, digits, '.', '_' or '-'"
            )
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise AccountError(f"the password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long")
        try:
            await self._conn.execute(
                "INSERT INTO staff_accounts (name, password_hash, created_at) VALUES (?, ?, ?)",
                (name, self._hasher.hash(password), self._clock()),
            )
        except aiosqlite.IntegrityError:
            raise AccountError(f"{name}: an account with this name already exists") from None

    async def names(self) -> list[str]:
        """Every account's name, sorted."""
        rows = await self._conn.execute_fetchall("SELECT name FROM staff_accounts ORDER BY name")
        return [r[0] for r in rows]

    # --- logging in -------------------------------------------------------------------

    async def _failures(self, scope: str, key: str, since: float) -> int:
        rows = await self._conn.execute_fetchall(
            "SELECT count(*) FROM staff_login_failures WHERE scope = ? AND key = ? AND at >= ?",
            (scope, key, since),
        )
        return int(rows[0][0])

    async def login(self, name: str, password: str, client: str) -> LoginResult:
        """Check ``name`` and ``password`` from the address ``client``. After
        ``max_failures`` failures within the lock-out time for the name or for the
        address, every attempt is refused as LOCKED until the oldest failure ages out."""
        now = self._clock()
        since = now - self._lockout
        await self._conn.execute("DELETE FROM staff_login_failures WHERE at < ?", (since,))
        name = name.strip()[:64]
        password = password[:MAX_PASSWORD]
        rows = await self._conn.execute_fetchall(
            "SELECT password_hash FROM staff_accounts WHERE name = ?", (name,)
        )
        stored = rows[0][0] if rows else self._dummy_hash
        try:
            matched = self._hasher.verify(stored, password) and bool(rows)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            matched = False
        locked = (
            await self._failures("account", name.casefold(), since) >= self._max_failures
            or await self._failures("client", client, since) >= self._max_failures
        )
        if locked:
            return LoginResult(LoginOutcome.LOCKED)
        if not matched:
            await self._conn.executemany(
                "INSERT INTO staff_login_failures (scope, key, at) VALUES (?, ?, ?)",
                [("account", name.casefold(), now), ("client", client, now)],
            )
            return LoginResult(LoginOutcome.REFUSED)
        await self._conn.execute(
            "DELETE FROM staff_login_failures WHERE scope = 'account' AND key = ?", (name.casefold(),)
        )
        if self._hasher.check_needs_rehash(stored):
            await self._conn.execute(
                "UPDATE staff_accounts SET password_hash = ? WHERE name = ?", (self._hasher.hash(password), name)
            )
        return LoginResult(LoginOutcome.OK, name)

    # --- sessions ---------------------------------------------------------------------

    async def new_session(self, account: str) -> tuple[str, Session]:
        """Start a session for ``account``: the id to put in the cookie, and the session."""
        now = self._clock()
        await self._conn.execute("DELETE FROM staff_sessions WHERE expires_at < ?", (now,))
        session_id = secrets.token_urlsafe(32)
        session = Session(account, secrets.token_urlsafe(32), now + self._session_seconds)
        await self._conn.execute(
            "INSERT INTO staff_sessions (id_hash, account, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            (_digest(session_id), account, session.csrf, now, session.expires_at),
        )
        return session_id, session

    async def session(self, session_id: str) -> Session | None:
        """The live session with this id (its lifetime extended), or None."""
        if not session_id or len(session_id) > 100:
            return None
        now = self._clock()
        rows = await self._conn.execute_fetchall(
            "SELECT account, csrf, expires_at FROM staff_sessions WHERE id_hash = ?", (_digest(session_id),)
        )
        if not rows or rows[0][2] < now:
            return None
        expires = now + self._session_seconds
        if expires - rows[0][2] > 60:  # extend at most once a minute
            await self._conn.execute(
                "UPDATE staff_sessions SET expires_at = ? WHERE id_hash = ?", (expires, _digest(session_id))
            )
        else:
            expires = rows[0][2]
        return Session(rows[0][0], rows[0][1], expires)

    async def end_session(self, session_id: str) -> None:
        """Log the session out (nothing if it does not exist)."""
        await self._conn.execute("DELETE FROM staff_sessions WHERE id_hash = ?", (_digest(session_id),))


def same_token(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a submitted CSRF token with the expected one."""
    return bool(given) and hmac.compare_digest(str(given).encode("utf-8"), expected.encode("utf-8"))
