"""Delivering follow notifications from the database outbox.

A sync queues one outbox row per follower for every status change. The :class:`Notifier`
sends due rows for one channel through the channel's send function, with the claims,
leases, retries and backoff of :class:`bot.delivery.Deliverer`: a follower gets each
change once (at least once; a second message can only follow a crash between the send
and its record). A user who blocked the bot (:class:`bot.errors.RecipientBlocked`) is
unsubscribed from everything.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from bot.config import CommuneConfig, Config
from bot.delivery import Deliverer, SendFn, run_outboxes
from bot.messages import MAX_CHOICE_DATA_BYTES, Choice, Reply
from bot.dossiers.desk import fmt_date
from bot.dossiers.statuses import FINAL, is_overdue, needs_visit, next_step, overdue_note
from bot.dossiers.store import DossierStore, Notification

log = logging.getLogger(__name__)

__all__ = ["Notifier", "SendFn"]


class _Outbox:
    """The dossier store's outbox as a :class:`bot.delivery.Queue`."""

    def __init__(self, store: Store, render: Callable[[Notification], Reply], logger: logging.Logger) -> None:
        self._store = store
        self.render = render
        self._log = logger

    async def due(self, channel: str, now: float, limit: int, stale_before: float) -> list[Notification]:
        return await self._store.due_notifications(channel, now, limit, stale_before=stale_before)

    async def claim(self, item: Notification, now: float, stale_before: float) -> bool:
        return await self._store.claim_notification(item.id, now, stale_before=stale_before)

    async def sent(self, item: Notification, receipt: Any) -> None:
        await self._store.notification_sent(item.id)

    async def retry(self, item: Notification, next_at: float, error: str) -> None:
        await self._store.notification_retry(item.id, next_at, error)

    async def failed(self, item: Notification, error: str) -> None:
        await self._store.notification_failed(item.id, error)

    async def blocked(self, channel: str, item: Notification) -> None:
        removed = await self._store.drop_recipient(channel, item.user_id)
        self._log.info("%s user %s blocked the bot: %d follows removed", channel, item.user_id, removed)


class Notifier:
    """Sends queued status-change notifications for one channel at a time."""

    def __init__(
        self,
        store: DossierStore,
        config: Config,
        *,
        today: Callable[[], date] = date.today,
        logger: logging.Logger = log,
        communes: Mapping[str, CommuneConfig] | None = None,
        **delivery: Any,
    ) -> None:
        """``delivery``: the :class:`bot.delivery.Deliverer` settings (clock, max_attempts,
        base_delay, max_delay, batch, lease). ``communes``: with several communes, each
        one's details by its code prefix; a notification names the dossier's commune."""
        self._config = config
        self._communes = {f"{prefix}-".upper(): c for prefix, c in (communes or {}).items()}
        self._today = today
        self._log = logger
        self._deliverer = Deliverer(_Outbox(store, self.render, logger), what="notification", logger=logger, **delivery)

    def backoff(self, attempts: int) -> float:
        """Seconds to wait before the next try after ``attempts`` failed ones."""
        return self._deliverer.backoff(attempts)

    def render(self, item: Notification) -> Reply:
        """The message telling a follower about one status change."""
        commune = next(
            (c for prefix, c in self._communes.items() if item.code.upper().startswith(prefix)), self._config.commune
        )
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
        return await self._deliverer.deliver_pending(channel, send)

    async def run(self, channel: str, send: SendFn, stop: asyncio.Event, interval: float = 5.0) -> None:
        """Deliver due notifications every ``interval`` seconds until ``stop`` is set."""
        await run_outboxes([(self, channel, send)], stop, interval, self._log)
