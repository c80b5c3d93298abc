"""Portable database access for the stores that are not the dossier store.

One small interface (:class:`Database`) over SQLite (the embedded default: one file) and
PostgreSQL (a province: ``database.url``), so each store is written once, in portable SQL
with ``?`` placeholders, and runs on both. Tenancy (several communes on one database) is
part of it: see :mod:`bot.storage.tenancy`.
"""

from bot.storage.database import (
    ALL_COMMUNES,
    Database,
    Migration,
    StorageBusy,
    StorageError,
    Transaction,
    open_database,
    open_migrated,
)
from bot.storage.tenancy import tenant_clause, tenant_guard_sql

__all__ = [
    "ALL_COMMUNES",
    "Database",
    "Migration",
    "StorageBusy",
    "StorageError",
    "Transaction",
    "open_database",
    "open_migrated",
    "tenant_clause",
    "tenant_guard_sql",
]
