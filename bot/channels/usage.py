"""Counting a channel's outbound messages per calendar month, and warning the operator
before the messenger plan's limits are reached (Zalo's free plan: 3,000 messages a month,
50 users).

Counting costs nothing per message: a :class:`UsageMeter` adds up in memory and writes
the counts to the database (through the :class:`bot.dossiers.store.DossierStore`) every
``flush_interval`` seconds and when the channel stops, so a sync holding the database
never holds up a reply. A warning is logged once per threshold crossed (70%, 85%, 95%
and 100%), again after a restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime

from bot.dossiers.store import DossierStore

log = logging.getLogger(__name__)

#: Shares of a limit at which the operator is warned.
THRESHOLDS = (0.70, 0.85, 0.95, 1.0)


def month_of(moment: datetime) -> str:
    """The calendar month of ``moment`` as ``YYYY-MM`` (local time)."""
    return moment.strftime("%Y-%m")


def crossed(used: int, limit: int) -> float:
    """The highest threshold ``used`` has reached of ``limit`` (0.0 for none, or no limit)."""
    if limit <= 0:
        return 0.0
    return max((t for t in THRESHOLDS if used >= t * limit), default=0.0)


class UsageMeter:
    """Counts what ``channel`` sends (and, with ``track_users``, who writes to it).

    ``monthly_quota`` and ``max_users`` are the plan's limits (0: none); ``now`` gives
    the local time (the month boundary), ``flush_interval`` how often counts are saved.
    """

    def __init__(
        self,
        store: DossierStore,
        channel: str,
        *,
        monthly_quota: int = 0,
        max_users: int = 0,
        track_users: bool = False,
        now: Callable[[], datetime] = datetime.now,
        flush_interval: float = 30.0,
        logger: logging.Logger = log,
    ) -> None:
        self._store = store
        self._channel = channel
        self._quota = monthly_quota
        self._max_users = max_users
        self._track_users = track_users
        self._now = now
        self._flush_interval = flush_interval
        self._log = logger
        self._pending: Counter[str] = Counter()  # month -> messages not yet saved
        self._known_users: set[str] = set()
        self._new_users: set[str] = set()
        self._warned_messages: dict[str, float] = {}  # month -> highest threshold warned
        self._warned_users = 0.0
        self._flush_lock = asyncio.Lock()

    async def start(self) -> None:
        """Load the users already seen and warn if a limit is already near."""
        if self._track_users:
            self._known_users = await self._store.channel_users(self._channel)
        await self._check()

    def count_sent(self, messages: int = 1) -> None:
        """Count ``messages`` sent just now."""
        self._pending[month_of(self._now())] += messages

    def saw_user(self, user_id: str) -> None:
        """Note that ``user_id`` wrote to the bot."""
        if self._track_users and user_id not in self._known_users:
            self._known_users.add(user_id)
            self._new_users.add(user_id)

    async def flush(self) -> None:
        """Save the counts gathered since the last flush, then check the limits.
        A failure is logged and the counts kept for the next flush."""
        async with self._flush_lock:
            pending, self._pending = self._pending, Counter()
            users, self._new_users = self._new_users, set()
            try:
                for month, messages in sorted(pending.items()):
                    await self._store.add_channel_usage(self._channel, month, messages)
                    del pending[month]
                if users:
                    await self._store.add_channel_users(self._channel, users)
                    users = set()
            except Exception as exc:
                self._pending.update(pending)
                self._new_users |= users
                self._log.warning("%s: could not save the message count (%s)", self._channel, type(exc).__name__)
                return
        try:
            await self._check()
        except Exception as exc:
            self._log.warning("%s: could not read the message count (%s)", self._channel, type(exc).__name__)

    async def run(self, stop: asyncio.Event) -> None:
        """Flush every ``flush_interval`` seconds until ``stop`` is set, then once more."""
        while not stop.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._flush_interval)
            await self.flush()

    async def _check(self) -> None:
        month = month_of(self._now())
        if self._quota > 0:
            used = (await self._store.channel_usage(month)).get(self._channel, 0)
            level = crossed(used, self._quota)
            if level > self._warned_messages.get(month, 0.0):
                self._warned_messages[month] = level
                self._log.warning(
                    "%s: %d of the %d messages a month the plan allows are used in %s (%d%%)%s; "
                    "see `motcua report` (channels.%s.monthly_quota)",
                    self._channel,
                    used,
                    self._quota,
                    month,
                    100 * used // self._quota,
                    ": further messages may be refused" if level >= 1.0 else "",
                    self._channel,
                )
        if self._track_users and self._max_users > 0:
            users = len(self._known_users)
            level = crossed(users, self._max_users)
            if level > self._warned_users:
                self._warned_users = level
                self._log.warning(
                    "%s: %d users have written to the bot, of the %d the plan allows (%d%%)%s "
                    "(channels.%s.max_users)",
                    self._channel,
                    users,
                    self._max_users,
                    100 * users // self._max_users,
                    ": new users may not reach it" if level >= 1.0 else "",
                    self._channel,
                )
