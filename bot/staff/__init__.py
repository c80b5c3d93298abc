"""The staff side: hand-overs to a person, what the bot missed, residents' ratings,
office hours and announcements. The web back office (:mod:`bot.backoffice`) and the
channels read and write it; the dialogue engine reaches it through small protocols.

Its stores share one :class:`bot.storage.Database` (the dossiers' SQLite file, or
PostgreSQL with ``database.url``), each concern with its own migrations, so that every
module owns its own SQL. Every row carries its commune (``Config.tenant``); a store made
on ``db.scoped(commune)`` (what the back office gives a commune's staff) reads only that
commune's rows, and on PostgreSQL row-level security holds the same line.
"""
