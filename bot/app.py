"""Assembling the bot from its configuration: catalogue, dossier store, engine, notifier.

Every entry point (``motcua chat``, ``ask``, ``run``, the tests) builds the same
:class:`App`, so they all answer alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.procedures.catalogue import Catalogue
from bot.procedures.compiled import open_catalogue
from bot.config import Config
from bot.dialogue import Engine
from bot.procedures.matcher import Decision, Matcher
from bot.dossiers.notify import Notifier
from bot.dossiers.desk import StatusDesk
from bot.dossiers.store import DossierStore, open_store
from bot.procedures.normalize import fold


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


@dataclass
class App:
    """A ready-to-answer bot: what the channels talk to."""

    config: Config
    catalogue: Catalogue
    engine: Engine
    store: DossierStore
    notifier: Notifier

    @classmethod
    async def open(cls, config: Config, *, last_good: bool = True) -> App:
        """Load the catalogue (compiled copy when it matches; when it does not validate,
        the last good copy if ``last_good`` and one exists, else raise CatalogueError),
        open the dossier database (migrating it, seeding the demo export into an empty one)."""
        compiled = open_catalogue(config.catalogue.dir, last_good=last_good)
        catalogue = compiled.catalogue
        store = await open_store(config.database.path, config.database.url)
        try:
            desk = StatusDesk(store, config)
            engine = Engine.build(config, catalogue, status=desk, index=compiled.index)
            if config.status.demo_data is not None:
                from bot.dossiers.sync import seed_demo  # brings the export readers (httpx)

                await seed_demo(store, config, procedure_ids=catalogue_ids(catalogue, engine.matcher))
            notifier = Notifier(store, config)
        except BaseException:
            await store.close()
            raise
        return cls(config, catalogue, engine, store, notifier)

    async def close(self) -> None:
        """Close the database."""
        await self.store.close()
