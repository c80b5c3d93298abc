"""Assembling the bot from its configuration: catalogue, dossier store, engine, notifier.

Every entry point (``motcua chat``, ``ask``, ``run``, the tests) builds the same
:class:`App`, so they all answer alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.procedures.catalogue import Catalogue
from bot.procedures.compiled import CompiledCatalogue, open_catalogue
from bot.procedures.watch import Fingerprint, fingerprint
from bot.config import Config
from bot.dialogue import Engine, NoticeService
from bot.procedures.matcher import Decision, Matcher
from bot.dossiers.notify import Notifier
from bot.dossiers.desk import StatusDesk
from bot.dossiers.store import DossierStore, open_store
from bot.procedures.normalize import fold
from bot.staff.handovers import HandoverStore
from bot.staff.notices import NoticeStore, WithQuotaNotice
from bot.staff.relay import HandoverRelay
from bot.storage import Database, open_database
from bot.tenants import catalogue_folders

if TYPE_CHECKING:
    from bot.staff.recorder import StaffRecorder
    from bot.tenants import TenantRouter


def catalogue_ids(catalogue: Catalogue, matcher: Matcher) -> Callable[[str], str | None]:
    """Maps a procedure name from a dossier export to its catalogue id: the entry with
    that official name, else one the matcher is confident about, else None."""
    by_name = {fold(p.name): p.id for p in catalogue if not p.is_referral}
    cache: dict[str, str | None] = {}

    def lookup(name: str) -> str | None:
        if name not in cache:
            found = by_name.get(fold(name))
            if found is None:
                ranked = matcher.rank(name)
                if matcher.decide(ranked) is Decision.ANSWER and not ranked[0].procedure.is_referral:
                    found = ranked[0].procedure.id
            cache[name] = found
        return cache[name]

    return lookup


def matcher_of(engine: Engine | TenantRouter) -> Matcher:
    """The matcher of an engine, or of a router's first commune (the base catalogue's)."""
    return engine.matcher if isinstance(engine, Engine) else engine.engines[0].matcher


@dataclass
class App:
    """A ready-to-answer bot: what the channels talk to."""

    config: Config
    catalogue: Catalogue
    #: The engine, or with ``communes:`` the router over the communes' engines (the same
    #: ``handle``).
    engine: Engine | TenantRouter
    store: DossierStore
    notifier: Notifier
    #: Hand-overs to a person (the back office's inbox), their relay to the staff group
    #: and their delivery, and the desk's announcements.
    handovers: HandoverStore | None = None
    relay: HandoverRelay | None = None
    notices: NoticeStore | None = None
    #: Counts, missed questions and ratings (None when not recording, as in `motcua ask`).
    recorder: StaffRecorder | None = None
    #: The catalogue files' fingerprint when the served catalogue was loaded (empty
    #: until a reload when the App does not record, as in `motcua ask`).
    catalogue_fingerprint: Fingerprint = ()
    #: With ``communes:``: the router (also ``engine``); None for one commune.
    router: TenantRouter | None = None
    #: The database every staff-side store shares (``database.path``, or PostgreSQL at
    #: ``database.url``); it sees every commune.
    database: Database | None = None
    _reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @classmethod
    async def open(cls, config: Config, *, last_good: bool = True, record: bool = True) -> App:
        """Load the catalogue (compiled copy when it matches; when it does not validate,
        the last good copy if ``last_good`` and one exists, else raise CatalogueError),
        open the dossier database (migrating it, seeding the demo export into an empty one)
        and, with ``record``, the staff side's stores the engine records each message in."""
        # Only a serving App watches for edits: a one-off command skips the files' walk.
        printed = fingerprint(catalogue_folders(config)) if record else ()
        compiled = open_catalogue(config.catalogue.dir, last_good=last_good)
        catalogue = compiled.catalogue
        store = await open_store(config.database.path, config.database.url)
        database: Database | None = None
        handovers = notices = None
        recorder: StaffRecorder | None = None
        router: TenantRouter | None = None
        try:
            database = await open_database(config.database.path, config.database.url)
            handovers = await HandoverStore.create(database)
            notices = await NoticeStore.create(database)
            chats = [c.handover.telegram_chat_id for c in config.communes]
            relay = HandoverRelay(handovers, config, staff_chats=chats)
            if record:
                from bot.staff.recorder import StaffRecorder  # not needed by `motcua ask`

                recorder = await StaffRecorder.create(database, config.missed.retention_days)
            zalo = config.channels.zalo

            def shown_to(own: Config) -> NoticeService:
                """What the residents of ``own``'s commune are shown."""
                theirs = notices.for_commune(own.tenant)
                if zalo is None or zalo.monthly_quota <= 0:
                    return theirs
                return WithQuotaNotice(  # residents hear when Zalo is used up
                    theirs,
                    store.channel_usage,
                    zalo.monthly_quota,
                    own.commune.hotline,
                    telegram=config.channels.telegram is not None,
                )
            engine: Engine | TenantRouter
            if config.communes:  # several communes: a router picks each message's engine
                from bot.tenants import open_router

                engine = router = await open_router(
                    config,
                    residents_path=config.database.path,
                    status_for=lambda own: StatusDesk(store, own, own_codes_only=True),
                    handovers_for=lambda own: HandoverRelay(handovers.for_commune(own.tenant), own),
                    notices_for=shown_to,
                    recorder=recorder,
                    last_good=last_good,
                    database=database,
                )
            else:
                engine = Engine.build(
                    config,
                    catalogue,
                    status=StatusDesk(store, config),
                    index=compiled.index,
                    recorder=recorder,
                    handovers=relay,
                    notices=shown_to(config),
                )
            if config.status.demo_data is not None:
                from bot.dossiers.sync import seed_demo  # brings the export readers (httpx)

                await seed_demo(store, config, procedure_ids=catalogue_ids(catalogue, matcher_of(engine)))
            notifier = Notifier(store, config, communes={c.status.code_prefix: c.commune for c in config.communes})
        except BaseException:
            for part in (router, recorder, notices, handovers, database, store):
                if part is not None:
                    await part.close()
            raise
        return cls(
            config, catalogue, engine, store, notifier, handovers, relay, notices, recorder, printed,
            router=router, database=database,
        )

    async def reload_catalogue(self) -> CompiledCatalogue:
        """Load the catalogue folder again and answer from it from now on; conversations
        are kept. Raises CatalogueError when it does not validate (the served one stays)."""
        async with self._reload_lock:
            directory = self.config.catalogue.dir
            printed = await asyncio.to_thread(fingerprint, catalogue_folders(self.config))
            compiled = await asyncio.to_thread(open_catalogue, directory)
            if self.router is not None:
                from bot.tenants import reload_router

                await reload_router(self.router, self.config)
            else:
                self.engine.use_catalogue(compiled.catalogue, compiled.index)
            self.catalogue, self.catalogue_fingerprint = compiled.catalogue, printed
            return compiled

    async def close(self) -> None:
        """Close the databases."""
        for part in (self.router, self.recorder, self.notices, self.handovers, self.database):
            if part is not None:
                await part.close()
        await self.store.close()
