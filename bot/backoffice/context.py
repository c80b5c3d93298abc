"""What the back office's pages work with: the running bot, the staff-side stores, the
accounts and the audit log, opened together and closed together."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.backoffice.accounts import AccountStore
from bot.backoffice.audit import AuditLog
from bot.config import BackofficeConfig
from bot.staff.activity import ActivityStore
from bot.staff.handovers import HandoverStore
from bot.staff.missed import MissedStore
from bot.staff.notices import NoticeStore

if TYPE_CHECKING:
    from bot.app import App


@dataclass
class Backoffice:
    """The back office's state (one per web application)."""

    config: BackofficeConfig
    app: App
    accounts: AccountStore
    audit: AuditLog
    handovers: HandoverStore
    notices: NoticeStore
    missed: MissedStore
    activity: ActivityStore
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
        """Open the accounts and the audit log on the bot's database; ``stores`` gives
        staff-side stores already open (the App's), else they are opened here."""
        path = app.config.database.path
        accounts = await AccountStore.open(
            path,
            max_failures=config.max_failures,
            lockout_seconds=config.lockout_minutes * 60,
            session_seconds=config.session_hours * 3600,
        )
        owned: list[Any] = [accounts]
        try:
            audit = await AuditLog.open(path)
            owned.append(audit)
            found = await _staff_stores(app, path, stores, owned)
        except BaseException:
            for store in owned:
                await store.close()
            raise
        return cls(config, app, accounts, audit, running_channels=running_channels, _owned=owned, **found)

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
    openers = {
        "handovers": lambda: HandoverStore.open(path),
        "notices": lambda: NoticeStore.open(path),
        "missed": lambda: MissedStore.open(path, app.config.missed.retention_days),
        "activity": lambda: ActivityStore.open(path),
    }
    for name, store in found.items():
        if store is None:
            found[name] = await openers[name]()
            owned.append(found[name])
    return found


#: Keys of the web application's and the request's state.
BACKOFFICE: web.AppKey[Backoffice] = web.AppKey("backoffice", Backoffice)
SESSION: Any = web.RequestKey("session", object) if hasattr(web, "RequestKey") else "motcua.session"
