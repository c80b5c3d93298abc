"""The audit log: who did what in the back office, and when (part ``audit``).

Entries name the staff account, the action (a fixed key, worded in Vietnamese on the
page), its target (a hand-over number, a procedure id, an announcement number) and a
short detail. Residents' message text is never written here: a reply is logged as
"replied", not with what it said.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from bot.staff.schema import open_part

PART = "audit"

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE staff_audit (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        staff TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX staff_audit_at ON staff_audit (at)
    """,
)

#: The Vietnamese words for each action key, as shown on the audit page.
ACTIONS: dict[str, str] = {
    "login": "Đăng nhập",
    "logout": "Đăng xuất",
    "handover.reply": "Trả lời yêu cầu gặp cán bộ",
    "handover.close": "Đóng yêu cầu gặp cán bộ",
    "alias.add": "Thêm cách hỏi cho thủ tục",
    "notice.post": "Đăng thông báo",
    "notice.remove": "Gỡ thông báo",
    "account.add": "Tạo tài khoản",
}

_MAX_DETAIL = 200


@dataclass(frozen=True)
class AuditEntry:
    """One thing a staff member did."""

    id: int
    at: float
    staff: str
    action: str
    target: str
    detail: str

    @property
    def action_label(self) -> str:
        """The action in Vietnamese (the key itself for an action this version does not know)."""
        return ACTIONS.get(self.action, self.action)


class AuditLog:
    """Appends to and reads the audit log."""

    def __init__(self, conn: aiosqlite.Connection, *, clock: Callable[[], float] = time.time) -> None:
        self._conn = conn
        self._clock = clock

    @classmethod
    async def open(cls, path: Path, **kwargs) -> AuditLog:
        """Open the log on the database at ``path`` (migrating its table)."""
        return cls(await open_part(path, PART, MIGRATIONS), **kwargs)

    async def close(self) -> None:
        """Close the connection."""
        await self._conn.close()

    async def record(self, staff: str, action: str, target: str = "", detail: str = "") -> None:
        """Append one entry (the detail cut to 200 characters)."""
        await self._conn.execute(
            "INSERT INTO staff_audit (at, staff, action, target, detail) VALUES (?, ?, ?, ?, ?)",
            (self._clock(), staff, action, str(target), detail[:_MAX_DETAIL]),
        )

    async def recent(self, limit: int = 200) -> list[AuditEntry]:
        """The latest entries, newest first."""
        rows = await self._conn.execute_fetchall(
            "SELECT id, at, staff, action, target, detail FROM staff_audit ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [AuditEntry(*r) for r in rows]
