"""Hand-overs to a person: the residents' requests, their messages, the desk's replies.

A hand-over belongs to one resident (channel + user) and is ``waiting`` (for the desk),
``answered`` (the desk replied) or ``closed``. A resident has at most one open (not
closed) hand-over: asking again, or writing more while one is open, adds to it, and a
message after the desk's answer sets it back to ``waiting``. An answered hand-over
nobody touched for :data:`ANSWERED_KEEPS_OPEN` seconds is closed by the next request,
so a resident's later questions start a new one.

Two outboxes are kept beside them, each row claimed as a lease and delivered once
(see :mod:`bot.delivery`): ``handover_replies`` (the desk's replies to deliver to the
resident on their channel) and ``staff_posts`` (what the bot posts to the staff group).
``staff_post_messages`` maps the group's messages back to their hand-over, so that a
staff member's reply to any of them answers that hand-over.

The back office calls :meth:`HandoverStore.list`, :meth:`get`, :meth:`reply`,
:meth:`close_handover` and :meth:`counts`; the relay (:mod:`bot.staff.relay`) the rest.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import aiosqlite

from bot.staff.hours import VIETNAM
from bot.staff.schema import open_part

STATES = ("waiting", "answered", "closed")
#: Seconds an answered hand-over stays open for the resident's follow-ups.
ANSWERED_KEEPS_OPEN = 24 * 3600.0
#: Longest text kept of one message (residents' and staff's alike).
MAX_TEXT = 4000

_OUTBOX_COLUMNS = (
    "state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'dropped')), "
    "attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL DEFAULT 0, "
    "claimed_at REAL, sent_at REAL, last_error TEXT"
)

MIGRATIONS = (
    f"""
    CREATE TABLE handovers (
        id INTEGER PRIMARY KEY,
        channel TEXT NOT NULL,
        user_id TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting', 'answered', 'closed')),
        opened_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        answered_at REAL,
        closed_at REAL,
        closed_by TEXT
    );
    CREATE UNIQUE INDEX handovers_one_open ON handovers (channel, user_id) WHERE state <> 'closed';
    CREATE INDEX handovers_by_state ON handovers (state, updated_at);
    CREATE TABLE handover_messages (
        id INTEGER PRIMARY KEY,
        handover_id INTEGER NOT NULL REFERENCES handovers (id),
        at REAL NOT NULL,
        author TEXT NOT NULL CHECK (author IN ('resident', 'bot', 'staff')),
        earlier INTEGER NOT NULL DEFAULT 0,
        staff TEXT,
        text TEXT NOT NULL
    );
    CREATE INDEX handover_messages_of ON handover_messages (handover_id, id);
    CREATE TABLE handover_replies (
        id INTEGER PRIMARY KEY REFERENCES handover_messages (id),
        handover_id INTEGER NOT NULL REFERENCES handovers (id),
        channel TEXT NOT NULL,
        user_id TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        {_OUTBOX_COLUMNS}
    );
    CREATE INDEX handover_replies_due ON handover_replies (channel, state, next_attempt_at);
    CREATE TABLE staff_posts (
        id INTEGER PRIMARY KEY,
        handover_id INTEGER NOT NULL REFERENCES handovers (id),
        chat_id TEXT NOT NULL,
        text TEXT NOT NULL,
        {_OUTBOX_COLUMNS}
    );
    CREATE INDEX staff_posts_due ON staff_posts (chat_id, state, next_attempt_at);
    CREATE TABLE staff_post_messages (
        chat_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        handover_id INTEGER NOT NULL REFERENCES handovers (id),
        PRIMARY KEY (chat_id, message_id)
    )
    """,
)


def _when(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, VIETNAM) if epoch is not None else None


@dataclass(frozen=True)
class HandoverMessage:
    """One message of a hand-over: the resident's, the bot's (``earlier`` turns of the
    conversation before the request) or a staff member's (``staff``: who, ``delivery``:
    pending, sending, sent, failed or dropped)."""

    id: int
    at: datetime
    author: str
    text: str
    earlier: bool = False
    staff: str | None = None
    delivery: str | None = None


@dataclass(frozen=True)
class Handover:
    """A resident's request for a person. ``question`` is the first message written for
    it; ``messages`` (from :meth:`HandoverStore.get`) every message, oldest first."""

    id: int
    channel: str
    user_id: str
    chat_id: str
    state: str
    opened_at: datetime
    updated_at: datetime
    answered_at: datetime | None
    closed_at: datetime | None
    closed_by: str | None
    question: str
    messages: tuple[HandoverMessage, ...] = ()


@dataclass(frozen=True)
class QueuedReply:
    """A staff reply due for delivery to the resident."""

    id: int
    handover_id: int
    channel: str
    user_id: str
    chat_id: str
    attempts: int
    text: str
    staff: str


@dataclass(frozen=True)
class QueuedPost:
    """A post due in the staff group (``user_id`` is the group: one recipient)."""

    id: int
    handover_id: int
    user_id: str
    chat_id: str
    attempts: int
    text: str


class _Outbox:
    """Claims and outcomes of one outbox table (rows keyed by ``id``)."""

    def __init__(self, store: HandoverStore, table: str) -> None:
        self._store = store
        self._table = table

    async def claim(self, row_id: int, now: float, stale_before: float) -> bool:
        """Mark a row as being sent; also one whose claim went stale (its sender died)."""
        cur = await self._store._conn.execute(
            f"UPDATE {self._table} SET state = 'sending', attempts = attempts + 1, claimed_at = ? "
            "WHERE id = ? AND (state = 'pending' OR (state = 'sending' AND coalesce(claimed_at, 0) <= ?))",
            (now, row_id, stale_before),
        )
        return cur.rowcount == 1

    async def sent(self, row_id: int) -> None:
        """Record a delivery."""
        await self._store._conn.execute(
            f"UPDATE {self._table} SET state = 'sent', sent_at = ?, last_error = NULL WHERE id = ?",
            (time.time(), row_id),
        )

    async def retry(self, row_id: int, next_at: float, error: str) -> None:
        """Put a row back in the queue, due at ``next_at``."""
        await self._store._conn.execute(
            f"UPDATE {self._table} SET state = 'pending', next_attempt_at = ?, last_error = ? WHERE id = ?",
            (next_at, error[:500], row_id),
        )

    async def failed(self, row_id: int, error: str, state: str = "failed") -> None:
        """Give up on a row (``dropped``: its recipient blocked the bot)."""
        await self._store._conn.execute(
            f"UPDATE {self._table} SET state = ?, last_error = ? WHERE id = ?", (state, error[:500], row_id)
        )

    async def counts(self) -> dict[str, int]:
        """Rows per state."""
        rows = await self._store._conn.execute_fetchall(f"SELECT state, count(*) FROM {self._table} GROUP BY state")
        return {state: n for state, n in rows}


class HandoverStore:
    """The hand-over tables of the shared database file."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self._lock = asyncio.Lock()
        self.replies = _Outbox(self, "handover_replies")
        self.posts = _Outbox(self, "staff_posts")

    @classmethod
    async def open(cls, path: Path) -> HandoverStore:
        """Open (creating or migrating) the hand-over tables in the database at ``path``."""
        return cls(await open_part(Path(path), "handovers", MIGRATIONS), Path(path))

    async def close(self) -> None:
        """Close the connection."""
        await self._conn.close()

    async def _write(self, work):  # type: ignore[no-untyped-def]
        """Run ``work(conn)`` in one write transaction."""
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                result = await work(self._conn)
                await self._conn.execute("COMMIT")
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            return result

    # -- the resident's side -------------------------------------------------------

    @staticmethod
    async def _open_row(conn: aiosqlite.Connection, channel: str, user_id: str, now: float) -> int | None:
        """The resident's open hand-over; one answered and left alone too long is closed."""
        async with conn.execute(
            "SELECT id, state, updated_at FROM handovers WHERE channel = ? AND user_id = ? AND state <> 'closed'",
            (channel, user_id),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        if row[1] == "answered" and row[2] < now - ANSWERED_KEEPS_OPEN:
            await conn.execute(
                "UPDATE handovers SET state = 'closed', closed_at = ?, closed_by = 'tự động' WHERE id = ?",
                (now, row[0]),
            )
            return None
        return int(row[0])

    @staticmethod
    async def _add(conn: aiosqlite.Connection, handover_id: int, author: str, text: str, now: float, **extra: object) -> int:
        columns = ", ".join(("handover_id", "at", "author", "text", *extra))
        marks = ", ".join("?" * (4 + len(extra)))
        cur = await conn.execute(
            f"INSERT INTO handover_messages ({columns}) VALUES ({marks})",
            (handover_id, now, author, text[:MAX_TEXT], *extra.values()),
        )
        return int(cur.lastrowid or 0)

    async def ask(
        self,
        channel: str,
        user_id: str,
        chat_id: str,
        text: str,
        earlier: Sequence[tuple[str, str]] = (),
        now: float | None = None,
    ) -> tuple[int, bool]:
        """A resident asks for a person: their open hand-over gets ``text`` (when not
        empty), or a new one is opened with ``earlier`` (the conversation's last turns,
        as (author, text) with author ``resident`` or ``bot``). Returns (id, opened)."""
        at = time.time() if now is None else now

        async def work(conn: aiosqlite.Connection) -> tuple[int, bool]:
            found = await self._open_row(conn, channel, user_id, at)
            if found is not None:
                if text.strip():
                    await self._add(conn, found, "resident", text, at)
                await conn.execute(
                    "UPDATE handovers SET state = 'waiting', updated_at = ?, chat_id = ? WHERE id = ?",
                    (at, chat_id, found),
                )
                return found, False
            cur = await conn.execute(
                "INSERT INTO handovers (channel, user_id, chat_id, opened_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                (channel, user_id, chat_id, at, at),
            )
            new = int(cur.lastrowid or 0)
            for author, said in earlier:
                await self._add(conn, new, author, said, at, earlier=1)
            if text.strip():
                await self._add(conn, new, "resident", text, at)
            return new, True

        return await self._write(work)

    async def add_message(self, channel: str, user_id: str, text: str, now: float | None = None) -> int | None:
        """Add what the resident wrote to their open hand-over (setting it back to
        waiting); its id, or None when they have none open."""
        at = time.time() if now is None else now

        async def work(conn: aiosqlite.Connection) -> int | None:
            found = await self._open_row(conn, channel, user_id, at)
            if found is not None:
                await self._add(conn, found, "resident", text, at)
                await conn.execute(
                    "UPDATE handovers SET state = 'waiting', updated_at = ? WHERE id = ?", (at, found)
                )
            return found

        return await self._write(work)

    async def open_for(self, channel: str, user_id: str) -> int | None:
        """The id of the resident's open hand-over, if any (read only)."""
        rows = await self._conn.execute_fetchall(
            "SELECT id, state, updated_at FROM handovers WHERE channel = ? AND user_id = ? AND state <> 'closed'",
            (channel, user_id),
        )
        row = rows[0] if rows else None
        if row is None or (row[1] == "answered" and row[2] < time.time() - ANSWERED_KEEPS_OPEN):
            return None
        return int(row[0])

    # -- the desk's side (the back office's API) -------------------------------------

    async def reply(self, id: int, staff: str, text: str, now: float | None = None) -> bool:
        """Store a staff member's reply and queue it for delivery to the resident; False
        when the hand-over does not exist, is closed, or the text is empty."""
        text = text.strip()
        if not text:
            return False
        at = time.time() if now is None else now

        async def work(conn: aiosqlite.Connection) -> bool:
            async with conn.execute(
                "SELECT channel, user_id, chat_id FROM handovers WHERE id = ? AND state <> 'closed'", (id,)
            ) as cur:
                row = await cur.fetchone()
            if row is None:
                return False
            message = await self._add(conn, id, "staff", text, at, staff=staff[:200])
            await conn.execute(
                "INSERT INTO handover_replies (id, handover_id, channel, user_id, chat_id) VALUES (?, ?, ?, ?, ?)",
                (message, id, *row),
            )
            await conn.execute(
                "UPDATE handovers SET state = 'answered', answered_at = ?, updated_at = ? WHERE id = ?",
                (at, at, id),
            )
            return True

        return await self._write(work)

    async def close_handover(self, id: int, staff: str, now: float | None = None) -> bool:
        """Close a hand-over without (further) reply; False when it is not open. Replies
        already queued are still delivered."""
        at = time.time() if now is None else now
        cur = await self._conn.execute(
            "UPDATE handovers SET state = 'closed', closed_at = ?, closed_by = ?, updated_at = ? "
            "WHERE id = ? AND state <> 'closed'",
            (at, staff[:200], at, id),
        )
        return cur.rowcount == 1

    async def counts(self) -> dict[str, int]:
        """How many hand-overs are in each state (every state present, 0 if none)."""
        rows = await self._conn.execute_fetchall("SELECT state, count(*) FROM handovers GROUP BY state")
        found = {state: n for state, n in rows}
        return {state: found.get(state, 0) for state in STATES}

    _SELECT = (
        "SELECT h.id, h.channel, h.user_id, h.chat_id, h.state, h.opened_at, h.updated_at, h.answered_at, "
        "h.closed_at, h.closed_by, coalesce((SELECT m.text FROM handover_messages m WHERE m.handover_id = h.id "
        "AND m.author = 'resident' AND m.earlier = 0 ORDER BY m.id LIMIT 1), '') FROM handovers h"
    )

    @staticmethod
    def _handover(row: Sequence, messages: tuple[HandoverMessage, ...] = ()) -> Handover:
        return Handover(
            id=row[0], channel=row[1], user_id=row[2], chat_id=row[3], state=row[4],
            opened_at=_when(row[5]), updated_at=_when(row[6]), answered_at=_when(row[7]),  # type: ignore[arg-type]
            closed_at=_when(row[8]), closed_by=row[9], question=row[10], messages=messages,
        )

    async def list(self, state: str | None = None, limit: int = 100) -> list[Handover]:
        """Hand-overs, most recently active first (waiting ones first when no ``state``
        is given), without their messages."""
        if state is not None and state not in STATES:
            raise ValueError(f"unknown hand-over state {state!r}")
        where = " WHERE h.state = ?" if state else ""
        order = " ORDER BY (h.state = 'waiting') DESC, h.updated_at DESC LIMIT ?"
        params = (state, limit) if state else (limit,)
        rows = await self._conn.execute_fetchall(self._SELECT + where + order, params)
        return [self._handover(r) for r in rows]

    async def get(self, id: int) -> Handover | None:
        """One hand-over with all its messages, or None."""
        rows = await self._conn.execute_fetchall(self._SELECT + " WHERE h.id = ?", (id,))
        row = rows[0] if rows else None
        if row is None:
            return None
        rows = await self._conn.execute_fetchall(
            "SELECT m.id, m.at, m.author, m.text, m.earlier, m.staff, r.state FROM handover_messages m "
            "LEFT JOIN handover_replies r ON r.id = m.id WHERE m.handover_id = ? ORDER BY m.id",
            (id,),
        )
        messages = tuple(
            HandoverMessage(r[0], _when(r[1]), r[2], r[3], bool(r[4]), r[5], r[6])  # type: ignore[arg-type]
            for r in rows
        )
        return self._handover(row, messages)

    # -- delivery to residents -----------------------------------------------------

    async def due_replies(self, channel: str, now: float, limit: int, stale_before: float) -> list[QueuedReply]:
        """Staff replies for residents on ``channel`` due at ``now`` (and stale claims)."""
        rows = await self._conn.execute_fetchall(
            "SELECT r.id, r.handover_id, r.channel, r.user_id, r.chat_id, r.attempts, m.text, coalesce(m.staff, '') "
            "FROM handover_replies r JOIN handover_messages m ON m.id = r.id "
            "WHERE r.channel = ? AND ((r.state = 'pending' AND r.next_attempt_at <= ?) "
            "OR (r.state = 'sending' AND coalesce(r.claimed_at, 0) <= ?)) ORDER BY r.id LIMIT ?",
            (channel, now, stale_before, limit),
        )
        return [QueuedReply(*r) for r in rows]

    async def drop_replies(self, channel: str, user_id: str) -> int:
        """The resident blocked the bot: drop every reply still queued for them."""
        cur = await self._conn.execute(
            "UPDATE handover_replies SET state = 'dropped', last_error = 'blocked' "
            "WHERE channel = ? AND user_id = ? AND state IN ('pending', 'sending')",
            (channel, user_id),
        )
        return cur.rowcount

    # -- posts to the staff group ----------------------------------------------------

    async def queue_post(self, handover_id: int, chat_id: str, text: str) -> int:
        """Queue ``text`` for the staff group ``chat_id``, about a hand-over."""
        cur = await self._conn.execute(
            "INSERT INTO staff_posts (handover_id, chat_id, text) VALUES (?, ?, ?)", (handover_id, chat_id, text)
        )
        return int(cur.lastrowid or 0)

    async def group_of(self, handover_id: int) -> str | None:
        """The staff group a hand-over was first posted to (None: never posted)."""
        rows = await self._conn.execute_fetchall(
            "SELECT chat_id FROM staff_posts WHERE handover_id = ? ORDER BY id LIMIT 1", (handover_id,)
        )
        return str(rows[0][0]) if rows else None

    async def due_posts(self, chat_id: str, now: float, limit: int, stale_before: float) -> list[QueuedPost]:
        """Posts for the staff group due at ``now`` (and stale claims)."""
        rows = await self._conn.execute_fetchall(
            "SELECT id, handover_id, chat_id, chat_id, attempts, text FROM staff_posts "
            "WHERE chat_id = ? AND ((state = 'pending' AND next_attempt_at <= ?) "
            "OR (state = 'sending' AND coalesce(claimed_at, 0) <= ?)) ORDER BY id LIMIT ?",
            (chat_id, now, stale_before, limit),
        )
        return [QueuedPost(*r) for r in rows]

    async def record_posted(self, chat_id: str, message_ids: Sequence[str], handover_id: int) -> None:
        """Remember the group's messages that carry a hand-over (replies to them answer it)."""
        await self._conn.executemany(
            "INSERT OR IGNORE INTO staff_post_messages (chat_id, message_id, handover_id) VALUES (?, ?, ?)",
            [(chat_id, str(m), handover_id) for m in message_ids],
        )

    async def handover_for_post(self, chat_id: str, message_id: str) -> int | None:
        """The hand-over a message of the staff group is about, or None."""
        rows = await self._conn.execute_fetchall(
            "SELECT handover_id FROM staff_post_messages WHERE chat_id = ? AND message_id = ?",
            (chat_id, str(message_id)),
        )
        row = rows[0] if rows else None
        return int(row[0]) if row else None
