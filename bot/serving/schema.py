"""The serving tables (one part, ``serving``, of the shared database)."""

from __future__ import annotations

from bot.storage import Database

PART = "serving"

#: States of an inbox message and of a queued reply that still need work.
OPEN_STATES = ("new", "claimed")

MIGRATIONS = [
    """
    CREATE TABLE serving_inbox (
        id @SERIAL,
        channel TEXT NOT NULL,
        update_key TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        payload TEXT NOT NULL,
        received_at @FLOAT NOT NULL,
        state TEXT NOT NULL DEFAULT 'new',
        claim TEXT NOT NULL DEFAULT '',
        lease_until @FLOAT NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        done_at @FLOAT,
        UNIQUE (channel, update_key)
    );
    CREATE INDEX serving_inbox_open ON serving_inbox (channel, chat_id, id) WHERE state IN ('new', 'claimed');
    CREATE INDEX serving_inbox_state ON serving_inbox (state, id);
    CREATE TABLE serving_replies (
        id @SERIAL,
        inbox_id @INT8 NOT NULL,
        seq INTEGER NOT NULL,
        channel TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        body TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        next_at @FLOAT NOT NULL DEFAULT 0,
        claimed_at @FLOAT NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT NOT NULL DEFAULT '',
        sent_at @FLOAT,
        UNIQUE (inbox_id, seq)
    );
    CREATE INDEX serving_replies_open ON serving_replies (channel, chat_id, id) WHERE state IN ('pending', 'sending');
    CREATE INDEX serving_replies_state ON serving_replies (state, id);
    CREATE TABLE serving_sessions (
        commune TEXT NOT NULL DEFAULT '',
        channel TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        body TEXT NOT NULL,
        updated @FLOAT NOT NULL,
        PRIMARY KEY (commune, channel, chat_id)
    );
    CREATE INDEX serving_sessions_updated ON serving_sessions (updated);
    CREATE TABLE serving_pending (
        channel TEXT NOT NULL,
        user_id TEXT NOT NULL,
        body TEXT NOT NULL,
        at @FLOAT NOT NULL,
        PRIMARY KEY (channel, user_id)
    );
    CREATE TABLE serving_rates (
        name TEXT PRIMARY KEY,
        tat @FLOAT NOT NULL
    );
    CREATE TABLE serving_leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        until @FLOAT NOT NULL
    )
    """,
]


async def migrate(db: Database) -> None:
    """Create or update the serving tables of ``db``."""
    await db.migrate(PART, MIGRATIONS)
