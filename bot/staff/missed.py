"""What the bot missed: refused, low-confidence and 👎-rated questions, kept masked.

Each kept question is masked (:mod:`bot.staff.masking`) before it is stored, with the
bot's top matches, the channel, the reason and the time; rows older than the retention
(``missed.retention_days``) are purged. :meth:`MissedStore.groups` puts similar questions
together ("12 people asked about xác nhận khuyết tật"), comparing their folded words
without the filler words of asking; the work is bounded by :data:`MAX_ROWS`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import aiosqlite
import yaml
from rapidfuzz import fuzz, process

from bot.procedures.normalize import fold
from bot.staff.masking import mask
from bot.staff.schema import open_part

DEFAULT_WORDS = Path(__file__).resolve().parent / "data" / "missed.yaml"

REFUSED = "refused"
UNSURE = "unsure"
DOWN = "down"
REASONS = (REFUSED, UNSURE, DOWN)

#: Longest kept text (characters, after masking); a longer question is cut.
MAX_TEXT = 300
#: Most recent questions considered when grouping (bounds the work of one report).
MAX_ROWS = 1000
#: Two questions whose key words score at least this (rapidfuzz token_set_ratio) and
#: share at least two words (or are the same single word) are one group.
SIMILAR = 82.0
#: Examples kept per group.
EXAMPLES = 5
#: Candidate groups compared in full for each question.
CANDIDATES = 5

MIGRATIONS = (
    """
    CREATE TABLE missed (
        id INTEGER PRIMARY KEY, at TEXT NOT NULL, day TEXT NOT NULL, channel TEXT NOT NULL,
        reason TEXT NOT NULL, text TEXT NOT NULL, key TEXT NOT NULL, top_ids TEXT NOT NULL
    );
    CREATE INDEX missed_day ON missed (day)
    """,
)

_PLACEHOLDER = re.compile(r"«[^»]*»")


@dataclass(frozen=True)
class MissedGroup:
    """Similar missed questions: a representative (masked) text and how many asked."""

    text: str
    count: int
    examples: tuple[str, ...]
    #: The bot's top matches for these questions, most frequent first.
    top_ids: tuple[str, ...]
    #: How many were refused, offered a choice ("unsure") or rated 👎 ("down").
    reasons: dict[str, int] = field(default_factory=dict)
    #: When the latest of them was asked (ISO 8601).
    last_at: str = ""


@lru_cache(maxsize=4)
def _fillers(path: Path = DEFAULT_WORDS) -> frozenset[str]:
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    return frozenset(fold(str(w)) for w in data.get("filler_words", ()))


def key_words(text: str) -> str:
    """The words of a (masked) question that say what it is about, folded."""
    words = fold(_PLACEHOLDER.sub(" ", text)).split()
    fillers = _fillers()
    kept = [w for w in words if w not in fillers]
    return " ".join(kept or words)


def _similar(a: str, b: str, score: float) -> bool:
    if score < SIMILAR:
        return False
    shared = set(a.split()) & set(b.split())
    return len(shared) >= 2 or (a == b)


class MissedStore:
    """The missed questions in the shared database file."""

    def __init__(self, conn: aiosqlite.Connection, retention_days: int) -> None:
        self._conn = conn
        self.retention_days = retention_days

    @classmethod
    async def open(cls, path: Path, retention_days: int = 90, *, today: dt.date | None = None) -> MissedStore:
        """The store on the database at ``path``; rows past the retention are purged now."""
        store = cls(await open_part(path, "missed", MIGRATIONS), retention_days)
        try:
            await store.purge(today or dt.date.today())
        except BaseException:
            await store.close()
            raise
        return store

    async def close(self) -> None:
        """Close the connection."""
        await self._conn.close()

    async def add(
        self, text: str, *, channel: str, reason: str, top_ids: list[str] | tuple[str, ...], at: dt.datetime
    ) -> bool:
        """Keep one missed question (masked here); False when nothing is left to keep."""
        masked = mask(text)
        if len(masked) > MAX_TEXT:
            masked = masked[: MAX_TEXT - 1].rstrip() + "…"
        key = key_words(masked)
        if not key:
            return False
        await self._conn.execute(
            "INSERT INTO missed (at, day, channel, reason, text, key, top_ids) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                at.isoformat(timespec="seconds"), at.date().isoformat(), channel, reason, masked, key,
                json.dumps(list(top_ids)[:3]),
            ),
        )
        return True

    async def purge(self, today: dt.date) -> int:
        """Delete the questions older than the retention; how many were deleted."""
        cutoff = (today - dt.timedelta(days=self.retention_days)).isoformat()
        cur = await self._conn.execute("DELETE FROM missed WHERE day < ?", (cutoff,))
        return cur.rowcount

    async def count(self, since: dt.date | None = None) -> int:
        """How many missed questions are kept from ``since`` on."""
        rows = await self._conn.execute_fetchall(
            "SELECT COUNT(*) FROM missed WHERE day >= ?", (since.isoformat() if since else "",)
        )
        row = rows[0] if rows else None
        return int(row[0]) if row else 0

    async def groups(self, since: dt.date | None = None, limit: int = 50) -> list[MissedGroup]:
        """The missed questions from ``since`` on (the :data:`MAX_ROWS` most recent),
        grouped by similarity, largest groups first, at most ``limit``."""
        rows = await self._conn.execute_fetchall(
            "SELECT at, reason, text, key, top_ids FROM missed WHERE day >= ? ORDER BY id DESC LIMIT ?",
            (since.isoformat() if since else "", MAX_ROWS),
        )
        return group_rows([(str(a), str(r), str(t), str(k), str(i)) for a, r, t, k, i in rows])[:limit]


def group_rows(rows: list[tuple[str, str, str, str, str]]) -> list[MissedGroup]:
    """Rows of (at, reason, text, key, top_ids as JSON), newest first, grouped."""
    leaders: list[str] = []  # each group's first key, the one others are compared with
    members: list[list[tuple[str, str, str, str, str]]] = []
    by_key: dict[str, int] = {}
    for row in rows:
        key = row[3]
        index = by_key.get(key)
        if index is None:
            for _, score, candidate in process.extract(
                key, leaders, scorer=fuzz.token_set_ratio, limit=CANDIDATES, score_cutoff=SIMILAR
            ):
                if _similar(key, leaders[candidate], score):
                    index = candidate
                    break
        if index is None:
            index = len(leaders)
            leaders.append(key)
            members.append([])
        by_key[key] = index
        members[index].append(row)
    groups = [_group(rows_of) for rows_of in members]
    groups.sort(key=lambda g: (g.count, g.last_at), reverse=True)  # largest, then latest
    return groups


def _group(rows: list[tuple[str, str, str, str, str]]) -> MissedGroup:
    texts = Counter(row[2] for row in rows)
    # The text asked most often; among equals, the shortest (most to the point).
    text = min(texts, key=lambda t: (-texts[t], len(t), t))
    examples = tuple(dict.fromkeys(row[2] for row in rows if row[2] != text))[: EXAMPLES - 1]
    ids: Counter[str] = Counter()
    for row in rows:
        try:
            found = json.loads(row[4])
        except ValueError:
            found = []
        ids.update(str(i) for i in found[:1])  # each question's best match
    return MissedGroup(
        text=text,
        count=len(rows),
        examples=(text, *examples),
        top_ids=tuple(i for i, _ in ids.most_common(3)),
        reasons=dict(Counter(row[1] for row in rows)),
        last_at=max(row[0] for row in rows),
    )
