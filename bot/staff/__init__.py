"""The staff side: hand-overs to a person, what the bot missed, residents' ratings,
office hours and announcements. The web back office (:mod:`bot.backoffice`) and the
channels read and write it; the dialogue engine reaches it through small protocols.

Its tables live in the same database file as the dossiers, each concern with its own
migrations (:mod:`bot.staff.schema`), so that every module owns its own SQL.
"""
