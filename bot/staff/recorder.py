"""What the staff side learns from each message the engine handled: the activity counts
(no text), the missed questions (masked) and the ratings. The engine calls
:meth:`StaffRecorder.record` once per message (:class:`bot.dialogue.Recorder`)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path

from bot.messages import Incoming, Intent, Response
from bot.staff import activity as act
from bot.staff.activity import ActivityStore
from bot.staff.feedback import FeedbackStore
from bot.staff.missed import DOWN, REFUSED, UNSURE, MissedStore

log = logging.getLogger(__name__)

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


class StaffRecorder:
    """Records each handled message in the staff side's stores (never raises)."""

    def __init__(
        self,
        activity: ActivityStore,
        missed: MissedStore,
        feedback: FeedbackStore,
        *,
        clock: Callable[[], dt.datetime] = dt.datetime.now,
    ) -> None:
        self.activity, self.missed, self.feedback = activity, missed, feedback
        self._clock = clock
        self._purged = clock().date()  # the stores purge when opened

    @classmethod
    async def open(
        cls, path: Path, retention_days: int = 90, *, clock: Callable[[], dt.datetime] = dt.datetime.now
    ) -> StaffRecorder:
        """The recorder on the database at ``path`` (missed questions purged now)."""
        opened: list = []
        try:
            opened.append(await ActivityStore.open(path))
            opened.append(await MissedStore.open(path, retention_days, today=clock().date()))
            opened.append(await FeedbackStore.open(path))
        except BaseException:
            for store in opened:
                await store.close()
            raise
        return cls(*opened, clock=clock)

    async def close(self) -> None:
        """Close the stores."""
        for store in (self.activity, self.missed, self.feedback):
            await store.close()

    async def record(self, msg: Incoming, response: Response) -> None:
        """Count the message; keep it (masked) when it was missed; keep its rating."""
        try:
            await self._record(msg, response)
        except Exception as exc:  # noqa: BLE001 - a lost count must not cost an answer
            log.warning("could not record a message from channel %s: %s", msg.channel, type(exc).__name__)

    async def _record(self, msg: Incoming, response: Response) -> None:
        now = self._clock()
        if now.date() != self._purged:  # once a day, the missed questions past retention go
            self._purged = now.date()
            await self.missed.purge(now.date())
        outcome = outcome_of(response)
        await self.activity.add(now.date(), msg.channel, outcome, _asked(msg, response, outcome))
        top = [m.id for m in response.matches[:3]]
        feedback = response.feedback
        if feedback is not None:
            await self.feedback.add(feedback.procedure_id, feedback.up, msg.channel, now)
            if not feedback.up and feedback.question:
                await self.missed.add(
                    feedback.question, channel=msg.channel, reason=DOWN, top_ids=[feedback.procedure_id], at=now
                )
            return
        if msg.choice is not None or not any(ch.isalpha() for ch in msg.text):
            return
        if outcome == act.REFUSED:
            await self.missed.add(msg.text, channel=msg.channel, reason=REFUSED, top_ids=top, at=now)
        elif outcome == act.CHOSE:
            await self.missed.add(msg.text, channel=msg.channel, reason=UNSURE, top_ids=top, at=now)
