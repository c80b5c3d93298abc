"""Staff accounts, login sessions and the lock-out after failed logins.

Passwords are hashed with argon2id (argon2-cffi's defaults). A login always runs one
argon2 verification, against a dummy hash when the account does not exist, so an unknown
name and a wrong password take the same time and get the same answer. Session ids are
random (256 bits), sent to the browser only; the database keeps their SHA-256, so a copy
of the database does not give anyone a login. Each session has its own CSRF token.

An account belongs to one commune (its ``commune``: a commune id, '' in a one-commune
install) or to the province (:data:`PROVINCE`: every commune, and the base catalogue).
These tables are the one place read before any commune is known (a login looks the name
up), so they carry the commune but no row-level security: the back office reads them
only to authenticate, and every page's data comes through the account's commune.
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

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bot.errors import MotcuaError
from bot.storage import ALL_COMMUNES, Database, Migration, open_migrated

PART = "accounts"
#: The commune of a provincial administrator's account: every commune.
PROVINCE = ALL_COMMUNES

#: The first step as SQLite files have had it (unchanged, so they keep working).
_V1_SQLITE = """
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
    """

MIGRATIONS: tuple[Migration, ...] = (
    # PostgreSQL's REAL is single precision, too coarse for timestamps: @FLOAT there.
    {"sqlite": _V1_SQLITE, "postgres": _V1_SQLITE.replace(" REAL ", " DOUBLE PRECISION ")},
    "ALTER TABLE staff_accounts ADD COLUMN commune TEXT NOT NULL DEFAULT ''",
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
    commune: str = ""


@dataclass(frozen=True)
class Session:
    """A logged-in browser: whose, its CSRF token, and until when."""

    account: str
    csrf: str
    expires_at: float
    #: The account's commune ('' in a one-commune install; :data:`PROVINCE`: all).
    commune: str = ""

    @property
    def provincial(self) -> bool:
        """Whether this is a provincial administrator's session."""
        return self.commune == PROVINCE


@dataclass(frozen=True)
class Account:
    """A staff account as listed (never its password hash)."""

    name: str
    commune: str


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def valid_name(name: str) -> bool:
    """Whether ``name`` is an acceptable account name."""
    return bool(_NAME.fullmatch(name))


class AccountStore:
    """Accounts, sessions and failed logins in the shared database (part ``accounts``),
    on a :class:`~bot.storage.Database` (``await AccountStore.create(db)`` migrates it)."""

    def __init__(
        self,
        db: Database,
        *,
        owned: bool = False,
        max_failures: int = 5,
        lockout_seconds: float = 15 * 60,
        session_seconds: float = 8 * 3600,
        clock: Callable[[], float] = time.time,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.db = db
        self._owned = owned
        self._max_failures = max_failures
        self._lockout = lockout_seconds
        self._session_seconds = session_seconds
        self._clock = clock
        self._hasher = hasher or PasswordHasher()
        # Verified against when the account does not exist, so that both cases cost the same.
        self._dummy_hash = self._hasher.hash(secrets.token_hex(16))

    @classmethod
    async def create(cls, db: Database, **kwargs) -> AccountStore:
        """The store on ``db`` (its tables created or migrated); ``db`` stays the caller's."""
        await db.migrate(PART, MIGRATIONS)
        return cls(db, **kwargs)

    @classmethod
    async def open(cls, path: Path, url: str | None = None, **kwargs) -> AccountStore:
        """The store on its own database (the SQLite file at ``path``, or PostgreSQL at
        ``url``), closed with the store."""
        return cls(await open_migrated(Path(path), url, PART, MIGRATIONS), owned=True, **kwargs)

    async def close(self) -> None:
        """Close the database when this store opened it (:meth:`open`)."""
        if self._owned:
            await self.db.close()

    # --- accounts ---------------------------------------------------------------------

    async def add(self, name: str, password: str, commune: str = "") -> None:
        """Create the account ``name`` of ``commune`` ('' for a one-commune install,
        :data:`PROVINCE` for a provincial administrator); raises AccountError for a bad
        name, a short password or a name already taken."""
        if not valid_name(name):
            raise AccountError(
                f"{name!r}: an account name is 2 to 40 letters, digits, '.', '_' or '-'"
            )
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise AccountError(f"the password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long")
        added = await self.db.run(
            "INSERT INTO staff_accounts (name, password_hash, created_at, commune) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (name) DO NOTHING",
            (name, self._hasher.hash(password), self._clock(), commune),
        )
        if not added:
            raise AccountError(f"{name}: an account with this name already exists")

    async def names(self) -> list[str]:
        """Every account's name, sorted."""
        rows = await self.db.fetch("SELECT name FROM staff_accounts ORDER BY name")
        return [r[0] for r in rows]

    async def accounts(self) -> list[Account]:
        """Every account with its commune, sorted by name."""
        rows = await self.db.fetch("SELECT name, commune FROM staff_accounts ORDER BY name")
        return [Account(str(n), str(c)) for n, c in rows]

    # --- logging in -------------------------------------------------------------------

    async def _failures(self, scope: str, key: str, since: float) -> int:
        row = await self.db.fetchone(
            "SELECT count(*) FROM staff_login_failures WHERE scope = ? AND key = ? AND at >= ?",
            (scope, key, since),
        )
        return int(row[0]) if row else 0

    async def login(self, name: str, password: str, client: str) -> LoginResult:
        """Check ``name`` and ``password`` from the address ``client``. After
        ``max_failures`` failures within the lock-out time for the name or for the
        address, every attempt is refused as LOCKED until the oldest failure ages out."""
        now = self._clock()
        since = now - self._lockout
        await self.db.run("DELETE FROM staff_login_failures WHERE at < ?", (since,))
        name = name.strip()[:64]
        password = password[:MAX_PASSWORD]
        rows = await self.db.fetch("SELECT password_hash, commune FROM staff_accounts WHERE name = ?", (name,))
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
            async with self.db.transaction() as tx:
                for scope, key in (("account", name.casefold()), ("client", client)):
                    await tx.run(
                        "INSERT INTO staff_login_failures (scope, key, at) VALUES (?, ?, ?)", (scope, key, now)
                    )
            return LoginResult(LoginOutcome.REFUSED)
        await self.db.run(
            "DELETE FROM staff_login_failures WHERE scope = 'account' AND key = ?", (name.casefold(),)
        )
        if self._hasher.check_needs_rehash(stored):
            await self.db.run(
                "UPDATE staff_accounts SET password_hash = ? WHERE name = ?", (self._hasher.hash(password), name)
            )
        return LoginResult(LoginOutcome.OK, name, str(rows[0][1]))

    # --- sessions ---------------------------------------------------------------------

    async def new_session(self, account: str) -> tuple[str, Session]:
        """Start a session for ``account``: the id to put in the cookie, and the session."""
        now = self._clock()
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        async with self.db.transaction() as tx:
            await tx.run("DELETE FROM staff_sessions WHERE expires_at < ?", (now,))
            row = await tx.fetchone("SELECT commune FROM staff_accounts WHERE name = ?", (account,))
            if row is None:
                raise AccountError(f"{account}: no such account")
            await tx.run(
                "INSERT INTO staff_sessions (id_hash, account, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                (_digest(session_id), account, csrf, now, now + self._session_seconds),
            )
        return session_id, Session(account, csrf, now + self._session_seconds, str(row[0]))

    async def session(self, session_id: str) -> Session | None:
        """The live session with this id (its lifetime extended), or None."""
        if not session_id or len(session_id) > 100:
            return None
        now = self._clock()
        row = await self.db.fetchone(
            "SELECT s.account, s.csrf, s.expires_at, a.commune FROM staff_sessions s "
            "JOIN staff_accounts a ON a.name = s.account WHERE s.id_hash = ?",
            (_digest(session_id),),
        )
        if row is None or row[2] < now:
            return None
        expires = now + self._session_seconds
        if expires - row[2] > 60:  # extend at most once a minute
            await self.db.run(
                "UPDATE staff_sessions SET expires_at = ? WHERE id_hash = ?", (expires, _digest(session_id))
            )
        else:
            expires = row[2]
        return Session(row[0], row[1], expires, str(row[3]))

    async def end_session(self, session_id: str) -> None:
        """Log the session out (nothing if it does not exist)."""
        await self.db.run("DELETE FROM staff_sessions WHERE id_hash = ?", (_digest(session_id),))


def same_token(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a submitted CSRF token with the expected one."""
    return bool(given) and hmac.compare_digest(str(given).encode("utf-8"), expected.encode("utf-8"))
