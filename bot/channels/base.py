"""What every long-running messenger channel provides to ``motcua run``."""

from __future__ import annotations

from abc import ABC, abstractmethod


class Channel(ABC):
    """A messenger connection served by ``motcua run``.

    :meth:`start` checks the token (raising :class:`bot.errors.ChannelError` when it is
    missing or rejected), then begins receiving updates (polling or webhook) and delivering
    follow notifications in background tasks, and returns. :meth:`stop` ends all of that
    gracefully and is safe to call more than once.
    """

    #: The channel name used in :attr:`bot.messages.Incoming.channel` and the outbox.
    name: str

    @abstractmethod
    async def start(self) -> None:
        """Connect and start serving in the background."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop serving and release connections."""
