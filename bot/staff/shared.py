"""What every staff-side store shares: the commune it writes for (the stores are
usually made on the App's shared :class:`~bot.storage.Database`)."""

from __future__ import annotations

from bot.storage import ALL_COMMUNES, Database


def writer_commune(db: Database, commune: str | None) -> str:
    """The commune a store writes for: ``commune`` when given, else ``db``'s scope when
    it names one commune, else '' (the single commune of a one-commune install)."""
    if commune is not None:
        return commune
    return db.scope if db.scope not in (None, ALL_COMMUNES) else ""
