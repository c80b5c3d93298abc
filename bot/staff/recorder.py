"""What the staff side learns from each message the engine handled: the activity counts
(no text), the missed questions (masked) and the ratings. The engine calls
:meth:`StaffRecorder.record` once per message (:class:`bot.dialogue.Recorder`).

Recording costs nothing per message: what is learnt is queued in memory (bounded) and
written by a background task, so a sync holding the database never holds up a reply;
a failed write is retried a little later, in order, and :meth:`StaffRecorder.close`
writes what is left. With several communes, each commune's engine records through
:meth:`StaffRecorder.for_commune`, so its rows carry its commune; all share one queue.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bot.messages import Incoming, Intent, Response
from bot.staff import activity as act
from bot.staff.activity import ActivityStore
from bot.staff.feedback import FeedbackStore
from bot.staff.missed import DOWN, REFUSED, UNSURE, MissedStore
from bot.storage import Database, open_database

log = logging.getLogger(__name__)

#: Most messages waiting to be written (beyond this, the oldest are dropped and counted).
MAX_PENDING = 10_000
#: Pause before retrying a write that failed (the database busy with a long sync).
RETRY_SECONDS = 1.0
#: How long closing waits for the last writes.
CLOSE_SECONDS = 5.0

_SIMPLE = {
    Intent.REFERRAL: act.REFERRED,
    Intent.STATUS: act.STATUS,
    Intent.HELP: act.HELP,
    Intent.UNKNOWN: act.REFUSED,
}


def outcome_of(response: Response) -> str:
    """The outcome a response counts as (one of :data:`bot.staff.activity.OUTCOMES`)."""
    if response.feedback is not None:
        return act.RATED
    if response.intent.value == act.HANDOVER:  # Intent.HANDOVER
        return act.HANDOVER
    if response.intent is Intent.PROCEDURE:
        return act.CHOSE if response.unsure else act.ANSWERED
    return _SIMPLE.get(response.intent, act.HELP)


def _asked(msg: Incoming, response: Response, outcome: str) -> str | None:
    """The procedure a message asked about, counted for the top procedures: a question
    answered or referred, or a procedure picked from a list (not the aspect buttons)."""
    if outcome not in (act.ANSWERED, act.REFERRED) or not response.matches:
        return None
    if msg.choice is not None and not msg.choice.startswith("p:"):
        return None
    return response.matches[0].id


@dataclass(frozen=True)
class _Entry:
    """What one message leaves for the stores (the text only when it is to be kept)."""

    at: dt.datetime
    channel: str
    outcome: str
    procedure_id: str | None
    rating: tuple[str, bool] | None = None
    missed: tuple[str, str, tuple[str, ...]] | None = None  # text, reason, top ids
    #: The commune it is counted for (None: the stores' own).
    commune: str | None = None


def _entry(msg: Incoming, response: Response, at: dt.datetime, commune: str | None = None) -> _Entry:
    outcome = outcome_of(response)
    top = tuple(m.id for m in response.matches[:3])
    feedback = response.feedback
    rating = missed = None
    if feedback is not None:
        rating = (feedback.procedure_id, feedback.up)
        if not feedback.up and feedback.question:
            missed = (feedback.question, DOWN, (feedback.procedure_id,))
    elif msg.choice is None and any(ch.isalpha() for ch in msg.text):
        if outcome == act.REFUSED:
            missed = (msg.text, REFUSED, top)
        elif outcome == act.CHOSE:
            missed = (msg.text, UNSURE, top)
    return _Entry(at, msg.channel, outcome, _asked(msg, response, outcome), rating, missed, commune)


class StaffRecorder:
    """Records each handled message in the staff side's stores (never raises)."""

    def __init__(
        self,
        activity: ActivityStore,
        missed: MissedStore,
        feedback: FeedbackStore,
        *,
        clock: Callable[[], dt.datetime] = dt.datetime.now,
        database: Database | None = None,
    ) -> None:
        self.activity, self.missed, self.feedback = activity, missed, feedback
        #: The database the recorder opened itself (closed with it), or None.
        self._own_database = database
        self._clock = clock
        self._purged = clock().date()  # the stores purge when opened
        #: Each queued entry with how many of its writes are done (a retry redoes none).
        self._pending: deque[list] = deque(maxlen=MAX_PENDING)
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        #: Entries dropped because the queue was full.
        self.dropped = 0

    @classmethod
    async def create(
        cls, db: Database, retention_days: int = 90, *, clock: Callable[[], dt.datetime] = dt.datetime.now
    ) -> StaffRecorder:
        """The recorder on the shared database ``db`` (its stores' tables migrated; the
        missed questions past retention purged now); ``db`` stays the caller's."""
        return cls(
            await ActivityStore.create(db),
            await MissedStore.create(db, retention_days, today=clock().date()),
            await FeedbackStore.create(db),
            clock=clock,
        )

    @classmethod
    async def open(
        cls,
        path: Path,
        retention_days: int = 90,
        *,
        clock: Callable[[], dt.datetime] = dt.datetime.now,
        url: str | None = None,
    ) -> StaffRecorder:
        """The recorder on a database of its own (the SQLite file at ``path``, or
        PostgreSQL at ``url``), closed with it; missed questions purged now."""
        db = await open_database(Path(path), url)
        try:
            made = await cls.create(db, retention_days, clock=clock)
        except BaseException:
            await db.close()
            raise
        made._own_database = db
        return made

    def for_commune(self, commune: str) -> CommuneRecorder:
        """What commune ``commune``'s engine records through (rows keyed by it)."""
        return CommuneRecorder(self, commune)

    async def close(self) -> None:
        """Write what is still queued (waiting at most :data:`CLOSE_SECONDS`), then close."""
        try:
            await asyncio.wait_for(self.flush(), CLOSE_SECONDS)
        except Exception as exc:  # noqa: BLE001 - closing must not fail for lost counts
            log.warning("%d message(s) could not be recorded before closing: %s", len(self._pending), type(exc).__name__)
        if self._writer is not None:  # idle now (the flush above waited for its writes)
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
        for store in (self.activity, self.missed, self.feedback):
            await store.close()
        if self._own_database is not None:
            await self._own_database.close()
            self._own_database = None

    async def record(self, msg: Incoming, response: Response, *, commune: str | None = None) -> None:
        """Queue what the message leaves (counts; the masked question when it was missed;
        its rating), for ``commune`` (default: the stores' own); the background writer
        stores it. Never raises, never waits."""
        try:
            if len(self._pending) == MAX_PENDING:
                self.dropped += 1
                if self.dropped == 1:
                    log.warning("staff recorder: the database is not keeping up; dropping the oldest counts")
            self._pending.append([_entry(msg, response, self._clock(), commune), 0])
            if self._writer is None or self._writer.done():
                self._writer = asyncio.get_running_loop().create_task(self._write_loop(), name="staff-recorder")
            self._wake.set()
        except Exception as exc:  # noqa: BLE001 - a lost count must not cost an answer
            log.warning("could not record a message from channel %s: %s", msg.channel, type(exc).__name__)

    async def flush(self) -> None:
        """Write everything queued now; a failure leaves the rest queued, and raises."""
        async with self._lock:
            while self._pending:
                job = self._pending[0]
                day = job[0].at.date()
                if day != self._purged:  # once a day, the missed questions past retention go
                    await self.missed.purge(day)
                    self._purged = day
                for step, write in enumerate(self._writes(job[0])):
                    if step >= job[1]:
                        await write()
                        job[1] = step + 1
                self._pending.popleft()

    async def _write_loop(self) -> None:
        failing = False
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
                failing = False
            except Exception as exc:  # noqa: BLE001 - retried: the database may be busy
                if not failing:
                    log.warning("could not record messages (%s); retrying", type(exc).__name__)
                failing = True
                await asyncio.sleep(RETRY_SECONDS)
                self._wake.set()

    def _writes(self, entry: _Entry) -> list[Callable[[], Awaitable[object]]]:
        """The writes one entry needs, in order."""
        day = entry.at.date()
        writes: list[Callable[[], Awaitable[object]]] = []
        commune = entry.commune
        writes.append(lambda: self.activity.add(day, entry.channel, entry.outcome, entry.procedure_id, commune=commune))
        if entry.rating is not None:
            procedure_id, up = entry.rating
            writes.append(lambda: self.feedback.add(procedure_id, up, entry.channel, entry.at, commune=commune))
        if entry.missed is not None:
            text, reason, top = entry.missed
            writes.append(
                lambda: self.missed.add(
                    text, channel=entry.channel, reason=reason, top_ids=top, at=entry.at, commune=commune
                )
            )
        return writes


class CommuneRecorder:
    """One commune's side of a :class:`StaffRecorder` (a :class:`bot.dialogue.Recorder`)."""

    def __init__(self, recorder: StaffRecorder, commune: str) -> None:
        self.recorder = recorder
        self.commune = commune

    async def record(self, msg: Incoming, response: Response) -> None:
        """Queue what the message leaves, for this commune. Never raises, never waits."""
        await self.recorder.record(msg, response, commune=self.commune)
