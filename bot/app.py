"""Assembling the bot from its configuration: catalogue, dossier store, engine, notifier.

Every entry point (``motcua chat``, ``ask``, ``run``, the tests) builds the same
:class:`App`, so they all answer alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.catalogue import Catalogue, load_catalogue
from bot.config import Config
from bot.dialogue import Engine
from bot.notify import Notifier
from bot.status import StatusDesk
from bot.store import Store
from bot.sync import seed_demo


@dataclass
class App:
    """A ready-to-answer bot: what the channels talk to."""

    config: Config
    catalogue: Catalogue
    engine: Engine
    store: Store
    notifier: Notifier

    @classmethod
    async def open(cls, config: Config) -> App:
        """Load the catalogue (raising CatalogueError if invalid), open the dossier
        database (migrating it, seeding the demo export into an empty one)."""
        catalogue = load_catalogue(config.catalogue.dir)
        store = await Store.open(config.database.path)
        try:
            await seed_demo(store, config)
            desk = StatusDesk(store, config)
            engine = Engine.build(config, catalogue, status=desk)
            notifier = Notifier(store, config)
        except BaseException:
            await store.close()
            raise
        return cls(config, catalogue, engine, store, notifier)

    async def close(self) -> None:
        """Close the database."""
        await self.store.close()
