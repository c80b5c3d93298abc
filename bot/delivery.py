"""Delivering queued messages from a database outbox, once each, across restarts.

Follow notifications (:mod:`bot.dossiers.notify`), the desk's replies to hand-overs and
the hand-overs' posts to the staff group (:mod:`bot.staff.relay`) are all rows of an
outbox that a :class:`Deliverer` sends through a channel's send function. Each row is
claimed (``sending``, with the time) before it is sent and marked sent after. A claim is
a lease: a row left ``sending`` because the bot died (even while retrying a send) is
claimable again ``lease`` seconds after its claim, so nothing queued is lost, and a row
is sent twice only if the bot dies between the send and its record. A failed send is
retried with exponential backoff, up to ``max_attempts``; a recipient who blocked the bot
(:class:`bot.errors.RecipientBlocked`) is dropped by the queue.

:func:`run_outboxes` is the loop a channel runs in the background: every outbox of the
app that has something for it, every few seconds, until stopped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from bot.errors import RecipientBlocked
from bot.messages import Reply

log = logging.getLogger(__name__)

#: ``send(chat_id, reply)``: raises RecipientBlocked, or any other exception for a
#: transient failure. What it returns (e.g. the ids of the messages sent) is passed to
#: the queue's :meth:`Queue.sent`.
SendFn = Callable[[str, Reply], Awaitable[Any]]


#: Pauses (seconds) between tries to record a sent row; their sum stays well below any
#: lease, so the row is recorded before another sender could claim it again.
RECORD_PAUSES = (0.1, 0.3, 1.0, 2.0, 4.0, 8.0)


class Item(Protocol):
    """What a deliverer needs of a queued row."""

    @property
    def id(self) -> int: ...

    @property
    def user_id(self) -> str: ...

    @property
    def chat_id(self) -> str: ...

    @property
    def attempts(self) -> int: ...


T = TypeVar("T", bound=Item)


class Queue(Protocol[T]):
    """An outbox table: due rows, claims, and what became of each send."""

    async def due(self, channel: str, now: float, limit: int, stale_before: float) -> list[T]:
        """Rows of ``channel`` due at ``now``, and those claimed before ``stale_before``."""
        ...

    async def claim(self, item: T, now: float, stale_before: float) -> bool:
        """Claim ``item`` for sending; False when another sender holds it."""
        ...

    async def sent(self, item: T, receipt: Any) -> None:
        """Record a delivery (``receipt``: what the send function returned)."""
        ...

    async def retry(self, item: T, next_at: float, error: str) -> None:
        """Put ``item`` back, due at ``next_at``."""
        ...

    async def failed(self, item: T, error: str) -> None:
        """Give up on ``item``."""
        ...

    async def blocked(self, channel: str, item: T) -> None:
        """``item``'s recipient blocked the bot: drop what is queued for them."""
        ...

    def render(self, item: T) -> Reply:
        """The message to send for ``item``."""
        ...


class Deliverer(Generic[T]):
    """Sends the due rows of one queue, for one channel at a time.

    ``lease`` is how many seconds a claimed row stays with its sender: longer than the
    slowest send with its retries, so that only a sender that died loses its claim.
    """

    def __init__(
        self,
        queue: Queue[T],
        *,
        what: str = "message",
        clock: Callable[[], float] = time.time,
        max_attempts: int = 8,
        base_delay: float = 30.0,
        max_delay: float = 3600.0,
        batch: int = 50,
        lease: float = 300.0,
        logger: logging.Logger = log,
    ) -> None:
        self._queue = queue
        self._what = what
        self._clock = clock
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._batch = batch
        self._lease = lease
        self._log = logger

    def backoff(self, attempts: int) -> float:
        """Seconds to wait before the next try after ``attempts`` failed ones."""
        return min(self._max_delay, self._base_delay * 2 ** max(0, attempts - 1))

    async def deliver_pending(self, channel: str, send: SendFn) -> int:
        """Send every due row of ``channel`` once; returns how many were delivered."""
        queue = self._queue
        delivered = 0
        blocked: set[str] = set()
        tried: set[int] = set()  # each row at most once per pass, even when retried at once
        while True:
            now = self._clock()
            due = await queue.due(channel, now, self._batch + len(tried), now - self._lease)
            due = [n for n in due if n.user_id not in blocked and n.id not in tried]
            if not due:
                return delivered
            for item in due:
                tried.add(item.id)
                if item.user_id in blocked:
                    continue
                if item.attempts >= self._max_attempts:  # its sends kept dying with the bot
                    await queue.failed(item, "interrupted too often")
                    continue
                now = self._clock()
                if not await queue.claim(item, now, now - self._lease):
                    continue
                try:
                    receipt = await send(item.chat_id, queue.render(item))
                except RecipientBlocked:
                    blocked.add(item.user_id)
                    await queue.blocked(channel, item)
                    self._log.info("%s recipient of %s %d blocked the bot", channel, self._what, item.id)
                except asyncio.CancelledError:
                    # Not sent, or not known to be: leave it for the next pass.
                    await asyncio.shield(queue.retry(item, self._clock(), "cancelled"))
                    raise
                except Exception as exc:  # any send failure is transient until max_attempts
                    error = f"{type(exc).__name__}: {exc}"
                    attempts = item.attempts + 1
                    if attempts >= self._max_attempts:
                        await queue.failed(item, error)
                        self._log.warning(
                            "%s %s %d given up after %d attempts: %s", channel, self._what, item.id, attempts, error
                        )
                    else:
                        await queue.retry(item, self._clock() + self.backoff(attempts), error)
                else:
                    await self._record_sent(item, receipt)
                    delivered += 1

    async def _record_sent(self, item: T, receipt: Any) -> None:
        """Record a row as sent, trying again while the database is busy: the message is
        out, and a row left claimed would be sent a second time when its lease ends."""
        for pause in RECORD_PAUSES:
            try:
                await self._queue.sent(item, receipt)
                return
            except Exception as exc:  # noqa: BLE001 - busy or away: wait and try again
                self._log.warning(
                    "%s %d was sent but could not be recorded yet (%s)", self._what, item.id, type(exc).__name__
                )
                await asyncio.sleep(pause)
        await self._queue.sent(item, receipt)  # the last try: its failure is the caller's


class Outbox(Protocol):
    """Anything that delivers its due rows for a channel through a send function."""

    async def deliver_pending(self, channel: str, send: SendFn) -> int: ...


#: One delivery job of a channel's loop: an outbox, the channel name it is asked for,
#: and the send function.
Job = tuple[Outbox, str, SendFn]


def channel_jobs(app: Any, channel: str, send: SendFn, post: SendFn | None = None) -> list[Job]:
    """The outboxes a channel delivers for ``app``: follow notifications and hand-over
    replies to its users with ``send``; with ``post`` (the Telegram channel), the
    hand-overs' posts to every configured staff group."""
    jobs: list[Job] = []
    notifier = getattr(app, "notifier", None)
    if notifier is not None:
        jobs.append((notifier, channel, send))
    relay = getattr(app, "relay", None)
    if relay is not None:
        jobs.append((relay.replies, channel, send))
        if post is not None:  # each commune's own staff group too, not only the top-level one
            jobs.extend((relay.posts, chat, post) for chat in relay.staff_chats)
    return jobs


async def run_outboxes(
    jobs: Sequence[Job], stop: asyncio.Event, interval: float = 5.0, logger: logging.Logger = log
) -> None:
    """Deliver every job's due rows every ``interval`` seconds until ``stop`` is set."""
    while not stop.is_set():
        for outbox, channel, send in jobs:
            try:
                await outbox.deliver_pending(channel, send)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("%s delivery pass failed", channel)
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except asyncio.TimeoutError:
            pass
