"""Conversations kept in the database, so that any worker continues any chat.

:class:`DatabaseSessions` is the engine's :class:`bot.session.SessionStore` on a
:class:`bot.storage.Database`: a session is one JSON row per (commune, channel, chat),
forgotten after the same quiet period as in memory. A worker handling an inbox message
*stages* the session the engine saves (:meth:`DatabaseSessions.staging`) and writes it
in the transaction that queues the replies and marks the message done
(:meth:`DatabaseSessions.write`), so a message either has all its effects or none.

:class:`DatabasePending` keeps the router's questions asked before a resident chose
their commune (see :class:`bot.tenants.TenantRouter`), for the same reason.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from bot.messages import Aspect, Choice, Incoming
from bot.session import Session, SessionStore
from bot.storage import Database, Transaction

#: Sessions saved while handling one inbox message, by (commune, channel, chat).
Staged = dict[tuple[str, str, str], Session]
_STAGE: ContextVar[Staged | None] = ContextVar("motcua_staged_sessions", default=None)


def session_to_json(session: Session) -> str:
    """``session`` as JSON text (:func:`session_from_json` reads it back)."""
    return json.dumps(
        {
            "procedure_id": session.procedure_id,
            "aspects": [a.value for a in session.aspects],
            "choices": [[c.label, c.data] for c in session.choices],
            "rated": session.rated,
            "questions": session.questions,
            "rated_ids": sorted(session.rated_ids),
            "turns": [list(t) for t in session.turns],
            "notices_seen": sorted(session.notices_seen),
            "unplaced": session.unplaced,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def session_from_json(text: str, updated: float) -> Session:
    """The session stored as ``text`` (a fresh one when it cannot be read)."""
    try:
        data = json.loads(text)
        return Session(
            procedure_id=data.get("procedure_id"),
            aspects=[Aspect(a) for a in data.get("aspects", [])],
            choices=[Choice(label, value) for label, value in data.get("choices", [])],
            rated=data.get("rated"),
            questions={str(k): str(v) for k, v in data.get("questions", {}).items()},
            rated_ids={str(i) for i in data.get("rated_ids", [])},
            updated=updated,
            turns=[(str(a), str(t)) for a, t in data.get("turns", [])],
            notices_seen={int(n) for n in data.get("notices_seen", [])},
            unplaced=str(data.get("unplaced") or ""),
        )
    except (ValueError, TypeError, AttributeError):
        return Session(updated=updated)


class DatabaseSessions(SessionStore):
    """Sessions in the ``serving_sessions`` table; ``commune`` is the commune whose
    engine uses this view (each commune of a router has its own conversations)."""

    def __init__(
        self,
        db: Database,
        timeout_seconds: float,
        *,
        commune: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(timeout_seconds, clock=clock)
        self._db = db
        self._commune = commune

    def for_commune(self, commune: str) -> DatabaseSessions:
        """The same table as commune ``commune``'s engine sees it."""
        return DatabaseSessions(self._db, self._timeout, commune=commune, clock=self._clock)

    @staticmethod
    @contextmanager
    def staging() -> Iterator[Staged]:
        """Within the block (one task), sessions saved are kept in the yielded dict
        instead of written: the caller writes them with :meth:`write` in its own
        transaction."""
        staged: Staged = {}
        token = _STAGE.set(staged)
        try:
            yield staged
        finally:
            _STAGE.reset(token)

    async def load(self, channel: str, chat_id: str) -> Session:
        """See :meth:`SessionStore.load`: the stored session unless it timed out."""
        key = (self._commune, channel, chat_id)
        staged = _STAGE.get()
        if staged is not None and key in staged:
            return staged[key]
        now = self._clock()
        row = await self._db.fetchone(
            "SELECT body, updated FROM serving_sessions WHERE commune = ? AND channel = ? AND chat_id = ?", key
        )
        if row is None or now - float(row[1]) > self._timeout:
            return Session(updated=now)
        session = session_from_json(str(row[0]), now)
        return session

    async def save(self, channel: str, chat_id: str, session: Session) -> None:
        """See :meth:`SessionStore.save` (staged when inside :meth:`staging`)."""
        key = (self._commune, channel, chat_id)
        staged = _STAGE.get()
        if staged is not None:
            staged[key] = session
            return
        async with self._db.transaction() as tx:
            await self.write(tx, [(key, session)], self._clock())

    @staticmethod
    async def write(tx: Transaction, sessions: Any, now: float) -> None:
        """Store ``sessions`` (pairs of (commune, channel, chat) and Session) in ``tx``."""
        for (commune, channel, chat_id), session in sessions:
            await tx.run(
                "INSERT INTO serving_sessions (commune, channel, chat_id, body, updated) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (commune, channel, chat_id) DO UPDATE SET body = excluded.body, updated = excluded.updated",
                (commune, channel, chat_id, session_to_json(session), now),
            )

    async def forget_expired(self) -> int:
        """Delete the sessions that timed out; how many."""
        return await self._db.run("DELETE FROM serving_sessions WHERE updated < ?", (self._clock() - self._timeout,))


def incoming_to_json(msg: Incoming) -> dict[str, Any]:
    """``msg`` as a JSON object (:func:`incoming_from_json` reads it back)."""
    return dataclasses.asdict(msg)


def incoming_from_json(data: dict[str, Any]) -> Incoming:
    """The :class:`Incoming` stored as ``data``; raises ValueError when it is not one."""
    try:
        return Incoming(
            channel=str(data["channel"]),
            user_id=str(data["user_id"]),
            chat_id=str(data["chat_id"]),
            text=str(data["text"]),
            forwarded=bool(data.get("forwarded", False)),
            choice=None if data.get("choice") is None else str(data["choice"]),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a stored message ({type(exc).__name__})") from None


class DatabasePending:
    """The router's pending questions (:class:`bot.tenants.TenantRouter`) in the
    ``serving_pending`` table: what a resident asked before choosing a commune."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def has(self, key: tuple[str, str]) -> bool:
        """Whether this (channel, user) has a pending question."""
        row = await self._db.fetchone(
            "SELECT 1 FROM serving_pending WHERE channel = ? AND user_id = ?", key
        )
        return row is not None

    async def put(self, key: tuple[str, str], msg: Incoming, *, replace: bool = True) -> None:
        """Keep ``msg`` for this (channel, user); with ``replace`` False, only when none is kept."""
        body = json.dumps(incoming_to_json(msg), ensure_ascii=False)
        conflict = "DO UPDATE SET body = excluded.body, at = excluded.at" if replace else "DO NOTHING"
        await self._db.run(
            "INSERT INTO serving_pending (channel, user_id, body, at) VALUES (?, ?, ?, ?) "
            f"ON CONFLICT (channel, user_id) {conflict}",
            (*key, body, self._clock()),
        )

    async def pop(self, key: tuple[str, str]) -> tuple[float, Incoming] | None:
        """Take the pending question of this (channel, user): (its age in seconds, it)."""
        async with self._db.transaction() as tx:
            row = await tx.fetchone(
                "SELECT body, at FROM serving_pending WHERE channel = ? AND user_id = ?", key
            )
            if row is None:
                return None
            await tx.run("DELETE FROM serving_pending WHERE channel = ? AND user_id = ?", key)
        try:
            return self._clock() - float(row[1]), incoming_from_json(json.loads(str(row[0])))
        except ValueError:
            return None

    async def forget_older(self, seconds: float) -> int:
        """Delete pending questions older than ``seconds``; how many."""
        return await self._db.run("DELETE FROM serving_pending WHERE at < ?", (self._clock() - seconds,))
