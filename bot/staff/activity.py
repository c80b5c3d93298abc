"""How many messages the bot handled, per day, channel and outcome; which procedures
were asked about. Counts only: no text, no user.

The outcomes (:data:`OUTCOMES`) are what the report and the back office's overview show:
answered, chose (the bot offered a choice because unsure), referred, refused, handed
over to a person, and the other kinds of messages (dossier status, help, ratings).
Counts are kept per commune (the ``commune`` column); the reads count what the store's
database view sees (a commune's staff: their commune's).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from bot.staff.shared import writer_commune
from bot.storage import Database, Migration, open_migrated, tenant_clause, tenant_guard_sql

ANSWERED = "answered"
CHOSE = "chose"
REFERRED = "referred"
REFUSED = "refused"
HANDOVER = "handover"
STATUS = "status"
HELP = "help"
RATED = "rated"
OUTCOMES = (ANSWERED, CHOSE, REFERRED, REFUSED, HANDOVER, STATUS, HELP, RATED)

_SQLITE_V1 = """
    CREATE TABLE activity (
        day TEXT NOT NULL, channel TEXT NOT NULL, outcome TEXT NOT NULL,
        count INTEGER NOT NULL, PRIMARY KEY (day, channel, outcome)
    ) WITHOUT ROWID;
    CREATE TABLE activity_procedures (
        day TEXT NOT NULL, procedure_id TEXT NOT NULL,
        count INTEGER NOT NULL, PRIMARY KEY (day, procedure_id)
    ) WITHOUT ROWID
    """

#: SQLite cannot change a primary key: the tables are made again with the commune in it.
_SQLITE_V2 = """
    CREATE TABLE activity_new (
        commune TEXT NOT NULL DEFAULT '', day TEXT NOT NULL, channel TEXT NOT NULL, outcome TEXT NOT NULL,
        count INTEGER NOT NULL, PRIMARY KEY (commune, day, channel, outcome)
    ) WITHOUT ROWID;
    INSERT INTO activity_new (day, channel, outcome, count) SELECT day, channel, outcome, count FROM activity;
    DROP TABLE activity;
    ALTER TABLE activity_new RENAME TO activity;
    CREATE TABLE activity_procedures_new (
        commune TEXT NOT NULL DEFAULT '', day TEXT NOT NULL, procedure_id TEXT NOT NULL,
        count INTEGER NOT NULL, PRIMARY KEY (commune, day, procedure_id)
    ) WITHOUT ROWID;
    INSERT INTO activity_procedures_new (day, procedure_id, count) SELECT day, procedure_id, count FROM activity_procedures;
    DROP TABLE activity_procedures;
    ALTER TABLE activity_procedures_new RENAME TO activity_procedures;
    CREATE INDEX activity_day ON activity (day);
    CREATE INDEX activity_procedures_day ON activity_procedures (day)
    """

_POSTGRES_V1 = """
    CREATE TABLE activity (
        commune TEXT NOT NULL DEFAULT '', day TEXT NOT NULL, channel TEXT NOT NULL, outcome TEXT NOT NULL,
        count INTEGER NOT NULL, PRIMARY KEY (commune, day, channel, outcome)
    );
    CREATE TABLE activity_procedures (
        commune TEXT NOT NULL DEFAULT '', day TEXT NOT NULL, procedure_id TEXT NOT NULL,
        count INTEGER NOT NULL, PRIMARY KEY (commune, day, procedure_id)
    );
    CREATE INDEX activity_day ON activity (day);
    CREATE INDEX activity_procedures_day ON activity_procedures (day)
    """

MIGRATIONS: tuple[Migration, ...] = (
    {"sqlite": _SQLITE_V1, "postgres": _POSTGRES_V1},
    {"sqlite": _SQLITE_V2, "postgres": tenant_guard_sql("activity") + ";\n" + tenant_guard_sql("activity_procedures")},
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
    """The activity counts, on a :class:`~bot.storage.Database` shared with the other
    stores (``await ActivityStore.create(db)`` migrates them). :meth:`add` counts for
    ``commune`` (default :attr:`commune`: ``commune=``, else the view's scope when it
    names one, else ''); the reads sum what ``db``'s view sees."""

    def __init__(self, db: Database, *, commune: str | None = None, owned: bool = False) -> None:
        self.db = db
        self.commune = writer_commune(db, commune)
        self._owned = owned

    @classmethod
    async def create(cls, db: Database, *, commune: str | None = None) -> ActivityStore:
        """The store on ``db`` (its tables created or migrated); ``db`` stays the caller's."""
        await db.migrate("activity", MIGRATIONS)
        return cls(db, commune=commune)

    @classmethod
    async def open(cls, path: Path, url: str | None = None) -> ActivityStore:
        """The store on its own database (the SQLite file at ``path``, or PostgreSQL at
        ``url``), closed with the store."""
        return cls(await open_migrated(Path(path), url, "activity", MIGRATIONS), owned=True)

    def scoped(self, commune: str) -> ActivityStore:
        """This store as commune ``commune``'s staff see it."""
        return ActivityStore(self.db.scoped(commune), commune=commune)

    async def close(self) -> None:
        """Close the database when this store opened it (:meth:`open`)."""
        if self._owned:
            await self.db.close()

    async def add(
        self, day: dt.date, channel: str, outcome: str, procedure_id: str | None = None, *, commune: str | None = None
    ) -> None:
        """Count one message of ``channel`` on ``day`` with ``outcome`` (and the procedure
        it was about, if any), for ``commune`` (default :attr:`commune`)."""
        tenant = self.commune if commune is None else commune
        async with self.db.transaction() as tx:
            await tx.run(
                "INSERT INTO activity (commune, day, channel, outcome, count) VALUES (?, ?, ?, ?, 1) "
                "ON CONFLICT (commune, day, channel, outcome) DO UPDATE SET count = activity.count + 1",
                (tenant, day.isoformat(), channel, outcome),
            )
            if procedure_id:
                await tx.run(
                    "INSERT INTO activity_procedures (commune, day, procedure_id, count) VALUES (?, ?, ?, 1) "
                    "ON CONFLICT (commune, day, procedure_id) DO UPDATE SET count = activity_procedures.count + 1",
                    (tenant, day.isoformat(), procedure_id),
                )

    async def daily(self, since: dt.date | None = None) -> list[DayCount]:
        """Messages per day and channel from ``since`` on (all days when None), oldest first."""
        where, scope = tenant_clause(self.db)
        rows = await self.db.fetch(
            f"SELECT day, channel, outcome, SUM(count) FROM activity WHERE day >= ? AND {where} "
            "GROUP BY day, channel, outcome ORDER BY day, channel, outcome",
            (_since(since), *scope),
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
        where, scope = tenant_clause(self.db)
        rows = await self.db.fetch(
            f"SELECT outcome, SUM(count) FROM activity WHERE day >= ? AND {where} GROUP BY outcome",
            (_since(since), *scope),
        )
        found = {outcome: int(count) for outcome, count in rows}
        return {**{o: 0 for o in OUTCOMES}, **found}

    async def procedures(self, since: dt.date | None = None, limit: int = 10) -> list[tuple[str, int]]:
        """The procedures asked about most from ``since`` on: (id, count), most first."""
        where, scope = tenant_clause(self.db)
        rows = await self.db.fetch(
            f"SELECT procedure_id, SUM(count) AS n FROM activity_procedures WHERE day >= ? AND {where} "
            "GROUP BY procedure_id ORDER BY n DESC, procedure_id LIMIT ?",
            (_since(since), *scope, limit),
        )
        return [(pid, int(n)) for pid, n in rows]
