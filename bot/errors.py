"""The exceptions motcua-bot raises for operators.

Users never see these: the dialogue engine answers bad *messages* with a kind reply.
These are for bad *files and settings*, reported by the CLI as one clear line each.
"""

from __future__ import annotations


class MotcuaError(Exception):
    """Base class of every error the CLI reports without a traceback."""


class ConfigError(MotcuaError):
    """The config file is unreadable or a key has a bad value (the message names the key)."""


class CatalogueError(MotcuaError):
    """The procedure catalogue has problems; ``problems`` lists each as ``file:line: key: what``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class SyncError(MotcuaError):
    """A dossier export cannot be read at all (the database is left unchanged)."""


class ChannelError(MotcuaError):
    """A messenger channel cannot start, e.g. a missing or rejected bot token."""


class RecipientBlocked(MotcuaError):
    """The user blocked the bot; a notification to them can never be delivered."""
