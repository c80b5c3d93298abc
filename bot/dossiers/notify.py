"""Delivering follow notifications from the database outbox.

A sync queues one outbox row per follower for every status change. The :class:`Notifier`
sends due rows for one channel through the channel's send function. Each row is claimed
(``sending``, with the time) before it is sent and marked ``sent`` after, so a follower
gets each change once. A claim is a lease: a row left ``sending`` because the bot died
(even while retrying a send) is claimable again ``lease`` seconds after its claim, so
nothing queued is lost (delivery is at least once; a second message can only follow a
crash between the send and its record). A failed send is retried with exponential
backoff, up to ``max_attempts``; a user who blocked the bot
(:class:`bot.errors.RecipientBlocked`) is unsubscribed from everything.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import date

from bot.config import Config
from bot.errors import RecipientBlocked
from bot.messages import MAX_CHOICE_DATA_BYTES, Choice, Reply
from bot.dossiers.desk import fmt_date
from bot.dossiers.statuses import FINAL, is_overdue, needs_visit, next_step, overdue_note
from bot.dossiers.store import DossierStore, Notification

log = logging.getLogger(__name__)

#: ``send(chat_id, reply)``: raises RecipientBlocked, or any other exception for a transient failure.
SendFn = Callable[[str, Reply], Awaitable[None]]


class Notifier:
    """Sends queued status-change notifications for one channel at a time.

    ``lease`` is how many seconds a claimed row stays with its sender: longer than the
    slowest send with its retries, so that only a sender that died loses its claim.
    """

    def __init__(
        self,
        store: DossierStore,
        config: Config,
        *,
        clock: Callable[[], float] = time.time,
        today: Callable[[], date] = date.today,
        max_attempts: int = 8,
        base_delay: float = 30.0,
        max_delay: float = 3600.0,
        batch: int = 50,
        lease: float = 300.0,
        logger: logging.Logger = log,
    ) -> None:
        self._store = store
        self._config = config
        self._clock = clock
        self._today = today
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._batch = batch
        self._lease = lease
        self._log = logger

    def backoff(self, attempts: int) -> float:
        """Seconds to wait before the next try after ``attempts`` failed ones."""
        return min(self._max_delay, self._base_delay * 2 ** max(0, attempts - 1))

    def render(self, item: Notification) -> Reply:
        """The message telling a follower about one status change."""
        commune = self._config.commune
        today = self._today()
        lines = [f"Hồ sơ {item.code} vừa chuyển sang trạng thái: {item.new_status.label}."]
        if item.procedure:
            lines.append(f"Thủ tục: {item.procedure}")
        if item.appointment:
            lines.append(f"Ngày hẹn trả: {fmt_date(item.appointment)}")
        if is_overdue(item.new_status, item.appointment, today) and item.appointment:
            lines.append(overdue_note(item.appointment, today, commune.hotline))
        else:
            lines.append(next_step(item.new_status))
        if needs_visit(item.new_status):
            lines.append(f"Địa điểm: {commune.office}. Giờ làm việc: {commune.hours}.")
        lines.append(f"({commune.name}. Để bỏ theo dõi, gửi: /huytheodoi {item.code})")
        choices: tuple[Choice, ...] = ()
        data = f"unfollow:{item.code}"
        if item.new_status not in FINAL and len(data.encode("utf-8")) <= MAX_CHOICE_DATA_BYTES:
            choices = (Choice("Bỏ theo dõi", data),)
        return Reply("\n".join(lines), choices)

    async def deliver_pending(self, channel: str, send: SendFn) -> int:
        """Send every due notification of ``channel`` once; returns how many were delivered."""
        delivered = 0
        blocked: set[str] = set()
        tried: set[int] = set()  # each row at most once per pass, even when retried at once
        while True:
            now = self._clock()
            due = await self._store.due_notifications(
                channel, now, self._batch + len(tried), stale_before=now - self._lease
            )
            due = [n for n in due if n.user_id not in blocked and n.id not in tried]
            if not due:
                return delivered
            for item in due:
                tried.add(item.id)
                if item.user_id in blocked:
                    continue
                if item.attempts >= self._max_attempts:  # its sends kept dying with the bot
                    await self._store.notification_failed(item.id, "interrupted too often")
                    continue
                now = self._clock()
                if not await self._store.claim_notification(item.id, now, stale_before=now - self._lease):
                    continue
                try:
                    await send(item.chat_id, self.render(item))
                except RecipientBlocked:
                    blocked.add(item.user_id)
                    removed = await self._store.drop_recipient(channel, item.user_id)
                    self._log.info(
                        "%s user %s blocked the bot: %d follows removed", channel, item.user_id, removed
                    )
                except asyncio.CancelledError:
                    # Not sent, or not known to be: leave it for the next pass.
                    await asyncio.shield(
                        self._store.notification_retry(item.id, self._clock(), "cancelled")
                    )
                    raise
                except Exception as exc:  # any send failure is transient until max_attempts
                    error = f"{type(exc).__name__}: {exc}"
                    attempts = item.attempts + 1
                    if attempts >= self._max_attempts:
                        await self._store.notification_failed(item.id, error)
                        self._log.warning(
                            "%s notification %d given up after %d attempts: %s",
                            channel,
                            item.id,
                            attempts,
                            error,
                        )
                    else:
                        next_at = self._clock() + self.backoff(attempts)
                        await self._store.notification_retry(item.id, next_at, error)
                else:
                    await self._store.notification_sent(item.id)
                    delivered += 1

    async def run(self, channel: str, send: SendFn, stop: asyncio.Event, interval: float = 5.0) -> None:
        """Deliver due notifications every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.deliver_pending(channel, send)
            except asyncio.CancelledError:
                raise
            except Exception:
                self._log.exception("%s notification pass failed", channel)
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except asyncio.TimeoutError:
                pass
