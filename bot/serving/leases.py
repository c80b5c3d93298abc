"""A lease row: which one worker runs a job that must run in one place only.

Each worker calls :meth:`Lease.hold` every few seconds; the holder renews its lease,
the others take it only once it has run out (its holder stopped renewing: it died or
stopped), so a singleton job (the periodic sync, the clean-up, the back office) moves
to another worker within ``ttl`` seconds of its holder's death.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.storage import Database


class Lease:
    """The lease ``name`` in ``serving_leases``, as seen by worker ``holder``."""

    def __init__(
        self, db: Database, name: str, holder: str, *, ttl: float = 20.0, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = db
        self.name = name
        self.holder = holder
        self.ttl = ttl
        self._clock = clock

    async def hold(self) -> bool:
        """Take or renew the lease; whether this worker holds it now."""
        now = self._clock()
        async with self._db.transaction() as tx:
            await tx.run(
                "INSERT INTO serving_leases (name, holder, until) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE "
                "SET holder = excluded.holder, until = excluded.until "
                "WHERE serving_leases.holder = excluded.holder OR serving_leases.until < ?",
                (self.name, self.holder, now + self.ttl, now),
            )
            row = await tx.fetchone("SELECT holder FROM serving_leases WHERE name = ?", (self.name,))
        return row is not None and row[0] == self.holder

    async def release(self) -> None:
        """Give the lease up (a stopping worker), so another takes it at once."""
        await self._db.run("DELETE FROM serving_leases WHERE name = ? AND holder = ?", (self.name, self.holder))
