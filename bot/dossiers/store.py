"""The dossier database: its interface (:class:`DossierStore`, :class:`DossierSyncWriter`,
:func:`open_store`) and the embedded default, one SQLite file in WAL mode (the PostgreSQL
store, for ``database.url``, is :mod:`bot.dossiers.pgstore`).

Tables: ``dossiers`` (one row per code), ``status_history`` (every status a dossier has
had, the first one with ``old_status`` NULL), ``sync_runs`` (one row per successful
sync), ``follows`` (who wants to hear about which dossier, on which channel) and
``outbox`` (one row per notification to deliver), ``lookup_counts`` and ``lookup_codes``
(recent dossier look-ups per user and per chat, for the status desk's limits),
``channel_usage`` and ``channel_users`` (outbound messages per month, users seen, per
channel) and ``inbox`` (received updates handed back at a stop, answered at the next
start). The schema is versioned with ``PRAGMA user_version``; :meth:`Store.open` applies
missing migrations.

Tenancy: ``dossiers``, ``status_history``, ``follows``, ``outbox`` and
``sync_run_communes`` (a run's figures per commune) carry ``commune``, the ``communes:``
id of the dossier's commune ('' with a single commune, and for every row written before
schema version 4). A provincial sync fills it from the code's agency segment; a follow
takes its dossier's; a notification its history row's. On PostgreSQL these tables are
also under row-level security (:mod:`bot.dossiers.pgstore`).

The bot reads and writes through :class:`Store` (aiosqlite). A sync writes through a
:class:`SyncWriter`, its own plain sqlite3 connection used from a worker thread, in a
single transaction: readers keep seeing the previous data (WAL) until it commits, and a
run that fails or is killed leaves no trace.

:class:`Store` holds three connections, so that a long sync never holds up a look-up:
dossier and follow reads go through a read-only connection (WAL readers never wait on the
writer); the status desk's own writes (follows, look-up counters) go through a connection
that waits at most a moment for the write lock and then raises :class:`StoreBusy`; other
writes (migrations, the outbox) use the main connection.
"""

from __future__ import annotations

import abc
import asyncio
import re
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import NamedTuple, TypeVar

import aiosqlite

from bot.errors import MotcuaError
from bot.dossiers.statuses import Status


class StoreError(MotcuaError):
    """The database file cannot be opened or has an unknown schema (the message names it)."""


class StoreBusy(StoreError):
    """A quick write gave up because another writer (a sync) holds the database."""


#: Schema migrations; migration ``i`` (0-based) brings the file to ``user_version`` i+1.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE dossiers (
        id INTEGER PRIMARY KEY,
        code TEXT NOT NULL UNIQUE,
        procedure TEXT NOT NULL DEFAULT '',
        procedure_id TEXT,
        applicant TEXT NOT NULL DEFAULT '',
        phone TEXT NOT NULL DEFAULT '',
        address TEXT NOT NULL DEFAULT '',
        received TEXT,
        appointment TEXT,
        returned TEXT,
        status TEXT NOT NULL,
        fingerprint INTEGER,
        changed_at TEXT NOT NULL
    );
    CREATE INDEX dossiers_status ON dossiers (status);
    CREATE TABLE status_history (
        id INTEGER PRIMARY KEY,
        code TEXT NOT NULL,
        old_status TEXT,
        new_status TEXT NOT NULL,
        changed_at TEXT NOT NULL,
        run_id INTEGER
    );
    CREATE INDEX status_history_code ON status_history (code);
    CREATE TABLE sync_runs (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        read INTEGER NOT NULL DEFAULT 0,
        inserted INTEGER NOT NULL DEFAULT 0,
        updated INTEGER NOT NULL DEFAULT 0,
        unchanged INTEGER NOT NULL DEFAULT 0,
        rejected INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE follows (
        channel TEXT NOT NULL,
        user_id TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        code TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (channel, user_id, code)
    );
    CREATE INDEX follows_code ON follows (code);
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        history_id INTEGER NOT NULL REFERENCES status_history (id),
        channel TEXT NOT NULL,
        user_id TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending'
            CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'dropped')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        last_error TEXT,
        created_at TEXT NOT NULL,
        sent_at TEXT,
        UNIQUE (history_id, channel, user_id)
    );
    CREATE INDEX outbox_due ON outbox (channel, state, next_attempt_at);
    """,
    # 2: look-ups by code tail use an index; look-up counters for the status desk's limits.
    """
    CREATE INDEX dossiers_tail ON dossiers (substr(code, -11));
    CREATE TABLE lookup_counts (
        scope TEXT NOT NULL,
        second INTEGER NOT NULL,
        lookups INTEGER NOT NULL DEFAULT 0,
        misses INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (scope, second)
    ) WITHOUT ROWID;
    CREATE INDEX lookup_counts_second ON lookup_counts (second);
    CREATE TABLE lookup_codes (
        scope TEXT NOT NULL,
        code_key INTEGER NOT NULL,
        seen INTEGER NOT NULL,
        PRIMARY KEY (scope, code_key)
    ) WITHOUT ROWID;
    CREATE INDEX lookup_codes_seen ON lookup_codes (seen);
    """,
    # 3: outbox claims are leases (a row left 'sending' by a dead process is claimable
    # again once ``claimed_at`` is old enough); outbound messages counted per channel and
    # calendar month, and the users seen per channel (Zalo's free plan limits both);
    # ``inbox`` holds updates a channel received but could not answer before it stopped.
    """
    ALTER TABLE outbox ADD COLUMN claimed_at REAL;
    CREATE TABLE channel_usage (
        channel TEXT NOT NULL,
        month TEXT NOT NULL,
        messages INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (channel, month)
    );
    CREATE TABLE channel_users (
        channel TEXT NOT NULL,
        user_id TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        PRIMARY KEY (channel, user_id)
    );
    CREATE TABLE inbox (
        id INTEGER PRIMARY KEY,
        channel TEXT NOT NULL,
        payload TEXT NOT NULL,
        received_at TEXT NOT NULL
    );
    """,
    # 4: the tenant key. A provincial sync routes each dossier to its commune (the
    # ``communes:`` id its code's agency segment names); its history, follows and
    # notifications carry the same key. '' is the one commune of a single-commune install
    # (every row written before this version). ``sync_run_communes``: a run's figures per
    # commune.
    """
    ALTER TABLE dossiers ADD COLUMN commune TEXT NOT NULL DEFAULT '';
    ALTER TABLE status_history ADD COLUMN commune TEXT NOT NULL DEFAULT '';
    ALTER TABLE follows ADD COLUMN commune TEXT NOT NULL DEFAULT '';
    ALTER TABLE outbox ADD COLUMN commune TEXT NOT NULL DEFAULT '';
    CREATE INDEX dossiers_commune_status ON dossiers (commune, status);
    CREATE TABLE sync_run_communes (
        run_id INTEGER NOT NULL,
        commune TEXT NOT NULL,
        read INTEGER NOT NULL DEFAULT 0,
        inserted INTEGER NOT NULL DEFAULT 0,
        updated INTEGER NOT NULL DEFAULT 0,
        unchanged INTEGER NOT NULL DEFAULT 0,
        rejected INTEGER NOT NULL DEFAULT 0,
        status_changes INTEGER NOT NULL DEFAULT 0,
        notifications INTEGER NOT NULL DEFAULT 0,
        missing INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (run_id, commune)
    );
    """,
)

#: A code tail as looked up: yymmdd-NNNN (the index covers the last 11 characters).
_TAIL = re.compile(r"\d{6}-\d{4}")
#: Milliseconds the status desk waits for the write lock before giving up (StoreBusy).
DESK_WRITE_WAIT_MS = 1000
#: Milliseconds a read waits in the rare cases a WAL reader must (recovery after a crash).
READ_WAIT_MS = 5000

#: A follow's commune: its dossier's (the code is the last parameter), '' when unknown.
FOLLOW_COMMUNE = "coalesce((SELECT commune FROM dossiers WHERE code = ?), '')"
#: One commune's part of the latest runs (parameters: commune, limit).
SCOPED_RUNS_QUERY = (
    "SELECT r.id, r.source, r.started_at, r.finished_at, c.read, c.inserted, c.updated, "
    "c.unchanged, c.rejected FROM sync_run_communes c JOIN sync_runs r ON r.id = c.run_id "
    "WHERE c.commune = ? ORDER BY r.id DESC LIMIT ?"
)
#: Per status of the followed dossiers: dossiers followed, follows ({where}: a filter).
FOLLOWED_QUERY = (
    "SELECT d.status, count(DISTINCT f.code), count(*) FROM follows f "
    "JOIN dossiers d ON d.code = f.code {where} GROUP BY d.status"
)
#: The look-up of codes by tail; the expression matches the ``dossiers_tail`` index.
TAIL_QUERY = (
    "SELECT code FROM dossiers WHERE substr(code, -11) = ? AND substr(code, -12, 1) = '-' LIMIT ?"
)

_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 60000",
)


T = TypeVar("T")


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc)  # pragma: no cover - Python < 3.11


def _now_iso() -> str:
    return datetime.now().isoformat(timespec="seconds")


def _to_date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


class DossierRow(NamedTuple):
    """One dossier as a sync writes it: normalised text, dates as ISO ``YYYY-MM-DD``."""

    code: str
    procedure: str
    procedure_id: str | None
    applicant: str
    phone: str
    address: str
    received: str | None
    appointment: str | None
    returned: str | None
    status: str


@dataclass(frozen=True)
class Dossier:
    """A dossier as stored (personal fields included: mask before showing)."""

    code: str
    procedure: str
    procedure_id: str | None
    applicant: str
    phone: str
    address: str
    received: date | None
    appointment: date | None
    returned: date | None
    status: Status
    changed_at: str
    #: The commune (tenant) it belongs to: a ``communes:`` id, '' with a single commune.
    commune: str = ""


_DOSSIER_COLUMNS = (
    "code, procedure, procedure_id, applicant, phone, address, received, appointment, "
    "returned, status, changed_at, commune"
)


def prefix_range(code_prefix: str) -> tuple[str, str]:
    """The codes beginning ``<code_prefix>-`` as a range ``[low, high)`` in byte order
    ('.' follows '-'), so that the index on ``code`` finds them."""
    return f"{code_prefix}-", f"{code_prefix}."


def _followed_statuses(totals: Iterable[Sequence], followed: Iterable[Sequence]) -> list[FollowedStatus]:
    dossiers = {r[0]: int(r[1]) for r in totals}
    follows = {r[0]: (int(r[1]), int(r[2])) for r in followed}
    return [FollowedStatus(s, dossiers.get(s.value, 0), *follows.get(s.value, (0, 0))) for s in Status]


def _dossier(row: Sequence) -> Dossier:
    return Dossier(
        code=row[0],
        procedure=row[1],
        procedure_id=row[2],
        applicant=row[3],
        phone=row[4],
        address=row[5],
        received=_to_date(row[6]),
        appointment=_to_date(row[7]),
        returned=_to_date(row[8]),
        status=Status(row[9]),
        changed_at=row[10],
        commune=row[11],
    )


@dataclass(frozen=True)
class HistoryEntry:
    """One status a dossier took, and when (``old_status`` is None for the first)."""

    code: str
    old_status: Status | None
    new_status: Status
    changed_at: str
    run_id: int | None


@dataclass(frozen=True)
class SyncRun:
    """One successful sync as logged (with ``commune=``: that commune's figures of it)."""

    id: int
    source: str
    started_at: str
    finished_at: str | None
    read: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int


@dataclass(frozen=True)
class FollowedStatus:
    """For one status: how many dossiers are in it, how many of them are followed, and by
    how many follows in all."""

    status: Status
    dossiers: int
    followed: int
    followers: int


@dataclass(frozen=True)
class Follower:
    """Someone following a dossier, and where to tell them."""

    channel: str
    user_id: str
    chat_id: str
    code: str


@dataclass(frozen=True)
class Notification:
    """A due outbox row with what is needed to word it."""

    id: int
    channel: str
    user_id: str
    chat_id: str
    attempts: int
    code: str
    old_status: Status | None
    new_status: Status
    changed_at: str
    procedure: str
    appointment: date | None


@dataclass(frozen=True)
class LookupCount:
    """Look-ups and unknown codes of one scope (a user or a chat) in one second."""

    scope: str
    second: int
    lookups: int
    misses: int


@dataclass(frozen=True)
class LookupCode:
    """When a scope last looked up one code (``code_key`` is a hash of the code)."""

    scope: str
    code_key: int
    seen: int


@dataclass
class CommuneCounts:
    """One commune's part of a provincial sync run (``read`` and ``rejected`` count the
    source rows routed to it; ``missing``: its stored dossiers the source does not list)."""

    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    status_changes: int = 0
    notifications: int = 0
    missing: int = 0

    @property
    def changed(self) -> bool:
        """Whether the run changed, or refused, anything of this commune."""
        return bool(self.inserted or self.updated or self.rejected)


#: The figures of a :class:`CommuneCounts`, in ``sync_run_communes``'s column order.
COMMUNE_FIGURES = (
    "read", "inserted", "updated", "unchanged", "rejected", "status_changes", "notifications",
    "missing",
)


@dataclass
class WriteCounts:
    """What a :class:`SyncWriter` did so far."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    status_changes: int = 0
    notifications: int = 0
    run_id: int = 0
    #: Per commune (keyed by its id; '' for a single commune): inserted, updated, status
    #: changes and notifications as written; the sync adds the rest at :meth:`finish`.
    communes: dict[str, CommuneCounts] = field(default_factory=dict)

    def of(self, commune: str) -> CommuneCounts:
        """The counts of ``commune`` (created empty)."""
        found = self.communes.get(commune)
        if found is None:
            found = self.communes[commune] = CommuneCounts()
        return found


# --- the interface the rest of the bot depends on ------------------------------------


class DossierSyncWriter(abc.ABC):
    """One sync run, applied all or nothing (see :class:`SyncWriter` for SQLite).

    Used from one worker thread as a context manager: the transaction begins on entry,
    commits when the block ends normally (after :meth:`finish`), and rolls back on any
    exception, a kill, or when the run is a dry run (which then reports what it would
    have done and writes nothing).
    """

    #: Dossiers stored when the run began.
    stored_before: int
    #: What the writer did so far.
    counts: WriteCounts

    @abc.abstractmethod
    def __enter__(self) -> DossierSyncWriter:
        """Begin the run's transaction and log the run."""

    @abc.abstractmethod
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Commit (normal end, not a dry run) or roll back, and close the connection."""

    @abc.abstractmethod
    def known(self, codes: Sequence[str]) -> dict[str, int | None]:
        """The stored source fingerprint of those of ``codes`` already in the database."""

    def write(
        self,
        rows: Sequence[DossierRow],
        *,
        fingerprints: Sequence[int | None] | None = None,
        unchanged: int = 0,
        commune: str = "",
    ) -> None:
        """Insert new codes, update changed ones, skip identical ones; record status changes
        in the history and queue a notification for each follower of a changed dossier.

        ``fingerprints`` (one per row) hash the source cells, so that the next run can skip
        identical rows unparsed; ``unchanged`` counts rows the caller skipped that way;
        ``commune``: the tenant the rows belong to ('' for a single commune).
        """
        fps = fingerprints if fingerprints is not None else [None] * len(rows)
        self.write_staged([(*row, fp, commune) for row, fp in zip(rows, fps)], unchanged=unchanged)

    @abc.abstractmethod
    def begin_bulk(self) -> None:
        """Before a run that only inserts (nothing stored, codes unique): prepare for a fast
        first load (a backend may do nothing)."""

    @abc.abstractmethod
    def write_staged(
        self, staged: Sequence[Sequence], *, unchanged: int = 0, new_codes: bool = False
    ) -> None:
        """:meth:`write` for rows given as tuples of :data:`STAGED_COLUMNS` (codes unique
        within the batch). ``new_codes``: the caller guarantees no code of the batch was
        written earlier in this run (then an empty database needs no comparison)."""

    @abc.abstractmethod
    def stored_by_commune(self) -> dict[str, int]:
        """Dossiers stored when the run began, per commune (read at the first call, which
        must come before any write)."""

    @abc.abstractmethod
    def finish(self, *, read: int, rejected: int) -> WriteCounts:
        """Log the run's figures, and each commune's of ``counts.communes``, committed with
        everything else on exit."""


class DossierStore(abc.ABC):
    """The dossier database as the bot uses it: dossiers and their history, sync runs,
    follows and the outbox, look-up counters, channel usage and the inbox.

    Two implementations: :class:`Store` (one SQLite file, the embedded default) and
    :class:`bot.dossiers.pgstore.PgStore` (PostgreSQL, ``database.url``); both pass the
    same tests. Open one with :func:`open_store`.

    Several communes: every row is keyed by ``commune`` (see the module docstring). The
    store's own reads see all communes. For one commune's view (the back office of a
    commune), either pass ``commune=`` to :meth:`count`, :meth:`in_statuses`,
    :meth:`in_codes`, :meth:`history`, :meth:`sync_runs` (each run with that commune's
    figures, from ``sync_run_communes``) and :meth:`follower_counts` (per status:
    dossiers, dossiers followed, follows), or take ``store.scoped(commune)`` (a
    :class:`ScopedDossiers` with the same reads bound to it). With ``commune=`` the SQL
    filters by commune and, on PostgreSQL, the query runs with ``motcua.commune`` set to
    it (row-level security as a second line). :meth:`commune_counts` gives one run's
    figures for every commune (the provincial view).
    """

    #: Exceptions of the driver that mean "the database failed" (a sync reports them).
    database_errors: tuple[type[BaseException], ...] = ()

    @property
    @abc.abstractmethod
    def label(self) -> str:
        """Where the data lives, safe to print and log (a path, or a URL without password)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the connections (idempotent)."""

    @abc.abstractmethod
    async def schema_version(self) -> int:
        """The schema version of the open database."""

    @abc.abstractmethod
    def sync_writer(self, source: str, *, dry_run: bool = False) -> DossierSyncWriter:
        """A writer for one sync run (use it in a worker thread, as a context manager);
        with ``dry_run`` it rolls back at the end instead of committing."""

    def scoped(self, commune: str) -> ScopedDossiers:
        """The store's reads as one commune sees them (for the back office; see
        :class:`ScopedDossiers`)."""
        return ScopedDossiers(self, commune)

    # dossiers
    @abc.abstractmethod
    async def is_empty(self) -> bool:
        """Whether no dossier is stored."""

    @abc.abstractmethod
    async def count(self, commune: str | None = None) -> int:
        """How many dossiers are stored (of ``commune`` only, when given)."""

    @abc.abstractmethod
    async def get(self, code: str) -> Dossier | None:
        """The dossier with exactly this code, or None (never waits on a sync)."""

    @abc.abstractmethod
    async def codes_ending_with(self, tail: str, limit: int = 2) -> list[str]:
        """Up to ``limit`` stored codes ending with ``-<tail>``, where ``tail`` is a whole
        code tail ``yymmdd-NNNN``; anything else finds nothing."""

    @abc.abstractmethod
    async def in_statuses(
        self, statuses: Iterable[Status], commune: str | None = None, *, code_prefix: str | None = None
    ) -> list[Dossier]:
        """Every dossier currently in one of ``statuses`` (of ``commune`` only, and only
        codes beginning ``<code_prefix>-``, when given), by code. In a province, pass one
        of them: the work is then one commune's, not every commune's."""

    @abc.abstractmethod
    async def in_codes(self, codes: Sequence[str], commune: str | None = None) -> list[Dossier]:
        """The stored dossiers among ``codes`` (of ``commune`` only, when given), by code."""

    @abc.abstractmethod
    async def history(self, code: str, commune: str | None = None) -> list[HistoryEntry]:
        """The statuses this dossier has had, oldest first (none when ``commune`` is given
        and the dossier is another's)."""

    @abc.abstractmethod
    async def sync_runs(self, limit: int = 10, commune: str | None = None) -> list[SyncRun]:
        """The latest successful sync runs, newest first; with ``commune``, only the runs
        that listed or changed its dossiers, each with that commune's figures."""

    @abc.abstractmethod
    async def commune_counts(self, run_id: int) -> dict[str, CommuneCounts]:
        """One run's figures per commune (every commune its source listed; '' for a
        single-commune run)."""

    @abc.abstractmethod
    async def follower_counts(self, commune: str | None = None) -> list[FollowedStatus]:
        """For every status (in :class:`Status` order): dossiers in it, those followed, and
        follows (of ``commune`` only, when given)."""

    # follows
    @abc.abstractmethod
    async def follow(self, channel: str, user_id: str, chat_id: str, code: str) -> bool:
        """Record that this user follows ``code`` (updating the chat); False if they already
        did. Raises StoreBusy, writing nothing, when the database is held for more than a
        moment."""

    @abc.abstractmethod
    async def unfollow(self, channel: str, user_id: str, code: str) -> bool:
        """Stop this user following ``code``; False if they did not (StoreBusy as follow)."""

    @abc.abstractmethod
    async def is_following(self, channel: str, user_id: str, code: str) -> bool:
        """Whether this user follows ``code``."""

    @abc.abstractmethod
    async def follows_of(self, channel: str, user_id: str) -> list[str]:
        """The codes this user follows, in the order they followed them."""

    @abc.abstractmethod
    async def followers(self, code: str) -> list[Follower]:
        """Everyone following ``code``."""

    # look-up counters
    @abc.abstractmethod
    async def lookup_counters(
        self, counts_since: int, codes_since: int
    ) -> tuple[list[LookupCount], list[LookupCode]]:
        """Look-up counts from second ``counts_since`` on, and codes looked up from second
        ``codes_since`` on."""

    @abc.abstractmethod
    async def record_lookups(
        self,
        counts: Sequence[LookupCount],
        codes: Sequence[LookupCode],
        *,
        forget_counts_before: int | None = None,
        forget_codes_before: int | None = None,
    ) -> None:
        """Add ``counts`` to the stored ones, record when ``codes`` were looked up and forget
        entries older than the given seconds; all or nothing, never waiting (StoreBusy)."""

    # outbox
    @abc.abstractmethod
    async def due_notifications(
        self, channel: str, now: float, limit: int = 50, *, stale_before: float | None = None
    ) -> list[Notification]:
        """Pending notifications for ``channel`` whose time has come, oldest first; with
        ``stale_before``, also those claimed before that time and never finished."""

    @abc.abstractmethod
    async def claim_notification(
        self, notification_id: int, now: float = 0.0, *, stale_before: float | None = None
    ) -> bool:
        """Mark a notification as being sent at ``now``; False if someone else holds it
        (a lease: one claimed before ``stale_before`` and never finished can be taken)."""

    @abc.abstractmethod
    async def notification_sent(self, notification_id: int) -> None:
        """Record a successful delivery."""

    @abc.abstractmethod
    async def notification_retry(self, notification_id: int, next_attempt_at: float, error: str) -> None:
        """Put a failed notification back in the queue, due at ``next_attempt_at``."""

    @abc.abstractmethod
    async def notification_failed(self, notification_id: int, error: str) -> None:
        """Give up on a notification after too many failures."""

    @abc.abstractmethod
    async def drop_recipient(self, channel: str, user_id: str) -> int:
        """Unsubscribe a user who blocked the bot (follows deleted, undelivered
        notifications dropped); returns how many follows were removed."""

    @abc.abstractmethod
    async def outbox_counts(self, channel: str | None = None) -> dict[str, int]:
        """How many outbox rows are in each state (for one channel, or all)."""

    # channel usage
    @abc.abstractmethod
    async def add_channel_usage(self, channel: str, month: str, messages: int) -> None:
        """Count ``messages`` more outbound messages of ``channel`` in ``month`` (YYYY-MM)."""

    @abc.abstractmethod
    async def channel_usage(self, month: str) -> dict[str, int]:
        """Outbound messages per channel in ``month`` (YYYY-MM)."""

    @abc.abstractmethod
    async def add_channel_users(self, channel: str, user_ids: Iterable[str]) -> None:
        """Remember that these users wrote to the bot on ``channel``."""

    @abc.abstractmethod
    async def channel_users(self, channel: str) -> set[str]:
        """The users who ever wrote to the bot on ``channel``."""

    # inbox
    @abc.abstractmethod
    async def hand_back(self, channel: str, payloads: Sequence[str]) -> None:
        """Keep received updates (as JSON text) that could not be answered before a stop."""

    @abc.abstractmethod
    async def handed_back(self, channel: str) -> list[tuple[int, str]]:
        """The updates handed back for ``channel`` as (id, JSON text), oldest first."""

    @abc.abstractmethod
    async def forget_handed_back(self, ids: Sequence[int]) -> None:
        """Remove handed-back updates that have now been answered."""


class ScopedDossiers:
    """One commune's view of a :class:`DossierStore`, for the back office:
    ``store.scoped("xa-001")``. Every read names the commune in its SQL; on PostgreSQL it
    also runs with ``motcua.commune`` set to it, so row-level security holds it to that
    commune's rows (a second line behind the SQL).

    Reads: :meth:`count`, :meth:`get` (None for another commune's code),
    :meth:`in_statuses`, :meth:`history`, :meth:`sync_runs` (each run with this
    commune's figures), :meth:`follower_counts`.
    """

    def __init__(self, store: DossierStore, commune: str) -> None:
        self.store = store
        self.commune = commune

    async def count(self) -> int:
        """How many dossiers the commune has."""
        return await self.store.count(commune=self.commune)

    async def get(self, code: str) -> Dossier | None:
        """The commune's dossier with exactly this code, or None (also for another
        commune's dossier)."""
        found = await self.store.in_codes([code], commune=self.commune)
        return found[0] if found else None

    async def in_statuses(self, statuses: Iterable[Status]) -> list[Dossier]:
        """The commune's dossiers in one of ``statuses``, by code."""
        return await self.store.in_statuses(statuses, commune=self.commune)

    async def history(self, code: str) -> list[HistoryEntry]:
        """The statuses the commune's dossier ``code`` has had (empty for another's)."""
        return await self.store.history(code, commune=self.commune)

    async def sync_runs(self, limit: int = 10) -> list[SyncRun]:
        """The latest runs that listed the commune, with its figures, newest first."""
        return await self.store.sync_runs(limit, commune=self.commune)

    async def follower_counts(self) -> list[FollowedStatus]:
        """Per status: the commune's dossiers, those followed, and follows."""
        return await self.store.follower_counts(commune=self.commune)


async def open_store(path: Path, url: str | None = None) -> DossierStore:
    """Open the dossier database: PostgreSQL at ``url`` when given (the driver is imported
    only then), else the SQLite file at ``path``; migrations are applied either way."""
    if url:
        from bot.dossiers.pgstore import PgStore

        return await PgStore.open(url)
    return await Store.open(path)


def _connect_sync(path: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in _PRAGMAS:
            conn.execute(pragma)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot open the dossier database ({exc})") from None
    return conn


#: Columns of a staged row: a :class:`DossierRow` followed by its source fingerprint and
#: its commune (the tenant key; '' for a single commune).
STAGED_COLUMNS = (
    "code, procedure, procedure_id, applicant, phone, address, received, appointment, "
    "returned, status, fingerprint, commune"
)
#: How many columns a staged row has.
STAGED_WIDTH = 12
_DATA_COLUMNS = (
    "procedure", "procedure_id", "applicant", "phone", "address", "received", "appointment",
    "returned", "status", "commune",
)


class SyncWriter(DossierSyncWriter):
    """Applies one sync run to the database in a single transaction.

    Use from one thread, as a context manager: the transaction begins on entry, commits
    when the block ends normally (after :meth:`finish`), and rolls back on any exception
    or when ``dry_run`` is set (then it reports what it would have done, and writes nothing).

    Rows are written a batch at a time through a temporary staging table, so that change
    detection, the status history and followers' notifications are done by set-based SQL;
    a first load into an empty database inserts straight and builds its secondary indexes
    once at the end (:meth:`begin_bulk`).
    """

    #: Codes looked up per query when comparing a batch with what is stored.
    LOOKUP_CHUNK = 2000

    def __init__(self, path: Path, source: str, *, dry_run: bool = False) -> None:
        self._path = path
        self._source = source
        self._dry_run = dry_run
        self._conn: sqlite3.Connection | None = None
        self._has_follows = False
        self._stored_communes: dict[str, int] | None = None
        self._deferred_indexes: list[str] = []
        self._now = _now_iso()
        #: Dossiers stored when the run began.
        self.stored_before = 0
        self.counts = WriteCounts()

    def __enter__(self) -> SyncWriter:
        conn = _connect_sync(self._path)
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute("PRAGMA temp_store = MEMORY")
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS sync_stage ({STAGED_COLUMNS})"
            )
            self._has_follows = conn.execute("SELECT 1 FROM follows LIMIT 1").fetchone() is not None
            self.stored_before = conn.execute("SELECT count(*) FROM dossiers").fetchone()[0]
            cur = conn.execute(
                "INSERT INTO sync_runs (source, started_at) VALUES (?, ?)", (self._source, self._now)
            )
        except sqlite3.Error:
            conn.close()
            raise
        self._conn = conn
        self.counts.run_id = int(cur.lastrowid or 0)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn = self._conn
        assert conn is not None
        self._conn = None
        try:
            if exc_type is None and not self._dry_run:
                conn.execute("COMMIT")
            else:
                conn.execute("ROLLBACK")
        finally:
            conn.close()

    def known(self, codes: Sequence[str]) -> dict[str, int | None]:
        """The stored source fingerprint of those of ``codes`` already in the database."""
        conn = self._conn
        assert conn is not None, "SyncWriter used outside its with-block"
        found: dict[str, int | None] = {}
        if not self.stored_before:
            return found
        for start in range(0, len(codes), self.LOOKUP_CHUNK):
            part = codes[start : start + self.LOOKUP_CHUNK]
            sql = (
                "SELECT code, fingerprint FROM dossiers WHERE code IN "
                f"({','.join('?' * len(part))})"
            )
            found.update(conn.execute(sql, part))
        return found

    def begin_bulk(self) -> None:
        """Before a run that only inserts (nothing stored, codes unique): drop the secondary
        indexes of the tables it fills, to build them once at :meth:`finish` (faster than
        row by row). In the same transaction: a failed run leaves them as they were."""
        conn = self._conn
        assert conn is not None, "SyncWriter used outside its with-block"
        if self.stored_before or self._has_follows or self._deferred_indexes:
            return
        if conn.execute("SELECT 1 FROM status_history LIMIT 1").fetchone() is not None:
            return
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            "AND tbl_name IN ('dossiers', 'status_history') ORDER BY name"
        ).fetchall()
        for name, sql in indexes:
            conn.execute(f'DROP INDEX "{name}"')
            self._deferred_indexes.append(sql)

    def write_staged(
        self, staged: Sequence[Sequence], *, unchanged: int = 0, new_codes: bool = False
    ) -> None:
        """:meth:`write` for rows given as tuples of :data:`STAGED_COLUMNS` (codes unique
        within the batch). ``new_codes``: the caller guarantees no code of the batch was
        written earlier in this run (then an empty database needs no comparison)."""
        conn = self._conn
        assert conn is not None, "SyncWriter used outside its with-block"
        c = self.counts
        c.unchanged += unchanged
        if not staged:
            return
        now, run_id = self._now, c.run_id
        if new_codes and not self.stored_before and not self._has_follows:
            # Nothing was stored when the run began and codes are unique within the run:
            # every row is new, so there is nothing to compare with.
            self._insert_new(staged)
            return
        conn.execute("DELETE FROM sync_stage")
        conn.executemany(f"INSERT INTO sync_stage VALUES ({','.join('?' * STAGED_WIDTH)})", staged)
        (last_history,) = conn.execute("SELECT coalesce(max(id), 0) FROM status_history").fetchone()
        (last_dossier,) = conn.execute("SELECT coalesce(max(id), 0) FROM dossiers").fetchone()
        # New codes and changed statuses, before the dossiers are overwritten.
        history = conn.execute(
            "INSERT INTO status_history (code, old_status, new_status, changed_at, run_id, commune) "
            "SELECT s.code, d.status, s.status, ?, ?, s.commune FROM sync_stage s "
            "LEFT JOIN dossiers d ON d.code = s.code WHERE d.status IS NOT s.status "
            "ORDER BY s.rowid",
            (now, run_id),
        ).rowcount
        # Each written row says its commune and whether it is new (ids after the largest).
        returned = conn.execute(
            f"INSERT INTO dossiers ({STAGED_COLUMNS}, changed_at) "
            f"SELECT {STAGED_COLUMNS}, ? FROM sync_stage WHERE true "
            "ON CONFLICT (code) DO UPDATE SET "
            + ", ".join(f"{k} = excluded.{k}" for k in (*_DATA_COLUMNS, "fingerprint", "changed_at"))
            + f" WHERE ({', '.join(_DATA_COLUMNS)}) IS NOT "
            f"({', '.join('excluded.' + k for k in _DATA_COLUMNS)}) RETURNING commune, id > ?",
            (now, last_dossier),
        ).fetchall()
        written = len(returned)
        inserted = 0
        for commune, fresh in returned:
            if fresh:
                inserted += 1
                c.of(commune).inserted += 1
            else:
                c.of(commune).updated += 1
        if inserted < len(staged):
            # Same data from differently written cells: remember the new fingerprint.
            conn.execute(
                "UPDATE dossiers SET fingerprint = s.fingerprint FROM sync_stage s "
                "WHERE dossiers.code = s.code AND dossiers.fingerprint IS NOT s.fingerprint"
            )
        c.inserted += inserted
        c.updated += written - inserted
        c.unchanged += len(staged) - written
        c.status_changes += history - inserted
        if history > inserted:
            for commune, changes in conn.execute(
                "SELECT commune, count(*) FROM status_history WHERE id > ? "
                "AND old_status IS NOT NULL GROUP BY commune",
                (last_history,),
            ):
                c.of(commune).status_changes += changes
        if self._has_follows and history:
            queued = conn.execute(
                "INSERT OR IGNORE INTO outbox (history_id, channel, user_id, chat_id, "
                "next_attempt_at, created_at, commune) "
                "SELECT h.id, f.channel, f.user_id, f.chat_id, 0, ?, h.commune FROM status_history h "
                "JOIN follows f ON f.code = h.code WHERE h.id > ? "
                "ORDER BY h.id, f.channel, f.user_id RETURNING commune",
                (now, last_history),
            ).fetchall()
            c.notifications += len(queued)
            for (commune,) in queued:
                c.of(commune).notifications += 1

    def _insert_new(self, staged: Sequence[Sequence]) -> None:
        # Straight into the table (no staging: nothing to compare), then the history from
        # the rows just inserted (their ids follow the largest one before).
        conn = self._conn
        assert conn is not None
        (last_dossier,) = conn.execute("SELECT coalesce(max(id), 0) FROM dossiers").fetchone()
        now = self._now
        assert now.replace("-", "").replace(":", "").replace("T", "").isdigit()  # a safe literal
        conn.executemany(
            f"INSERT INTO dossiers ({STAGED_COLUMNS}, changed_at) VALUES ({'?, ' * STAGED_WIDTH}'{now}')",
            staged,
        )
        conn.execute(
            "INSERT INTO status_history (code, old_status, new_status, changed_at, run_id, commune) "
            "SELECT code, NULL, status, changed_at, ?, commune FROM dossiers WHERE id > ? ORDER BY id",
            (self.counts.run_id, last_dossier),
        )
        _count_new(self.counts, staged)

    def stored_by_commune(self) -> dict[str, int]:
        """Dossiers stored when the run began, per commune (call before any write)."""
        conn = self._conn
        assert conn is not None, "SyncWriter used outside its with-block"
        if self._stored_communes is None:
            self._stored_communes = (
                dict(conn.execute("SELECT commune, count(*) FROM dossiers GROUP BY commune"))
                if self.stored_before else {}
            )
        return self._stored_communes

    def finish(self, *, read: int, rejected: int) -> WriteCounts:
        """Log the run in ``sync_runs``, and each commune's figures in ``sync_run_communes``
        (committed with everything else on exit)."""
        conn = self._conn
        assert conn is not None, "SyncWriter used outside its with-block"
        for sql in self._deferred_indexes:
            conn.execute(sql)
        self._deferred_indexes.clear()
        c = self.counts
        conn.execute(
            "UPDATE sync_runs SET finished_at = ?, read = ?, inserted = ?, updated = ?, "
            "unchanged = ?, rejected = ? WHERE id = ?",
            (_now_iso(), read, c.inserted, c.updated, c.unchanged, rejected, c.run_id),
        )
        conn.executemany(
            f"INSERT INTO sync_run_communes (run_id, commune, {', '.join(COMMUNE_FIGURES)}) "
            f"VALUES ({', '.join('?' * (len(COMMUNE_FIGURES) + 2))})",
            _commune_rows(c),
        )
        return c


def _count_new(counts: WriteCounts, staged: Sequence[Sequence]) -> None:
    """Count the rows of ``staged`` as inserted, in all and per commune."""
    counts.inserted += len(staged)
    per: dict[str, int] = {}
    for row in staged:
        commune = row[11]
        per[commune] = per.get(commune, 0) + 1
    for commune, n in per.items():
        counts.of(commune).inserted += n


def _commune_rows(counts: WriteCounts) -> list[tuple]:
    """``sync_run_communes`` rows of a run's per-commune counts, by commune."""
    return [
        (counts.run_id, commune, *(getattr(figures, k) for k in COMMUNE_FIGURES))
        for commune, figures in sorted(counts.communes.items())
    ]


class Store(DossierStore):
    """Asynchronous access to the SQLite dossier database (connections opened by :meth:`open`)."""

    database_errors = (sqlite3.Error,)

    def __init__(
        self,
        path: Path,
        conn: aiosqlite.Connection,
        read: aiosqlite.Connection | None = None,
        desk: aiosqlite.Connection | None = None,
    ) -> None:
        self.path = path
        self._conn = conn
        self._read = read or conn
        self._desk = desk or conn
        self._tx_lock = asyncio.Lock()
        self._desk_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> Store:
        """Open (creating it and its directory if needed) the database at ``path``,
        switch it to WAL mode and apply missing schema migrations."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{path.parent}: cannot create the directory ({exc.strerror})") from None
        opened: list[aiosqlite.Connection] = []
        try:
            conn = await cls._connect(path, opened)
            for pragma in _PRAGMAS:
                await conn.execute(pragma)
            await cls._migrate(conn, path)
            read = await cls._connect(path, opened)
            await read.execute(f"PRAGMA busy_timeout = {READ_WAIT_MS}")
            await read.execute("PRAGMA query_only = ON")
            desk = await cls._connect(path, opened)
            await desk.execute("PRAGMA foreign_keys = ON")
            await desk.execute("PRAGMA synchronous = NORMAL")  # as the main connection: no fsync per commit
            await desk.execute(f"PRAGMA busy_timeout = {DESK_WRITE_WAIT_MS}")
        except sqlite3.DatabaseError as exc:
            for c in opened:
                await c.close()
            raise StoreError(f"{path}: not a usable dossier database ({exc})") from None
        except BaseException:
            for c in opened:
                await c.close()
            raise
        return cls(path, conn, read, desk)

    @staticmethod
    async def _connect(path: Path, opened: list[aiosqlite.Connection]) -> aiosqlite.Connection:
        try:
            conn = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot open the dossier database ({exc})") from None
        opened.append(conn)
        return conn

    @staticmethod
    async def _migrate(conn: aiosqlite.Connection, path: Path) -> None:
        async with conn.execute("PRAGMA user_version") as cur:
            (version,) = await cur.fetchone()  # type: ignore[misc]
        if version > len(MIGRATIONS):
            raise StoreError(
                f"{path}: schema version {version} is newer than this program knows "
                f"({len(MIGRATIONS)}); upgrade motcua-bot"
            )
        for number in range(version, len(MIGRATIONS)):
            # user_version lives in the file header, so it commits atomically with the DDL.
            await conn.executescript(
                f"BEGIN IMMEDIATE;\n{MIGRATIONS[number]}\nPRAGMA user_version = {number + 1};\nCOMMIT;"
            )

    @property
    def label(self) -> str:
        """The database file's path."""
        return str(self.path)

    async def close(self) -> None:
        """Close the connections (idempotent)."""
        for conn in {id(c): c for c in (self._read, self._desk, self._conn)}.values():
            await conn.close()

    async def _quick_write(self, work: Callable[[aiosqlite.Connection], Awaitable[T]], wait_ms: int) -> T:
        """Run ``work`` in one transaction on the desk's connection, waiting at most
        ``wait_ms`` in all (for other desk writes, then for the write lock); StoreBusy,
        nothing written, when that is not enough. Desk writes thus never pile up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_ms / 1000
        lock = self._desk_lock
        if lock.locked() and wait_ms <= 0:
            raise StoreBusy(f"{self.path}: the database is busy")
        try:
            async with asyncio.timeout_at(deadline if wait_ms > 0 else None):
                await lock.acquire()
        except TimeoutError:
            raise StoreBusy(f"{self.path}: the database is busy") from None
        try:
            conn = self._desk
            left_ms = max(0, int((deadline - loop.time()) * 1000))
            await conn.execute(f"PRAGMA busy_timeout = {left_ms}")
            try:
                await conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if _is_busy(exc):
                    raise StoreBusy(f"{self.path}: the database is busy (a sync is writing)") from None
                raise
            try:
                result = await work(conn)
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            return result
        finally:
            lock.release()

    async def schema_version(self) -> int:
        """The schema version of the open file."""
        return await self._scalar("PRAGMA user_version")

    # Reads on the shared connection use execute_fetchall: a statement left half-stepped
    # between two awaits keeps a read snapshot open, and another coroutine's write on this
    # connection then fails at once ("database is locked") if a sync committed meanwhile.
    async def _scalar(self, sql: str, params: Sequence = ()) -> int:
        rows = await self._conn.execute_fetchall(sql, params)
        return int(rows[0][0]) if rows else 0

    def sync_writer(self, source: str, *, dry_run: bool = False) -> SyncWriter:
        """A writer for one sync run (use it in a worker thread, as a context manager);
        with ``dry_run`` it rolls back at the end instead of committing."""
        return SyncWriter(self.path, source, dry_run=dry_run)

    # --- dossiers -------------------------------------------------------------------

    async def is_empty(self) -> bool:
        """Whether no dossier is stored."""
        rows = await self._read.execute_fetchall("SELECT 1 FROM dossiers LIMIT 1")
        return not rows

    async def count(self, commune: str | None = None) -> int:
        """How many dossiers are stored (of ``commune`` only, when given)."""
        if commune is None:
            rows = await self._read.execute_fetchall("SELECT count(*) FROM dossiers")
        else:
            rows = await self._read.execute_fetchall(
                "SELECT count(*) FROM dossiers WHERE commune = ?", (commune,)
            )
        return int(rows[0][0])  # type: ignore[index]

    async def get(self, code: str) -> Dossier | None:
        """The dossier with exactly this code, or None (never waits on a sync)."""
        rows = list(
            await self._read.execute_fetchall(
                f"SELECT {_DOSSIER_COLUMNS} FROM dossiers WHERE code = ?", (code,)
            )
        )
        return _dossier(rows[0]) if rows else None

    async def codes_ending_with(self, tail: str, limit: int = 2) -> list[str]:
        """Up to ``limit`` stored codes ending with ``-<tail>``, where ``tail`` is a whole
        code tail ``yymmdd-NNNN`` (to complete a code typed without its prefix). Anything
        else, such as a sequence number alone, finds nothing. Uses the tail index."""
        if not _TAIL.fullmatch(tail):
            return []
        rows = await self._read.execute_fetchall(TAIL_QUERY, (tail, limit))
        return [r[0] for r in rows]

    async def in_statuses(
        self, statuses: Iterable[Status], commune: str | None = None, *, code_prefix: str | None = None
    ) -> list[Dossier]:
        """Every dossier currently in one of ``statuses`` (of ``commune`` only, codes
        beginning ``<code_prefix>-`` only, when given), by code."""
        keys = [s.value for s in statuses]
        where, params = f"status IN ({','.join('?' * len(keys))})", list(keys)
        if commune is not None:
            where, params = f"commune = ? AND {where}", [commune, *params]
        if code_prefix is not None:
            where, params = f"code >= ? AND code < ? AND {where}", [*prefix_range(code_prefix), *params]
        rows = await self._read.execute_fetchall(
            f"SELECT {_DOSSIER_COLUMNS} FROM dossiers WHERE {where} ORDER BY code", params
        )
        return [_dossier(r) for r in rows]

    async def in_codes(self, codes: Sequence[str], commune: str | None = None) -> list[Dossier]:
        """The stored dossiers among ``codes`` (of ``commune`` only, when given), by code."""
        found: list[Dossier] = []
        for start in range(0, len(codes), 500):
            part = list(codes[start : start + 500])
            where = f"code IN ({','.join('?' * len(part))})"
            if commune is not None:
                where, part = f"{where} AND commune = ?", [*part, commune]
            rows = await self._read.execute_fetchall(
                f"SELECT {_DOSSIER_COLUMNS} FROM dossiers WHERE {where}", part
            )
            found.extend(_dossier(r) for r in rows)
        return sorted(found, key=lambda d: d.code)

    async def history(self, code: str, commune: str | None = None) -> list[HistoryEntry]:
        """The statuses this dossier has had, oldest first (of ``commune`` only, when given)."""
        sql = (
            "SELECT code, old_status, new_status, changed_at, run_id FROM status_history "
            "WHERE code = ?"
        )
        params: tuple = (code,)
        if commune is not None:
            sql, params = sql + " AND commune = ?", (code, commune)
        rows = await self._read.execute_fetchall(sql + " ORDER BY id", params)
        return [
            HistoryEntry(r[0], Status(r[1]) if r[1] else None, Status(r[2]), r[3], r[4]) for r in rows
        ]

    async def sync_runs(self, limit: int = 10, commune: str | None = None) -> list[SyncRun]:
        """The latest successful sync runs, newest first (with ``commune``: the runs that
        listed it, with its figures)."""
        if commune is None:
            rows = await self._read.execute_fetchall(
                "SELECT id, source, started_at, finished_at, read, inserted, updated, unchanged, "
                "rejected FROM sync_runs ORDER BY id DESC LIMIT ?",
                (limit,),
            )
        else:
            rows = await self._read.execute_fetchall(SCOPED_RUNS_QUERY, (commune, limit))
        return [SyncRun(*r) for r in rows]

    async def commune_counts(self, run_id: int) -> dict[str, CommuneCounts]:
        """One run's figures per commune."""
        rows = await self._read.execute_fetchall(
            f"SELECT commune, {', '.join(COMMUNE_FIGURES)} FROM sync_run_communes "
            "WHERE run_id = ? ORDER BY commune",
            (run_id,),
        )
        return {r[0]: CommuneCounts(*r[1:]) for r in rows}

    async def follower_counts(self, commune: str | None = None) -> list[FollowedStatus]:
        """Per status: dossiers, dossiers followed, follows (of ``commune`` only, when given)."""
        if commune is None:
            totals = await self._read.execute_fetchall(
                "SELECT status, count(*) FROM dossiers GROUP BY status"
            )
            followed = await self._read.execute_fetchall(FOLLOWED_QUERY.format(where=""))
        else:
            totals = await self._read.execute_fetchall(
                "SELECT status, count(*) FROM dossiers WHERE commune = ? GROUP BY status", (commune,)
            )
            followed = await self._read.execute_fetchall(
                FOLLOWED_QUERY.format(where="WHERE f.commune = ? AND d.commune = ?"), (commune, commune)
            )
        return _followed_statuses(totals, followed)

    # --- follows --------------------------------------------------------------------

    async def follow(self, channel: str, user_id: str, chat_id: str, code: str) -> bool:
        """Record that this user follows ``code`` (updating the chat); False if they already did.

        Raises StoreBusy, writing nothing, when a sync holds the database for more than a moment.
        """

        async def work(conn: aiosqlite.Connection) -> bool:
            cur = await conn.execute(
                "INSERT OR IGNORE INTO follows (channel, user_id, chat_id, code, created_at, commune) "
                f"VALUES (?, ?, ?, ?, ?, {FOLLOW_COMMUNE})",
                (channel, user_id, chat_id, code, _now_iso(), code),
            )
            if cur.rowcount == 1:
                return True
            await conn.execute(
                "UPDATE follows SET chat_id = ? WHERE channel = ? AND user_id = ? AND code = ?",
                (chat_id, channel, user_id, code),
            )
            return False

        return await self._quick_write(work, DESK_WRITE_WAIT_MS)

    async def unfollow(self, channel: str, user_id: str, code: str) -> bool:
        """Stop this user following ``code``; False if they did not. Raises StoreBusy like
        :meth:`follow`."""

        async def work(conn: aiosqlite.Connection) -> bool:
            cur = await conn.execute(
                "DELETE FROM follows WHERE channel = ? AND user_id = ? AND code = ?",
                (channel, user_id, code),
            )
            return cur.rowcount > 0

        return await self._quick_write(work, DESK_WRITE_WAIT_MS)

    async def is_following(self, channel: str, user_id: str, code: str) -> bool:
        """Whether this user follows ``code``."""
        rows = await self._read.execute_fetchall(
            "SELECT 1 FROM follows WHERE channel = ? AND user_id = ? AND code = ?",
            (channel, user_id, code),
        )
        return bool(rows)

    async def follows_of(self, channel: str, user_id: str) -> list[str]:
        """The codes this user follows, in the order they followed them."""
        rows = await self._read.execute_fetchall(
            "SELECT code FROM follows WHERE channel = ? AND user_id = ? ORDER BY created_at, code",
            (channel, user_id),
        )
        return [r[0] for r in rows]

    async def followers(self, code: str) -> list[Follower]:
        """Everyone following ``code``."""
        rows = await self._read.execute_fetchall(
            "SELECT channel, user_id, chat_id, code FROM follows WHERE code = ? "
            "ORDER BY channel, user_id",
            (code,),
        )
        return [Follower(*r) for r in rows]

    # --- look-up counters -----------------------------------------------------------

    async def lookup_counters(self, counts_since: int, codes_since: int) -> tuple[list[LookupCount], list[LookupCode]]:
        """Look-up counts from second ``counts_since`` on, and codes looked up from second
        ``codes_since`` on (what the status desk's limits start from after a restart)."""
        counts = await self._read.execute_fetchall(
            "SELECT scope, second, lookups, misses FROM lookup_counts WHERE second >= ?", (counts_since,)
        )
        codes = await self._read.execute_fetchall(
            "SELECT scope, code_key, seen FROM lookup_codes WHERE seen >= ?", (codes_since,)
        )
        return [LookupCount(*r) for r in counts], [LookupCode(*r) for r in codes]

    async def record_lookups(
        self,
        counts: Sequence[LookupCount],
        codes: Sequence[LookupCode],
        *,
        forget_counts_before: int | None = None,
        forget_codes_before: int | None = None,
    ) -> None:
        """Add ``counts`` to the stored ones, record when ``codes`` were looked up and
        forget entries older than the given seconds; all or nothing, never waiting for the
        write lock (StoreBusy when a sync holds it: keep them and try again later)."""

        async def work(conn: aiosqlite.Connection) -> None:
            await conn.executemany(
                "INSERT INTO lookup_counts (scope, second, lookups, misses) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (scope, second) DO UPDATE SET lookups = lookups + excluded.lookups, "
                "misses = misses + excluded.misses",
                [(c.scope, c.second, c.lookups, c.misses) for c in counts],
            )
            await conn.executemany(
                "INSERT INTO lookup_codes (scope, code_key, seen) VALUES (?, ?, ?) "
                "ON CONFLICT (scope, code_key) DO UPDATE SET seen = max(seen, excluded.seen)",
                [(c.scope, c.code_key, c.seen) for c in codes],
            )
            if forget_counts_before is not None:
                await conn.execute("DELETE FROM lookup_counts WHERE second < ?", (forget_counts_before,))
            if forget_codes_before is not None:
                await conn.execute("DELETE FROM lookup_codes WHERE seen < ?", (forget_codes_before,))

        await self._quick_write(work, 0)

    # --- outbox ---------------------------------------------------------------------

    async def due_notifications(
        self, channel: str, now: float, limit: int = 50, *, stale_before: float | None = None
    ) -> list[Notification]:
        """Pending notifications for ``channel`` whose time has come, oldest first; with
        ``stale_before``, also those claimed (``sending``) before that time and never
        finished (their sender died)."""
        stale = -1.0 if stale_before is None else stale_before
        rows = await self._conn.execute_fetchall(
            "SELECT o.id, o.channel, o.user_id, o.chat_id, o.attempts, h.code, h.old_status, "
            "h.new_status, h.changed_at, coalesce(d.procedure, ''), d.appointment "
            "FROM outbox o JOIN status_history h ON h.id = o.history_id "
            "LEFT JOIN dossiers d ON d.code = h.code "
            "WHERE o.channel = ? AND ((o.state = 'pending' AND o.next_attempt_at <= ?) "
            "OR (o.state = 'sending' AND coalesce(o.claimed_at, 0) <= ?)) "
            "ORDER BY o.id LIMIT ?",
            (channel, now, stale, limit),
        )
        return [
            Notification(
                id=r[0],
                channel=r[1],
                user_id=r[2],
                chat_id=r[3],
                attempts=r[4],
                code=r[5],
                old_status=Status(r[6]) if r[6] else None,
                new_status=Status(r[7]),
                changed_at=r[8],
                procedure=r[9],
                appointment=_to_date(r[10]),
            )
            for r in rows
        ]

    async def claim_notification(
        self, notification_id: int, now: float = 0.0, *, stale_before: float | None = None
    ) -> bool:
        """Mark a notification as being sent at ``now``; False if someone else holds it.

        A pending row can be claimed; so can one claimed before ``stale_before`` and
        never finished (a lease: its sender died), so nothing accepted is ever lost.
        """
        stale = -1.0 if stale_before is None else stale_before
        cur = await self._conn.execute(
            "UPDATE outbox SET state = 'sending', attempts = attempts + 1, claimed_at = ? "
            "WHERE id = ? AND (state = 'pending' "
            "OR (state = 'sending' AND coalesce(claimed_at, 0) <= ?))",
            (now, notification_id, stale),
        )
        return cur.rowcount == 1

    async def notification_sent(self, notification_id: int) -> None:
        """Record a successful delivery."""
        await self._conn.execute(
            "UPDATE outbox SET state = 'sent', sent_at = ?, last_error = NULL WHERE id = ?",
            (_now_iso(), notification_id),
        )

    async def notification_retry(self, notification_id: int, next_attempt_at: float, error: str) -> None:
        """Put a failed notification back in the queue, due at ``next_attempt_at``."""
        await self._conn.execute(
            "UPDATE outbox SET state = 'pending', next_attempt_at = ?, last_error = ? WHERE id = ?",
            (next_attempt_at, error[:500], notification_id),
        )

    async def notification_failed(self, notification_id: int, error: str) -> None:
        """Give up on a notification after too many failures."""
        await self._conn.execute(
            "UPDATE outbox SET state = 'failed', last_error = ? WHERE id = ?",
            (error[:500], notification_id),
        )

    async def drop_recipient(self, channel: str, user_id: str) -> int:
        """Unsubscribe a user who blocked the bot: delete their follows and drop their
        undelivered notifications. Returns how many follows were removed."""
        async with self._tx_lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                cur = await self._conn.execute(
                    "DELETE FROM follows WHERE channel = ? AND user_id = ?", (channel, user_id)
                )
                removed = cur.rowcount
                await self._conn.execute(
                    "UPDATE outbox SET state = 'dropped', last_error = 'blocked' "
                    "WHERE channel = ? AND user_id = ? AND state IN ('pending', 'sending')",
                    (channel, user_id),
                )
                await self._conn.execute("COMMIT")
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
        return removed

    async def outbox_counts(self, channel: str | None = None) -> dict[str, int]:
        """How many outbox rows are in each state (for one channel, or all)."""
        sql = "SELECT state, count(*) FROM outbox"
        params: tuple = ()
        if channel is not None:
            sql += " WHERE channel = ?"
            params = (channel,)
        rows = await self._conn.execute_fetchall(sql + " GROUP BY state", params)
        return {r[0]: r[1] for r in rows}

    # --- channel usage --------------------------------------------------------------

    async def add_channel_usage(self, channel: str, month: str, messages: int) -> None:
        """Count ``messages`` more outbound messages of ``channel`` in ``month`` (YYYY-MM)."""
        await self._conn.execute(
            "INSERT INTO channel_usage (channel, month, messages) VALUES (?, ?, ?) "
            "ON CONFLICT (channel, month) DO UPDATE SET messages = messages + excluded.messages",
            (channel, month, messages),
        )

    async def channel_usage(self, month: str) -> dict[str, int]:
        """Outbound messages per channel in ``month`` (YYYY-MM)."""
        rows = await self._conn.execute_fetchall(
            "SELECT channel, messages FROM channel_usage WHERE month = ?", (month,)
        )
        return {r[0]: r[1] for r in rows}

    async def add_channel_users(self, channel: str, user_ids: Iterable[str]) -> None:
        """Remember that these users wrote to the bot on ``channel``."""
        now = _now_iso()
        await self._conn.executemany(
            "INSERT OR IGNORE INTO channel_users (channel, user_id, first_seen) VALUES (?, ?, ?)",
            [(channel, user_id, now) for user_id in user_ids],
        )

    async def channel_users(self, channel: str) -> set[str]:
        """The users who ever wrote to the bot on ``channel``."""
        rows = await self._conn.execute_fetchall(
            "SELECT user_id FROM channel_users WHERE channel = ?", (channel,)
        )
        return {r[0] for r in rows}

    # --- inbox ----------------------------------------------------------------------

    async def hand_back(self, channel: str, payloads: Sequence[str]) -> None:
        """Keep received updates (as JSON text) that could not be answered before a stop."""
        now = _now_iso()
        await self._conn.executemany(
            "INSERT INTO inbox (channel, payload, received_at) VALUES (?, ?, ?)",
            [(channel, payload, now) for payload in payloads],
        )

    async def handed_back(self, channel: str) -> list[tuple[int, str]]:
        """The updates handed back for ``channel`` as (id, JSON text), oldest first; each
        stays until :meth:`forget_handed_back` (answered), so a crash replays it."""
        rows = await self._conn.execute_fetchall(
            "SELECT id, payload FROM inbox WHERE channel = ? ORDER BY id", (channel,)
        )
        return [(r[0], r[1]) for r in rows]

    async def forget_handed_back(self, ids: Sequence[int]) -> None:
        """Remove handed-back updates that have now been answered."""
        await self._conn.executemany("DELETE FROM inbox WHERE id = ?", [(i,) for i in ids])
