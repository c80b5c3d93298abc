"""What the back office's pages work with: the running bot, its own database view (no
scope: each request gets its commune's, :mod:`bot.backoffice.scope`), the accounts and
the audit log, opened together and closed together."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.backoffice.accounts import PROVINCE, AccountStore
from bot.backoffice.audit import AuditLog
from bot.backoffice.scope import View, make_view, migrate_stores
from bot.config import BackofficeConfig
from bot.staff.activity import ActivityStore
from bot.staff.handovers import HandoverStore
from bot.staff.missed import MissedStore
from bot.staff.notices import NoticeStore
from bot.storage import Database, open_database

if TYPE_CHECKING:
    from bot.app import App


@dataclass
class Backoffice:
    """The back office's state (one per web application).

    ``db`` is opened with no scope: it sees nothing until :meth:`view` limits it to a
    commune. ``audit`` and the stores below it are the bot's own, seeing every commune:
    for the operator's tools and tests, never for a page (pages use their request's
    :class:`~bot.backoffice.scope.View`)."""

    config: BackofficeConfig
    app: App
    db: Database
    accounts: AccountStore
    audit: AuditLog
    handovers: HandoverStore
    notices: NoticeStore
    missed: MissedStore
    activity: ActivityStore
    #: The communes of ``communes:`` (id -> name), in their order; empty with one commune.
    communes: dict[str, str] = field(default_factory=dict)
    #: Names of the channels this process serves right now (``motcua run``); None when
    #: the back office runs alone and cannot tell.
    running_channels: Callable[[], set[str]] | None = None
    _owned: list[Any] = field(default_factory=list)
    #: One catalogue edit at a time (two staff adding aliases to one file lose none).
    catalogue_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    async def open(
        cls,
        config: BackofficeConfig,
        app: App,
        *,
        running_channels: Callable[[], set[str]] | None = None,
        **stores: Any,
    ) -> Backoffice:
        """Open the back office's database (no scope: fail closed) with the accounts and
        the audit log on it; ``stores`` gives staff-side stores already open (the
        App's), else they are opened here."""
        path = app.config.database.path
        db = await open_database(path, app.config.database.url, scope=None)
        owned: list[Any] = [db]
        try:
            accounts = await AccountStore.create(
                db,
                max_failures=config.max_failures,
                lockout_seconds=config.lockout_minutes * 60,
                session_seconds=config.session_hours * 3600,
            )
            audit = await AuditLog.create(db.scoped(PROVINCE))
            await migrate_stores(db, app.config.missed.retention_days)
            found = await _staff_stores(app, path, stores, owned)
        except BaseException:
            for store in reversed(owned):
                await store.close()
            raise
        communes = {entry.id: entry.commune.name for entry in app.config.communes}
        return cls(
            config, app, db, accounts, audit, communes=communes, running_channels=running_channels,
            _owned=owned, **found,
        )

    def view(self, commune: str) -> View:
        """The stores and the audit log as ``commune`` sees them ('' with one commune,
        :data:`~bot.backoffice.accounts.PROVINCE` for every commune)."""
        shared = {"handovers": self.handovers, "notices": self.notices, "missed": self.missed,
                  "activity": self.activity}
        return make_view(self.db, commune, self.app.config.missed.retention_days, shared)

    def commune_name(self, commune: str) -> str:
        """What to call ``commune`` on a page."""
        if commune == PROVINCE:
            return "Toàn tỉnh"
        return self.communes.get(commune) or self.app.config.commune.name

    async def close(self) -> None:
        """Close what :meth:`open` opened."""
        for store in reversed(self._owned):
            await store.close()
        self._owned.clear()


async def _staff_stores(app: App, path: Path, given: dict[str, Any], owned: list[Any]) -> dict[str, Any]:
    """The staff-side stores: given, or the App's (its recorder's for the missed
    questions and the counts), or else opened here on ``path``."""
    recorder = app.recorder
    found = {
        "handovers": given.get("handovers") or app.handovers,
        "notices": given.get("notices") or app.notices,
        "missed": given.get("missed") or (recorder.missed if recorder else None),
        "activity": given.get("activity") or (recorder.activity if recorder else None),
    }
    url = app.config.database.url
    openers = {
        "handovers": lambda: HandoverStore.open(path, url),
        "notices": lambda: NoticeStore.open(path, url),
        "missed": lambda: MissedStore.open(path, app.config.missed.retention_days, url=url),
        "activity": lambda: ActivityStore.open(path, url),
    }
    for name, store in found.items():
        if store is None:
            found[name] = await openers[name]()
            owned.append(found[name])
    return found


#: Keys of the web application's and the request's state.
BACKOFFICE: web.AppKey[Backoffice] = web.AppKey("backoffice", Backoffice)
SESSION: Any = web.RequestKey("session", object) if hasattr(web, "RequestKey") else "motcua.session"
#: The request's :class:`~bot.backoffice.scope.View` (set once the session is known).
VIEW: Any = web.RequestKey("view", object) if hasattr(web, "RequestKey") else "motcua.view"
