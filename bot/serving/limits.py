"""Send rates shared by every worker: counters in the database.

Each limit is a generic cell rate algorithm (GCRA) counter in ``serving_rates``: a
"theoretical arrival time" per key, for the whole channel, for one chat and for one
group chat. A sender reserves its slot in one short transaction (the keys locked in a
fixed order) and sleeps until that slot: sends are spread evenly, whichever worker
makes them, and no worker spins retrying.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.config import RateLimitConfig
from bot.errors import ConfigError
from bot.storage import Database

#: The longest a send waits for its slot; beyond it the send goes at once (a reservation
#: made by a clock far off must not hold messages for long).
MAX_WAIT = 30.0


@dataclass(frozen=True)
class Rate:
    """One limit: its counter's key, the seconds between sends and the burst tolerance."""

    key: str
    interval: float
    tolerance: float


def check_rate_limits(limits: RateLimitConfig, key: str) -> None:
    """Raise ConfigError naming ``key`` when a limit cannot be used."""
    if limits.per_second <= 0:
        raise ConfigError(f"{key}.per_second: must be above 0")
    if limits.chat_per_second <= 0:
        raise ConfigError(f"{key}.chat_per_second: must be above 0")
    if limits.chat_burst < 1:
        raise ConfigError(f"{key}.chat_burst: must be at least 1")
    if limits.group_per_minute < 0:
        raise ConfigError(f"{key}.group_per_minute: must be 0 (no limit) or above")


def telegram_group(chat_id: str) -> bool:
    """Whether a Telegram chat id is a group's (groups have negative ids)."""
    return chat_id.startswith("-")


class SharedRateLimiter:
    """Waits before each send of ``channel`` until the shared limits allow it.

    ``is_group(chat_id)`` tells group chats (their per-minute limit applies)."""

    def __init__(
        self,
        db: Database,
        channel: str,
        limits: RateLimitConfig,
        *,
        is_group: Callable[[str], bool] = lambda chat_id: False,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._db = db
        self._channel = channel
        self._limits = limits
        self._is_group = is_group
        self._clock = clock
        self._sleep = sleep

    def rates(self, chat_id: str) -> list[Rate]:
        """The limits a send to ``chat_id`` counts against, in lock order."""
        limits = self._limits
        chat = 1.0 / limits.chat_per_second
        rates = [
            Rate(f"{self._channel}:*", 1.0 / limits.per_second, 0.0),
            Rate(f"{self._channel}:c:{chat_id}", chat, chat * (limits.chat_burst - 1)),
        ]
        if limits.group_per_minute > 0 and self._is_group(chat_id):
            rates.append(Rate(f"{self._channel}:g:{chat_id}", 60.0 / limits.group_per_minute, 0.0))
        return sorted(rates, key=lambda r: r.key)

    async def reserve(self, chat_id: str) -> float:
        """Reserve the next slot for a send to ``chat_id``; the time it is at."""
        rates = self.rates(chat_id)
        keys = [r.key for r in rates]
        lock = " FOR UPDATE" if self._db.dialect == "postgres" else ""
        async with self._db.transaction() as tx:
            for key in keys:
                await tx.run("INSERT INTO serving_rates (name, tat) VALUES (?, 0) ON CONFLICT (name) DO NOTHING", (key,))
            marks = ", ".join("?" for _ in keys)
            rows = await tx.fetch(f"SELECT name, tat FROM serving_rates WHERE name IN ({marks}) ORDER BY name{lock}", keys)
            tats = {str(name): float(tat) for name, tat in rows}
            now = self._clock()
            at = max([now, *(tats.get(r.key, 0.0) - r.tolerance for r in rates)])
            at = min(at, now + MAX_WAIT)
            for rate in rates:
                new = max(tats.get(rate.key, 0.0), at) + rate.interval
                await tx.run("UPDATE serving_rates SET tat = ? WHERE name = ?", (new, rate.key))
        return at

    async def __call__(self, chat_id: str) -> None:
        """Wait until a send to ``chat_id`` is allowed (the channels' ``before_send``)."""
        at = await self.reserve(chat_id)
        delay = at - self._clock()
        if delay > 0:
            await self._sleep(delay)

    async def forget_idle(self, older_than: float = 120.0) -> int:
        """Delete counters of chats idle for ``older_than`` seconds; how many."""
        return await self._db.run(
            "DELETE FROM serving_rates WHERE name LIKE ? AND tat < ?",
            (f"{self._channel}:%", self._clock() - older_than),
        )
