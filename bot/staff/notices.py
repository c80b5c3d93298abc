"""Announcements staff post for residents ("Thứ Sáu 12/12 bộ phận một cửa nghỉ ...").

A notice has a text, an expiry (``until``) and who posted it; removing one keeps it in
the table (who removed it, when) for the record. The engine adds each current notice
once per conversation (:mod:`bot.dialogue`). :meth:`NoticeStore.current` is asked on
every message, so it answers from memory for :data:`CACHE_SECONDS` (a notice posted by
another process, e.g. ``motcua notice add``, shows within that time; one posted or
removed through this store at once).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import aiosqlite

from bot.staff.hours import VIETNAM
from bot.staff.schema import open_part

#: Longest announcement, in characters (it is added under a reply on a phone).
MAX_NOTICE_CHARS = 500
#: How long :meth:`NoticeStore.current` answers from memory.
CACHE_SECONDS = 30.0

MIGRATIONS = (
    """
    CREATE TABLE notices (
        id INTEGER PRIMARY KEY,
        text TEXT NOT NULL,
        until REAL NOT NULL,
        posted_at REAL NOT NULL,
        posted_by TEXT NOT NULL,
        removed_at REAL,
        removed_by TEXT
    );
    CREATE INDEX notices_current ON notices (removed_at, until)
    """,
)


class NoticeError(ValueError):
    """A notice that cannot be posted (the message says why, in English for operators)."""


@dataclass(frozen=True)
class Notice:
    """One announcement."""

    id: int
    text: str
    until: datetime
    posted_at: datetime
    posted_by: str
    removed_at: datetime | None = None
    removed_by: str | None = None


def _notice(row: tuple) -> Notice:
    when = lambda t: datetime.fromtimestamp(t, VIETNAM) if t is not None else None  # noqa: E731
    return Notice(row[0], row[1], when(row[2]), when(row[3]), row[4], when(row[5]), row[6])  # type: ignore[arg-type]


class NoticeStore:
    """The announcements table of the shared database file."""

    def __init__(self, conn: aiosqlite.Connection, *, monotonic=time.monotonic) -> None:  # type: ignore[no-untyped-def]
        self._conn = conn
        self._monotonic = monotonic
        self._cache: tuple[float, list[Notice]] | None = None

    @classmethod
    async def open(cls, path: Path) -> NoticeStore:
        """Open (creating or migrating) the announcements table in the database at ``path``."""
        return cls(await open_part(Path(path), "notices", MIGRATIONS))

    async def close(self) -> None:
        """Close the connection."""
        await self._conn.close()

    async def post(self, text: str, until: datetime, staff: str, now: datetime | None = None) -> int:
        """Post an announcement shown until ``until`` (an aware datetime); its id.
        Raises :class:`NoticeError` for an empty or too long text, or a past ``until``."""
        text = " ".join(text.split())
        if not text:
            raise NoticeError("the announcement is empty")
        if len(text) > MAX_NOTICE_CHARS:
            raise NoticeError(f"the announcement is {len(text)} characters long; at most {MAX_NOTICE_CHARS}")
        if until.tzinfo is None:
            raise NoticeError("until must say its time zone")
        posted = (now or datetime.now(VIETNAM)).timestamp()
        if until.timestamp() <= posted:
            raise NoticeError("until is already past")
        cur = await self._conn.execute(
            "INSERT INTO notices (text, until, posted_at, posted_by) VALUES (?, ?, ?, ?)",
            (text, until.timestamp(), posted, staff[:200]),
        )
        self._cache = None
        return int(cur.lastrowid or 0)

    async def current(self, now: datetime) -> list[Notice]:
        """The announcements not removed and not expired at ``now``, oldest first."""
        cached = self._cache
        tick = self._monotonic()
        if cached is None or tick - cached[0] > CACHE_SECONDS:
            rows = await self._conn.execute_fetchall(
                "SELECT id, text, until, posted_at, posted_by, removed_at, removed_by FROM notices "
                "WHERE removed_at IS NULL ORDER BY id DESC LIMIT 1000"
            )
            cached = (tick, [_notice(r) for r in reversed(rows)])
            self._cache = cached
        return [n for n in cached[1] if n.until > now]

    async def all(self) -> list[Notice]:
        """Every announcement, removed and expired ones included, newest first."""
        rows = await self._conn.execute_fetchall(
            "SELECT id, text, until, posted_at, posted_by, removed_at, removed_by FROM notices ORDER BY id DESC"
        )
        return [_notice(r) for r in rows]

    async def remove(self, id: int, staff: str) -> bool:
        """Take an announcement down; False when there is none such still up."""
        cur = await self._conn.execute(
            "UPDATE notices SET removed_at = ?, removed_by = ? WHERE id = ? AND removed_at IS NULL",
            (time.time(), staff[:200], id),
        )
        self._cache = None
        return cur.rowcount == 1


#: The id of the notice residents see while a channel's monthly quota is used up (the
#: table's ids start at 1, so it never meets a posted one).
QUOTA_NOTICE_ID = 0
#: How long :class:`WithQuotaNotice` trusts its last reading of the month's usage.
QUOTA_CHECK_SECONDS = 60.0


class WithQuotaNotice:
    """The desk's announcements, plus one while Zalo's monthly message quota is used up:
    residents are told to ask on Telegram or call the hotline, since the Zalo bot may
    not answer until the month ends.

    ``usage(month)`` gives the messages sent per channel in a ``YYYY-MM`` month (the
    dossier store's ``channel_usage``); ``quota`` is ``channels.zalo.monthly_quota``.
    """

    def __init__(
        self,
        notices: NoticeStore,
        usage: Callable[[str], Awaitable[dict[str, int]]],
        quota: int,
        hotline: str,
        *,
        telegram: bool,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._notices = notices
        self._usage = usage
        self._quota = quota
        self._hotline = hotline
        self._telegram = telegram
        self._monotonic = monotonic
        self._checked: tuple[float, str, bool] | None = None

    async def current(self, now: datetime) -> list[Notice]:
        """The current announcements, the quota notice last while it applies."""
        found = list(await self._notices.current(now))
        if self._quota > 0 and await self._used_up(now):
            where = "hỏi qua Telegram của xã hoặc gọi" if self._telegram else "gọi"
            text = (
                "Tháng này kênh Zalo của xã đã dùng hết số tin nhắn được phép, nên có thể không "
                f"trả lời được trên Zalo đến hết tháng; ông/bà vui lòng {where} {self._hotline}."
            )
            found.append(Notice(QUOTA_NOTICE_ID, text, _month_end(now), now, "motcua"))
        return found

    async def _used_up(self, now: datetime) -> bool:
        month, tick = now.strftime("%Y-%m"), self._monotonic()
        checked = self._checked
        if checked is None or checked[1] != month or tick - checked[0] > QUOTA_CHECK_SECONDS:
            try:
                used = (await self._usage(month)).get("zalo", 0)
            except Exception:  # the count unreadable: say nothing rather than fail the reply
                return checked[2] if checked is not None and checked[1] == month else False
            checked = self._checked = (tick, month, used >= self._quota)
        return checked[2]


def _month_end(now: datetime) -> datetime:
    """The first moment of the month after ``now``'s."""
    return (now.replace(day=28) + timedelta(days=4)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
