"""Keeping one commune's rows from another commune's staff.

Every tenant-keyed table has a ``commune`` column ('' in a one-commune install). Two
guards, so that a forgotten filter does not leak:

- in SQL, each store reading for the back office adds :func:`tenant_clause` of its
  database view, which is limited to the logged-in account's commune;
- on PostgreSQL, row-level security (:func:`tenant_guard_sql`): the server itself hides
  the rows of other communes from a connection whose ``motcua.commune`` setting names
  another commune, and hides every row when the setting is missing. The back office opens
  its database with no scope, so a query that escaped its view sees nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.storage.database import ALL_COMMUNES

if TYPE_CHECKING:
    from bot.storage.database import Database

#: The PostgreSQL setting that names the commune a transaction works for.
SETTING = "motcua.commune"
#: The setting's value for a view with no scope: no commune id can be it (ids are
#: lowercase letters, digits and hyphens), so no row matches, not even a one-commune
#: install's rows, whose commune is ''.
NO_SCOPE = "!none"


def setting_of(scope: str | None) -> str:
    """The ``motcua.commune`` value for a view of ``scope``."""
    return NO_SCOPE if scope is None else scope


def tenant_clause(db: Database, column: str = "commune") -> tuple[str, tuple[str, ...]]:
    """A WHERE condition (with its parameters) limiting rows to ``db``'s scope: always
    true for :data:`ALL_COMMUNES`, always false for no scope (fail closed)."""
    if db.scope == ALL_COMMUNES:
        return "1 = 1", ()
    if db.scope is None:
        return "1 = 0", ()
    return f"{column} = ?", (db.scope,)


def tenant_guard_sql(table: str) -> str:
    """PostgreSQL statements turning on row-level security for ``table`` (for a
    migration): the owner is held to it too (FORCE), and a row is visible and writable
    only for its commune's setting or :data:`ALL_COMMUNES`."""
    current = f"current_setting('{SETTING}', true)"
    return (
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;\n"
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY;\n"
        f"CREATE POLICY {table}_tenant ON {table} "
        f"USING ({current} = '{ALL_COMMUNES}' OR commune = {current}) "
        f"WITH CHECK ({current} = '{ALL_COMMUNES}' OR commune = {current})"
    )
