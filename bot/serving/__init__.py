"""Stateless workers: several processes serving both channels from one database.

``motcua run --workers N`` (:mod:`bot.serving.workers`) starts N processes that each
receive webhook updates on the same port, store them in a durable inbox
(:mod:`bot.serving.inbox`), answer them one chat at a time in order, keep conversations
in the database (:mod:`bot.serving.sessions`) and send the replies through an outbox,
each once, under rate limits shared by all workers (:mod:`bot.serving.limits`).
"""
