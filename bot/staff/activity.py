"""How many messages the bot handled, per day, channel and outcome; which procedures
were asked about. Counts only: no text, no user.

The outcomes (:data:`OUTCOMES`) are what the report and the back office's overview show:
answered, chose (the bot offered a choice because unsure), referred, refused, handed
over to a person, and the other kinds of messages (dossier status, help, ratings).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import aiosqlite

from bot.staff.schema import open_part

ANSWERED = "answered"
CHOSE = "chose"
REFERRED = "referred"
REFUSED = "refused"
HANDOVER = "handover"
STATUS = "status"
HELP = "help"
RATED = "rated"
OUTCOMES = (ANSWERED, CHOSE, REFERRED, REFUSED, HANDOVER, STATUS, HELP, RATED)

MIGRATIONS = (
    """
    CREATE TABLE activity (
        day TEXT NOT NULL, channel TEXT NOT NULL, outcome TEXT NOT NULL,
        count INTEGER NOT NULL, PRIMARY KEY (day, channel, outcome)
    ) WITHOUT ROWID;
    CREATE TABLE activity_procedures (
        day TEXT NOT NULL, procedure_id TEXT NOT NULL,
        count INTEGER NOT NULL, PRIMARY KEY (day, procedure_id)
    ) WITHOUT ROWID
    """,
)


@dataclass(frozen=True)
class DayCount:
    """One day's messages on one channel, with their count per outcome."""

    day: dt.date
    channel: str
    messages: int
    outcomes: dict[str, int] = field(default_factory=dict)


def _since(since: dt.date | None) -> str:
    return since.isoformat() if since is not None else ""


class ActivityStore:
    """The activity counts in the shared database file."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    @classmethod
    async def open(cls, path: Path) -> ActivityStore:
        """The store on the database at ``path`` (its tables created or migrated)."""
        return cls(await open_part(path, "activity", MIGRATIONS))

    async def close(self) -> None:
        """Close the connection."""
        await self._conn.close()

    async def add(self, day: dt.date, channel: str, outcome: str, procedure_id: str | None = None) -> None:
        """Count one message of ``channel`` on ``day`` with ``outcome`` (and the procedure
        it was about, if any)."""
        await self._conn.execute("BEGIN IMMEDIATE")
        try:
            await self._conn.execute(
                "INSERT INTO activity (day, channel, outcome, count) VALUES (?, ?, ?, 1) "
                "ON CONFLICT (day, channel, outcome) DO UPDATE SET count = count + 1",
                (day.isoformat(), channel, outcome),
            )
            if procedure_id:
                await self._conn.execute(
                    "INSERT INTO activity_procedures (day, procedure_id, count) VALUES (?, ?, 1) "
                    "ON CONFLICT (day, procedure_id) DO UPDATE SET count = count + 1",
                    (day.isoformat(), procedure_id),
                )
            await self._conn.execute("COMMIT")
        except BaseException:
            await self._conn.execute("ROLLBACK")
            raise

    async def daily(self, since: dt.date | None = None) -> list[DayCount]:
        """Messages per day and channel from ``since`` on (all days when None), oldest first."""
        rows = await self._conn.execute_fetchall(
            "SELECT day, channel, outcome, count FROM activity WHERE day >= ? ORDER BY day, channel",
            (_since(since),),
        )
        days: dict[tuple[str, str], dict[str, int]] = {}
        for day, channel, outcome, count in rows:
            days.setdefault((day, channel), {})[outcome] = int(count)
        return [
            DayCount(dt.date.fromisoformat(day), channel, sum(outcomes.values()), outcomes)
            for (day, channel), outcomes in days.items()
        ]

    async def outcomes(self, since: dt.date | None = None) -> dict[str, int]:
        """Messages per outcome from ``since`` on, every outcome named (0 when none)."""
        rows = await self._conn.execute_fetchall(
            "SELECT outcome, SUM(count) FROM activity WHERE day >= ? GROUP BY outcome", (_since(since),)
        )
        found = {outcome: int(count) for outcome, count in rows}
        return {**{o: 0 for o in OUTCOMES}, **found}

    async def procedures(self, since: dt.date | None = None, limit: int = 10) -> list[tuple[str, int]]:
        """The procedures asked about most from ``since`` on: (id, count), most first."""
        rows = await self._conn.execute_fetchall(
            "SELECT procedure_id, SUM(count) AS n FROM activity_procedures WHERE day >= ? "
            "GROUP BY procedure_id ORDER BY n DESC, procedure_id LIMIT ?",
            (_since(since), limit),
        )
        return [(pid, int(n)) for pid, n in rows]
