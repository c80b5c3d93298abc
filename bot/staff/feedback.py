"""Residents' ratings of procedure answers (👍/👎 on Telegram, "0" on Zalo and the
console). Only the procedure, the channel, the time and the verdict are kept."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from bot.staff.schema import open_part

MIGRATIONS = (
    """
    CREATE TABLE ratings (
        id INTEGER PRIMARY KEY, at TEXT NOT NULL, day TEXT NOT NULL, channel TEXT NOT NULL,
        procedure_id TEXT NOT NULL, up INTEGER NOT NULL
    );
    CREATE INDEX ratings_day ON ratings (day)
    """,
)


@dataclass(frozen=True)
class ProcedureRatings:
    """The ratings of one procedure's answers."""

    procedure_id: str
    up: int
    down: int


@dataclass(frozen=True)
class RatingSummary:
    """Ratings over a period: totals and per procedure (most 👎 first)."""

    up: int
    down: int
    procedures: list[ProcedureRatings]


class FeedbackStore:
    """The ratings in the shared database file."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    @classmethod
    async def open(cls, path: Path) -> FeedbackStore:
        """The store on the database at ``path`` (its tables created or migrated)."""
        return cls(await open_part(path, "feedback", MIGRATIONS))

    async def close(self) -> None:
        """Close the connection."""
        await self._conn.close()

    async def add(self, procedure_id: str, up: bool, channel: str, at: dt.datetime) -> None:
        """Keep one rating of an answer about ``procedure_id``."""
        await self._conn.execute(
            "INSERT INTO ratings (at, day, channel, procedure_id, up) VALUES (?, ?, ?, ?, ?)",
            (at.isoformat(timespec="seconds"), at.date().isoformat(), channel, procedure_id, int(up)),
        )

    async def summary(self, since: dt.date | None = None, limit: int = 10) -> RatingSummary:
        """The ratings from ``since`` on (all when None); at most ``limit`` procedures."""
        start = since.isoformat() if since is not None else ""
        rows = await self._conn.execute_fetchall(
            "SELECT COALESCE(SUM(up), 0), COALESCE(SUM(1 - up), 0) FROM ratings WHERE day >= ?", (start,)
        )
        up, down = (rows[0] if rows else None) or (0, 0)
        rows = await self._conn.execute_fetchall(
            "SELECT procedure_id, SUM(up), SUM(1 - up) AS down FROM ratings WHERE day >= ? "
            "GROUP BY procedure_id ORDER BY down DESC, SUM(up), procedure_id LIMIT ?",
            (start, limit),
        )
        return RatingSummary(int(up), int(down), [ProcedureRatings(p, int(u), int(d)) for p, u, d in rows])
