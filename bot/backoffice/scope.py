"""Which commune a request works for, and the stores as that commune sees them.

The back office opens its database with no scope (it sees nothing: fail closed) and,
for each request, gives the stores ``db.scoped(commune)``: a commune's staff get their
commune's view, whatever the request asks; a provincial administrator gets every commune
(:data:`~bot.storage.ALL_COMMUNES`) or the one chosen with the ``commune`` GET
parameter, checked against ``communes:``. This module is the one place where the
per-request stores are made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.backoffice.accounts import PROVINCE, Session
from bot.backoffice.audit import AuditLog
from bot.storage import Database
from bot.staff.activity import ActivityStore
from bot.staff.handovers import HandoverStore
from bot.staff.missed import MissedStore
from bot.staff.notices import NoticeStore

#: The query parameter naming the commune a provincial administrator looks at.
PARAM = "commune"

OTHER_COMMUNE = "Tài khoản của ông/bà chỉ xem và xử lý được việc của xã mình."
UNKNOWN_COMMUNE = "Không có xã này trong cấu hình của trợ lý. Vui lòng chọn lại trong danh sách."


class ScopeRefused(Exception):
    """The request asks for a commune its account may not see (``status``, ``message``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def request_scope(session: Session, asked: str | None, communes: dict[str, str]) -> str:
    """The commune a request of ``session`` works for: the account's own commune, or for
    a provincial administrator the commune ``asked`` (a key of ``communes``; empty or
    absent: all). Raises ScopeRefused for a commune the account may not see or that
    does not exist."""
    asked = (asked or "").strip()
    if session.commune == PROVINCE:
        if not asked or asked == PROVINCE:
            return PROVINCE
        if asked not in communes:
            raise ScopeRefused(400, UNKNOWN_COMMUNE)
        return asked
    if asked and asked != session.commune:
        raise ScopeRefused(403, OTHER_COMMUNE)
    return session.commune


@dataclass(frozen=True)
class View:
    """The staff-side stores and the audit log as one commune (or all) sees them."""

    #: '' (a one-commune install), a commune id, or :data:`PROVINCE` (every commune).
    commune: str
    handovers: Any
    notices: Any
    missed: Any
    activity: Any
    audit: AuditLog

    @property
    def everywhere(self) -> bool:
        """Whether this view sees every commune."""
        return self.commune == PROVINCE


#: Whether the staff stores take a :class:`~bot.storage.Database` (the tenant-keyed
#: stores); the older ones each hold their own SQLite connection and see every row.
PORTABLE_STORES = hasattr(HandoverStore, "scoped")


async def migrate_stores(db: Database, retention_days: int) -> None:
    """Create or migrate the staff stores' tables on ``db`` (the bot does too; the back
    office may start first)."""
    if not PORTABLE_STORES:
        return
    await HandoverStore.create(db)
    await NoticeStore.create(db)
    await MissedStore.create(db, retention_days)
    await ActivityStore.create(db)


def make_view(db: Database, commune: str, retention_days: int, shared: dict[str, Any]) -> View:
    """The stores on ``db.scoped(commune)``. ``shared`` holds the bot's own stores, used
    as they are while the staff stores cannot be scoped."""
    scoped = db.scoped(commune)
    audit = AuditLog(scoped)
    if not PORTABLE_STORES:
        return View(commune, shared["handovers"], shared["notices"], shared["missed"], shared["activity"], audit)
    return View(
        commune,
        handovers=HandoverStore(scoped),
        # sharing the bot's readings of the table, so that a post or a removal here is
        # in its replies at once
        notices=NoticeStore(scoped, _cache=getattr(shared.get("notices"), "_shared", None)),
        missed=MissedStore(scoped, retention_days),
        activity=ActivityStore(scoped),
        audit=audit,
    )
